//! Detectors: decide from a series' history whether its newest value is anomalous.
//!
//! A detector instance lives per (rule, group) and sees one aggregated value per
//! evaluation, in time order, judging it against the state built from earlier values.

pub mod threshold;

use serde::{Deserialize, Serialize};

pub use threshold::{ThresholdConfig, ThresholdDetector};

/// What a detector says about one new value.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// An alert-worthy breach at this sample.
    pub anomalous: bool,
    /// Anomaly score in [0,1].
    pub score: f64,
    /// The baseline centre or the threshold, if any.
    pub expected: Option<f64>,
    /// Lower/upper edge of the normal band, if any.
    pub band: Option<(f64, f64)>,
    /// Sentence fragment without metric or labels, e.g. "is above the threshold 600".
    pub reason: String,
    /// True while too little history has been seen to judge.
    pub warming_up: bool,
}

/// Why a detector's state could not be restored.
#[derive(Debug, thiserror::Error)]
#[error("cannot restore detector state: {0}")]
pub struct DetectError(pub String);

/// One detector instance with its baseline state.
pub trait Detector: Send {
    /// Judges one sample (unix ms, value) against the state so far, then learns from it.
    fn observe(&mut self, ts_ms: i64, value: f64) -> Verdict;
    /// Serialisable state for persistence in the store.
    fn snapshot(&self) -> serde_json::Value;
    /// Restores state produced by [`Detector::snapshot`] of the same configuration.
    fn restore(&mut self, state: &serde_json::Value) -> Result<(), DetectError>;
}

/// A detector as written in a rule: `detector = { kind = "threshold", above = 600 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DetectorConfig {
    /// Static limits with separate recovery limits.
    Threshold(ThresholdConfig),
}

impl DetectorConfig {
    /// A fresh detector instance for one series.
    pub fn build(&self) -> Box<dyn Detector> {
        match self {
            DetectorConfig::Threshold(c) => Box::new(ThresholdDetector::new(c.clone())),
        }
    }

    /// Human-readable problems with the configuration (empty when valid).
    pub fn validate(&self) -> Vec<String> {
        match self {
            DetectorConfig::Threshold(c) => c.validate(),
        }
    }

    /// The limit that `{threshold}` in a summary shows, if the detector has one.
    pub fn threshold_value(&self) -> Option<f64> {
        match self {
            DetectorConfig::Threshold(c) => c.above.or(c.below),
        }
    }
}
