//! How much a group's spend varies from day to day, measured out of sample: each whole
//! local day against the same weekday a week before, so neither the learnt shape (fitted
//! to those very days) nor the weekly cycle hides or inflates it. Spend is a sum of many
//! calls, so its variance grows with its size: the variation is stated for a day of
//! average mass and scaled to any stretch by its mass; and the autocorrelation of the
//! days (a busy day followed by another) widens sums over many days.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::budget::pace::Pace;
use crate::budget::period::{Bounds, Period};
use crate::budget::spend::SpendLedger;
use crate::model::Labels;

/// The variation assumed while the weekly shape is unknown (a flat pace misses the
/// weekly cycle, which then looks like day-to-day variation).
pub const UNKNOWN: f64 = 0.35;
/// The variation assumed before the data says otherwise, and how many day pairs that
/// assumption weighs: a week or two of pairs already outweighs it.
const PRIOR: f64 = 0.15;
const PRIOR_PAIRS: f64 = 2.0;
/// The least variation assumed (no traffic is that regular).
const FLOOR: f64 = 0.03;
/// A pair counts at most this many times the median pair, so one day of a level change
/// or an outage does not stand for the ordinary variation of every day.
const PAIR_CAP: f64 = 20.0;
/// Day pairs looked at: four weeks.
const MAX_PAIRS: usize = 28;
/// The most autocorrelation assumed.
const MAX_RHO: f64 = 0.8;
/// Mass of a day of average traffic (the shape's weights average 1 an hour).
pub const DAY_MASS: f64 = 24.0;

/// Day-to-day variation of one group's spend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Variation {
    /// Relative standard deviation of the spend of a day of average mass.
    pub daily: f64,
    /// Lag-1 autocorrelation of the days (0 when not distinguishable from none).
    pub autocorrelation: f64,
}

impl Variation {
    /// The variation assumed without a learnt shape.
    pub const UNKNOWN: Variation = Variation {
        daily: UNKNOWN,
        autocorrelation: 0.0,
    };

    /// Relative variance of spend over a stretch of `mass` (spend is a sum of calls:
    /// its variance grows with its mass), widened by the days' autocorrelation: the
    /// long-run variance of an AR(1) series is `(1 + ρ) / (1 − ρ)` times its variance.
    pub fn relative_variance(&self, mass: f64) -> f64 {
        let rho = self.autocorrelation;
        self.daily.powi(2) * (1.0 + rho) / (1.0 - rho) * DAY_MASS / mass.max(1.0)
    }
}

/// The variation of `group`'s spend over the whole local days before `now`; [`UNKNOWN`]
/// while the pace is flat.
pub fn variation(
    ledger: &SpendLedger,
    group: &Labels,
    pace: &Pace,
    now: DateTime<Utc>,
) -> Variation {
    if pace.shape.is_flat() {
        return Variation::UNKNOWN;
    }
    let days = whole_days(ledger, group, pace, now);
    let per_day = {
        let (s, m) = days.iter().fold((0.0, 0.0), |(s, m), d| (s + d.0, m + d.1));
        if m > 0.0 {
            s / m * DAY_MASS
        } else {
            0.0
        }
    };
    // Days newest first; a pair is a day and the same weekday a week before.
    let scores: Vec<f64> = days
        .iter()
        .zip(days.iter().skip(7))
        .take(MAX_PAIRS)
        .map(|((a, _), (b, _))| {
            let scale = per_day * (a + b);
            if scale > 0.0 {
                (a - b) / scale.sqrt()
            } else {
                0.0
            }
        })
        .collect();
    Variation {
        daily: pooled(&scores).sqrt().max(FLOOR),
        autocorrelation: autocorrelation(&scores),
    }
}

/// Spend and mass of each whole local day before `now` that the ledger holds, newest
/// first.
fn whole_days(
    ledger: &SpendLedger,
    group: &Labels,
    pace: &Pace,
    now: DateTime<Utc>,
) -> Vec<(f64, f64)> {
    let Some(first) = ledger.first_spend() else {
        return Vec::new();
    };
    let held = ledger.range().map_or(first, |(from, _)| from.max(first));
    let mut out = Vec::new();
    let mut day = Bounds::containing(Period::Day, pace.bounds.tz, now).previous(Period::Day);
    while day.start >= held && out.len() < MAX_PAIRS + 7 {
        out.push((
            ledger.sum(Some(group), day.start, day.end),
            pace.mass(day.start, day.end),
        ));
        day = day.previous(Period::Day);
    }
    out
}

/// The squared variation the pairs' scores say, pooled with the prior. Each score
/// `(a − b) / √(day · (a + b))` has variance `v²` when spend's variance is `v²` times a
/// day's spend times the spend (a compound Poisson sum); a score above [`PAIR_CAP`]
/// times the median counts as that.
fn pooled(scores: &[f64]) -> f64 {
    let mut sq: Vec<f64> = scores.iter().map(|s| s * s).collect();
    sq.sort_by(f64::total_cmp);
    let cap = sq.get(sq.len() / 2).map_or(f64::INFINITY, |m| {
        if *m > 0.0 {
            m * PAIR_CAP
        } else {
            f64::INFINITY
        }
    });
    let sum: f64 = sq.iter().map(|s| s.min(cap)).sum();
    (sum + PRIOR_PAIRS * PRIOR * PRIOR) / (sq.len() as f64 + PRIOR_PAIRS)
}

/// Lag-1 autocorrelation of consecutive pair scores (a pair's difference of two days
/// carries the days' own autocorrelation), counted only beyond one standard error of
/// what independent days would show, so chance correlation does not widen intervals.
fn autocorrelation(scores: &[f64]) -> f64 {
    let n = scores.len();
    if n < 5 {
        return 0.0;
    }
    let var: f64 = scores.iter().map(|s| s * s).sum();
    if var <= 0.0 {
        return 0.0;
    }
    let cov: f64 = scores
        .iter()
        .zip(scores.iter().skip(1))
        .map(|(a, b)| a * b)
        .sum();
    (cov / var - 1.0 / (n as f64).sqrt()).clamp(0.0, MAX_RHO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::shape::Shape;
    use crate::budget::test_support::hourly;
    use chrono::Duration;
    use chrono_tz::Tz;

    /// Spend per day, spread evenly over its hours.
    fn days(start: DateTime<Utc>, per_day: &[f64]) -> SpendLedger {
        hourly(start, 24 * per_day.len() as i64, |h| {
            per_day[(h / 24) as usize] / 24.0
        })
    }

    fn weekly_flat() -> Shape {
        Shape::Weekly {
            weights: vec![1.0; 168],
            weeks: 4,
        }
    }

    #[test]
    fn alternating_weeks_vary_and_a_repeating_week_does_not() {
        let start: DateTime<Utc> = "2026-11-02T00:00:00Z".parse().unwrap();
        let now = start + Duration::days(28);
        let pace = Pace::new(
            Bounds::containing(Period::Month, Tz::UTC, now),
            weekly_flat(),
            1000.0,
        );
        // The same week four times: no variation beyond what the prior still claims.
        let week = [100.0, 120.0, 90.0, 110.0, 100.0, 40.0, 30.0];
        let same: Vec<f64> = week.iter().cycle().take(28).copied().collect();
        let v = variation(&days(start, &same), &Labels::new(), &pace, now);
        assert!(v.daily < 0.06, "{v:?}");
        // Every week 30 % above or below the one before, each day: a large variation,
        // and consecutive days alike.
        let swing: Vec<f64> = (0..28)
            .map(|d| if (d / 7) % 2 == 0 { 130.0 } else { 70.0 })
            .collect();
        let v = variation(&days(start, &swing), &Labels::new(), &pace, now);
        assert!(v.daily > 0.3, "{v:?}");
        assert!(v.autocorrelation > 0.4, "{v:?}");
        assert!(v.relative_variance(24.0) > v.daily.powi(2) * 2.0);
    }

    #[test]
    fn a_flat_pace_assumes_the_unknown_variation() {
        let start: DateTime<Utc> = "2026-11-02T00:00:00Z".parse().unwrap();
        let now = start + Duration::days(3);
        let pace = Pace::new(
            Bounds::containing(Period::Month, Tz::UTC, now),
            Shape::Flat,
            1000.0,
        );
        let v = variation(&days(start, &[1.0, 2.0, 3.0]), &Labels::new(), &pace, now);
        assert_eq!(v, Variation::UNKNOWN);
        assert!((v.relative_variance(48.0) - UNKNOWN * UNKNOWN / 2.0).abs() < 1e-12);
    }
}
