//! The forecast of spend at the period's end: the spend so far plus the rest of the
//! period's shape at the recent pace (spend per unit of shape over the last week, or the
//! last day when the pace has just changed), with an 80 % interval from how much the
//! daily pace varies, and the day the budget is expected to be crossed.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::budget::pace::Pace;
use crate::budget::period::day_name;
use crate::budget::spend::SpendLedger;
use crate::model::Labels;

/// How many of the last whole days the pace is estimated from.
const LEVEL_DAYS: i32 = 7;
/// How many standard deviations of day-to-day variation the last day's pace must differ
/// from the days before for the forecast to take it as a change of pace (fewer: noisy
/// days are taken for changes and raise false forecasts; more: changes show later).
const SHIFT_SIGMAS: f64 = 2.5;
/// An hour above this many times the median hour's pace is counted at that (see
/// [`spike_clip`]).
const SPIKE_CLIP: f64 = 4.0;
/// z of the 10th and 90th percentiles of a normal distribution.
const Z80: f64 = 1.2816;
/// The day-to-day variation assumed when too few whole days are known, or when the
/// weekly shape is unknown (a flat pace misses the weekly cycle).
const UNKNOWN_VARIATION: f64 = 0.35;
/// The least day-to-day variation assumed (no traffic is that regular).
const MIN_VARIATION: f64 = 0.10;
/// The least assumed while the weekly shape rests on fewer than three weeks.
const MIN_VARIATION_FEW_WEEKS: f64 = 0.15;

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
    /// The relative day-to-day variation of the pace the interval assumes.
    pub daily_variation: f64,
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
    let (per_mass, evidence_days) = pace_estimate(ledger, group, pace, now, variation);
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
        daily_variation: variation,
        crossing_day: crossing.map(|c| day_name(c, bounds.tz)),
        crossing,
    }
}

/// Spend per unit of shape mass to carry forward, and how many days of evidence it
/// rests on. The last whole days (up to [`LEVEL_DAYS`], the period's own or the history
/// before it) give the level; when the last day's pace differs from the days before by
/// more than [`SHIFT_SIGMAS`] times what day-to-day variation explains, the pace changed and the last day
/// alone is carried forward, so a change shows in the forecast within a day.
fn pace_estimate(
    ledger: &SpendLedger,
    group: &Labels,
    pace: &Pace,
    now: DateTime<Utc>,
    variation: f64,
) -> (f64, f64) {
    let ratio = |s: f64, m: f64| if m > 0.0 { s / m } else { 0.0 };
    let data_from = match (ledger.first_spend(), ledger.range()) {
        (Some(first), Some((from, _))) => first.max(from),
        _ => return (0.0, 0.0),
    };
    let day = Duration::hours(24);
    let clip = spike_clip(ledger, group, pace, now, data_from);
    let blocks: Vec<(f64, f64)> = (0..LEVEL_DAYS)
        .map(|j| (now - day * (j + 1), now - day * j))
        .take_while(|(b, _)| *b >= data_from)
        .map(|(b, e)| {
            (
                clipped_sum(ledger, group, pace, b, e, clip),
                pace.mass(b, e),
            )
        })
        .collect();
    let Some(((s0, m0), older)) = blocks.split_first() else {
        let (s, m) = (
            ledger.sum(Some(group), data_from, now),
            pace.mass(data_from, now),
        );
        return (ratio(s, m), (now - data_from).num_minutes() as f64 / 1440.0);
    };
    let (s_old, m_old) = older
        .iter()
        .fold((0.0, 0.0), |(s, m), (a, b)| (s + a, m + b));
    let (recent, before) = (ratio(*s0, *m0), ratio(s_old, m_old));
    let n = older.len() as f64;
    let shifted = n > 0.0
        && before > 0.0
        && (recent - before).abs() / before > SHIFT_SIGMAS * variation * (1.0 + 1.0 / n).sqrt();
    if shifted || n == 0.0 {
        (recent, 1.0)
    } else {
        (ratio(s0 + s_old, m0 + m_old), n + 1.0)
    }
}

/// The most one hour may count per unit of shape mass when the pace is estimated:
/// [`SPIKE_CLIP`] times the median hour of the last week, so one very expensive run
/// does not pass for a new pace (a sustained change moves every hour, and the median).
fn spike_clip(
    ledger: &SpendLedger,
    group: &Labels,
    pace: &Pace,
    now: DateTime<Utc>,
    data_from: DateTime<Utc>,
) -> f64 {
    let from = (now - Duration::hours(24) * LEVEL_DAYS).max(data_from);
    let hours = (now - from).num_hours().max(0) as usize;
    let mut ratios: Vec<f64> = ledger
        .hourly(Some(group), from, hours)
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let a = from + Duration::hours(i as i64);
            let m = pace.mass(a, a + Duration::hours(1));
            (m > 0.0).then(|| s / m)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios.get(ratios.len() / 2).map_or(f64::INFINITY, |m| {
        if *m > 0.0 {
            m * SPIKE_CLIP
        } else {
            f64::INFINITY
        }
    })
}

/// Spend in `(a, b]` with each whole hour counted at most `clip` per unit of mass.
fn clipped_sum(
    ledger: &SpendLedger,
    group: &Labels,
    pace: &Pace,
    a: DateTime<Utc>,
    b: DateTime<Utc>,
    clip: f64,
) -> f64 {
    let hours = (b - a).num_hours().max(0) as usize;
    let whole = a + Duration::hours(hours as i64);
    let spend: f64 = ledger
        .hourly(Some(group), a, hours)
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let h = a + Duration::hours(i as i64);
            s.min(clip * pace.mass(h, h + Duration::hours(1)))
        })
        .sum();
    spend + ledger.sum(Some(group), whole, b)
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
    // A shape learnt from few weeks fits those very days, which then vary too little:
    // the floor is higher until three weeks are known.
    let floor = match &pace.shape {
        crate::budget::shape::Shape::Weekly { weeks, .. } if *weeks >= 3 => MIN_VARIATION,
        _ => MIN_VARIATION_FEW_WEEKS,
    };
    (var.sqrt() / mean).max(floor)
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
        // From day 9 on, $2 an hour: by day 10 the forecast is at the new pace.
        let l = steady(start, 24 * 10, |h| if h >= 24 * 9 { 2.0 } else { 1.0 });
        let f = forecast(&l, &Labels::new(), &pace, now, 0.1);
        assert!(f.expected > 264.0 + 1.7 * 504.0, "{f:?}");
        assert_eq!(f.crossing_day.as_deref(), Some("26 Dec"), "{f:?}");
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
