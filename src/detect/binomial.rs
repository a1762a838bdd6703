//! Rates at low volume: a window's failures judged with an exact binomial test against
//! the series' own usual failure rate, so a burst at one run a minute fires and one
//! failure on a quiet night does not. No `min_samples` cliff: the test itself knows
//! that 1 of 2 is weak evidence and 8 of 15 is strong.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, DiscreteCDF};

use crate::detect::threshold::fmt_num;
use crate::detect::{DetectError, Detector, Share, Verdict};

/// `detector = { kind = "binomial" }` on a rule with `aggregate = "ratio"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BinomialConfig {
    /// How unlikely the window's failures must be under the usual rate to alert
    /// (default 1e-5: at most one evaluation in 100,000 of a normal series, and far
    /// fewer alerts, since neighbouring windows share their runs).
    #[serde(default)]
    pub p_value: Option<f64>,
    /// The rate assumed before the series has taught its own (default 0.02).
    #[serde(default)]
    pub prior_rate: Option<f64>,
    /// How many trials the prior counts for (default 200): a new series needs that much
    /// of its own history to move the usual rate far from the prior.
    #[serde(default)]
    pub prior_weight: Option<f64>,
    /// Memory of the usual rate, in evaluations after which one's weight has halved
    /// (default 10,080: a week of minutes).
    #[serde(default)]
    pub half_life: Option<f64>,
    /// Fewest failures in a window worth an alert, however unlikely (default 3).
    #[serde(default)]
    pub min_events: Option<u64>,
    /// Smallest rate above the usual one worth an alert, absolute (default 0.05).
    #[serde(default)]
    pub min_abs_deviation: Option<f64>,
}

impl BinomialConfig {
    /// Problems with the options.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let open_unit = |v: Option<f64>| v.is_some_and(|p| !(p > 0.0 && p < 1.0));
        if open_unit(self.p_value) {
            errs.push("`p_value` must be above 0 and below 1".into());
        }
        if open_unit(self.prior_rate) {
            errs.push("`prior_rate` must be above 0 and below 1".into());
        }
        if self
            .prior_weight
            .is_some_and(|w| !(w > 0.0 && w.is_finite()))
        {
            errs.push("`prior_weight` must be a positive number".into());
        }
        if self.half_life.is_some_and(|h| !(h >= 1.0 && h.is_finite())) {
            errs.push("`half_life` must be at least 1 evaluation".into());
        }
        if self
            .min_abs_deviation
            .is_some_and(|d| !(0.0..1.0).contains(&d))
        {
            errs.push("`min_abs_deviation` must be at least 0 and below 1".into());
        }
        errs
    }

    /// The spec with the defaults resolved: p-value 1e-5, prior rate 0.02 weighing 200
    /// trials, half-life 10,080 evaluations, at least 3 failures 0.05 above the usual rate.
    pub(crate) fn spec(&self) -> BinomialSpec {
        BinomialSpec {
            p_value: self.p_value.unwrap_or(1e-5),
            prior_rate: self.prior_rate.unwrap_or(0.02),
            prior_weight: self.prior_weight.unwrap_or(200.0),
            half_life: self.half_life.unwrap_or(10_080.0),
            min_events: self.min_events.unwrap_or(3),
            min_abs_deviation: self.min_abs_deviation.unwrap_or(0.05),
        }
    }
}

/// A validated `binomial` detector, every default resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinomialSpec {
    /// How unlikely the window's failures must be under the usual rate to alert.
    pub p_value: f64,
    /// The rate assumed before the series has taught its own.
    pub prior_rate: f64,
    /// How many trials the prior counts for.
    pub prior_weight: f64,
    /// Memory of the usual rate, in evaluations.
    pub half_life: f64,
    /// Fewest failures in a window worth an alert.
    pub min_events: u64,
    /// Smallest rate above the usual one worth an alert, absolute.
    pub min_abs_deviation: f64,
}

/// The usual rate, learnt from decayed sums of the windows' failures and trials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct RateState {
    events: f64,
    trials: f64,
}

/// P(X ≥ events) for X ~ Binomial(trials, rate).
pub fn upper_tail(events: u64, trials: u64, rate: f64) -> f64 {
    if events == 0 {
        return 1.0;
    }
    match Binomial::new(rate, trials) {
        Ok(b) => b.sf(events - 1),
        Err(_) => 1.0,
    }
}

/// A running binomial detector.
pub struct BinomialDetector {
    p_value: f64,
    prior_rate: f64,
    prior_weight: f64,
    decay: f64,
    min_events: f64,
    min_abs: f64,
    state: RateState,
    /// The last judged counts and usual rate (k, n, rate), worded only when shown.
    last: (u64, u64, f64),
}

impl BinomialDetector {
    /// A fresh detector with the settings of `spec`.
    pub fn new(spec: &BinomialSpec) -> Self {
        Self {
            p_value: spec.p_value,
            prior_rate: spec.prior_rate,
            prior_weight: spec.prior_weight,
            decay: 0.5f64.powf(1.0 / spec.half_life),
            min_events: spec.min_events as f64,
            min_abs: spec.min_abs_deviation,
            state: RateState::default(),
            last: (0, 0, 0.0),
        }
    }

    /// The usual rate: the series' own, shrunk towards the prior while it is young.
    fn usual_rate(&self) -> f64 {
        let rate = (self.state.events + self.prior_rate * self.prior_weight)
            / (self.state.trials + self.prior_weight);
        rate.clamp(1e-6, 1.0 - 1e-6)
    }
}

/// A rate as a percentage, e.g. "2.5 %".
fn percent(rate: f64) -> String {
    format!("{} %", fmt_num(rate * 100.0))
}

impl Detector for BinomialDetector {
    fn observe(&mut self, ts_ms: i64, value: f64) -> Verdict {
        // Without counts (a rule that is not a ratio), the value is one trial's outcome.
        let failed = if value > 0.0 { 1.0 } else { 0.0 };
        self.observe_counts(ts_ms, failed, 1.0)
    }

    fn observe_counts(&mut self, _ts_ms: i64, events: f64, trials: f64) -> Verdict {
        let usual = self.usual_rate();
        let (k, n) = (
            events.max(0.0).round() as u64,
            trials.max(0.0).round() as u64,
        );
        let rate = if n > 0 { k as f64 / n as f64 } else { 0.0 };
        let tail = upper_tail(k, n, usual);
        let anomalous = n > 0
            && tail < self.p_value
            && events >= self.min_events
            && rate - usual >= self.min_abs;
        if !anomalous {
            self.state.events = self.state.events * self.decay + events.max(0.0);
            self.state.trials = self.state.trials * self.decay + trials.max(0.0);
        }
        self.last = (k, n, usual);
        Verdict {
            evidence: -tail.max(1e-300).ln(),
            share: Some(Share { high: k, n, usual }),
            anomalous,
            score: 1.0 - tail,
            expected: Some(usual),
            band: Some((0.0, usual)),
            reason: if anomalous {
                format!(
                    "({k} of {n}) against a usual {} (p = {tail:.1e})",
                    percent(usual)
                )
                .into()
            } else {
                "is within the usual rate".into()
            },
            warming_up: false,
        }
    }

    fn describe_normal(&self) -> Option<String> {
        let (k, n, usual) = self.last;
        Some(format!(
            "({k} of {n}) is within the usual {}",
            percent(usual)
        ))
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

    fn warmed() -> BinomialDetector {
        let mut d = BinomialDetector::new(&BinomialConfig::default().spec());
        // A week of quiet minutes: 2 % of a few trials fail.
        for m in 0..10_080 {
            let (k, n) = if m % 50 == 0 { (1.0, 3.0) } else { (0.0, 1.0) };
            assert!(!d.observe_counts(m * 60_000, k, n).anomalous, "minute {m}");
        }
        d
    }

    #[test]
    fn a_burst_at_low_volume_fires_and_a_lonely_failure_does_not() {
        let mut d = warmed();
        assert!(
            !d.observe_counts(0, 1.0, 1.0).anomalous,
            "1 of 1 on a quiet night"
        );
        assert!(
            !d.observe_counts(0, 2.0, 4.0).anomalous,
            "2 of 4 is still weak"
        );
        let burst = d.observe_counts(0, 7.0, 15.0);
        assert!(burst.anomalous, "{burst:?}");
        assert!(burst.reason.contains("7 of 15"), "{}", burst.reason);
        // An anomalous window is kept out of the usual rate.
        assert!((d.usual_rate() - warmed().usual_rate()).abs() < 1e-3);
    }

    #[test]
    fn a_series_that_always_fails_often_is_judged_against_its_own_rate() {
        let mut d = BinomialDetector::new(&BinomialConfig::default().spec());
        for m in 0..5_000 {
            let k = if m % 2 == 0 { 3.0 } else { 2.0 };
            d.observe_counts(m, k, 10.0);
        }
        assert!((d.usual_rate() - 0.25).abs() < 0.02, "{}", d.usual_rate());
        assert!(!d.observe_counts(0, 4.0, 10.0).anomalous);
        assert!(d.observe_counts(0, 18.0, 20.0).anomalous);
    }

    #[test]
    fn state_round_trips_and_bad_options_are_named() {
        let d = warmed();
        let mut e = BinomialDetector::new(&BinomialConfig::default().spec());
        e.restore(&d.snapshot()).unwrap();
        assert_eq!(e.state, d.state);
        let bad = BinomialConfig {
            p_value: Some(f64::NAN),
            prior_rate: Some(1.5),
            ..Default::default()
        };
        assert_eq!(bad.validate().len(), 2);
    }
}
