//! Turns a [`RuleConfig`] into a typed [`Rule`], collecting every problem with its place.

use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use crate::config::location::{ConfigError, SourceFile};
use crate::config::rule::{Aggregate, RuleConfig};
use crate::config::types::{CronSpec, LabelName};
use crate::config::validated::{Rule, RuleQuery, Schedule};
use crate::model::Labels;
use crate::sources::catalog::CatalogMetric;

/// What a rule may refer to: the names configured in `driftwatch.toml`.
#[derive(Debug, Clone, Default)]
pub struct RuleContext {
    /// Configured source names.
    pub sources: Vec<String>,
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

    let source = match &cfg.source {
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
        None if ctx.sources.len() == 1 => ctx.sources[0].clone(),
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
    };

    let filter = Labels(cfg.filter.clone().into_iter().collect());
    let query = match (&cfg.metric, &cfg.query) {
        (None, None) if cfg.promql.is_some() => {
            let q = cfg.promql.as_ref().expect("checked");
            if q.get_ref().trim().is_empty() {
                err(q.span(), "`promql` must not be empty".to_owned());
            }
            Some(RuleQuery::PromQl {
                expr: q.get_ref().clone(),
            })
        }
        (Some(_), _) | (_, Some(_)) if cfg.promql.is_some() => {
            err(
                cfg.promql.as_ref().expect("checked").span(),
                "give only one of `metric`, `query` and `promql`".to_owned(),
            );
            None
        }
        (Some(m), None) => match CatalogMetric::from_name(m.get_ref()) {
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
        },
        (None, Some(q)) => {
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
        (Some(m), Some(_)) => {
            err(
                m.span(),
                "give either `metric` or `query`, not both".to_owned(),
            );
            None
        }
        (None, None) => {
            err(
                cfg.name.span(),
                "rule needs `metric` (a catalog metric), `query` (SQL) or `promql`".to_owned(),
            );
            None
        }
    };

    let mut group_by = Vec::new();
    for g in &cfg.group_by {
        match LabelName::from_str(g.get_ref()) {
            Ok(l) => group_by.push(l),
            Err(e) => err(g.span(), e),
        }
    }

    let aggregate = cfg.aggregate.unwrap_or(match &query {
        Some(RuleQuery::Catalog { metric, .. }) => match metric {
            CatalogMetric::WorkflowCount => Aggregate::Count,
            CatalogMetric::WorkflowErrorRate | CatalogMetric::StepErrorRate => Aggregate::Ratio,
            _ => Aggregate::Max,
        },
        _ => Aggregate::Avg,
    });

    let window = cfg.window.get_ref().get();
    if window.is_zero() {
        err(
            cfg.window.span(),
            "`window` must be longer than 0s".to_owned(),
        );
    }

    let schedule = match (&cfg.every, &cfg.cron) {
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
    };

    let min_samples = match &cfg.min_samples {
        Some(m) if *m.get_ref() == 0 => {
            err(m.span(), "`min_samples` must be at least 1".to_owned());
            1
        }
        Some(m) => *m.get_ref() as usize,
        None => 1,
    };

    for problem in cfg.detector.get_ref().validate() {
        err(cfg.detector.span(), problem);
    }

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

    let mut labels = Labels::new();
    for (k, v) in &cfg.labels {
        match LabelName::from_str(k) {
            Ok(_) => labels.insert(k.clone(), v.clone()),
            Err(e) => err(cfg.name.span(), format!("in `labels`: {e}")),
        }
    }

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
    Ok(Rule {
        name,
        file: file.path.clone(),
        description: cfg.description.unwrap_or_default(),
        source,
        query: query.expect("no errors means a query"),
        group_by,
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
        detector: cfg.detector.into_inner(),
        receivers,
        max_series,
    })
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
