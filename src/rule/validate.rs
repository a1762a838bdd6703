//! Turns a [`RuleConfig`] into a typed [`Rule`], collecting every problem with its place.

use std::collections::BTreeMap;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use crate::model::Labels;
use crate::rule::spec::{Aggregate, RuleConfig};
use crate::rule::validated::{Rule, Schedule};
use crate::sources::catalog::CatalogMetric;
use crate::sources::{RuleQuery, SourceKind};
use crate::types::{ConfigError, SourceFile};
use crate::types::{CronSpec, LabelName};

/// What a rule may refer to: the names configured in `driftwatch.toml`.
#[derive(Debug, Clone, Default)]
pub struct RuleContext {
    /// Configured source names.
    pub sources: Vec<String>,
    /// Each source's kind, when known, so a rule that asks a source what it cannot
    /// answer (PromQL of a SQL database) is refused at load time.
    pub source_kinds: BTreeMap<String, SourceKind>,
    /// Configured receiver names.
    pub receivers: Vec<String>,
    /// Receivers for rules that name none.
    pub default_receivers: Vec<String>,
}

/// Default series limit per rule evaluation.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// Validates one rule. `offset` is where the rule's text starts in `file`, since spans
/// are relative to the rule's own chunk.
pub fn validate_rule(
    cfg: RuleConfig,
    file: &SourceFile,
    offset: usize,
    ctx: &RuleContext,
) -> Result<Rule, Vec<ConfigError>> {
    let name = cfg.name.get_ref().clone();
    let mut errors = Vec::new();
    let at = |span: Range<usize>| Some(span.start + offset..span.end + offset);
    let mut err = |span: Range<usize>, msg: String| {
        errors.push(file.error(at(span), Some(&name), msg));
    };

    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        err(
            cfg.name.span(),
            format!("invalid rule name {name:?}; expected letters, digits, '_', '-' or '.'"),
        );
    }

    let source = rule_source(&cfg, ctx, &mut err);

    let query = rule_query(&cfg, &source, ctx, &mut err);

    let (group_by, slices) = rule_grouping(&cfg, query.as_ref(), &mut err);

    let aggregate = aggregate_of(&cfg, query.as_ref());

    let window = cfg.window.get_ref().get();
    if window.is_zero() {
        err(
            cfg.window.span(),
            "`window` must be longer than 0s".to_owned(),
        );
    }

    let schedule = rule_schedule(&cfg, &mut err);

    let min_samples = min_samples_of(&cfg, &mut err);

    pooled_lists_its_finest_slice(&cfg, &slices, &group_by, &mut err);
    let detector = match cfg.detector.get_ref().validate() {
        Ok(spec) => Some(spec),
        Err(problems) => {
            for problem in problems {
                err(cfg.detector.span(), problem);
            }
            None
        }
    };

    let receivers = rule_receivers(&cfg, ctx, &mut err);

    let labels = rule_labels(&cfg, &mut err);

    let max_series = cfg.max_series.unwrap_or(DEFAULT_MAX_SERIES);
    if max_series == 0 {
        err(
            cfg.name.span(),
            "`max_series` must be at least 1".to_owned(),
        );
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    // Every branch that leaves the query or detector unset reports an error, so this
    // only guards.
    let (Some(query), Some(detector)) = (query, detector) else {
        errors.push(file.error(
            at(cfg.name.span()),
            Some(&name),
            "rule needs `metric` (a catalog metric), `query` (SQL) or `promql`".to_owned(),
        ));
        return Err(errors);
    };
    Ok(Rule {
        name,
        file: file.path.clone(),
        description: cfg.description.unwrap_or_default(),
        source,
        query,
        group_by,
        slices,
        aggregate,
        window,
        schedule,
        delay: cfg.delay.map(|d| d.get()).unwrap_or_default(),
        for_duration: cfg.for_duration.map(|d| d.get()).unwrap_or_default(),
        keep_firing_for: cfg.keep_firing_for.map(|d| d.get()).unwrap_or_default(),
        min_samples,
        no_data: cfg.no_data.unwrap_or_default(),
        severity: cfg.severity,
        summary: cfg
            .summary
            .unwrap_or_else(|| "{measure} {value} {reason} for {labels}".to_owned()),
        labels,
        annotations: cfg.annotations,
        detector,
        receivers,
        max_series,
    })
}

/// The labels a rule groups by and the slices it judges; a sliced rule groups by every
/// label of its slices.
fn rule_grouping(
    cfg: &RuleConfig,
    query: Option<&RuleQuery>,
    err: &mut impl FnMut(Range<usize>, String),
) -> (Vec<LabelName>, Vec<Vec<LabelName>>) {
    let mut group_by = Vec::new();
    for g in &cfg.group_by {
        match LabelName::from_str(g.get_ref()) {
            Ok(l) => group_by.push(l),
            Err(e) => err(g.span(), e),
        }
    }
    let metric_labels = match query {
        Some(RuleQuery::Catalog { metric, .. }) => Some(metric.label_names()),
        _ => None,
    };
    let slices = slices_of(cfg, metric_labels.as_deref(), err);
    if !slices.is_empty() {
        group_by = slices.iter().flatten().cloned().collect();
        group_by.sort();
        group_by.dedup();
    }
    (group_by, slices)
}

/// The aggregate the rule names, or its metric's natural one (a count, a ratio, the max;
/// the mean for queries).
fn aggregate_of(cfg: &RuleConfig, query: Option<&RuleQuery>) -> Aggregate {
    cfg.aggregate.unwrap_or(match query {
        Some(RuleQuery::Catalog { metric, .. }) => match metric {
            CatalogMetric::WorkflowCount => Aggregate::Count,
            CatalogMetric::WorkflowErrorRate | CatalogMetric::StepErrorRate => Aggregate::Ratio,
            _ => Aggregate::Max,
        },
        _ => Aggregate::Avg,
    })
}

/// `min_samples`, at least 1 (the default).
fn min_samples_of(cfg: &RuleConfig, err: &mut impl FnMut(Range<usize>, String)) -> usize {
    match &cfg.min_samples {
        Some(m) if *m.get_ref() == 0 => {
            err(m.span(), "`min_samples` must be at least 1".to_owned());
            1
        }
        Some(m) => *m.get_ref() as usize,
        None => 1,
    }
}

/// The rule's extra alert labels, each name a valid label name.
fn rule_labels(cfg: &RuleConfig, err: &mut impl FnMut(Range<usize>, String)) -> Labels {
    let mut labels = Labels::new();
    for (k, v) in &cfg.labels {
        match LabelName::from_str(k) {
            Ok(_) => labels.insert(k.clone(), v.clone()),
            Err(e) => err(cfg.name.span(), format!("in `labels`: {e}")),
        }
    }
    labels
}

/// The source a rule reads: the one it names, or the only one configured.
fn rule_source(
    cfg: &RuleConfig,
    ctx: &RuleContext,
    err: &mut impl FnMut(Range<usize>, String),
) -> String {
    match &cfg.source {
        Some(s) if ctx.sources.iter().any(|n| n == s.get_ref()) => s.get_ref().clone(),
        Some(s) => {
            err(
                s.span(),
                format!(
                    "unknown source {:?}; configured sources: {}",
                    s.get_ref(),
                    list(&ctx.sources)
                ),
            );
            String::new()
        }
        None if ctx.sources.len() == 1 => ctx.sources.first().cloned().unwrap_or_default(),
        None => {
            err(
                cfg.name.span(),
                format!(
                    "rule needs `source`: expected one of the configured sources ({})",
                    list(&ctx.sources)
                ),
            );
            String::new()
        }
    }
}

/// What the rule asks its source, checked against what that kind of source answers;
/// `None` when an error was reported.
fn rule_query(
    cfg: &RuleConfig,
    source: &str,
    ctx: &RuleContext,
    err: &mut impl FnMut(Range<usize>, String),
) -> Option<RuleQuery> {
    let filter = Labels(cfg.filter.clone().into_iter().collect());
    let kind = ctx.source_kinds.get(source).copied();
    if let Some((span, message)) = source_mismatch(cfg, source, kind) {
        err(span, message);
        None
    } else if let (Some(SourceKind::Scrape), Some(m)) = (kind, &cfg.metric) {
        let name = m.get_ref();
        if let Err(e) = crate::sources::query::check_metric_name(name) {
            err(m.span(), e);
        }
        Some(RuleQuery::Scraped {
            metric: name.clone(),
            filter,
        })
    } else {
        match (&cfg.metric, &cfg.query, &cfg.promql) {
            (None, None, Some(q)) => {
                if q.get_ref().trim().is_empty() {
                    err(q.span(), "`promql` must not be empty".to_owned());
                }
                Some(RuleQuery::PromQl {
                    expr: q.get_ref().clone(),
                })
            }
            (Some(_), _, Some(q)) | (_, Some(_), Some(q)) => {
                err(
                    q.span(),
                    "give only one of `metric`, `query` and `promql`".to_owned(),
                );
                None
            }
            (Some(m), None, None) => catalog_query(cfg, m, filter, err),
            (None, Some(q), None) => {
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
                Some(RuleQuery::Sql {
                    sql: q.get_ref().clone(),
                })
            }
            (Some(m), Some(_), None) => {
                err(
                    m.span(),
                    "give either `metric` or `query`, not both".to_owned(),
                );
                None
            }
            (None, None, None) => {
                err(
                    cfg.name.span(),
                    "rule needs `metric` (a catalog metric), `query` (SQL) or `promql`".to_owned(),
                );
                None
            }
        }
    }
}

/// A question the rule's source cannot answer (PromQL of a SQL database, a catalog metric
/// of Prometheus): where it is written and why.
fn source_mismatch(
    cfg: &RuleConfig,
    source: &str,
    kind: Option<SourceKind>,
) -> Option<(Range<usize>, String)> {
    match (kind, &cfg.metric, &cfg.query, &cfg.promql) {
        (Some(SourceKind::Scrape), _, Some(q), _) => Some((
            q.span(),
            format!("source {source:?} is a scrape source: name an exposition metric with `metric` instead of `query`"),
        )),
        (Some(SourceKind::Scrape), _, _, Some(q)) => Some((
            q.span(),
            format!("source {source:?} is a scrape source: name an exposition metric with `metric`; `promql` needs a prometheus source"),
        )),
        (Some(SourceKind::Prometheus), Some(m), _, _) => Some((
            m.span(),
            format!("source {source:?} is a prometheus source: give `promql` instead of `metric`"),
        )),
        (Some(SourceKind::Prometheus), _, Some(q), _) => Some((
            q.span(),
            format!("source {source:?} is a prometheus source: give `promql` instead of `query`"),
        )),
        (Some(SourceKind::Sql), _, _, Some(q)) => Some((
            q.span(),
            format!("source {source:?} is a sql source: `promql` needs a prometheus source"),
        )),
        _ => None,
    }
}

/// A catalog metric, its filter and `group_by` labels checked against the labels it has.
fn catalog_query(
    cfg: &RuleConfig,
    m: &toml::Spanned<String>,
    filter: Labels,
    err: &mut impl FnMut(Range<usize>, String),
) -> Option<RuleQuery> {
    match CatalogMetric::from_name(m.get_ref()) {
        Some(metric) => {
            let known = metric.label_names();
            for key in cfg.filter.keys() {
                if !known.contains(&key.as_str()) {
                    err(
                        m.span(),
                        format!(
                            "filter label {key:?} is not a label of {}; expected one of {}",
                            metric.name(),
                            known.join(", ")
                        ),
                    );
                }
            }
            for g in &cfg.group_by {
                if !known.contains(&g.get_ref().as_str()) {
                    err(
                        g.span(),
                        format!(
                            "group_by label {:?} is not a label of {}; expected one of {}",
                            g.get_ref(),
                            metric.name(),
                            known.join(", ")
                        ),
                    );
                }
            }
            Some(RuleQuery::Catalog { metric, filter })
        }
        None => {
            err(
                m.span(),
                format!(
                    "unknown metric {:?}; expected one of {}",
                    m.get_ref(),
                    CatalogMetric::names().join(", ")
                ),
            );
            None
        }
    }
}

/// When the rule is evaluated: `every` (default 1m) or `cron`.
fn rule_schedule(cfg: &RuleConfig, err: &mut impl FnMut(Range<usize>, String)) -> Schedule {
    match (&cfg.every, &cfg.cron) {
        (Some(e), None) => {
            if e.get_ref().get() < Duration::from_millis(100) {
                err(e.span(), "`every` must be at least 100ms".to_owned());
            }
            Schedule::Every(e.get_ref().get())
        }
        (None, Some(c)) => match CronSpec::from_str(c.get_ref()) {
            Ok(spec) => Schedule::Cron(Box::new(spec)),
            Err(e) => {
                err(c.span(), e);
                Schedule::Every(Duration::from_secs(60))
            }
        },
        (Some(e), Some(_)) => {
            err(
                e.span(),
                "give either `every` or `cron`, not both".to_owned(),
            );
            Schedule::Every(Duration::from_secs(60))
        }
        (None, None) => Schedule::Every(Duration::from_secs(60)),
    }
}

/// The receivers the rule names, each configured; the default ones when it names none.
fn rule_receivers(
    cfg: &RuleConfig,
    ctx: &RuleContext,
    err: &mut impl FnMut(Range<usize>, String),
) -> Vec<String> {
    let mut receivers = Vec::new();
    for r in &cfg.receivers {
        if ctx.receivers.iter().any(|n| n == r.get_ref()) {
            receivers.push(r.get_ref().clone());
        } else {
            err(
                r.span(),
                format!(
                    "unknown receiver {:?}; configured receivers: {}",
                    r.get_ref(),
                    list(&ctx.receivers)
                ),
            );
        }
    }
    if cfg.receivers.is_empty() {
        receivers = ctx.default_receivers.clone();
    }
    receivers
}

/// A pooled exceedance judges coarser slices against the finest one, so that one (every
/// label of the others) must be a slice too.
fn pooled_lists_its_finest_slice(
    cfg: &RuleConfig,
    slices: &[Vec<LabelName>],
    group_by: &[LabelName],
    err: &mut impl FnMut(Range<usize>, String),
) {
    if let crate::detect::DetectorConfig::Exceedance(x) = cfg.detector.get_ref() {
        if x.pooled == Some(true) && !slices.iter().any(|s| s.as_slice() == group_by) {
            let msg = format!(
                "`pooled` judges slices against their finest series: list the slice [{}] too",
                group_by
                    .iter()
                    .map(|l| format!("{:?}", l.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            err(cfg.detector.span(), msg);
        }
    }
}

/// A sliced rule's label sets, each label checked like `group_by`'s (`metric_labels`:
/// what a catalog metric carries).
fn slices_of(
    cfg: &RuleConfig,
    metric_labels: Option<&[&str]>,
    err: &mut impl FnMut(Range<usize>, String),
) -> Vec<Vec<LabelName>> {
    if let (Some(g), false) = (cfg.group_by.first(), cfg.slices.is_empty()) {
        err(g.span(), "give `group_by` or `slices`, not both".to_owned());
    }
    let mut out: Vec<Vec<LabelName>> = Vec::new();
    for slice in &cfg.slices {
        let mut names = Vec::new();
        for l in slice {
            if let Some(known) = metric_labels.filter(|k| !k.contains(&l.get_ref().as_str())) {
                let msg = format!(
                    "slice label {:?} is not a label of this metric; expected one of {}",
                    l.get_ref(),
                    known.join(", ")
                );
                err(l.span(), msg);
            }
            match LabelName::from_str(l.get_ref()) {
                Ok(name) => names.push(name),
                Err(e) => err(l.span(), e),
            }
        }
        names.sort();
        if out.contains(&names) {
            let span = slice.first().map(|l| l.span()).unwrap_or(cfg.name.span());
            err(span, "this slice is listed twice".to_owned());
        }
        out.push(names);
    }
    out
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::parse_rules;
    use crate::types::SourceFile;

    fn ctx() -> RuleContext {
        RuleContext {
            sources: vec!["db".into(), "prom".into(), "exporter".into()],
            source_kinds: BTreeMap::from([
                ("db".to_owned(), SourceKind::Sql),
                ("prom".to_owned(), SourceKind::Prometheus),
                ("exporter".to_owned(), SourceKind::Scrape),
            ]),
            receivers: vec![],
            default_receivers: vec![],
        }
    }

    const BASE: &str =
        "window = \"1m\"\nseverity = \"info\"\ndetector = { kind = \"threshold\", above = 1 }\n";

    #[test]
    fn a_rule_may_only_ask_its_source_what_that_kind_answers() {
        let text = format!(
            "[[rule]]\nname = \"a\"\nsource = \"db\"\npromql = \"up\"\n{BASE}\n\
             [[rule]]\nname = \"b\"\nsource = \"prom\"\nmetric = \"workflow.duration\"\n{BASE}\n\
             [[rule]]\nname = \"c\"\nsource = \"exporter\"\nquery = \"select ts, value from t\"\n{BASE}\n\
             [[rule]]\nname = \"d\"\nsource = \"exporter\"\nmetric = \"9bad\"\n{BASE}"
        );
        let errors = parse_rules(&[SourceFile::new("r.toml", &text)], &ctx())
            .expect_err("four mismatches")
            .0;
        let lines: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(errors.len(), 4, "{lines:?}");
        assert!(
            lines[0].1.contains("`promql` needs a prometheus source"),
            "{lines:?}"
        );
        assert_eq!(lines[0].0, 4);
        assert!(
            lines[1].1.contains("give `promql` instead of `metric`"),
            "{lines:?}"
        );
        assert!(lines[2].1.contains("is a scrape source"), "{lines:?}");
        assert!(
            lines[3].1.contains("invalid metric name \"9bad\""),
            "{lines:?}"
        );
    }

    #[test]
    fn a_scrape_rule_names_an_exposition_metric_with_any_labels() {
        let text = format!(
            "[[rule]]\nname = \"p95\"\nsource = \"exporter\"\nmetric = \"llm_call_duration_seconds\"\n\
             filter = {{ model = \"gpt-4o\" }}\ngroup_by = [\"agent\"]\naggregate = \"p95\"\n{BASE}"
        );
        let rules = parse_rules(&[SourceFile::new("r.toml", &text)], &ctx()).unwrap();
        assert_eq!(
            rules.rules[0].query,
            RuleQuery::Scraped {
                metric: "llm_call_duration_seconds".to_owned(),
                filter: Labels::new().with("model", "gpt-4o"),
            }
        );
        assert_eq!(
            rules.rules[0].measure_name(),
            "p95 llm_call_duration_seconds"
        );
    }

    #[test]
    fn slices_name_labels_of_their_metric_and_a_pooled_rule_lists_its_finest_slice() {
        let rule = |slices: &str, pooled: &str| {
            format!(
                "[[rule]]\nname = \"r\"\nsource = \"db\"\nmetric = \"llm.cost\"\n\
                 slices = {slices}\nwindow = \"1m\"\nseverity = \"info\"\n\
                 detector = {{ kind = \"exceedance\"{pooled} }}\n"
            )
        };
        let ok = rule(r#"[["agent"], ["agent", "model"]]"#, ", pooled = true");
        assert!(parse_rules(&[SourceFile::new("r.toml", &ok)], &ctx()).is_ok());
        for (slices, pooled, expected) in [
            (
                r#"[["agent"], ["model"]]"#,
                ", pooled = true",
                "list the slice [\"agent\", \"model\"] too",
            ),
            (
                r#"[["agent"], ["step_number"]]"#,
                "",
                "slice label \"step_number\" is not a label of this metric",
            ),
            (
                r#"[["agent"], ["agent"]]"#,
                "",
                "this slice is listed twice",
            ),
        ] {
            let text = rule(slices, pooled);
            let errors = parse_rules(&[SourceFile::new("r.toml", &text)], &ctx())
                .expect_err(expected)
                .0;
            assert!(
                errors
                    .iter()
                    .any(|e| e.message.contains(expected) && e.line > 0),
                "{expected}: {errors:?}"
            );
        }
    }
}
