//! Anomaly likelihood (after Numenta's detector for the Numenta Anomaly Benchmark): a
//! value is news when it leaves the range the series has covered lately, or when its
//! recent deviations from the moving average are improbably large next to the series'
//! own history of deviations. Calm and spiky series are each judged by their own past,
//! so one setting transfers between series whose scale and tail differ by orders of
//! magnitude, and a level shift is reported once while the baseline follows it.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::detect::compact::ShortF32;
use crate::detect::hourly::HourOfDayProfile;
use crate::detect::judge::{spread_floor, Direction};
use crate::detect::moments::{alpha_for_half_life, Ewma};
use crate::detect::threshold::fmt_num;
use crate::detect::{DetectError, Detector, Verdict};

/// Deviations are capped at this many standard deviations before they are averaged, so
/// one wild value does not hide the ones after it.
const DEVIATION_CAP: f64 = 5.0;
/// Half-life, in samples, of the short average of recent deviations.
const RECENT_HALF_LIFE: f64 = 14.0;
/// Half-life, in samples, of the long history that the short average is compared with.
const HISTORY_HALF_LIFE: f64 = 2000.0;
/// The smallest spread of that history (deviation scores lie in [0,1]).
const HISTORY_SPREAD_FLOOR: f64 = 1e-6;
/// The recent range is kept as this many blocks of samples, the oldest dropped whole.
const RANGE_BLOCKS: u64 = 4;

/// `detector = { kind = "likelihood" }`, the default of `driftwatch score`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LikelihoodConfig {
    /// Which deviations count: `up`, `down` or `both` (default `both`).
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Memory of the moving average and spread, as the number of samples after which a
    /// sample's weight has halved (default 300).
    #[serde(default)]
    pub half_life: Option<f64>,
    /// Samples to see before judging (default 200).
    #[serde(default)]
    pub warmup: Option<u64>,
    /// How likely the recent deviations must be to be unusual before an alert (default
    /// 0.99999: such a stretch happens less than once in 100,000 samples of the series).
    #[serde(default)]
    pub likelihood: Option<f64>,
    /// How far beyond the recent range, as a fraction of its width, a value must go to be
    /// news by itself (default 0.05).
    #[serde(default)]
    pub range_tolerance: Option<f64>,
    /// How many samples the recent range covers (default 10,000; between three quarters
    /// of that and all of it are remembered).
    #[serde(default)]
    pub range_window: Option<u64>,
    /// After an alert starts, samples during which the likelihood test starts no new one
    /// (default 200): one incident is one alert. A value beyond the range still alerts.
    #[serde(default)]
    pub refractory: Option<u64>,
    /// Also judge each value against what the series usually does at this hour of the day
    /// (UTC), once three days are known (default true): a daily peak that does not come
    /// is news, a daily peak that does is not.
    #[serde(default)]
    pub hour_of_day: Option<bool>,
    /// Smallest absolute deviation from the moving average worth an alert.
    #[serde(default)]
    pub min_abs_deviation: Option<f64>,
    /// Smallest deviation relative to the moving average worth an alert (0.2 = 20 %).
    #[serde(default)]
    pub min_rel_deviation: Option<f64>,
}

impl LikelihoodConfig {
    /// Problems with the options.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if let Some(l) = self.likelihood {
            if !(0.5..1.0).contains(&l) {
                errs.push(format!(
                    "`likelihood` {l}: expected at least 0.5 and below 1"
                ));
            }
        }
        // Written so that NaN fails each test: every comparison with NaN is false.
        if self.half_life.is_some_and(|h| !(h >= 1.0 && h.is_finite())) {
            errs.push("`half_life` must be at least 1 sample".into());
        }
        if self
            .range_tolerance
            .is_some_and(|t| !(t >= 0.0 && t.is_finite()))
        {
            errs.push("`range_tolerance` must be a number of at least 0".into());
        }
        errs.extend(crate::detect::config::deviation_floor_problems(
            self.min_abs_deviation,
            self.min_rel_deviation,
        ));
        if self.range_window.is_some_and(|w| w < RANGE_BLOCKS) {
            errs.push(format!(
                "`range_window` must be at least {RANGE_BLOCKS} samples"
            ));
        }
        errs
    }

    /// The spec with the defaults resolved: both directions, half-life 300, warm-up 200,
    /// likelihood 0.99999, range tolerance 0.05 over 10,000 samples, refractory 200, the
    /// hour-of-day profile on, no deviation floors.
    pub(crate) fn spec(&self) -> LikelihoodSpec {
        LikelihoodSpec {
            direction: self.direction.unwrap_or_default(),
            half_life: self.half_life.unwrap_or(300.0),
            warmup: self.warmup.unwrap_or(200),
            likelihood: self.likelihood.unwrap_or(0.99999),
            range_tolerance: self.range_tolerance.unwrap_or(0.05),
            range_window: self.range_window.unwrap_or(10_000),
            refractory: self.refractory.unwrap_or(200),
            hour_of_day: self.hour_of_day.unwrap_or(true),
            min_abs_deviation: self.min_abs_deviation.unwrap_or(0.0),
            min_rel_deviation: self.min_rel_deviation.unwrap_or(0.0),
        }
    }
}

/// A validated `likelihood` detector, every default resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LikelihoodSpec {
    /// Which deviations count.
    pub direction: Direction,
    /// Memory of the moving average and spread, in samples.
    pub half_life: f64,
    /// Samples to see before judging.
    pub warmup: u64,
    /// How likely the recent deviations must be to be unusual before an alert.
    pub likelihood: f64,
    /// How far beyond the recent range, as a fraction of its width, is news by itself.
    pub range_tolerance: f64,
    /// How many samples the recent range covers.
    pub range_window: u64,
    /// After an alert starts, samples during which the likelihood test starts no new one.
    pub refractory: u64,
    /// Also judge each value against the usual value at this hour of the day.
    pub hour_of_day: bool,
    /// Smallest absolute deviation from the moving average worth an alert.
    pub min_abs_deviation: f64,
    /// Smallest deviation relative to the moving average worth an alert.
    pub min_rel_deviation: f64,
}

/// The highest and lowest values of the last few blocks of samples, without a copy of
/// them: the recent range in 8 bytes a block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentRange {
    /// (lowest, highest) per block, oldest first; the last one in use is filling.
    blocks: [(ShortF32, ShortF32); RANGE_BLOCKS as usize],
    /// Blocks in use.
    used: usize,
    /// Samples in the last block in use.
    filled: u64,
}

impl RecentRange {
    /// The lowest and highest value remembered, if any.
    pub fn bounds(&self) -> Option<(f64, f64)> {
        self.blocks[..self.used]
            .iter()
            .map(|&(lo, hi)| (lo.get(), hi.get()))
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
    }

    /// Remembers `x`, in blocks of `block_len` samples.
    pub fn add(&mut self, x: f64, block_len: u64) {
        let x = x as f32;
        if self.used > 0 && self.filled < block_len {
            let (lo, hi) = &mut self.blocks[self.used - 1];
            lo.0 = lo.0.min(x);
            hi.0 = hi.0.max(x);
            self.filled += 1;
            return;
        }
        if self.used == self.blocks.len() {
            self.blocks.rotate_left(1);
        } else {
            self.used += 1;
        }
        self.blocks[self.used - 1] = (ShortF32(x), ShortF32(x));
        self.filled = 1;
    }
}

/// What the likelihood detector remembers of a series (a few hundred bytes as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LikelihoodState {
    /// Moving average and spread of the values.
    level: Ewma,
    /// Short average of recent deviation scores (each in [0,1]).
    recent: f64,
    /// Long history of that short average.
    history: Ewma,
    /// Recent range of the values.
    range: RecentRange,
    /// What the series usually does at each hour of the day (when `hour_of_day` is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    profile: Option<HourOfDayProfile>,
    /// Samples seen.
    seen: u64,
    /// Samples left in which the likelihood test starts no new alert.
    quiet: u64,
    /// The previous verdict was anomalous.
    firing: bool,
}

/// The detector: judge against the state so far, then learn every value (the baseline
/// follows a new level, while the history of deviations says when that is news).
pub struct LikelihoodDetector {
    config: LikelihoodSpec,
    level_alpha: f64,
    recent_alpha: f64,
    history_alpha: f64,
    state: LikelihoodState,
}

/// What a deviation was measured against.
struct Basis {
    center: f64,
    spread: f64,
    name: &'static str,
}

/// Why a value is anomalous.
enum Finding {
    /// Beyond the recent range.
    OutOfRange { lo: f64, hi: f64 },
    /// Recent deviations unusually large; the tail probability of their average.
    Unlikely { tail: f64 },
}

impl LikelihoodDetector {
    /// A fresh detector with the settings of `config`.
    pub fn new(config: LikelihoodSpec) -> Self {
        Self {
            level_alpha: alpha_for_half_life(config.half_life),
            recent_alpha: alpha_for_half_life(RECENT_HALF_LIFE),
            history_alpha: alpha_for_half_life(HISTORY_HALF_LIFE),
            state: LikelihoodState {
                profile: config.hour_of_day.then(Default::default),
                ..Default::default()
            },
            config,
        }
    }

    fn direction(&self) -> Direction {
        self.config.direction
    }

    /// `t` spreads of deviation, on the side that counts.
    fn signed(&self, t: f64) -> f64 {
        match self.direction() {
            Direction::Up => t.max(0.0),
            Direction::Down => (-t).max(0.0),
            Direction::Both => t.abs(),
        }
    }

    /// The deviation of `x` in spreads, on the side that counts: from the moving average,
    /// or from the usual value at this hour of the day when that is larger; with what it
    /// was measured against.
    fn deviation(&self, ts_ms: i64, x: f64) -> (f64, Basis) {
        let level = &self.state.level;
        let floor = spread_floor(level.mean);
        let moving = Basis {
            center: level.mean,
            spread: level.std().max(floor),
            name: "its moving average",
        };
        if level.n < 2 {
            return (0.0, moving);
        }
        let from_level = self.signed((x - moving.center) / moving.spread);
        let hourly = self
            .state
            .profile
            .as_ref()
            .and_then(|p| p.expect(ts_ms))
            .map(|(usual, spread)| Basis {
                center: usual,
                spread: spread.max(floor),
                name: "its usual value at this hour",
            });
        match hourly {
            Some(h) if self.signed((x - h.center) / h.spread) > from_level => {
                (self.signed((x - h.center) / h.spread), h)
            }
            _ => (from_level, moving),
        }
    }

    /// The recent range widened by the tolerance, if it has a width.
    fn widened_range(&self) -> Option<(f64, f64)> {
        let (lo, hi) = self.state.range.bounds()?;
        let slack = (hi - lo) * self.config.range_tolerance;
        (hi > lo).then_some((lo - slack, hi + slack))
    }

    fn out_of_range(&self, x: f64) -> Option<Finding> {
        let (lo, hi) = self.widened_range()?;
        let above = x > hi && self.direction() != Direction::Down;
        let below = x < lo && self.direction() != Direction::Up;
        (above || below).then_some(Finding::OutOfRange { lo, hi })
    }

    /// Deviations this far from the moving average are worth an alert by the gates.
    fn big_enough(&self, x: f64) -> bool {
        let center = self.state.level.mean;
        let delta = (x - center).abs();
        delta >= self.config.min_abs_deviation
            && delta >= self.config.min_rel_deviation * center.abs()
    }

    fn reason(&self, ts_ms: i64, x: f64, finding: &Finding) -> String {
        match finding {
            Finding::OutOfRange { lo, hi } => format!(
                "is {}, outside the range {} … {} of its last {} samples",
                fmt_num(x),
                fmt_num(*lo),
                fmt_num(*hi),
                self.state.seen.min(self.config.range_window)
            ),
            Finding::Unlikely { tail } => {
                let (_, basis) = self.deviation(ts_ms, x);
                let side = if x >= basis.center { "above" } else { "below" };
                format!(
                    "is {}, {:.1}σ {side} {} {} ± {}; deviations this large this long \
                     happen less than once in {} samples of this series",
                    fmt_num(x),
                    (x - basis.center).abs() / basis.spread,
                    basis.name,
                    fmt_num(basis.center),
                    fmt_num(basis.spread),
                    fmt_num((1.0 / tail.max(1e-12)).round())
                )
            }
        }
    }
}

impl Detector for LikelihoodDetector {
    fn observe(&mut self, ts_ms: i64, value: f64) -> Verdict {
        if !value.is_finite() {
            return Verdict {
                evidence: 0.0,
                share: None,
                anomalous: false,
                score: 0.0,
                expected: Some(self.state.level.mean),
                band: self.widened_range(),
                reason: "is not a number".into(),
                warming_up: self.state.seen < self.config.warmup,
            };
        }
        let deviation = self.deviation(ts_ms, value).0.min(DEVIATION_CAP) / DEVIATION_CAP;
        // Early on, weigh deviations equally so the average does not start from zero.
        let alpha = self.recent_alpha.max(1.0 / (self.state.seen + 1) as f64);
        self.state.recent += alpha * (deviation - self.state.recent);
        let judging = self.state.seen >= self.config.warmup;
        let out_of_range = self.out_of_range(value).filter(|_| judging);
        let history = &self.state.history;
        let z = (self.state.recent - history.mean) / history.std().max(HISTORY_SPREAD_FLOOR);
        let likelihood = Normal::standard().cdf(z);
        let unlikely = judging && likelihood >= self.config.likelihood;
        let finding = match (out_of_range, unlikely) {
            (Some(f), _) => Some(f),
            (None, true) => Some(Finding::Unlikely {
                tail: 1.0 - likelihood,
            }),
            (None, false) => None,
        };
        let finding = finding.filter(|f| {
            let starts = !self.state.firing;
            let held_back = starts && self.state.quiet > 0 && matches!(f, Finding::Unlikely { .. });
            !held_back && self.big_enough(value)
        });
        let anomalous = finding.is_some();
        let verdict = Verdict {
            evidence: 0.0,
            share: None,
            anomalous,
            score: match (&finding, judging) {
                (Some(Finding::OutOfRange { .. }), _) => 1.0,
                (_, true) => likelihood,
                (_, false) => 0.0,
            },
            expected: Some(self.state.level.mean),
            band: self.widened_range(),
            reason: match &finding {
                Some(f) => self.reason(ts_ms, value, f).into(),
                None if judging => "is within its baseline".into(),
                None => "is still learning its baseline".into(),
            },
            warming_up: !judging,
        };
        // Learn everything: the moving average follows a new level, and the history of
        // deviations learns how unusual this stretch was.
        let block_len = (self.config.range_window / RANGE_BLOCKS).max(1);
        let state = &mut self.state;
        if anomalous && !state.firing {
            state.quiet = self.config.refractory;
        } else {
            state.quiet = state.quiet.saturating_sub(1);
        }
        state.firing = anomalous;
        state.history.add(state.recent, self.history_alpha);
        state.level.add(value, self.level_alpha);
        state.range.add(value, block_len);
        if let Some(profile) = &mut state.profile {
            profile.learn(ts_ms, value);
        }
        state.seen += 1;
        verdict
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
    use rand::{Rng, SeedableRng};

    use super::*;

    const MIN: i64 = 60_000;

    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| 10.0 + rng.gen_range(-1.0..1.0)).collect()
    }

    /// Indices where an alert starts (anomalous after a normal sample), with the reasons.
    fn alerts(config: &LikelihoodConfig, series: &[f64]) -> Vec<(usize, String)> {
        let mut d = LikelihoodDetector::new(config.spec());
        let mut firing = false;
        let mut out = Vec::new();
        for (i, x) in series.iter().enumerate() {
            let v = d.observe(i as i64 * MIN, *x);
            if v.anomalous && !firing {
                out.push((i, v.reason.into_owned()));
            }
            firing = v.anomalous;
        }
        out
    }

    fn starts(config: &LikelihoodConfig, series: &[f64]) -> Vec<usize> {
        alerts(config, series).into_iter().map(|(i, _)| i).collect()
    }

    #[test]
    fn a_spike_beyond_the_recent_range_alerts_once() {
        let mut s = noise(1500, 1);
        s[1200] = 30.0;
        let found = alerts(&LikelihoodConfig::default(), &s);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 1200);
        assert!(found[0].1.contains("outside the range"), "{}", found[0].1);
        assert!(starts(&LikelihoodConfig::default(), &noise(1500, 1)).is_empty());
    }

    #[test]
    fn nothing_is_judged_during_warmup() {
        let mut s = noise(400, 2);
        s[150] = 30.0;
        let config = LikelihoodConfig::default();
        assert!(starts(&config, &s).is_empty());
        let early = LikelihoodConfig {
            warmup: Some(100),
            ..config
        };
        assert_eq!(starts(&early, &s), vec![150]);
    }

    #[test]
    fn a_level_shift_is_reported_once_then_followed() {
        let mut s = noise(3000, 3);
        for x in &mut s[1000..] {
            *x += 8.0;
        }
        let hits = starts(&LikelihoodConfig::default(), &s);
        assert_eq!(hits, vec![1000], "it keeps alarming after the shift");
    }

    #[test]
    fn a_sustained_shift_inside_a_spiky_range_is_found_by_likelihood() {
        // Spikes to 20 every 100 samples are this series' normal: they set a wide range
        // and must not alert. A move to 14 stays inside that range, yet persists.
        let mut s = noise(2500, 4);
        for i in (50..2500).step_by(100) {
            s[i] = 20.0;
        }
        let quiet = starts(&LikelihoodConfig::default(), &s);
        assert!(quiet.is_empty(), "regular spikes alerted: {quiet:?}");
        for x in &mut s[1500..1600] {
            *x += 4.0;
        }
        let found = alerts(&LikelihoodConfig::default(), &s);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!((1500..1520).contains(&found[0].0), "{found:?}");
        assert!(found[0].1.contains("moving average"), "{}", found[0].1);
    }

    #[test]
    fn the_refractory_period_holds_back_a_second_alert_for_the_same_incident() {
        let mut s = noise(3000, 5);
        for i in (50..3000).step_by(100) {
            s[i] = 20.0;
        }
        let burst = |s: &mut Vec<f64>, from: usize| {
            for x in &mut s[from..from + 30] {
                *x += 4.0;
            }
        };
        burst(&mut s, 1500);
        burst(&mut s, 1620);
        burst(&mut s, 2400);
        let hits = starts(&LikelihoodConfig::default(), &s);
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert!((1500..1520).contains(&hits[0]) && (2400..2420).contains(&hits[1]));
        let eager = LikelihoodConfig {
            refractory: Some(0),
            ..Default::default()
        };
        assert_eq!(starts(&eager, &s).len(), 3);
    }

    #[test]
    fn direction_and_minimum_deviation_gates_apply() {
        let mut s = noise(1500, 6);
        s[1200] = -10.0;
        let up = LikelihoodConfig {
            direction: Some(Direction::Up),
            ..Default::default()
        };
        assert!(starts(&up, &s).is_empty(), "a drop is not news for `up`");
        let both = LikelihoodConfig::default();
        assert_eq!(starts(&both, &s), vec![1200]);
        let floored = LikelihoodConfig {
            min_abs_deviation: Some(50.0),
            ..Default::default()
        };
        assert!(starts(&floored, &s).is_empty());
    }

    #[test]
    fn a_flat_series_that_moves_alerts_and_one_that_does_not_stays_quiet() {
        let mut s = vec![5.0; 1000];
        assert!(starts(&LikelihoodConfig::default(), &s).is_empty());
        for x in &mut s[800..] {
            *x = 6.0;
        }
        assert_eq!(starts(&LikelihoodConfig::default(), &s), vec![800]);
    }

    #[test]
    fn a_daily_wave_does_not_alert() {
        // Ten days, one sample every 5 minutes, of a strong daily wave with noise.
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let wave: Vec<f64> = (0..10 * 288)
            .map(|i| {
                let day = (i % 288) as f64 / 288.0;
                100.0 + 80.0 * (day * std::f64::consts::TAU).sin() + rng.gen_range(-3.0..3.0)
            })
            .collect();
        let hits = starts(&LikelihoodConfig::default(), &wave);
        assert!(hits.is_empty(), "the daily wave alerted at {hits:?}");
    }

    /// Days of a daily wave, one sample every 5 minutes: a peak from 12:00 to 14:00.
    fn daily_peaks(days: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..days * 288)
            .map(|i| {
                let hour = (i % 288) / 12;
                let peak = if (12..14).contains(&hour) { 40.0 } else { 0.0 };
                10.0 + peak + rng.gen_range(-1.0..1.0)
            })
            .collect()
    }

    fn alerts_every_5_min(config: &LikelihoodConfig, series: &[f64]) -> Vec<(usize, String)> {
        let mut d = LikelihoodDetector::new(config.spec());
        let mut firing = false;
        let mut out = Vec::new();
        for (i, x) in series.iter().enumerate() {
            let v = d.observe(i as i64 * 5 * MIN, *x);
            if v.anomalous && !firing {
                out.push((i, v.reason.into_owned()));
            }
            firing = v.anomalous;
        }
        out
    }

    #[test]
    fn a_daily_peak_that_does_not_come_is_found_by_the_hour_of_day_profile() {
        let mut s = daily_peaks(10, 9);
        let quiet = alerts_every_5_min(&LikelihoodConfig::default(), &s);
        assert!(quiet.is_empty(), "the daily peaks alerted: {quiet:?}");
        // Day 8's peak does not come: every value stays inside the usual range.
        let missing = 8 * 288 + 12 * 12;
        for x in &mut s[missing..missing + 24] {
            *x -= 40.0;
        }
        let found = alerts_every_5_min(&LikelihoodConfig::default(), &s);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!((missing..missing + 24).contains(&found[0].0), "{found:?}");
        assert!(
            found[0].1.contains("usual value at this hour"),
            "{}",
            found[0].1
        );
        let without = LikelihoodConfig {
            hour_of_day: Some(false),
            ..Default::default()
        };
        // Without the profile, nothing is seen while the peak is missing (at most the next
        // day's peak looks large against a spread the quiet afternoon shrank).
        let blind = alerts_every_5_min(&without, &s);
        assert!(
            !blind
                .iter()
                .any(|(i, _)| (missing..missing + 24).contains(i)),
            "{blind:?}"
        );
    }

    #[test]
    fn the_state_is_small_and_restores_identical_behaviour() {
        // A week of minutes: every range block and hour slot in use.
        let s = noise(12_000, 8);
        let config = LikelihoodConfig::default();
        let mut a = LikelihoodDetector::new(config.spec());
        for (i, x) in s[..10_000].iter().enumerate() {
            a.observe(i as i64 * MIN, *x);
        }
        let snap = serde_json::to_string(&a.snapshot()).unwrap();
        assert!(snap.len() < 1024, "{} bytes: {snap}", snap.len());
        let mut b = LikelihoodDetector::new(config.spec());
        b.restore(&serde_json::from_str(&snap).unwrap()).unwrap();
        for (i, x) in s[10_000..].iter().enumerate() {
            let t = (10_000 + i) as i64 * MIN;
            let (va, vb) = (a.observe(t, *x), b.observe(t, *x));
            assert_eq!(
                (va.anomalous, va.score.to_bits()),
                (vb.anomalous, vb.score.to_bits())
            );
        }
    }

    #[test]
    fn the_recent_range_forgets_whole_blocks() {
        let mut r = RecentRange::default();
        r.add(100.0, 10);
        for _ in 0..39 {
            r.add(1.0, 10);
        }
        assert_eq!(
            r.bounds(),
            Some((1.0, 100.0)),
            "four blocks of ten remembered"
        );
        r.add(2.0, 10);
        assert_eq!(
            r.bounds(),
            Some((1.0, 2.0)),
            "the block holding 100 is gone"
        );
    }

    #[test]
    fn options_are_validated() {
        let bad = LikelihoodConfig {
            likelihood: Some(1.0),
            half_life: Some(0.5),
            range_tolerance: Some(-0.1),
            range_window: Some(2),
            ..Default::default()
        };
        assert_eq!(bad.validate().len(), 4, "{:?}", bad.validate());
        assert!(LikelihoodConfig::default().validate().is_empty());
    }
}
