//! CUSUM change-point detection: finds level shifts and slow drifts that no single value
//! gives away, then re-baselines at the new level instead of alarming forever.

use serde::{Deserialize, Serialize};

use crate::detect::judge::Direction;
use crate::detect::moments::{alpha_for_half_life, Ewma};
use crate::detect::threshold::fmt_num;
use crate::detect::{DetectError, Detector, Verdict};

/// A validated `changepoint` detector (written with the baseline options), every
/// default resolved.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ChangepointSpec {
    /// Which shifts count.
    pub direction: Direction,
    /// The CUSUM limit, in standard deviations.
    pub sigmas: f64,
    /// Memory of the baseline in samples.
    pub half_life: f64,
    /// Samples to see before judging.
    pub warmup: u64,
    /// The slack per sample in standard deviations.
    pub drift: f64,
    /// Smallest absolute shift worth an alert.
    pub min_abs: f64,
    /// Smallest shift relative to the baseline centre worth an alert.
    pub min_rel: f64,
    /// Judge `ln(1 + x)` instead of `x`.
    pub log: bool,
}

impl ChangepointSpec {
    /// The value the baseline sees (log-transformed when asked).
    fn transform(&self, x: f64) -> f64 {
        if self.log {
            x.max(0.0).ln_1p()
        } else {
            x
        }
    }

    /// Back from the transformed scale, for reporting centres and bands.
    fn untransform(&self, y: f64) -> f64 {
        if self.log {
            y.exp_m1()
        } else {
            y
        }
    }
}

/// Two-sided CUSUM on standardized residuals from a slow EWMA baseline.
#[derive(Serialize, Deserialize)]
pub struct ChangepointDetector {
    #[serde(skip)]
    config: ChangepointSpec,
    base: Ewma,
    recent: Ewma,
    up: f64,
    down: f64,
    /// Samples left in which the baseline settles at a new level after a change.
    settle: u64,
    #[serde(skip, default)]
    alpha: f64,
}

impl ChangepointDetector {
    /// A detector with the settings of `config`.
    pub fn new(config: ChangepointSpec) -> Self {
        let alpha = alpha_for_half_life(config.half_life);
        Self {
            config,
            base: Ewma::default(),
            recent: Ewma::default(),
            up: 0.0,
            down: 0.0,
            settle: 0,
            alpha,
        }
    }

    fn h(&self) -> f64 {
        self.config.sigmas
    }
}

impl Detector for ChangepointDetector {
    fn observe(&mut self, _ts_ms: i64, value: f64) -> Verdict {
        let y = self.config.transform(value);
        let warmup = self.config.warmup;
        self.recent.add(y, 0.2);
        if self.base.n < warmup || !y.is_finite() {
            self.base.add(y, self.alpha);
            return Verdict {
                evidence: 0.0,
                share: None,
                anomalous: false,
                score: 0.0,
                expected: Some(self.config.untransform(self.base.mean)),
                band: None,
                reason: "is still learning its baseline".into(),
                warming_up: true,
            };
        }
        if self.settle > 0 {
            // Just after a change: learn the new level fast, judge nothing.
            self.settle -= 1;
            self.base.add(y, 0.2);
            return Verdict {
                evidence: 0.0,
                share: None,
                anomalous: false,
                score: 0.0,
                expected: Some(self.config.untransform(self.base.mean)),
                band: None,
                reason: "is settling at a new level".into(),
                warming_up: false,
            };
        }
        let spread = self.base.std().max(1e-3 * self.base.mean.abs()).max(1e-12);
        let z = (y - self.base.mean) / spread;
        let k = self.config.drift;
        let direction = self.config.direction;
        if direction != Direction::Down {
            self.up = (self.up + z - k).max(0.0);
        }
        if direction != Direction::Up {
            self.down = (self.down - z - k).max(0.0);
        }
        let h = self.h();
        let s = self.up.max(self.down);
        let raw_center = self.config.untransform(self.base.mean);
        let shift = self.config.untransform(self.recent.mean) - raw_center;
        let big_enough = shift.abs() >= self.config.min_abs
            && shift.abs() >= self.config.min_rel * raw_center.abs();
        let anomalous = s > h && big_enough;
        let verdict = Verdict {
            evidence: 0.0,
            share: None,
            anomalous,
            score: (s / h).min(1.0),
            expected: Some(raw_center),
            band: Some((
                self.config.untransform(self.base.mean - h * spread),
                self.config.untransform(self.base.mean + h * spread),
            )),
            reason: if anomalous {
                let side = if self.up >= self.down { "up" } else { "down" };
                format!(
                    "has shifted {side} from its level {} to about {} (cumulative {:.1}σ)",
                    fmt_num(raw_center),
                    fmt_num(raw_center + shift),
                    s
                )
                .into()
            } else {
                "holds its level".into()
            },
            warming_up: false,
        };
        if anomalous {
            // Re-baseline at the new level: the shift is reported once, not forever.
            self.base.mean = self.recent.mean;
            self.up = 0.0;
            self.down = 0.0;
            self.settle = 20;
        } else {
            self.base.add(y, self.alpha);
        }
        verdict
    }

    fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), DetectError> {
        let restored: ChangepointDetector =
            serde_json::from_value(state.clone()).map_err(|e| DetectError(e.to_string()))?;
        self.base = restored.base;
        self.recent = restored.recent;
        self.up = restored.up;
        self.down = restored.down;
        self.settle = restored.settle;
        Ok(())
    }
}
