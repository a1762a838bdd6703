//! Individual observations against the series' own distribution: how many of the
//! window's values lie above a high quantile of what the series usually does, and how
//! unlikely that many are (a binomial tail), instead of a z-score of a noisy aggregate.
//! Three slow calls among twenty are strong evidence whatever their p95 says; one slow
//! call among two is none.

use serde::{Deserialize, Serialize};

use crate::detect::binomial::upper_tail;
use crate::detect::shift::{score_sum, Shift, ShiftState};
use crate::detect::sketch::DecayingSketch;
use crate::detect::threshold::fmt_num;
use crate::detect::{DetectError, Detector, Pooled, Share, Verdict};

/// `detector = { kind = "exceedance", quantile = 0.99, p_value = 1e-6 }`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceedanceConfig {
    /// The quantile of the series' usual values that marks a value as high (default 0.99).
    #[serde(default)]
    pub quantile: Option<f64>,
    /// A value counts as high above `factor` × that quantile (default 1). Above 1 the
    /// limit is further out than the quantile, so the test is conservative.
    #[serde(default)]
    pub factor: Option<f64>,
    /// And only when it is at least this much above the quantile, in the metric's unit
    /// (default 0), so a series of tiny values does not page on tiny moves.
    #[serde(default)]
    pub min_abs_deviation: Option<f64>,
    /// How unlikely the window's count of high values must be under the usual rate of
    /// 1 − quantile to alert (default 1e-6). 1 alerts on any `min_events` high values.
    #[serde(default)]
    pub p_value: Option<f64>,
    /// Fewest high values in a window worth an alert (default 3).
    #[serde(default)]
    pub min_events: Option<u64>,
    /// Memory of the distribution, in learnt values after which one's weight has halved
    /// (default 100,000). A value is learnt once per evaluation whose window holds it.
    #[serde(default)]
    pub half_life: Option<f64>,
    /// Values to learn before judging (default 1,000), so a series never seen before
    /// (a new model) is learnt, not alerted on.
    #[serde(default)]
    pub warmup: Option<u64>,
    /// After this many anomalous evaluations in a row, the window is learnt anyway and
    /// the level becomes the usual one (default 360: six hours of minutes).
    #[serde(default)]
    pub relearn_after: Option<u64>,
    /// In a sliced rule whose finest slice (every label of the others) is listed too: a
    /// coarser slice counts each value as high against its own finest series' limit,
    /// so a slice mixing models of different prices counts what is high for each model
    /// instead of learning the mixture (which moves whenever the mix does).
    #[serde(default)]
    pub pooled: Option<bool>,
    /// Also judge the window's values as a whole: alert when their normal scores
    /// (each value's rank among the usual ones) sum higher than this unlikely among
    /// normal windows, so many moderately high values are found before enough pass the
    /// high quantile (see the shift test). Off unless set; needs 5 values a window.
    #[serde(default)]
    pub shift_p_value: Option<f64>,
}

impl ExceedanceConfig {
    /// Problems with the options.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.quantile.is_some_and(|q| !(q > 0.0 && q < 1.0)) {
            errs.push("`quantile` must be above 0 and below 1".into());
        }
        if self.factor.is_some_and(|f| !(f >= 1.0 && f.is_finite())) {
            errs.push("`factor` must be a number of at least 1".into());
        }
        if self
            .min_abs_deviation
            .is_some_and(|d| !(d >= 0.0 && d.is_finite()))
        {
            errs.push("`min_abs_deviation` must be a number of at least 0".into());
        }
        if self.p_value.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            errs.push("`p_value` must be above 0 and at most 1".into());
        }
        if self.min_events == Some(0) {
            errs.push("`min_events` must be at least 1".into());
        }
        if self.half_life.is_some_and(|h| !(h >= 1.0 && h.is_finite())) {
            errs.push("`half_life` must be at least 1 value".into());
        }
        if self.shift_p_value.is_some_and(|p| !(p > 0.0 && p < 1.0)) {
            errs.push("`shift_p_value` must be above 0 and below 1".into());
        }
        if self.relearn_after == Some(0) {
            errs.push("`relearn_after` must be at least 1 evaluation".into());
        }
        errs
    }

    /// The spec with the defaults resolved: quantile 0.99, factor 1, no floor, p-value
    /// 1e-6, at least 3 high values, half-life 100,000 values, warm-up 1,000 values,
    /// relearn after 360 evaluations, not pooled, no shift test.
    pub(crate) fn spec(&self) -> ExceedanceSpec {
        ExceedanceSpec {
            quantile: self.quantile.unwrap_or(0.99),
            factor: self.factor.unwrap_or(1.0),
            min_abs_deviation: self.min_abs_deviation.unwrap_or(0.0),
            p_value: self.p_value.unwrap_or(1e-6),
            min_events: self.min_events.unwrap_or(3),
            half_life: self.half_life.unwrap_or(100_000.0),
            warmup: self.warmup.unwrap_or(1_000),
            relearn_after: self.relearn_after.unwrap_or(360),
            pooled: self.pooled.unwrap_or(false),
            shift_p_value: self.shift_p_value,
        }
    }
}

/// A validated `exceedance` detector, every default resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExceedanceSpec {
    /// The quantile of the series' usual values that marks a value as high.
    pub quantile: f64,
    /// A value counts as high above `factor` × that quantile.
    pub factor: f64,
    /// And only when at least this much above the quantile, in the metric's unit.
    pub min_abs_deviation: f64,
    /// How unlikely the window's count of high values must be to alert.
    pub p_value: f64,
    /// Fewest high values in a window worth an alert.
    pub min_events: u64,
    /// Memory of the distribution, in learnt values.
    pub half_life: f64,
    /// Values to learn before judging.
    pub warmup: u64,
    /// Anomalous evaluations in a row after which the window is learnt anyway.
    pub relearn_after: u64,
    /// Coarser slices count values against their finest series' limits.
    pub pooled: bool,
    /// How unlikely the window's sum of normal scores must be to alert; None: no test.
    pub shift_p_value: Option<f64>,
}

/// What the detector has learnt.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExceedanceState {
    sketch: DecayingSketch,
    learnt: u64,
    anomalous_run: u64,
    /// How much more the window's count varies than a binomial would (≥ 1 in use):
    /// values that come in clusters (the steps of one slow run) are fewer independent
    /// pieces of evidence than their number says.
    #[serde(default = "one")]
    dispersion: f64,
    /// Normal windows that taught the dispersion.
    #[serde(default)]
    windows: u64,
    /// The mean of normal windows' standardised counts, which the dispersion is
    /// measured around.
    #[serde(default)]
    mean_excess: f64,
    /// What the shift test has learnt of normal windows.
    #[serde(default)]
    shift: ShiftState,
}

fn one() -> f64 {
    1.0
}

/// The dispersion is learnt over about a week of minutely windows, after a prior of ten
/// binomial ones, so a few odd windows do not move it much.
const DISPERSION_PRIOR: f64 = 10.0;
const DISPERSION_MEMORY: f64 = 10_080.0;
/// The most one window's squared deviation (in binomial variances) counts for.
const DISPERSION_STRAY_CAP: f64 = 30.0;

/// One window judged by both tests.
struct Judged {
    /// The count of high values is rare (and at least `min_events`).
    count_rare: bool,
    /// Its binomial (quasi-binomial) tail.
    count_tail: f64,
    /// The shift test's result, when it is on and the window holds enough values.
    shift: Option<Shift>,
    /// The shift test's threshold (0: off).
    shift_p_value: f64,
}

impl Judged {
    /// The shift, when it is rare enough to alert.
    fn rare_shift(&self) -> Option<Shift> {
        self.shift.filter(|s| s.tail < self.shift_p_value)
    }

    fn anomalous(&self) -> bool {
        self.count_rare || self.rare_shift().is_some()
    }

    /// The rarer of the two tails.
    fn tail(&self) -> f64 {
        self.shift
            .map_or(self.count_tail, |s| s.tail.min(self.count_tail))
    }

    fn verdict(
        &self,
        share: Share,
        reason: std::borrow::Cow<'static, str>,
        expected: Option<f64>,
        band: Option<(f64, f64)>,
    ) -> Verdict {
        let tail = self.tail();
        Verdict {
            evidence: -tail.max(1e-300).ln(),
            share: Some(share),
            anomalous: self.anomalous(),
            score: 1.0 - tail,
            expected,
            band,
            reason,
            warming_up: false,
        }
    }
}

/// A running exceedance detector.
pub struct ExceedanceDetector {
    quantile: f64,
    factor: f64,
    min_abs: f64,
    p_value: f64,
    min_events: u64,
    warmup: u64,
    relearn_after: u64,
    shift_p_value: Option<f64>,
    state: ExceedanceState,
    /// The last normal count (high, n) and the usual limit it was judged against (None
    /// for a pooled count), worded only when shown.
    last: (u64, u64, Option<f64>),
}

impl ExceedanceDetector {
    /// A fresh detector with the settings of `spec`.
    pub fn new(spec: &ExceedanceSpec) -> Self {
        Self {
            quantile: spec.quantile,
            factor: spec.factor,
            min_abs: spec.min_abs_deviation,
            p_value: spec.p_value,
            min_events: spec.min_events,
            warmup: spec.warmup,
            relearn_after: spec.relearn_after,
            shift_p_value: spec.shift_p_value,
            state: ExceedanceState {
                sketch: DecayingSketch::new(spec.half_life),
                learnt: 0,
                anomalous_run: 0,
                dispersion: 1.0,
                windows: 0,
                mean_excess: 0.0,
                shift: ShiftState::default(),
            },
            last: (0, 0, None),
        }
    }

    /// The usual quantile and the limit a value must pass to count as high.
    fn limit(&self) -> Option<(f64, f64)> {
        let q = self.state.sketch.quantile(self.quantile)?;
        Some((q, (q * self.factor).max(q + self.min_abs)))
    }

    /// The usual share of high values.
    fn rate(&self) -> f64 {
        (1.0 - self.quantile).max(1e-9)
    }

    /// Whether `high` of `n` is too many for the usual rate, and its tail probability,
    /// with both counts shrunk by the learnt dispersion (a quasi-binomial test).
    fn test(&self, high: u64, n: u64) -> (bool, f64) {
        let phi = self.state.dispersion.max(1.0);
        let events = (high as f64 / phi).floor() as u64;
        let trials = ((n as f64 / phi).round() as u64).max(events);
        let tail = upper_tail(events, trials, self.rate());
        let rare = tail < self.p_value || self.p_value >= 1.0;
        (high >= self.min_events && rare, tail)
    }

    /// Learns from a normal window how far its count strays from the binomial's.
    fn learn_dispersion(&mut self, high: u64, n: u64) {
        let rate = self.rate();
        let variance = n as f64 * rate * (1.0 - rate);
        if variance <= 0.0 {
            return;
        }
        // Measured around the series' own mean count, not around n × rate: a limit that
        // a few more values than 1 − quantile pass is a bias, not clustering. Capped, so
        // one rare window that did not alert cannot halve the test's power.
        let z = (high as f64 - n as f64 * rate) / variance.sqrt();
        self.state.windows += 1;
        let weight =
            (1.0 / (self.state.windows as f64 + DISPERSION_PRIOR)).max(1.0 / DISPERSION_MEMORY);
        self.state.mean_excess += weight * (z - self.state.mean_excess);
        let stray = (z - self.state.mean_excess)
            .powi(2)
            .min(DISPERSION_STRAY_CAP);
        self.state.dispersion += weight * (stray - self.state.dispersion);
    }

    /// ", values clustered ×φ" when the dispersion weakens the test noticeably.
    fn clustering(&self) -> String {
        match self.state.dispersion {
            phi if phi >= 1.5 => format!("; values clustered ×{}", fmt_num(phi)),
            _ => String::new(),
        }
    }

    /// Both tests of one window: `high` of `n` above the limit, and (when the shift
    /// test is on) the sum of the scores of `scored` values.
    fn judge_window(&self, high: u64, n: u64, scores: Option<(f64, u64)>) -> Judged {
        let (count_rare, count_tail) = self.test(high, n);
        let shift = scores.and_then(|(sum, scored)| self.state.shift.judge(sum, scored));
        Judged {
            count_rare,
            count_tail,
            shift,
            shift_p_value: self.shift_p_value.unwrap_or(0.0),
        }
    }

    /// Learns from a normal window: the counts' dispersion and the scores' spread.
    fn learn_normal(&mut self, high: u64, n: u64, scores: Option<(f64, u64)>) {
        self.learn_dispersion(high, n);
        if let Some((sum, scored)) = scores {
            self.state.shift.learn(sum, scored);
        }
    }

    fn share(&self, high: u64, n: u64) -> Share {
        Share {
            high,
            n,
            usual: self.rate(),
        }
    }

    /// "(the 40 values sit at the usual p78 on average, p50 expected; p = …)".
    fn shift_reason(&self, shift: &Shift, whose: &str) -> String {
        let alike = match self.state.shift.dispersion {
            phi if phi >= 1.5 => format!("; values alike ×{}", fmt_num(phi)),
            _ => String::new(),
        };
        format!(
            "(the {} values sit at {whose} p{} on average, p50 expected; p = {:.1e}{alike})",
            shift.n,
            fmt_num(shift.typical_percentile().round()),
            shift.tail
        )
    }

    fn learn(&mut self, values: &[f64]) {
        for v in values {
            self.state.sketch.add(*v);
        }
        self.state.learnt += values.len() as u64;
    }

    fn warming(&mut self, values: &[f64]) -> Verdict {
        let learnt = self.state.learnt;
        self.learn(values);
        Verdict {
            evidence: 0.0,
            share: None,
            anomalous: false,
            score: 0.0,
            expected: None,
            band: None,
            reason: format!("is being learnt ({learnt} of {} values)", self.warmup).into(),
            warming_up: true,
        }
    }
}

impl Detector for ExceedanceDetector {
    fn observe(&mut self, ts_ms: i64, value: f64) -> Verdict {
        self.observe_values(ts_ms, &[value], value)
    }

    fn high_limit(&self) -> Option<f64> {
        self.limit()
            .filter(|_| self.state.learnt >= self.warmup)
            .map(|(_, limit)| limit)
    }

    fn score_sum(&self, values: &[f64]) -> Option<f64> {
        self.shift_p_value?;
        (self.state.learnt >= self.warmup).then(|| score_sum(&self.state.sketch, values))
    }

    fn observe_exceedances(&mut self, _ts_ms: i64, pooled: &Pooled) -> Verdict {
        let Pooled { high, n, .. } = *pooled;
        if n == 0 {
            return Verdict {
                reason: "is being learnt (its finest series are)".into(),
                ..self.warming(&[])
            };
        }
        let scores = self
            .shift_p_value
            .map(|_| (pooled.score_sum, pooled.scored));
        let judged = self.judge_window(high, n, scores);
        if !judged.anomalous() {
            self.learn_normal(high, n, scores);
        }
        self.last = (high, n, None);
        let reason: std::borrow::Cow<'static, str> = if judged.count_rare {
            let q = fmt_num(self.quantile * 100.0);
            let expected = fmt_num(n as f64 * self.rate());
            let clustered = self.clustering();
            let tail = judged.count_tail;
            format!(
                "({high} of {n} above their own series' usual p{q}, {expected} expected; p = {tail:.1e}{clustered})"
            )
            .into()
        } else if let Some(shift) = judged.rare_shift() {
            self.shift_reason(&shift, "their own series' usual").into()
        } else {
            "is within its series' usual range".into()
        };
        judged.verdict(self.share(high, n), reason, None, None)
    }

    fn observe_values(&mut self, _ts_ms: i64, values: &[f64], _aggregated: f64) -> Verdict {
        let Some((usual, limit)) = self.limit().filter(|_| self.state.learnt >= self.warmup) else {
            return self.warming(values);
        };
        let n = values.len() as u64;
        let high = values.iter().filter(|v| **v > limit).count() as u64;
        let scores = self
            .shift_p_value
            .map(|_| (score_sum(&self.state.sketch, values), n));
        let judged = self.judge_window(high, n, scores);
        let anomalous = judged.anomalous();
        let accepted = anomalous && self.state.anomalous_run + 1 >= self.relearn_after;
        self.state.anomalous_run = if anomalous && !accepted {
            self.state.anomalous_run + 1
        } else {
            0
        };
        if !anomalous || accepted {
            self.learn(values);
        }
        if !anomalous {
            self.learn_normal(high, n, scores);
        }
        self.last = (high, n, Some(usual));
        let q = || fmt_num(self.quantile * 100.0);
        let reason: std::borrow::Cow<'static, str> = if accepted {
            format!(
                "is accepted as the new level ({high} of {n} above the former usual p{} of {})",
                q(),
                fmt_num(usual)
            )
            .into()
        } else if judged.count_rare {
            format!(
                "({high} of {n} above the usual p{} of {}, {} expected; p = {:.1e}{})",
                q(),
                fmt_num(usual),
                fmt_num(n as f64 * self.rate()),
                judged.count_tail,
                self.clustering()
            )
            .into()
        } else if let Some(shift) = judged.rare_shift() {
            self.shift_reason(&shift, "the usual").into()
        } else {
            "is within its usual range".into()
        };
        let mut verdict = judged.verdict(
            self.share(high, n),
            reason,
            Some(limit),
            Some((f64::NEG_INFINITY, limit)),
        );
        verdict.anomalous = anomalous && !accepted;
        verdict
    }

    fn describe_normal(&self) -> Option<String> {
        let q = fmt_num(self.quantile * 100.0);
        Some(match self.last {
            (high, n, Some(usual)) => {
                format!("({high} of {n} above the usual p{q} of {})", fmt_num(usual))
            }
            (high, n, None) => format!("({high} of {n} above their own series' usual p{q})"),
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

    /// Deterministic values spread like a usual series: 1.0 to 2.0, a few at 3.
    fn usual(i: u64) -> f64 {
        if i.is_multiple_of(100) {
            3.0
        } else {
            1.0 + (i % 97) as f64 / 97.0
        }
    }

    /// A shift test that has learnt independent values' spread.
    fn learnt_shift() -> ShiftState {
        ShiftState {
            mean: 0.0,
            dispersion: 1.0,
            windows: crate::detect::shift::MIN_WINDOWS,
        }
    }

    fn pooled(high: u64, n: u64) -> Pooled {
        Pooled {
            high,
            n,
            ..Pooled::default()
        }
    }

    fn warmed(config: &ExceedanceConfig) -> ExceedanceDetector {
        let mut d = ExceedanceDetector::new(&config.spec());
        for e in 0..200u64 {
            let window: Vec<f64> = (0..20).map(|i| usual(e * 20 + i)).collect();
            let v = d.observe_values(e as i64, &window, 0.0);
            assert!(!v.anomalous, "evaluation {e}: {v:?}");
        }
        // These deterministic windows are no binomial sample; the count tests below
        // start from independent values (the dispersion has its own test).
        d.state.dispersion = 1.0;
        d
    }

    #[test]
    fn a_new_series_is_learnt_then_a_few_high_values_fire_and_one_does_not() {
        let mut d = ExceedanceDetector::new(&ExceedanceConfig::default().spec());
        assert!(d.observe_values(0, &[50.0; 20], 50.0).warming_up);
        let mut d2 = warmed(&ExceedanceConfig::default());
        let mut one = vec![1.5; 19];
        one.push(10.0);
        assert!(!d2.observe_values(0, &one, 10.0).anomalous, "one of 20");
        // Four of twenty at a 1 % rate is p ≈ 5e-5: rare, not rare enough for 1e-6.
        let mut four = vec![1.5; 16];
        four.extend([9.0, 9.5, 10.0, 12.0]);
        assert!(!d2.observe_values(0, &four, 12.0).anomalous, "four of 20");
        let mut seven = vec![1.5; 13];
        seven.extend([9.0, 9.5, 10.0, 11.0, 12.0, 13.0, 14.0]);
        let v = d2.observe_values(0, &seven, 14.0);
        assert!(v.anomalous, "{v:?}");
        assert!(
            v.reason.contains("7 of 20 above the usual p99"),
            "{}",
            v.reason
        );
        assert!(v.evidence > 10.0, "{}", v.evidence);
        // The few-calls night: two high values of two is still evidence enough at 1e-3.
        let mut lenient = warmed(&ExceedanceConfig {
            p_value: Some(1e-3),
            min_events: Some(2),
            ..Default::default()
        });
        assert!(lenient.observe_values(0, &[9.0, 9.0], 9.0).anomalous);
        let _ = d.observe_values(0, &[1.0], 1.0);
    }

    #[test]
    fn factor_and_min_abs_move_the_limit_and_p_value_one_fires_on_any_count() {
        let config = ExceedanceConfig {
            factor: Some(3.0),
            p_value: Some(1.0),
            min_events: Some(1),
            ..Default::default()
        };
        let mut d = warmed(&config);
        let limit = d.limit().unwrap().1;
        // The usual p99 lies between the 2.0 of most values and the 3.0 of one in 100.
        assert!((3.0 * 1.9..=3.0 * 3.1).contains(&limit), "{limit}");
        // Each on a fresh copy: a value learnt may move a p99 that sits between two steps.
        assert!(d.observe_values(0, &[limit * 1.1], 0.0).anomalous);
        let mut d = warmed(&config);
        assert!(!d.observe_values(0, &[limit * 0.9], 0.0).anomalous);
    }

    #[test]
    fn a_lasting_level_is_accepted_after_relearn_after_and_says_so() {
        let config = ExceedanceConfig {
            relearn_after: Some(5),
            ..Default::default()
        };
        let mut d = warmed(&config);
        let high = vec![10.0; 20];
        for i in 0..4 {
            assert!(d.observe_values(i, &high, 10.0).anomalous, "evaluation {i}");
        }
        let v = d.observe_values(4, &high, 10.0);
        assert!(!v.anomalous);
        assert!(
            v.reason.contains("accepted as the new level"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn state_round_trips_and_bad_options_are_named() {
        let d = warmed(&ExceedanceConfig::default());
        let mut e = ExceedanceDetector::new(&ExceedanceConfig::default().spec());
        e.restore(&d.snapshot()).unwrap();
        assert_eq!(e.snapshot(), d.snapshot());
        let bad = ExceedanceConfig {
            quantile: Some(1.0),
            factor: Some(0.5),
            min_events: Some(0),
            ..Default::default()
        };
        assert_eq!(bad.validate().len(), 3);
    }

    #[test]
    fn values_that_come_in_clusters_weaken_the_test_as_much_as_they_vary() {
        // Normal windows hold 50 values; the high ones come five at a time (the steps of
        // one slow run), in one window of ten: the binomial variance is far too small.
        let config = ExceedanceConfig {
            quantile: Some(0.9),
            p_value: Some(1e-5),
            warmup: Some(100),
            ..Default::default()
        };
        let window = |e: u64, high: usize| -> Vec<f64> {
            let mut w: Vec<f64> = (0..50)
                .map(|i| 1.0 + ((e * 50 + i) % 89) as f64 / 100.0)
                .collect();
            for v in w.iter_mut().take(high) {
                *v = 50.0;
            }
            w
        };
        let fresh = || {
            let mut d = ExceedanceDetector::new(&config.spec());
            let _ = d.observe_values(0, &window(0, 5), 0.0);
            d
        };
        let mut plain = fresh();
        plain.state.learnt = config.warmup.unwrap();
        // Twenty of fifty above a p90 is rare for independent values…
        assert!(plain.observe_values(0, &window(1, 20), 0.0).anomalous);
        let mut clustered = fresh();
        for e in 0..3000u64 {
            let high = if e % 10 == 0 { 10 } else { 0 };
            let _ = clustered.observe_values(e as i64, &window(e, high), 0.0);
        }
        assert!(
            clustered.state.dispersion > 1.5,
            "{}",
            clustered.state.dispersion
        );
        // …and ordinary for values that come in clusters of this size.
        let v = clustered.observe_values(0, &window(1, 20), 0.0);
        assert!(!v.anomalous, "{v:?}");
        let v = clustered.observe_values(0, &window(2, 50), 0.0);
        assert!(
            v.anomalous && v.reason.contains("values clustered"),
            "{v:?}"
        );
        assert_eq!(v.share.map(|s| (s.high, s.n)), Some((50, 50)));
    }

    #[test]
    fn a_pooled_count_is_judged_without_learning_and_says_whose_limits_counted() {
        let mut d = ExceedanceDetector::new(&ExceedanceConfig::default().spec());
        let before = d.snapshot();
        let v = d.observe_exceedances(0, &pooled(8, 40));
        assert!(v.anomalous, "{v:?}");
        assert!(
            v.reason
                .contains("8 of 40 above their own series' usual p99"),
            "{}",
            v.reason
        );
        assert_eq!(v.share.map(|s| (s.high, s.n)), Some((8, 40)));
        assert_eq!(
            d.snapshot()["sketch"],
            before["sketch"],
            "the finest series learn"
        );
        assert!(!d.observe_exceedances(0, &pooled(1, 40)).anomalous);
        assert!(
            d.observe_exceedances(0, &pooled(0, 0)).warming_up,
            "no finest series is warm yet"
        );
    }

    #[test]
    fn a_window_of_moderately_high_values_fires_the_shift_test_only_when_it_is_on() {
        let shifted = |d: &mut ExceedanceDetector| d.shift_p_value = Some(1e-4);
        // Forty values between the usual p80 and p95 (none above the p99): the count
        // test sees nothing, the scores sit far above the median.
        let window: Vec<f64> = (0..40).map(|i| 1.8 + (i % 15) as f64 / 100.0).collect();
        let mut plain = warmed(&ExceedanceConfig::default());
        assert!(!plain.observe_values(0, &window, 0.0).anomalous);
        // Warmed without the test: the deterministic warm-up windows are no sample of
        // independent values, so their sums would teach a spread of their own.
        let mut d = warmed(&ExceedanceConfig::default());
        shifted(&mut d);
        d.state.shift = learnt_shift();
        let v = d.observe_values(0, &window, 0.0);
        assert!(v.anomalous, "{v:?}");
        assert!(
            v.reason.contains("the 40 values sit at the usual p")
                && v.reason.contains("p50 expected"),
            "{}",
            v.reason
        );
        assert_eq!(v.share.map(|s| s.high), Some(0));
        // Usual values do not.
        let mut d = warmed(&ExceedanceConfig::default());
        shifted(&mut d);
        let usual_window: Vec<f64> = (0..40).map(|i| usual(7_000 + i)).collect();
        assert!(!d.observe_values(0, &usual_window, 0.0).anomalous);
    }

    #[test]
    fn a_pooled_slice_judges_its_series_scores_and_learns_their_spread_from_normal_windows() {
        let config = ExceedanceConfig {
            shift_p_value: Some(1e-4),
            ..Default::default()
        };
        let mut d = ExceedanceDetector::new(&config.spec());
        d.state.shift = learnt_shift();
        let counts = |score_sum: f64| Pooled {
            high: 0,
            n: 40,
            score_sum,
            scored: 40,
        };
        let v = d.observe_exceedances(0, &counts(40.0 * 0.9));
        assert!(v.anomalous, "{v:?}");
        assert!(
            v.reason.contains("sit at their own series' usual p82"),
            "{}",
            v.reason
        );
        assert!(!d.observe_exceedances(0, &counts(3.0)).anomalous);
        assert_eq!(
            d.state.shift.windows,
            crate::detect::shift::MIN_WINDOWS + 1,
            "the normal window is learnt"
        );
        let off = ExceedanceDetector::new(&ExceedanceConfig::default().spec())
            .observe_exceedances(0, &counts(40.0 * 0.9));
        assert!(!off.anomalous, "{off:?}");
    }
}
