//! The forecast of spend at the period's end: the spend so far plus the rest of the
//! period's shape at the recent pace (spend per unit of shape, weighted to the last
//! hours), with an 80 % interval from how much daily pace varies, and the day the
//! budget is expected to be crossed.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::budget::pace::Pace;
use crate::budget::period::day_name;
use crate::budget::spend::SpendLedger;
use crate::model::Labels;

/// Half-life of the pace estimate: a change weighs 75 % of it after a day.
const HALF_LIFE_HOURS: f64 = 12.0;
/// z of the 10th and 90th percentiles of a normal distribution.
const Z80: f64 = 1.2816;
/// The day-to-day variation assumed when too few whole days are known, or when the
/// weekly shape is unknown (a flat pace misses the weekly cycle).
const UNKNOWN_VARIATION: f64 = 0.35;
/// The least day-to-day variation assumed (no traffic is that regular).
const MIN_VARIATION: f64 = 0.05;

/// The forecast of one group's spend at the period's end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    /// Spend so far.
    pub spent: f64,
    /// Spend expected at the period's end.
    pub expected: f64,
    /// The 80 % interval's lower bound (never below the spend so far).
    pub low: f64,
    /// The 80 % interval's upper bound.
    pub high: f64,
    /// The recent pace as a multiple of the even pace.
    pub pace_ratio: f64,
    /// When the budget is expected to be crossed at the forecast pace (None: not before
    /// the period ends); the instant it was crossed when it already was.
    pub crossing: Option<DateTime<Utc>>,
    /// The crossing as people name the day (`24 Dec`).
    pub crossing_day: Option<String>,
}

/// Forecasts `group`'s spend at `pace`'s period end, as of `now`; `variation` is the
/// relative day-to-day variation of the pace ([`daily_variation`]).
pub fn forecast(
    ledger: &SpendLedger,
    group: &Labels,
    pace: &Pace,
    now: DateTime<Utc>,
    variation: f64,
) -> Forecast {
    let bounds = pace.bounds;
    let now = now.clamp(bounds.start, bounds.end);
    let spent = ledger.sum(Some(group), bounds.start, now);
    let hours = ((now - bounds.start).num_minutes() as f64 / 60.0)
        .ceil()
        .max(0.0) as usize;
    let spend = ledger.hourly(Some(group), bounds.start, hours);
    let (mut num, mut den, mut sq) = (0.0, 0.0, 0.0);
    for (i, s) in spend.iter().enumerate() {
        let from = bounds.start + Duration::hours(i as i64);
        let to = (from + Duration::hours(1)).min(now);
        let mass = pace.mass(from, to);
        let age = (now - to).num_minutes() as f64 / 60.0;
        let weight = 0.5f64.powf(age / HALF_LIFE_HOURS);
        num += weight * s;
        den += weight * mass;
        sq += (weight * mass).powi(2);
    }
    // Spend per unit of shape mass, and how many days' worth of evidence it rests on.
    let per_mass = if den > 0.0 { num / den } else { 0.0 };
    let evidence_days = if sq > 0.0 { den * den / sq / 24.0 } else { 0.0 };
    let rest_mass = pace.mass(now, bounds.end);
    let rest = per_mass * rest_mass;
    let rest_days = ((bounds.end - now).num_minutes() as f64 / 1440.0).max(1.0);
    let relative_sd =
        (variation.powi(2) / evidence_days.max(1.0) + variation.powi(2) / rest_days).sqrt();
    let sd = rest * relative_sd;
    let expected = spent + rest;
    let crossing = crossing(ledger, group, pace, now, spent, per_mass);
    Forecast {
        spent,
        expected,
        low: (expected - Z80 * sd).max(spent),
        high: expected + Z80 * sd,
        pace_ratio: per_mass * pace.total_mass() / pace.amount,
        crossing_day: crossing.map(|c| day_name(c, bounds.tz)),
        crossing,
    }
}

/// When spend crosses the amount: the hour it did, or the hour it will at `per_mass`.
fn crossing(
    ledger: &SpendLedger,
    group: &Labels,
    pace: &Pace,
    now: DateTime<Utc>,
    spent: f64,
    per_mass: f64,
) -> Option<DateTime<Utc>> {
    let bounds = pace.bounds;
    if spent >= pace.amount {
        let hours = ((now - bounds.start).num_minutes() as f64 / 60.0).ceil() as usize;
        let mut total = 0.0;
        for (i, s) in ledger
            .hourly(Some(group), bounds.start, hours)
            .iter()
            .enumerate()
        {
            total += s;
            if total >= pace.amount {
                return Some(bounds.start + Duration::hours(i as i64 + 1));
            }
        }
        return Some(now);
    }
    let mut total = spent;
    let mut t = now;
    while t < bounds.end && per_mass > 0.0 {
        let next = (t + Duration::hours(1)).min(bounds.end);
        total += per_mass * pace.mass(t, next);
        if total >= pace.amount {
            return Some(next);
        }
        t = next;
    }
    None
}

/// The relative day-to-day variation of spend per unit of shape over the whole local
/// days in the ledger before `now` (every group), up to 28 of them: the coefficient of
/// variation of the daily ratios, [`UNKNOWN_VARIATION`] when fewer than three days are
/// known or the shape is flat.
pub fn daily_variation(ledger: &SpendLedger, pace: &Pace, now: DateTime<Utc>) -> f64 {
    if pace.shape.is_flat() {
        return UNKNOWN_VARIATION;
    }
    let Some(first) = ledger.first_spend() else {
        return UNKNOWN_VARIATION;
    };
    let tz = pace.bounds.tz;
    let mut ratios = Vec::new();
    let mut day =
        crate::budget::period::Bounds::containing(crate::budget::period::Period::Day, tz, now)
            .previous(crate::budget::period::Period::Day);
    while day.start >= first && ratios.len() < 28 {
        let mass = pace.mass(day.start, day.end);
        if mass > 0.0 {
            ratios.push(ledger.sum(None, day.start, day.end) / mass);
        }
        day = day.previous(crate::budget::period::Period::Day);
    }
    if ratios.len() < 3 {
        return UNKNOWN_VARIATION;
    }
    let n = ratios.len() as f64;
    let mean = ratios.iter().sum::<f64>() / n;
    if mean <= 0.0 {
        return UNKNOWN_VARIATION;
    }
    let var = ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (var.sqrt() / mean).max(MIN_VARIATION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::period::{Bounds, Period};
    use crate::budget::shape::Shape;
    use crate::model::Sample;
    use crate::sources::Observation;
    use chrono_tz::Tz;
    use std::sync::Arc;

    fn steady(start: DateTime<Utc>, hours: i64, per_hour: impl Fn(i64) -> f64) -> SpendLedger {
        let rows: Vec<Observation> = (0..hours)
            .map(|h| Observation {
                labels: Arc::new(Labels::new()),
                sample: Sample {
                    ts: start + Duration::hours(h) + Duration::minutes(30),
                    value: per_hour(h),
                },
            })
            .collect();
        let mut l = SpendLedger::new();
        l.replace(
            start - Duration::hours(1),
            start + Duration::hours(hours),
            &rows,
            &[],
        );
        l
    }

    #[test]
    fn steady_spend_forecasts_its_own_total_and_a_doubling_moves_it_within_a_day() {
        let start: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let bounds = Bounds::containing(Period::Month, Tz::UTC, start);
        let pace = Pace::new(bounds, Shape::Flat, 1000.0);
        let now = start + Duration::days(10);
        let l = steady(start, 24 * 10, |_| 1.0);
        let f = forecast(&l, &Labels::new(), &pace, now, 0.1);
        assert!((f.expected - 744.0).abs() < 1e-6, "{f:?}");
        assert!(f.low < f.expected && f.high > f.expected && f.low >= f.spent);
        assert_eq!(f.crossing, None);
        // From day 9 on, $2 an hour: by day 10 the forecast is mostly at the new pace.
        let l = steady(start, 24 * 10, |h| if h >= 24 * 9 { 2.0 } else { 1.0 });
        let f = forecast(&l, &Labels::new(), &pace, now, 0.1);
        assert!(f.expected > 264.0 + 1.7 * 504.0, "{f:?}");
        assert_eq!(f.crossing_day.as_deref(), Some("28 Dec"), "{f:?}");
    }

    #[test]
    fn a_crossed_budget_says_when() {
        let start: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let bounds = Bounds::containing(Period::Month, Tz::UTC, start);
        let pace = Pace::new(bounds, Shape::Flat, 100.0);
        let l = steady(start, 48, |_| 4.0);
        let f = forecast(&l, &Labels::new(), &pace, start + Duration::hours(48), 0.1);
        assert_eq!(f.crossing, Some(start + Duration::hours(25)));
    }
}
