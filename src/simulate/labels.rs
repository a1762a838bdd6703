//! The labels file `driftwatch simulate` writes beside its data: what was injected where,
//! and what looks unusual but is not an incident. `backtest --incidents` reads it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Labels;

/// The version of the labels format (the plain list of `backtest --incidents` is version 1).
pub const LABELS_VERSION: u32 = 2;

/// The kinds of incident the product promises to catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// LLM call latency ×2–×5 for 20–120 min.
    LatencySpike,
    /// 20–60 % of runs failing for 30–90 min.
    FailureBurst,
    /// Cost per run ×3–×10 for hours.
    CostJump,
    /// 3–15 % of one agent's steps hanging 3–10 min, for 1–4 h.
    HungSteps,
    /// One mode's workflows +50–150 % duration for 1–3 h.
    SlowWorkflows,
    /// Tokens or cost per call drifting up to +25–60 % over 3–7 days.
    Drift,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 6] = [
        Kind::LatencySpike,
        Kind::FailureBurst,
        Kind::CostJump,
        Kind::HungSteps,
        Kind::SlowWorkflows,
        Kind::Drift,
    ];

    /// The name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LatencySpike => "latency_spike",
            Kind::FailureBurst => "failure_burst",
            Kind::CostJump => "cost_jump",
            Kind::HungSteps => "hung_steps",
            Kind::SlowWorkflows => "slow_workflows",
            Kind::Drift => "drift",
        }
    }
}

/// One injected incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelledIncident {
    /// A readable name, e.g. `latency_spike {model="gpt-4o"} ×3.2`.
    pub name: String,
    /// What kind it is.
    pub kind: Kind,
    /// The slice it is confined to (`{}`: all traffic).
    pub labels: Labels,
    /// The catalog metrics it moves directly (downstream ones follow from these).
    pub metrics: Vec<String>,
    /// When it begins.
    pub start: DateTime<Utc>,
    /// When it ends (rows it touched may land a few minutes later).
    pub end: DateTime<Utc>,
    /// Where detection delay is measured from: `start`, or for a drift the moment it
    /// reaches +25 %.
    pub delay_from: DateTime<Utc>,
    /// The size: a factor (latency, cost), a fraction of runs or steps (failures, hangs),
    /// an added fraction (slow workflows, drift at its peak).
    pub magnitude: f64,
    /// The size in words.
    pub detail: String,
    /// Runs of the slice that started while it lasted.
    pub affected_runs: usize,
}

/// Something unusual in the data that is not an incident and should raise no alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotIncident {
    /// A readable name.
    pub name: String,
    /// What it is, e.g. `new_model`.
    pub kind: String,
    /// Its slice.
    pub labels: Labels,
    /// From when.
    pub start: DateTime<Utc>,
    /// Until when.
    pub end: DateTime<Utc>,
    /// What is unusual about it.
    pub detail: String,
}

/// How much was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volumes {
    /// Workflow runs.
    pub runs: usize,
    /// Workflow steps.
    pub steps: usize,
    /// LLM calls (one execution event and one cost record each).
    pub llm_calls: usize,
    /// Runs that failed.
    pub failed_runs: usize,
}

/// The whole labels file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsFile {
    /// Always [`LABELS_VERSION`].
    pub version: u32,
    /// The seed that generated the data.
    pub seed: u64,
    /// Start of the generated range.
    pub start: DateTime<Utc>,
    /// End of the generated range.
    pub end: DateTime<Utc>,
    /// How much was written.
    pub volumes: Volumes,
    /// The injected incidents, in time order.
    pub incidents: Vec<LabelledIncident>,
    /// What is not an incident although it looks unusual (the new model).
    pub not_incidents: Vec<NotIncident>,
    /// Kinds that could not be placed (too short a range), with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

impl LabelsFile {
    /// The file as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Reads a labels file, with a message that says what was expected.
    pub fn from_json(text: &str) -> Result<LabelsFile, String> {
        let file: LabelsFile = serde_json::from_str(text)
            .map_err(|e| format!("labels file (version {LABELS_VERSION}): {e}"))?;
        if file.version != LABELS_VERSION {
            return Err(format!(
                "labels file version {} is not understood; expected {LABELS_VERSION}",
                file.version
            ));
        }
        Ok(file)
    }
}
