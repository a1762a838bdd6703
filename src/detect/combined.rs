//! Several detectors judging the same series: anomalous when any (or all) of them say so.

use serde::{Deserialize, Serialize};

use crate::detect::{DetectError, Detector, DetectorConfig, DetectorSpec, Verdict};

/// `detector = { kind = "combined", mode = "any", of = [ { kind = "mad" }, … ] }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CombinedConfig {
    /// The member detectors.
    pub of: Vec<DetectorConfig>,
    /// `any` (default) or `all`.
    #[serde(default)]
    pub mode: CombineMode,
}

/// A validated `combined` detector: its members' specs (at least one) and the mode.
#[derive(Debug, Clone, PartialEq)]
pub struct CombinedSpec {
    /// The member detectors.
    pub of: Vec<DetectorSpec>,
    /// `any` or `all`.
    pub mode: CombineMode,
}

/// How member verdicts combine.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CombineMode {
    /// Anomalous when any member is.
    #[default]
    Any,
    /// Anomalous when every member is.
    All,
}

/// The running combination.
pub struct CombinedDetector {
    members: Vec<Box<dyn Detector>>,
    mode: CombineMode,
}

impl CombinedDetector {
    /// Builds every member.
    pub fn new(config: &CombinedSpec) -> Self {
        Self {
            members: config.of.iter().map(|c| c.build()).collect(),
            mode: config.mode,
        }
    }
}

impl CombinedDetector {
    /// One verdict from the members': anomalous when any (or all) are, told by the
    /// strongest member that agrees.
    fn combine(&self, verdicts: Vec<Verdict>) -> Verdict {
        let anomalous = match self.mode {
            CombineMode::Any => verdicts.iter().any(|v| v.anomalous),
            CombineMode::All => !verdicts.is_empty() && verdicts.iter().all(|v| v.anomalous),
        };
        // Report the member that spoke (the strongest), or the first one.
        let lead = verdicts
            .iter()
            .enumerate()
            .filter(|(_, v)| v.anomalous == anomalous)
            .max_by(|a, b| a.1.score.total_cmp(&b.1.score))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let score = verdicts.iter().map(|v| v.score).fold(0.0, f64::max);
        let warming_up = verdicts.iter().all(|v| v.warming_up);
        let mut out = verdicts.into_iter().nth(lead).unwrap_or(Verdict {
            evidence: 0.0,
            share: None,
            anomalous: false,
            score: 0.0,
            expected: None,
            band: None,
            reason: "has no detectors".into(),
            warming_up: true,
        });
        out.anomalous = anomalous;
        out.score = if self.mode == CombineMode::All && !anomalous {
            out.score.min(score)
        } else {
            score
        };
        out.warming_up = warming_up;
        out
    }
}

impl Detector for CombinedDetector {
    fn observe(&mut self, ts_ms: i64, value: f64) -> Verdict {
        let verdicts: Vec<Verdict> = self
            .members
            .iter_mut()
            .map(|d| d.observe(ts_ms, value))
            .collect();
        self.combine(verdicts)
    }

    fn observe_values(&mut self, ts_ms: i64, values: &[f64], aggregated: f64) -> Verdict {
        let verdicts: Vec<Verdict> = self
            .members
            .iter_mut()
            .map(|d| d.observe_values(ts_ms, values, aggregated))
            .collect();
        self.combine(verdicts)
    }

    fn observe_counts(&mut self, ts_ms: i64, events: f64, trials: f64) -> Verdict {
        let verdicts: Vec<Verdict> = self
            .members
            .iter_mut()
            .map(|d| d.observe_counts(ts_ms, events, trials))
            .collect();
        self.combine(verdicts)
    }

    fn learns(&self) -> bool {
        self.members.iter().any(|d| d.learns())
    }

    fn snapshot(&self) -> serde_json::Value {
        serde_json::Value::Array(self.members.iter().map(|d| d.snapshot()).collect())
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), DetectError> {
        let states = state
            .as_array()
            .ok_or_else(|| DetectError("combined state is not a list".into()))?;
        if states.len() != self.members.len() {
            return Err(DetectError(format!(
                "{} member states for {} detectors",
                states.len(),
                self.members.len()
            )));
        }
        for (d, s) in self.members.iter_mut().zip(states) {
            d.restore(s)?;
        }
        Ok(())
    }
}
