//! The serde model of a rule as people write it in `rules/*.toml` (`[[rule]]` tables).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::detect::DetectorConfig;
use crate::model::Severity;
use crate::types::DurationSpec;

/// One `rules/*.toml` file: a list of `[[rule]]` tables.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleFileConfig {
    /// The rules in the file, in order.
    #[serde(default)]
    pub rule: Vec<RuleConfig>,
    /// The file's `[[budget]]` tables, read and validated by `budget::load`; the rules'
    /// loader only lets them be.
    #[serde(default)]
    #[schemars(with = "Vec<serde_json::Value>")]
    pub budget: Vec<toml::Value>,
}

/// One rule exactly as written; validated into [`crate::rule::Rule`].
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name; becomes the `rule` label of its alerts.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Free text for people reading the rule.
    #[serde(default)]
    pub description: Option<String>,
    /// Which configured source to read (may be left out when there is only one).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub source: Option<Spanned<String>>,
    /// A built-in catalog metric such as `workflow.duration`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub metric: Option<Spanned<String>>,
    /// Label filters applied to the metric, e.g. `{ model = "gpt-4o" }`; a value starting
    /// with `!` keeps every other value (`{ mode = "!deep_research" }`).
    #[serde(default)]
    pub filter: BTreeMap<String, String>,
    /// Instead of `metric`: SQL returning `ts`, `value` and label columns.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub query: Option<Spanned<String>>,
    /// Instead of `metric`: a PromQL expression, run as an instant query against a
    /// `kind = "prometheus"` source at every evaluation; each result series is a group.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub promql: Option<Spanned<String>>,
    /// Labels to group by; one alert per distinct combination.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub group_by: Vec<Spanned<String>>,
    /// Several label sets judged by one rule instead of `group_by`, e.g.
    /// `[[], ["model"], ["agent"]]` (`[]`: all traffic). A cause that shows in several
    /// slices is one alert, on the slice that explains it best, listing the others.
    #[serde(default)]
    #[schemars(with = "Vec<Vec<String>>")]
    pub slices: Vec<Vec<Spanned<String>>>,
    /// How samples in the window become one value per group.
    #[serde(default)]
    pub aggregate: Option<Aggregate>,
    /// How far back each evaluation looks.
    #[schemars(with = "DurationSpec")]
    pub window: Spanned<DurationSpec>,
    /// Evaluate every so often (`"1m"`); exclusive with `cron`.
    #[serde(default)]
    #[schemars(with = "Option<DurationSpec>")]
    pub every: Option<Spanned<DurationSpec>>,
    /// Evaluate on a cron schedule; exclusive with `every`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cron: Option<Spanned<String>>,
    /// Shift the window back this much so late rows are counted.
    #[serde(default)]
    pub delay: Option<DurationSpec>,
    /// How long a breach must last before the alert fires.
    #[serde(default, rename = "for")]
    pub for_duration: Option<DurationSpec>,
    /// Keep firing this long after the breach ends (damps flapping).
    #[serde(default)]
    pub keep_firing_for: Option<DurationSpec>,
    /// Groups with fewer samples in the window are not judged.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub min_samples: Option<Spanned<u32>>,
    /// What a group with no samples means.
    #[serde(default)]
    pub no_data: Option<NoDataPolicy>,
    /// How urgent the alert is.
    pub severity: Severity,
    /// One-line text; `{value}`, `{threshold}`, `{reason}`, `{labels}`, `{label.NAME}`,
    /// `{rule}` are filled in.
    #[serde(default)]
    pub summary: Option<String>,
    /// Extra labels added to every alert of the rule.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations (free text, e.g. a runbook URL) added to every alert.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// What decides that a value is anomalous.
    #[schemars(with = "DetectorConfig")]
    pub detector: Spanned<DetectorConfig>,
    /// Receivers to notify; defaults to the service's default receivers.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub receivers: Vec<Spanned<String>>,
    /// At most this many series per evaluation; the rest are dropped and counted.
    #[serde(default)]
    pub max_series: Option<usize>,
}

/// How the samples of one group in the window become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    /// Arithmetic mean.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Sum of values.
    Sum,
    /// Number of samples.
    Count,
    /// 10th percentile: moves with a drift of every value, hardly with a burst of high ones.
    P10,
    /// 25th percentile (lower quartile).
    P25,
    /// Median.
    P50,
    /// 75th percentile (upper quartile).
    P75,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// Sum of values per second of window.
    Rate,
    /// Fraction of samples whose value is non-zero (failed / finished).
    Ratio,
    /// The newest sample.
    Last,
}

impl Aggregate {
    /// The name as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregate::Avg => "avg",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Sum => "sum",
            Aggregate::Count => "count",
            Aggregate::P10 => "p10",
            Aggregate::P25 => "p25",
            Aggregate::P50 => "p50",
            Aggregate::P75 => "p75",
            Aggregate::P90 => "p90",
            Aggregate::P95 => "p95",
            Aggregate::P99 => "p99",
            Aggregate::Rate => "rate",
            Aggregate::Ratio => "ratio",
            Aggregate::Last => "last",
        }
    }
}

/// What a group with no samples in the window means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoDataPolicy {
    /// Nothing is wrong: a firing alert for the group resolves.
    #[default]
    Ok,
    /// Keep the group's alert in whatever state it is.
    Keep,
    /// Missing data is itself a breach; a rule with no data at all raises a no-data alert.
    Alerting,
}
