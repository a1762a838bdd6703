//! A validated rule, ready for the engine: typed fields, defaults resolved, no options
//! left to interpret.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::detect::DetectorSpec;
use crate::model::{Labels, Severity};
use crate::rule::spec::{Aggregate, NoDataPolicy};
use crate::sources::RuleQuery;
use crate::types::{CronSpec, LabelName};

/// When a rule is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// At a fixed interval.
    Every(Duration),
    /// On a cron schedule.
    Cron(Box<CronSpec>),
}

/// A validated rule, ready for the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name.
    pub name: String,
    /// The file it came from (for messages).
    pub file: String,
    /// Free text.
    pub description: String,
    /// Source name.
    pub source: String,
    /// What to read.
    pub query: RuleQuery,
    /// Labels to group by (for a sliced rule, every label of its slices).
    pub group_by: Vec<LabelName>,
    /// The label sets a sliced rule judges (empty: one series per `group_by` set).
    pub slices: Vec<Vec<LabelName>>,
    /// How a group's samples become one value.
    pub aggregate: Aggregate,
    /// How far back to look.
    pub window: Duration,
    /// When to evaluate.
    pub schedule: Schedule,
    /// How far the window is shifted back for late rows.
    pub delay: Duration,
    /// How long a breach must last before firing.
    pub for_duration: Duration,
    /// How long to keep firing after the breach ends.
    pub keep_firing_for: Duration,
    /// Minimum samples for a group to be judged.
    pub min_samples: usize,
    /// What a group without samples means.
    pub no_data: NoDataPolicy,
    /// Severity of the alerts.
    pub severity: Severity,
    /// Summary template.
    pub summary: String,
    /// Extra labels on every alert.
    pub labels: Labels,
    /// Extra annotations on every alert.
    pub annotations: BTreeMap<String, String>,
    /// The detector, validated, its defaults resolved.
    pub detector: DetectorSpec,
    /// Receivers to notify.
    pub receivers: Vec<String>,
    /// Series limit per evaluation.
    pub max_series: usize,
}

impl Rule {
    /// Short human name of what is measured, e.g. `p95 llm.call.duration`.
    pub fn measure_name(&self) -> String {
        match &self.query {
            RuleQuery::Catalog { metric, .. } => {
                format!("{} {}", self.aggregate.as_str(), metric.name())
            }
            RuleQuery::Scraped { metric, .. } | RuleQuery::Increase { metric, .. } => {
                format!("{} {metric}", self.aggregate.as_str())
            }
            RuleQuery::Sql { .. } | RuleQuery::PromQl { .. } => {
                format!("{} value", self.aggregate.as_str())
            }
        }
    }

    /// The unit suffix for values (`s`, `USD`, …), empty when unknown.
    pub fn unit(&self) -> &'static str {
        match (&self.query, self.aggregate) {
            (_, Aggregate::Count) => "",
            (_, Aggregate::Ratio) => "",
            (RuleQuery::Catalog { metric, .. }, Aggregate::Rate) => {
                let _ = metric;
                "/s"
            }
            (RuleQuery::Catalog { metric, .. }, _) => metric.unit(),
            (RuleQuery::Scraped { metric, .. }, Aggregate::Rate) => {
                if metric.ends_with("_seconds_sum") {
                    ""
                } else {
                    "/s"
                }
            }
            (RuleQuery::Scraped { metric, .. }, _) if metric.ends_with("_seconds") => "s",
            (
                RuleQuery::Sql { .. }
                | RuleQuery::PromQl { .. }
                | RuleQuery::Scraped { .. }
                | RuleQuery::Increase { .. },
                _,
            ) => "",
        }
    }
}

/// Every loaded rule; immutable, swapped whole on reload.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Rules in file order.
    pub rules: Vec<Arc<Rule>>,
}
