//! Turning a deviation from a baseline into a verdict: direction, minimum absolute and
//! relative deviation, warm-up, and an anomaly score in [0,1] from a tail probability.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::detect::threshold::fmt_num;
use crate::detect::Verdict;

/// Which deviations count.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Only values above the baseline (latency, cost).
    Up,
    /// Only values below the baseline (throughput).
    Down,
    /// Both.
    #[default]
    Both,
}

/// The judging rules shared by every baseline detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judge {
    /// Which side counts.
    pub direction: Direction,
    /// How many (robust) standard deviations make an anomaly.
    pub sigmas: f64,
    /// Smallest absolute deviation worth an alert.
    pub min_abs: f64,
    /// Smallest deviation relative to the baseline centre worth an alert.
    pub min_rel: f64,
    /// Samples to see before judging.
    pub warmup: u64,
}

/// A baseline's view of one value, before judging.
#[derive(Debug, Clone, Copy)]
pub struct Deviation {
    /// The value.
    pub value: f64,
    /// The baseline centre.
    pub center: f64,
    /// The baseline spread (standard deviation or its robust equivalent).
    pub spread: f64,
    /// Samples behind the baseline.
    pub samples: u64,
    /// Degrees of freedom for a Student-t interval (None: normal).
    pub dof: Option<f64>,
    /// The value and centre in the metric's own units (they differ from `value` and
    /// `center` when the baseline works on a transformed scale); the minimum-deviation
    /// gates apply to these.
    pub raw: (f64, f64),
}

/// The smallest spread used, relative to the centre: a perfectly flat history would
/// otherwise make any change infinitely many sigmas.
const SPREAD_FLOOR: f64 = 0.01;

/// The smallest spread judged with around `center`.
pub fn spread_floor(center: f64) -> f64 {
    SPREAD_FLOOR * center.abs().max(1e-9)
}

/// Above this many degrees of freedom the normal tail stands in for Student-t: at 3σ the
/// two tails then differ by under 2.5 % of their size (the 3σ band by under 0.3 %), and
/// statrs' Student-t CDF, an incomplete beta function, costs about 500 ns a sample
/// against 30 ns for the normal one. A seven-day window of one sample a minute holds
/// 10,080 samples; the t interval matters while samples are few.
pub const STUDENT_T_MAX_DOF: f64 = 1000.0;

impl Judge {
    /// Two-sided tail probability of `t` standard deviations.
    fn tail(t: f64, dof: Option<f64>) -> f64 {
        let cdf = match dof {
            Some(d) if (1.0..=STUDENT_T_MAX_DOF).contains(&d) => StudentsT::new(0.0, 1.0, d)
                .map(|s| s.cdf(t.abs()))
                .unwrap_or(0.5),
            _ => Normal::standard().cdf(t.abs()),
        };
        (2.0 * (1.0 - cdf)).clamp(0.0, 1.0)
    }

    /// The score a deviation must reach to be anomalous: the normal confidence of
    /// `sigmas`. It depends on the settings only, so a detector computes it once instead
    /// of once per sample (see [`Judge::judge_against`]).
    pub fn needed(&self) -> f64 {
        1.0 - Self::tail(self.sigmas, None)
    }

    /// The band of normal values around a deviation's baseline.
    fn band(&self, d: &Deviation) -> (f64, f64) {
        let spread = d.spread.max(spread_floor(d.center));
        (
            d.center - self.sigmas * spread,
            d.center + self.sigmas * spread,
        )
    }

    /// True when the deviation is, on the side that counts, well under `sigmas` spreads
    /// (by 0.1 %): no tail probability, normal or Student-t (whose tails are wider), can
    /// make it anomalous, so its verdict is [`Judge::within`] except for the score.
    pub fn clearly_within(&self, d: &Deviation) -> bool {
        let t = (d.value - d.center) / d.spread.max(spread_floor(d.center));
        let signed = match self.direction {
            Direction::Up => t,
            Direction::Down => -t,
            Direction::Both => t.abs(),
        };
        d.samples >= self.warmup && signed < 0.999 * self.sigmas
    }

    /// The verdict on a value within its baseline with a score of 0 (as a caller that
    /// has found it [`Judge::clearly_within`] and of score 0 by another test uses it).
    pub fn within(&self, d: &Deviation) -> Verdict {
        Verdict {
            evidence: 0.0,
            share: None,
            anomalous: false,
            score: 0.0,
            expected: Some(d.center),
            band: Some(self.band(d)),
            reason: Cow::Borrowed("is within its baseline"),
            warming_up: false,
        }
    }

    /// Judges a deviation; `describe` makes the reason when (and only when) it is anomalous.
    pub fn judge(&self, d: Deviation, describe: impl FnOnce(f64) -> String) -> Verdict {
        self.judge_against(self.needed(), d, describe)
    }

    /// [`Judge::judge`] with the score needed already computed by [`Judge::needed`].
    pub fn judge_against(
        &self,
        needed: f64,
        d: Deviation,
        describe: impl FnOnce(f64) -> String,
    ) -> Verdict {
        let spread = d.spread.max(spread_floor(d.center));
        let band = self.band(&d);
        if d.samples < self.warmup {
            return Verdict {
                evidence: 0.0,
                share: None,
                anomalous: false,
                score: 0.0,
                expected: Some(d.center),
                band: Some(band),
                reason: Cow::Borrowed("is still learning its baseline"),
                warming_up: true,
            };
        }
        let delta = d.value - d.center;
        let t = delta / spread;
        let signed = match self.direction {
            Direction::Up => t.max(0.0),
            Direction::Down => (-t).max(0.0),
            Direction::Both => t.abs(),
        };
        // Score: confidence that the value is outside the normal band (1 - tail probability).
        let score = if signed > 0.0 {
            1.0 - Self::tail(signed, d.dof)
        } else {
            0.0
        };
        let raw_delta = (d.raw.0 - d.raw.1).abs();
        let big_enough = raw_delta >= self.min_abs && raw_delta >= self.min_rel * d.raw.1.abs();
        let anomalous = score >= needed && big_enough && d.value.is_finite();
        Verdict {
            evidence: 0.0,
            share: None,
            anomalous,
            score,
            expected: Some(d.center),
            band: Some(band),
            reason: if anomalous {
                Cow::Owned(describe(t))
            } else {
                Cow::Borrowed("is within its baseline")
            },
            warming_up: false,
        }
    }
}

/// "4.3σ above the 7-day baseline 12.0 ± 6.8" (the caller supplies the baseline's name).
pub fn sigma_reason(t: f64, baseline: &str, center: f64, spread: f64) -> String {
    let side = if t >= 0.0 { "above" } else { "below" };
    format!(
        "is {:.1}σ {side} the {baseline} {} ± {}",
        t.abs(),
        fmt_num(center),
        fmt_num(spread)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge() -> Judge {
        Judge {
            direction: Direction::Both,
            sigmas: 3.0,
            min_abs: 0.0,
            min_rel: 0.0,
            warmup: 5,
        }
    }

    fn dev(value: f64) -> Deviation {
        Deviation {
            value,
            center: 10.0,
            spread: 1.0,
            samples: 100,
            dof: None,
            raw: (value, 10.0),
        }
    }

    #[test]
    fn sigmas_direction_and_gates() {
        let j = judge();
        assert!(j.judge(dev(14.0), |_| "x".into()).anomalous);
        assert!(!j.judge(dev(12.0), |_| "x".into()).anomalous);
        assert!(j.judge(dev(6.0), |_| "x".into()).anomalous);
        let up = Judge {
            direction: Direction::Up,
            ..j
        };
        assert!(
            !up.judge(dev(6.0), |_| "x".into()).anomalous,
            "down moves ignored"
        );
        let rel = Judge { min_rel: 0.5, ..j };
        assert!(
            !rel.judge(dev(14.0), |_| "x".into()).anomalous,
            "40 % is under the 50 % floor"
        );
        let warm = Deviation {
            samples: 2,
            ..dev(100.0)
        };
        let v = j.judge(warm, |_| "x".into());
        assert!(!v.anomalous && v.warming_up);
    }

    #[test]
    fn score_grows_with_deviation_and_small_samples_are_wider() {
        let j = judge();
        let a = j.judge(dev(12.0), |_| String::new()).score;
        let b = j.judge(dev(14.0), |_| String::new()).score;
        assert!(0.0 < a && a < b && b <= 1.0, "{a} {b}");
        let t = j
            .judge(
                Deviation {
                    dof: Some(3.0),
                    ..dev(14.0)
                },
                |_| String::new(),
            )
            .score;
        assert!(
            t < b,
            "a Student-t interval with 3 dof is wider: {t} vs {b}"
        );
    }

    #[test]
    fn many_degrees_of_freedom_judge_as_normal() {
        let j = judge();
        let at = |dof| j.judge(Deviation { dof, ..dev(13.05) }, |_| String::new());
        let (few, many, normal) = (at(Some(30.0)), at(Some(5000.0)), at(None));
        assert_eq!(many.score.to_bits(), normal.score.to_bits());
        assert!(many.anomalous && !few.anomalous, "3.05σ: {few:?} {many:?}");
        // Just under the cut-off the t tail is still used, and nearly the normal one.
        let edge = at(Some(STUDENT_T_MAX_DOF)).score;
        assert!(edge < normal.score && normal.score - edge < 1e-4, "{edge}");
    }

    #[test]
    fn clearly_within_is_never_judged_anomalous() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut shortcuts = 0;
        for i in 0..200_000 {
            let direction = [Direction::Up, Direction::Down, Direction::Both][i % 3];
            let j = Judge {
                direction,
                sigmas: [1.0, 2.5, 3.0, 4.0][i % 4],
                ..judge()
            };
            let spread: f64 = rng.gen_range(0.0..2.0);
            // Mostly right at the edge of the band, where a loose test would slip.
            let edge = j.sigmas * rng.gen_range(0.99..1.01) * spread.max(0.1);
            let value = 10.0 + if rng.gen_bool(0.5) { edge } else { -edge };
            let d = Deviation {
                value,
                spread,
                dof: [None, Some(2.0), Some(40.0), Some(5000.0)][i % 4],
                raw: (value, 10.0),
                ..dev(value)
            };
            if !j.clearly_within(&d) {
                continue;
            }
            shortcuts += 1;
            let full = j.judge(d, |_| "anomalous".into());
            let within = j.within(&d);
            assert!(!full.anomalous, "{d:?} {full:?}");
            assert_eq!(
                (full.expected, full.band, &full.reason, full.warming_up),
                (
                    within.expected,
                    within.band,
                    &within.reason,
                    within.warming_up
                ),
                "{d:?}"
            );
        }
        assert!(shortcuts > 50_000, "the edge was sampled: {shortcuts}");
    }

    #[test]
    fn reason_reads_like_a_sentence() {
        assert_eq!(
            sigma_reason(4.34, "7-day baseline", 12.0, 6.8),
            "is 4.3σ above the 7-day baseline 12 ± 6.8"
        );
    }
}
