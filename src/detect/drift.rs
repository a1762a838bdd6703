//! Slow drift: a recent average judged against a reference that stops learning once
//! the series starts to move away from it, so a change spread over days is reported
//! instead of being learnt as the new normal, as an EWMA learns it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::detect::judge::Direction;
use crate::detect::threshold::fmt_num;
use crate::detect::{DetectError, Detector, Verdict};
use crate::types::DurationSpec;

/// `detector = { kind = "drift", recent = "6h", reference = "7d", min_rel_deviation = 0.2 }`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftConfig {
    /// Which way counts: `up`, `down` or `both` (default `both`).
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Half-life of the recent average (default 6h).
    #[serde(default)]
    pub recent: Option<DurationSpec>,
    /// Half-life of the reference while it learns (default 7d).
    #[serde(default)]
    pub reference: Option<DurationSpec>,
    /// How far the recent average must move from the reference, relative to it
    /// (default 0.2 = 20 %). The reference stops learning beyond half of this.
    #[serde(default)]
    pub min_rel_deviation: Option<f64>,
    /// How many standard errors the move must also be (default 4), so a noisy series'
    /// wobble is not a drift: the standard error of the window's median from its own
    /// values, or else of the recent average from the series' variance.
    #[serde(default)]
    pub sigmas: Option<f64>,
    /// History needed before judging (default 1d).
    #[serde(default)]
    pub warmup: Option<DurationSpec>,
    /// After drifting this long, the level is accepted as the new reference (default 3d).
    #[serde(default)]
    pub relearn_after: Option<DurationSpec>,
}

impl DriftConfig {
    /// Problems with the options.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self
            .min_rel_deviation
            .is_some_and(|r| !(r > 0.0 && r.is_finite()))
        {
            errs.push("`min_rel_deviation` must be a positive number".into());
        }
        if self.sigmas.is_some_and(|s| !(s >= 0.0 && s.is_finite())) {
            errs.push("`sigmas` must be a number of at least 0".into());
        }
        for (name, d) in [("recent", self.recent), ("reference", self.reference)] {
            if d.is_some_and(|d| d.get().is_zero()) {
                errs.push(format!("`{name}` must be longer than 0s"));
            }
        }
        if let (Some(r), Some(f)) = (self.reference, self.recent) {
            if r <= f {
                errs.push("`reference` must be longer than `recent`".into());
            }
        }
        errs
    }

    /// The spec with the defaults resolved: both directions, recent 6h, reference 7d, a
    /// move of 20 % and 4 standard errors, warm-up 1d, relearn after 3d.
    pub(crate) fn spec(&self) -> DriftSpec {
        let or = |d: Option<DurationSpec>, default_secs: u64| {
            d.map(|d| d.get())
                .unwrap_or(Duration::from_secs(default_secs))
        };
        DriftSpec {
            direction: self.direction.unwrap_or_default(),
            recent: or(self.recent, 6 * 3600),
            reference: or(self.reference, 7 * 86_400),
            min_rel_deviation: self.min_rel_deviation.unwrap_or(0.2),
            sigmas: self.sigmas.unwrap_or(4.0),
            warmup: or(self.warmup, 86_400),
            relearn_after: or(self.relearn_after, 3 * 86_400),
        }
    }
}

/// A validated `drift` detector, every default resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftSpec {
    /// Which way counts.
    pub direction: Direction,
    /// Half-life of the recent average.
    pub recent: Duration,
    /// Half-life of the reference while it learns.
    pub reference: Duration,
    /// How far the recent average must move from the reference, relative to it.
    pub min_rel_deviation: f64,
    /// How many standard errors the move must also be.
    pub sigmas: f64,
    /// History needed before judging.
    pub warmup: Duration,
    /// After drifting this long, the level is accepted as the new reference.
    pub relearn_after: Duration,
}

/// What the detector has learnt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct DriftState {
    first_ms: Option<i64>,
    last_ms: i64,
    reference: f64,
    variance: f64,
    recent: f64,
    /// Smoothed time between samples (ms), for the recent average's standard error.
    step_ms: f64,
    drifting_since: Option<i64>,
    accepted: bool,
    /// Values the reference has learnt: until it holds many, each weighs at least 1/n,
    /// so the reference is their mean rather than the first value slowly forgotten.
    #[serde(default)]
    learnt: u64,
}

/// A running drift detector.
pub struct DriftDetector {
    direction: Direction,
    recent_ms: f64,
    reference_ms: f64,
    min_rel: f64,
    sigmas: f64,
    warmup_ms: i64,
    relearn_ms: i64,
    recent_name: String,
    /// The standard error of the value being judged, from the window's own values (set
    /// by `observe_values`, for this one observation).
    window_se: Option<f64>,
    state: DriftState,
}

/// The standard error of a window's median from its values: 1.2533 σ/√n, with σ from
/// the median absolute deviation (so a few huge calls do not hide a drift).
fn median_standard_error(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let median = *sorted.get(sorted.len() / 2)?;
    let mut dev: Vec<f64> = sorted.iter().map(|v| (v - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = *dev.get(dev.len() / 2)?;
    Some(1.2533 * 1.4826 * mad / (sorted.len() as f64).sqrt())
}

/// A duration in milliseconds, as the detector computes with them.
fn ms(d: Duration) -> f64 {
    d.as_millis() as f64
}

/// The share of an EWMA's weight a sample `dt_ms` after the last gets, for a half-life.
fn weight(dt_ms: f64, half_life_ms: f64) -> f64 {
    1.0 - 0.5f64.powf(dt_ms.max(0.0) / half_life_ms.max(1.0))
}

impl DriftDetector {
    /// A fresh detector with the settings of `spec`.
    pub fn new(spec: &DriftSpec) -> Self {
        let recent_ms = ms(spec.recent);
        Self {
            direction: spec.direction,
            recent_ms,
            reference_ms: ms(spec.reference),
            min_rel: spec.min_rel_deviation,
            sigmas: spec.sigmas,
            warmup_ms: ms(spec.warmup) as i64,
            relearn_ms: ms(spec.relearn_after) as i64,
            window_se: None,
            recent_name: humantime::format_duration(std::time::Duration::from_millis(
                recent_ms as u64,
            ))
            .to_string(),
            state: DriftState::default(),
        }
    }

    /// (relative move, standard errors) of the recent average from the reference, signed.
    fn deviation(&self) -> (f64, f64) {
        let s = &self.state;
        let delta = s.recent - s.reference;
        let a = weight(s.step_ms, self.recent_ms);
        let se = self
            .window_se
            .unwrap_or_else(|| (s.variance.max(0.0) * a / (2.0 - a)).sqrt());
        let floor = 1e-9 * s.reference.abs().max(1e-9);
        (delta / s.reference.abs().max(1e-12), delta / se.max(floor))
    }

    fn signed(&self, x: f64) -> f64 {
        match self.direction {
            Direction::Up => x,
            Direction::Down => -x,
            Direction::Both => x.abs(),
        }
    }

    fn learn(&mut self, dt_ms: f64, x: f64) {
        let s = &mut self.state;
        s.learnt += 1;
        let a = weight(dt_ms, self.reference_ms).max(1.0 / s.learnt as f64);
        let d = x - s.reference;
        s.reference += a * d;
        s.variance = (1.0 - a) * (s.variance + a * d * d);
    }

    fn verdict(&self, anomalous: bool, z: f64, rel: f64) -> Verdict {
        let s = &self.state;
        let side = if rel >= 0.0 { "above" } else { "below" };
        let reason: std::borrow::Cow<'static, str> = if anomalous {
            format!(
                "has drifted {} % {side} its reference {} ({} average {})",
                fmt_num((rel * 100.0).abs()),
                fmt_num(s.reference),
                self.recent_name,
                fmt_num(s.recent)
            )
            .into()
        } else if s.accepted {
            format!("is accepted as the new level {}", fmt_num(s.reference)).into()
        } else {
            "is within its reference".into()
        };
        let band = s.reference * self.min_rel;
        Verdict {
            evidence: 0.0,
            share: None,
            anomalous,
            score: Normal::standard().cdf(self.signed(z)),
            expected: Some(s.reference),
            band: Some((s.reference - band.abs(), s.reference + band.abs())),
            reason,
            warming_up: false,
        }
    }
}

impl Detector for DriftDetector {
    /// The window's values also say how precise its aggregate is: a quiet weekend's
    /// median of a few calls must move further than a weekday's of many to count.
    fn observe_values(&mut self, ts_ms: i64, values: &[f64], aggregated: f64) -> Verdict {
        self.window_se = median_standard_error(values);
        let v = self.observe(ts_ms, aggregated);
        self.window_se = None;
        v
    }

    fn observe(&mut self, ts_ms: i64, value: f64) -> Verdict {
        if !value.is_finite() {
            return self.verdict(false, 0.0, 0.0);
        }
        let Some(first) = self.state.first_ms else {
            self.state = DriftState {
                first_ms: Some(ts_ms),
                last_ms: ts_ms,
                reference: value,
                recent: value,
                learnt: 1,
                ..Default::default()
            };
            return Verdict {
                evidence: 0.0,
                share: None,
                warming_up: true,
                ..self.verdict(false, 0.0, 0.0)
            };
        };
        let dt = (ts_ms - self.state.last_ms) as f64;
        self.state.last_ms = ts_ms;
        self.state.step_ms = if self.state.step_ms > 0.0 {
            0.9 * self.state.step_ms + 0.1 * dt
        } else {
            dt
        };
        self.state.recent += weight(dt, self.recent_ms) * (value - self.state.recent);
        let (rel, z) = self.deviation();
        let warmed = ts_ms - first >= self.warmup_ms;
        // The reference follows the series only while the recent average stays near it:
        // a drift is kept out of what it is judged against.
        if !warmed || rel.abs() < self.min_rel / 2.0 {
            self.learn(dt, value);
        }
        let anomalous = warmed && self.signed(rel) >= self.min_rel && self.signed(z) >= self.sigmas;
        if anomalous {
            self.state.accepted = false;
            let since = *self.state.drifting_since.get_or_insert(ts_ms);
            if ts_ms - since >= self.relearn_ms {
                // Drifting this long is the new normal: say so once, then judge from it.
                self.state.reference = self.state.recent;
                self.state.drifting_since = None;
                self.state.accepted = true;
                return self.verdict(false, 0.0, 0.0);
            }
        } else {
            self.state.drifting_since = None;
        }
        let mut v = self.verdict(anomalous, z, rel);
        v.warming_up = !warmed;
        v
    }

    fn describe_normal(&self) -> Option<String> {
        let s = &self.state;
        Some(if s.accepted {
            format!("is accepted as the new level {}", fmt_num(s.reference))
        } else {
            format!(
                "is within {} % of its reference {}",
                fmt_num(self.min_rel * 100.0),
                fmt_num(s.reference)
            )
        })
    }

    fn snapshot(&self) -> serde_json::Value {
        crate::detect::snapshot_of(&self.state)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), DetectError> {
        self.state = crate::detect::restored(state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const DAY: i64 = 1440 * MIN;

    fn noisy(m: i64) -> f64 {
        1000.0 * (1.0 + 0.05 * ((m as f64) * 1.3).sin() + 0.03 * ((m as f64) * 0.07).cos())
    }

    /// Feeds a value every 5 minutes for `days`; returns the minutes at which the
    /// verdict turned anomalous.
    fn run(d: &mut DriftDetector, days: i64, level: impl Fn(i64) -> f64) -> Vec<i64> {
        let mut starts = Vec::new();
        let mut was = false;
        for m in (0..days * 1440).step_by(5) {
            let v = d.observe(m * MIN, noisy(m) * level(m));
            if v.anomalous && !was {
                starts.push(m);
            }
            was = v.anomalous;
        }
        starts
    }

    #[test]
    fn a_slow_drift_is_reported_once_soon_after_it_passes_the_limit() {
        let mut d = DriftDetector::new(&DriftConfig::default().spec());
        // 14 quiet days, then +40 % spread evenly over 5 days, then flat.
        let start = 14 * 1440;
        let ramp = 5 * 1440;
        let level = |m: i64| 1.0 + 0.4 * ((m - start).clamp(0, ramp) as f64 / ramp as f64);
        let starts = run(&mut d, 24, level);
        assert_eq!(starts.len(), 1, "one report: {starts:?}");
        // +25 % is reached 25/40 of the way into the ramp.
        let reaches_25 = start + ramp * 25 / 40;
        let delay = starts[0] - reaches_25;
        assert!(
            delay <= 1440,
            "reported {delay} minutes after reaching +25 %"
        );
    }

    #[test]
    fn a_steady_noisy_series_and_a_new_series_are_not_drifts() {
        let mut d = DriftDetector::new(&DriftConfig::default().spec());
        assert!(run(&mut d, 21, |_| 1.0).is_empty());
        let mut fresh = DriftDetector::new(&DriftConfig::default().spec());
        let first = fresh.observe(0, 5000.0);
        assert!(first.warming_up && !first.anomalous);
    }

    #[test]
    fn a_drift_that_stays_is_accepted_after_relearn_after() {
        let config = DriftConfig {
            relearn_after: Some("1d".parse().unwrap()),
            ..Default::default()
        };
        let mut d = DriftDetector::new(&config.spec());
        let jump = |m: i64| if m >= 3 * 1440 { 1.5 } else { 1.0 };
        let mut accepted = None;
        for m in (0..8 * 1440).step_by(5) {
            let v = d.observe(m * MIN, noisy(m) * jump(m));
            if accepted.is_none() && v.reason.contains("accepted as the new level") {
                accepted = Some(m);
            }
        }
        let at = accepted.expect("accepted in the end");
        assert!(
            (4 * 1440..=5 * 1440).contains(&at),
            "accepted at minute {at}"
        );
        assert!(!d.observe(8 * DAY, 1500.0).anomalous);
    }
}
