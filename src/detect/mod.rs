//! Detectors: decide from a series' history whether its newest value is anomalous.
//!
//! A detector instance lives per (rule, group) and sees one aggregated value per
//! evaluation, in time order, judging it against the state built from earlier values.

pub mod baselines;
pub mod binomial;
pub mod changepoint;
pub mod combined;
pub mod compact;
pub mod config;
pub mod drift;
pub mod exceedance;
pub mod hourly;
pub mod judge;
pub mod likelihood;
pub mod moments;
pub mod packed;
#[cfg(test)]
mod scenarios;
pub mod shift;
pub mod sketch;
pub mod spec;
pub mod threshold;

use combined::CombinedConfig;
use config::BaselineConfig;
use likelihood::LikelihoodConfig;

use serde::{Deserialize, Serialize};

pub use spec::DetectorSpec;
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
    /// Sentence fragment without metric or labels, e.g. "is above the threshold 600"
    /// (borrowed when it is fixed text, so judging normal values allocates nothing).
    pub reason: std::borrow::Cow<'static, str>,
    /// True while too little history has been seen to judge.
    pub warming_up: bool,
    /// How strong the evidence is, as −ln of the p-value, for detectors that test one
    /// (binomial, exceedance); 0 otherwise. Sliced rules name the slice with the most.
    pub evidence: f64,
    /// For count tests: how many of how many observations were high (failed, above the
    /// usual quantile), and the share usually high. A sliced rule names the slice whose
    /// count is least likely by chance, not the largest one that contains it.
    pub share: Option<Share>,
}

/// A count test's observations: `high` of `n` were high where `usual` of them are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    /// Observations that were high (failed, above the usual quantile).
    pub high: u64,
    /// Observations judged.
    pub n: u64,
    /// The share of observations usually high.
    pub usual: f64,
}

/// A pooled slice's observations in one window, each judged against its own finest
/// series: how many were above that series' high limit, and their normal scores.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pooled {
    /// Observations above their own series' [`Detector::high_limit`].
    pub high: u64,
    /// Observations whose series had a limit.
    pub n: u64,
    /// The sum of the normal scores of those whose series gave one.
    pub score_sum: f64,
    /// How many observations the scores are of.
    pub scored: u64,
}

/// A detector's serde state as its stored snapshot.
pub(crate) fn snapshot_of<T: Serialize>(state: &T) -> serde_json::Value {
    serde_json::to_value(state).unwrap_or_default()
}

/// A detector's serde state from its stored snapshot.
pub(crate) fn restored<T: serde::de::DeserializeOwned>(
    state: &serde_json::Value,
) -> Result<T, DetectError> {
    T::deserialize(state).map_err(|e| DetectError(e.to_string()))
}

/// Why a detector's state could not be restored.
#[derive(Debug, thiserror::Error)]
#[error("cannot restore detector state: {0}")]
pub struct DetectError(pub String);

/// One detector instance with its baseline state.
pub trait Detector: Send {
    /// Judges one sample (unix ms, value) against the state so far, then learns from it.
    fn observe(&mut self, ts_ms: i64, value: f64) -> Verdict;
    /// Judges a ratio from its parts: `events` (failures) of `trials` (finished) in the
    /// window. Detectors of the ratio itself judge `events / trials`; a count-aware one
    /// (`binomial`) judges how unlikely that many events are among that many trials.
    fn observe_counts(&mut self, ts_ms: i64, events: f64, trials: f64) -> Verdict {
        let ratio = if trials > 0.0 { events / trials } else { 0.0 };
        self.observe(ts_ms, ratio)
    }
    /// Judges the window's individual values; `aggregated` is the rule's aggregate of
    /// them. Detectors of the aggregate judge that; `exceedance` judges the values.
    fn observe_values(&mut self, ts_ms: i64, values: &[f64], aggregated: f64) -> Verdict {
        let _ = values;
        self.observe(ts_ms, aggregated)
    }
    /// The value above which one observation counts as high, once learnt (`exceedance`);
    /// None for detectors that do not judge single observations, or while learning.
    fn high_limit(&self) -> Option<f64> {
        None
    }
    /// The last normal verdict's reason in full, with its numbers, for detectors whose
    /// verdicts give a fixed short one (formatting numbers for every normal value of
    /// every series is most of a tick). Read only where it is shown: a firing alert that
    /// may resolve says what the value is now.
    fn describe_normal(&self) -> Option<String> {
        None
    }
    /// The sum of `values`' normal scores under this series' usual distribution, for a
    /// coarser slice pooling them (see [`shift`]); None unless the detector judges
    /// shifts and has learnt enough.
    fn score_sum(&self, values: &[f64]) -> Option<f64> {
        let _ = values;
        None
    }
    /// Judges a pooled slice's observations, each counted against its own finest
    /// series ([`Detector::high_limit`], [`Detector::score_sum`]); learns nothing of the
    /// values, since those series do.
    fn observe_exceedances(&mut self, ts_ms: i64, pooled: &Pooled) -> Verdict {
        self.observe_counts(ts_ms, pooled.high as f64, pooled.n as f64)
    }
    /// True when every judged value changes the state (a baseline learns from it), so
    /// the engine need not compare snapshots to know there is something to write.
    fn learns(&self) -> bool {
        true
    }
    /// Serialisable state for persistence in the store.
    fn snapshot(&self) -> serde_json::Value;
    /// [`Detector::snapshot`] as the JSON text the store writes. Baselines written every
    /// minute for every series serialise straight to text, without building the value.
    fn snapshot_text(&self) -> String {
        self.snapshot().to_string()
    }
    /// Restores state produced by [`Detector::snapshot`] of the same configuration.
    fn restore(&mut self, state: &serde_json::Value) -> Result<(), DetectError>;
    /// Appends to `out` what changed in the state since the last call (a few dozen
    /// bytes where a snapshot is hundreds), for the store's journal between whole
    /// snapshots, and returns true; false, with nothing appended, for a detector
    /// without that form (the engine then writes its whole snapshot).
    fn journal_delta(&mut self, out: &mut Vec<u8>) -> bool {
        let _ = out;
        false
    }
    /// Applies a [`Detector::journal_delta`] written after the state it is applied to
    /// (deltas in the order written).
    fn apply_delta(&mut self, delta: &[u8]) -> Result<(), DetectError> {
        let _ = delta;
        Err(DetectError("this detector keeps no journal".into()))
    }
}

/// A detector as written in a rule: `detector = { kind = "threshold", above = 600 }`;
/// [`DetectorConfig::validate`] turns it into the [`DetectorSpec`] detectors are built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DetectorConfig {
    /// Static limits with separate recovery limits.
    Threshold(ThresholdConfig),
    /// Exact rolling mean/variance over a time window (Student-t while samples are few).
    Zscore(BaselineConfig),
    /// Exponentially weighted mean/variance.
    Ewma(BaselineConfig),
    /// Robust median/MAD from a decaying sketch.
    Mad(BaselineConfig),
    /// Rolling quantiles from a decaying sketch.
    Quantile(BaselineConfig),
    /// Hour-of-day or hour-of-week profile.
    Seasonal(BaselineConfig),
    /// CUSUM change points: level shifts and slow drift.
    Changepoint(BaselineConfig),
    /// Anomaly likelihood: values beyond the recent range, or recent deviations unusually
    /// large for this series (the default of `driftwatch score`).
    Likelihood(LikelihoodConfig),
    /// Several detectors on the same series.
    Combined(CombinedConfig),
    /// Error rates at any volume: an exact binomial test of the window's failures
    /// against the series' usual rate (use with `aggregate = "ratio"`).
    Binomial(binomial::BinomialConfig),
    /// Slow drift over days: a recent average against a reference that stops learning
    /// once the series moves away from it.
    Drift(drift::DriftConfig),
    /// Individual values against the series' own distribution: how many of the window's
    /// values are above its usual high quantile, and how unlikely that many are.
    Exceedance(exceedance::ExceedanceConfig),
}

impl DetectorConfig {
    /// The detector `driftwatch score` uses unless told otherwise: the anomaly likelihood
    /// with its defaults, the settings measured on NAB in BENCHMARKS.md.
    pub fn default_baseline() -> Self {
        DetectorConfig::Likelihood(LikelihoodConfig::default())
    }
}
