//! A budget as people write it (`[[budget]]` in `rules/*.toml`) and its validation into a
//! typed [`Budget`], every problem collected with its place.

use std::collections::BTreeMap;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::budget::counter_spend::counter_spend;
use crate::budget::period::Period;
use crate::model::Labels;
use crate::rule::RuleContext;
use crate::sources::catalog::CatalogMetric;
use crate::sources::{RuleQuery, SourceKind};
use crate::types::{ConfigError, DurationSpec, LabelName, SourceFile};

/// How often a budget is evaluated when its table does not say.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(60);

/// One `[[budget]]` table exactly as written; validated into a [`Budget`].
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Unique budget name; becomes the `budget` label of its alerts.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Free text for people reading the budget.
    #[serde(default)]
    pub description: Option<String>,
    /// Which configured source to read (may be left out when there is only one): SQL,
    /// or a Prometheus server or scrape source with `metric` naming a counter of spend.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub source: Option<Spanned<String>>,
    /// The spend metric: on a SQL source `llm.cost` or `workflow.cost` (USD), `llm.tokens`,
    /// `llm.tokens.prompt` or `llm.tokens.completion` (tokens); on a prometheus or scrape
    /// source a counter of spend (e.g. `llm_cost_usd_total`), its increase the spend.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub metric: Option<Spanned<String>>,
    /// Instead of `metric` (SQL sources): SQL returning `ts`, `value` (spend per row) and
    /// label columns.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub query: Option<Spanned<String>>,
    /// Label filters on the metric, e.g. `{ model = "gpt-4o" }` (`!x`: every value but x;
    /// not on scrape sources).
    #[serde(default)]
    pub filter: BTreeMap<String, String>,
    /// One budget of `amount` per distinct value of these labels (empty: one in all).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub group_by: Vec<Spanned<String>>,
    /// The amount allowed per period, in `unit`.
    #[schemars(with = "f64")]
    pub amount: Spanned<f64>,
    /// `usd` or `tokens`; defaults to the metric's own unit (USD for a query).
    #[serde(default)]
    #[schemars(with = "Option<Unit>")]
    pub unit: Option<Spanned<Unit>>,
    /// `day`, `week` (Monday to Monday) or `month` (calendar month).
    pub period: Period,
    /// The IANA time zone periods begin in, e.g. `Europe/Berlin`; UTC by default.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timezone: Option<Spanned<String>>,
    /// How often the budget is judged (default one minute).
    #[serde(default)]
    #[schemars(with = "Option<DurationSpec>")]
    pub every: Option<Spanned<DurationSpec>>,
    /// Receivers to notify; defaults to the service's default receivers.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub receivers: Vec<Spanned<String>>,
    /// Extra labels on every alert of the budget.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations (a runbook URL, say) on every alert of the budget.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// What a budget's amount counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// US dollars.
    Usd,
    /// LLM tokens.
    Tokens,
}

impl Unit {
    /// `amount` written for people: `$1,240` or `1.2M tokens`.
    pub fn format(self, amount: f64) -> String {
        match self {
            Unit::Usd if amount.abs() >= 100.0 => format!("${}", thousands(amount.round())),
            Unit::Usd => format!("${amount:.2}"),
            Unit::Tokens if amount.abs() >= 1e6 => format!("{:.2}M tokens", amount / 1e6),
            Unit::Tokens => format!("{} tokens", thousands(amount.round())),
        }
    }
}

/// A whole number with thousands separators.
fn thousands(whole: f64) -> String {
    let digits = format!("{:.0}", whole.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if whole < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A validated budget, ready to be judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Unique name.
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// Free text.
    pub description: String,
    /// Source name.
    pub source: String,
    /// What to read: one row per spend (a call's cost, a run's cost, a call's tokens).
    pub query: RuleQuery,
    /// One budget per distinct value set of these labels.
    pub group_by: Vec<LabelName>,
    /// The amount per period.
    pub amount: f64,
    /// What the amount counts.
    pub unit: Unit,
    /// The period.
    pub period: Period,
    /// The time zone periods begin in.
    pub timezone: Tz,
    /// How often it is judged.
    pub every: Duration,
    /// Receivers to notify.
    pub receivers: Vec<String>,
    /// Extra labels on its alerts.
    pub labels: Labels,
    /// Extra annotations on its alerts.
    pub annotations: BTreeMap<String, String>,
}

impl Budget {
    /// The `rule` its alerts carry: `budget:<name>`, which no rule name can take (a rule
    /// name has no `:`), so a budget's alerts are never mistaken for a rule's.
    pub fn alert_rule(&self) -> String {
        alert_rule(&self.name)
    }

    /// The label names its groups are made of, as strings.
    pub fn group_names(&self) -> Vec<String> {
        self.group_by
            .iter()
            .map(|l| l.as_str().to_owned())
            .collect()
    }
}

/// The `rule` of a budget's alerts: `budget:<name>`.
pub fn alert_rule(name: &str) -> String {
    format!("budget:{name}")
}

/// Validates one budget whose text starts at `offset` in `file`.
pub fn validate_budget(
    cfg: BudgetConfig,
    file: &SourceFile,
    offset: usize,
    ctx: &RuleContext,
) -> Result<Budget, Vec<ConfigError>> {
    let name = cfg.name.get_ref().clone();
    let mut errors = Vec::new();
    // `rule` of a ConfigError prints as "rule …": a budget names itself in the message.
    let mut err = |span: Range<usize>, msg: String| {
        let msg = format!("budget {name:?}: {msg}");
        errors.push(file.error(Some(span.start + offset..span.end + offset), None, msg));
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        err(
            cfg.name.span(),
            format!("invalid budget name {name:?}; expected letters, digits, '_', '-' or '.'"),
        );
    }
    let source = budget_source(&cfg, ctx, &mut err);
    let kind = ctx.source_kinds.get(&source).copied();
    let (query, unit) = match kind {
        Some(k @ (SourceKind::Prometheus | SourceKind::Scrape)) => {
            let query = counter_spend(&cfg, &source, k, &mut err);
            (query, budget_unit(&cfg, None, &mut err))
        }
        _ => budget_query(&cfg, &mut err),
    };
    let group_by = budget_groups(&cfg, query.as_ref(), &mut err);
    let amount = *cfg.amount.get_ref();
    if !(amount.is_finite() && amount > 0.0) {
        err(
            cfg.amount.span(),
            format!("`amount` must be a number above 0, found {amount}"),
        );
    }
    let timezone = budget_timezone(&cfg, &mut err);
    let every = cfg
        .every
        .as_ref()
        .map_or(DEFAULT_EVERY, |e| e.get_ref().get());
    if let Some(e) = cfg.every.as_ref().filter(|_| every.is_zero()) {
        err(e.span(), "`every` must be longer than 0s".to_owned());
    }
    let receivers = budget_receivers(&cfg, ctx, &mut err);
    let mut labels = Labels::new();
    for (k, v) in &cfg.labels {
        match LabelName::from_str(k) {
            Ok(_) => labels.insert(k.clone(), v.clone()),
            Err(e) => err(cfg.name.span(), format!("in `labels`: {e}")),
        }
    }
    match (query, errors.is_empty()) {
        (Some(query), true) => Ok(Budget {
            name,
            file: file.path.clone(),
            description: cfg.description.unwrap_or_default(),
            source,
            query,
            group_by,
            amount,
            unit,
            period: cfg.period,
            timezone,
            every,
            receivers,
            labels,
            annotations: cfg.annotations,
        }),
        _ => Err(errors),
    }
}

/// The source a budget reads: the one it names, or the only one.
fn budget_source(
    cfg: &BudgetConfig,
    ctx: &RuleContext,
    err: &mut impl FnMut(Range<usize>, String),
) -> String {
    let (name, span) = match &cfg.source {
        Some(s) => (s.get_ref().clone(), s.span()),
        None if ctx.sources.len() == 1 => (
            ctx.sources.first().cloned().unwrap_or_default(),
            cfg.name.span(),
        ),
        None => {
            err(
                cfg.name.span(),
                format!(
                    "budget needs `source`: expected one of the configured sources ({})",
                    ctx.sources.join(", ")
                ),
            );
            return String::new();
        }
    };
    if !ctx.sources.contains(&name) {
        err(
            span,
            format!(
                "unknown source {name:?}; configured sources: {}",
                ctx.sources.join(", ")
            ),
        );
    }
    name
}

/// The spend query on a SQL source and its unit.
fn budget_query(
    cfg: &BudgetConfig,
    err: &mut impl FnMut(Range<usize>, String),
) -> (Option<RuleQuery>, Unit) {
    let (query, natural) = match (&cfg.metric, &cfg.query) {
        (Some(m), None) => catalog_spend(cfg, m, err),
        (None, Some(q)) => (sql_spend(cfg, q, err), None),
        (Some(m), Some(_)) => {
            err(
                m.span(),
                "give either `metric` or `query`, not both".to_owned(),
            );
            (None, None)
        }
        (None, None) => {
            err(
                cfg.name.span(),
                "budget needs `metric` (llm.cost, workflow.cost, llm.tokens…) or `query` (SQL)"
                    .to_owned(),
            );
            (None, None)
        }
    };
    (query, budget_unit(cfg, natural, err))
}

/// The unit written, which must match the metric's own (`natural`) when it has one;
/// else the metric's own; else USD.
fn budget_unit(
    cfg: &BudgetConfig,
    natural: Option<Unit>,
    err: &mut impl FnMut(Range<usize>, String),
) -> Unit {
    let written = cfg.unit.as_ref().map(|u| (*u.get_ref(), u.span()));
    match (written, natural) {
        (Some((w, span)), Some(n)) if w != n => {
            err(
                span,
                format!("`unit` {w:?} does not match the metric, which counts {n:?}"),
            );
            w
        }
        (Some((w, _)), _) => w,
        (None, Some(n)) => n,
        (None, None) => Unit::Usd,
    }
}

/// A catalog spend metric with its filter, and the unit it counts.
fn catalog_spend(
    cfg: &BudgetConfig,
    m: &Spanned<String>,
    err: &mut impl FnMut(Range<usize>, String),
) -> (Option<RuleQuery>, Option<Unit>) {
    let spend = [
        (CatalogMetric::LlmCost, Unit::Usd),
        (CatalogMetric::WorkflowCost, Unit::Usd),
        (CatalogMetric::LlmTokens, Unit::Tokens),
        (CatalogMetric::LlmPromptTokens, Unit::Tokens),
        (CatalogMetric::LlmCompletionTokens, Unit::Tokens),
    ];
    match spend.iter().find(|(c, _)| c.name() == m.get_ref()) {
        Some((metric, unit)) => {
            let filter = Labels(cfg.filter.clone().into_iter().collect());
            let query = RuleQuery::Catalog {
                metric: *metric,
                filter,
            };
            (Some(query), Some(*unit))
        }
        None => {
            let names: Vec<&str> = spend.iter().map(|(c, _)| c.name()).collect();
            err(
                m.span(),
                format!(
                    "a budget counts spend: expected `metric` one of {}, found {:?}",
                    names.join(", "),
                    m.get_ref()
                ),
            );
            (None, None)
        }
    }
}

/// A custom SQL spend query (one row per spend: `ts`, `value`, label columns).
fn sql_spend(
    cfg: &BudgetConfig,
    q: &Spanned<String>,
    err: &mut impl FnMut(Range<usize>, String),
) -> Option<RuleQuery> {
    if let Err(e) = crate::sources::sql_guard::check_read_only_query(q.get_ref()) {
        err(q.span(), e);
    }
    let lower = q.get_ref().to_ascii_lowercase();
    if !lower.contains("ts") || !lower.contains("value") {
        err(
            q.span(),
            "query must return columns named `ts` and `value`".to_owned(),
        );
    }
    if !cfg.filter.is_empty() {
        err(
            q.span(),
            "`filter` applies to `metric`; put the condition in the query".to_owned(),
        );
    }
    Some(RuleQuery::Sql {
        sql: q.get_ref().clone(),
    })
}

/// `group_by` as label names, each one the metric has.
fn budget_groups(
    cfg: &BudgetConfig,
    query: Option<&RuleQuery>,
    err: &mut impl FnMut(Range<usize>, String),
) -> Vec<LabelName> {
    let known = match query {
        Some(RuleQuery::Catalog { metric, .. }) => Some(metric.label_names()),
        _ => None,
    };
    let mut out = Vec::new();
    for g in &cfg.group_by {
        match LabelName::from_str(g.get_ref()) {
            Ok(l) => match &known {
                Some(names) if !names.contains(&l.as_str()) => err(
                    g.span(),
                    format!(
                        "unknown label {:?} for this metric; expected one of {}",
                        l.as_str(),
                        names.join(", ")
                    ),
                ),
                _ => out.push(l),
            },
            Err(e) => err(g.span(), e),
        }
    }
    out
}

/// The time zone, UTC when not given.
fn budget_timezone(cfg: &BudgetConfig, err: &mut impl FnMut(Range<usize>, String)) -> Tz {
    match &cfg.timezone {
        None => Tz::UTC,
        Some(t) => Tz::from_str(t.get_ref()).unwrap_or_else(|_| {
            err(
                t.span(),
                format!(
                    "unknown time zone {:?}; expected an IANA name such as \"Europe/Berlin\" or \"UTC\"",
                    t.get_ref()
                ),
            );
            Tz::UTC
        }),
    }
}

/// The receivers named, each configured; the defaults when none is named.
fn budget_receivers(
    cfg: &BudgetConfig,
    ctx: &RuleContext,
    err: &mut impl FnMut(Range<usize>, String),
) -> Vec<String> {
    if cfg.receivers.is_empty() {
        return ctx.default_receivers.clone();
    }
    let mut out = Vec::new();
    for r in &cfg.receivers {
        if ctx.receivers.contains(r.get_ref()) {
            out.push(r.get_ref().clone());
        } else {
            err(
                r.span(),
                format!(
                    "unknown receiver {:?}; configured receivers: {}",
                    r.get_ref(),
                    ctx.receivers.join(", ")
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_like_money_and_tokens() {
        assert_eq!(Unit::Usd.format(1240.2), "$1,240");
        assert_eq!(Unit::Usd.format(12.5), "$12.50");
        assert_eq!(Unit::Tokens.format(2_500_000.0), "2.50M tokens");
        assert_eq!(Unit::Tokens.format(12_345.0), "12,345 tokens");
    }
}
