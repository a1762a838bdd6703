//! Static threshold detector: above, below, or outside a range, with hysteresis.

use serde::{Deserialize, Serialize};

use super::{DetectError, Detector, Verdict};

/// `detector = { kind = "threshold", above = 600, recover_below = 540 }`.
///
/// With both `above` and `below` the value must stay inside `[below, above]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdConfig {
    /// Breach when the value is strictly greater.
    #[serde(default)]
    pub above: Option<f64>,
    /// Breach when the value is strictly smaller.
    #[serde(default)]
    pub below: Option<f64>,
    /// While breaching above, recover only once the value is at or below this
    /// (defaults to `above`).
    #[serde(default)]
    pub recover_below: Option<f64>,
    /// While breaching below, recover only once the value is at or above this
    /// (defaults to `below`).
    #[serde(default)]
    pub recover_above: Option<f64>,
}

impl ThresholdConfig {
    /// Problems with the limits, if any.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        for (name, value) in [
            ("above", self.above),
            ("below", self.below),
            ("recover_below", self.recover_below),
            ("recover_above", self.recover_above),
        ] {
            if value.is_some_and(|v| !v.is_finite()) {
                errs.push(format!("`{name}` must be a finite number"));
            }
        }
        if self.above.is_none() && self.below.is_none() {
            errs.push("threshold detector needs `above`, `below`, or both".to_owned());
        }
        if let (Some(a), Some(b)) = (self.above, self.below) {
            if b >= a {
                errs.push(format!("`below` ({b}) must be smaller than `above` ({a})"));
            }
        }
        if let (Some(a), Some(r)) = (self.above, self.recover_below) {
            if r > a {
                errs.push(format!(
                    "`recover_below` ({r}) must not exceed `above` ({a})"
                ));
            }
        }
        if let (Some(b), Some(r)) = (self.below, self.recover_above) {
            if r < b {
                errs.push(format!(
                    "`recover_above` ({r}) must not be under `below` ({b})"
                ));
            }
        }
        if self.recover_below.is_some() && self.above.is_none() {
            errs.push("`recover_below` needs `above`".to_owned());
        }
        if self.recover_above.is_some() && self.below.is_none() {
            errs.push("`recover_above` needs `below`".to_owned());
        }
        errs
    }

    /// The spec, each recovery limit defaulting to its firing limit.
    pub(crate) fn spec(&self) -> ThresholdSpec {
        ThresholdSpec {
            above: self.above.map(|limit| Limit {
                limit,
                recover: self.recover_below.unwrap_or(limit),
            }),
            below: self.below.map(|limit| Limit {
                limit,
                recover: self.recover_above.unwrap_or(limit),
            }),
        }
    }
}

/// A validated threshold detector: one side or both, each with its recovery limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdSpec {
    /// Breach when the value is strictly greater than the limit; recover at or below
    /// `recover`.
    pub above: Option<Limit>,
    /// Breach when the value is strictly smaller than the limit; recover at or above
    /// `recover`.
    pub below: Option<Limit>,
}

/// One side of a threshold: where a breach starts and where it ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// The firing limit.
    pub limit: f64,
    /// The recovery limit while in breach on this side.
    pub recover: f64,
}

/// Which side a breach is on; kept so recovery uses the matching limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Breach {
    None,
    High,
    Low,
}

/// A running threshold detector; its only state is whether it is in breach.
#[derive(Debug, Clone)]
pub struct ThresholdDetector {
    config: ThresholdSpec,
    breach: Breach,
    /// What a value that does not breach is, worded once (judging a normal value, as
    /// nearly every one is, formats nothing).
    within: &'static str,
}

impl ThresholdDetector {
    /// A detector not in breach.
    pub fn new(config: ThresholdSpec) -> Self {
        let within = interned(within_reason(&config));
        Self {
            config,
            breach: Breach::None,
            within,
        }
    }

    fn high_limit(&self) -> Option<f64> {
        let above = self.config.above?;
        Some(match self.breach {
            Breach::High => above.recover,
            _ => above.limit,
        })
    }

    fn low_limit(&self) -> Option<f64> {
        let below = self.config.below?;
        Some(match self.breach {
            Breach::Low => below.recover,
            _ => below.limit,
        })
    }

    /// The firing limit above, if any.
    fn above(&self) -> Option<f64> {
        self.config.above.map(|a| a.limit)
    }

    /// The firing limit below, if any.
    fn below(&self) -> Option<f64> {
        self.config.below.map(|b| b.limit)
    }
}

/// What a value that does not breach is, in the limits' own words.
fn within_reason(config: &ThresholdSpec) -> String {
    match (config.below.map(|b| b.limit), config.above.map(|a| a.limit)) {
        (Some(b), Some(a)) => {
            format!("is within the thresholds {} to {}", fmt_num(b), fmt_num(a))
        }
        (None, Some(a)) => format!("is not above the threshold {}", fmt_num(a)),
        (Some(b), None) => format!("is not below the threshold {}", fmt_num(b)),
        (None, None) => "is within the thresholds".to_owned(),
    }
}

/// `text` as a string that lives for the whole process, stored once however many
/// detectors (one per series) and reloads word it: there are as many as distinct limits
/// in the rules, so what is kept stays small.
fn interned(text: String) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static TEXTS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut texts = TEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(known) = texts.get(text.as_str()) {
        return known;
    }
    let kept: &'static str = Box::leak(text.into_boxed_str());
    texts.insert(kept);
    kept
}

impl Detector for ThresholdDetector {
    fn observe(&mut self, _ts_ms: i64, value: f64) -> Verdict {
        let high = self.high_limit();
        let low = self.low_limit();
        // Hysteresis: while in breach the recovery limit applies, and the edge is inclusive.
        let is_high = match (self.breach, high) {
            (Breach::High, Some(h)) => value > h,
            (_, Some(h)) => value > h,
            _ => false,
        };
        let is_low = match (self.breach, low) {
            (Breach::Low, Some(l)) => value < l,
            (_, Some(l)) => value < l,
            _ => false,
        };
        self.breach = if is_high {
            Breach::High
        } else if is_low {
            Breach::Low
        } else {
            Breach::None
        };
        let band = (
            self.below().unwrap_or(f64::NEG_INFINITY),
            self.above().unwrap_or(f64::INFINITY),
        );
        let (anomalous, reason, expected): (bool, std::borrow::Cow<'static, str>, _) =
            match self.breach {
                Breach::High => {
                    let limit = self.above().unwrap_or_default();
                    (
                        true,
                        format!("is above the threshold {}", fmt_num(limit)).into(),
                        Some(limit),
                    )
                }
                Breach::Low => {
                    let limit = self.below().unwrap_or_default();
                    (
                        true,
                        format!("is below the threshold {}", fmt_num(limit)).into(),
                        Some(limit),
                    )
                }
                Breach::None => (false, self.within.into(), self.above().or(self.below())),
            };
        Verdict {
            evidence: 0.0,
            share: None,
            anomalous,
            score: if anomalous { 1.0 } else { 0.0 },
            expected,
            band: Some(band),
            reason,
            warming_up: false,
        }
    }

    fn learns(&self) -> bool {
        false
    }

    fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({ "breach": self.breach })
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), DetectError> {
        let breach = state
            .get("breach")
            .cloned()
            .ok_or_else(|| DetectError("threshold state has no `breach`".into()))?;
        self.breach = serde_json::from_value(breach).map_err(|e| DetectError(e.to_string()))?;
        Ok(())
    }
}

/// Formats a number compactly: integers without decimals, others with 1 to 3 decimals.
pub fn fmt_num(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        let s = if v.abs() >= 1.0 {
            format!("{v:.2}")
        } else {
            format!("{v:.3}")
        };
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(above: Option<f64>, below: Option<f64>, rb: Option<f64>) -> ThresholdDetector {
        ThresholdDetector::new(
            ThresholdConfig {
                above,
                below,
                recover_below: rb,
                recover_above: None,
            }
            .spec(),
        )
    }

    #[test]
    fn above_with_recovery_hysteresis() {
        let mut d = det(Some(600.0), None, Some(540.0));
        assert!(
            !d.observe(0, 600.0).anomalous,
            "equal to the limit is not a breach"
        );
        assert!(d.observe(0, 601.0).anomalous);
        assert!(
            d.observe(0, 560.0).anomalous,
            "still above the recovery limit"
        );
        assert!(!d.observe(0, 540.0).anomalous);
        assert!(
            !d.observe(0, 560.0).anomalous,
            "re-breach needs the firing limit again"
        );
    }

    #[test]
    fn outside_range() {
        let mut d = det(Some(10.0), Some(1.0), None);
        assert!(d.observe(0, 0.5).anomalous);
        assert!(d.observe(0, 0.5).reason.contains("below"));
        assert!(!d.observe(0, 5.0).anomalous);
        assert!(d.observe(0, 11.0).reason.contains("above the threshold 10"));
    }

    #[test]
    fn snapshot_round_trip_keeps_breach() {
        let mut d = det(Some(10.0), None, Some(5.0));
        d.observe(0, 20.0);
        let mut e = det(Some(10.0), None, Some(5.0));
        e.restore(&d.snapshot()).unwrap();
        assert!(
            e.observe(0, 7.0).anomalous,
            "restored breach keeps the recovery limit"
        );
    }

    #[test]
    fn validation_names_problems() {
        assert!(!ThresholdConfig {
            above: None,
            below: None,
            recover_below: None,
            recover_above: None
        }
        .validate()
        .is_empty());
        assert!(!ThresholdConfig {
            above: Some(1.0),
            below: Some(2.0),
            recover_below: None,
            recover_above: None
        }
        .validate()
        .is_empty());
    }

    #[test]
    fn numbers_format_compactly() {
        assert_eq!(fmt_num(600.0), "600");
        assert_eq!(fmt_num(0.05), "0.05");
        assert_eq!(fmt_num(41.2345), "41.23");
        assert_eq!(fmt_num(0.1523), "0.152");
    }
}
