//! The pace a forecast carries forward: spend per unit of shape mass over the longest
//! recent stretch in which it has not changed. Every evaluation scans the hours of the
//! last four weeks for the point that best splits them into an older and a newer pace
//! (a likelihood-ratio change-point test); when the split is too large for the
//! day-to-day variation to explain, only the spend since it counts, so a change shows in
//! the forecast as soon as the evidence says so, and otherwise the forecast rests on all
//! four weeks, which keeps ordinary busy days from passing for a new pace.
//!
//! Where rows are single spends, a change of what each row costs is found first, on the
//! far less noisy log(cost) of the rows ([`cost_shift`]): the spend before it is scaled
//! to the newer cost level, so the pace rests on all the hours at the price of today,
//! and the scan of spend is left to find changes of traffic.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::budget::cost_shift::{cost_shift, CostShift};
use crate::budget::pace::Pace;
use crate::budget::spend::SpendLedger;
use crate::budget::variation::Variation;
use crate::model::Labels;

/// How far back the pace is estimated from.
const SPAN: Duration = Duration::days(28);
/// How many standard deviations the pace since a split must differ from the pace before
/// it to be taken as a change. The scan tries hundreds of splits at every evaluation of
/// a month, and spend, a sum of heavy-tailed costs, has a longer upper tail than the
/// normal distribution the z assumes, so this is well above what one test would need
/// (at 3 and 3.5, ordinary months of the tuning seeds took busy half-days for changes).
pub const Z_CHANGE: f64 = 4.0;
/// The least time after a split, in hours (a burst of a few hours is a burn, not a
/// pace, and half a day of spend is what tells a change from a busy morning), and
/// before it (the older pace needs a day to be known).
const MIN_AFTER: i64 = 12;
const MIN_BEFORE: i64 = 24;
/// An hour above this many times the median hour's pace is counted at that, so one very
/// expensive run does not pass for a new pace (a sustained change moves every hour).
const SPIKE_CLIP: f64 = 4.0;

/// The pace to carry forward and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Level {
    /// Spend per unit of shape mass.
    pub per_mass: f64,
    /// The shape mass it was measured over (24 is a day of average traffic).
    pub evidence: f64,
    /// When the pace changed, if the scan found a change.
    pub changed_at: Option<DateTime<Utc>>,
    /// The change of the rows' cost level the pace was scaled by, if there was one.
    pub cost_shift: Option<CostShift>,
    /// The relative variance the scaling adds to the pace's (that of the factor).
    pub shift_variance: f64,
}

/// One hour (or the part of one) of the stretch looked at.
#[derive(Debug, Clone, Copy)]
struct Hour {
    start: DateTime<Utc>,
    spend: f64,
    mass: f64,
}

/// The pace of `group` as of `now`. With a flat shape (no week of history) there is no
/// shape to judge a change against, so every hour since the data began counts.
pub fn level(
    ledger: &SpendLedger,
    group: &Labels,
    pace: &Pace,
    now: DateTime<Utc>,
    variation: &Variation,
) -> Level {
    let mut hours = hours(ledger, group, pace, now);
    let shift = cost_shift(ledger, group, now);
    if let Some(s) = &shift {
        at_newer_cost(&mut hours, s);
    }
    let (spend, mass) = totals(&hours);
    let whole = Level {
        per_mass: ratio(spend, mass),
        evidence: mass,
        changed_at: shift.map(|s| s.at),
        cost_shift: shift,
        shift_variance: shift.map_or(0.0, |s| s.log_variance),
    };
    if pace.shape.is_flat() {
        return whole;
    }
    let noise = shape_noise(pace);
    match change(&hours, variation, noise) {
        Some(split) => {
            let (s, m) = totals(hours.get(split..).unwrap_or_default());
            Level {
                per_mass: ratio(s, m),
                evidence: m / noise,
                changed_at: hours.get(split).map(|h| h.start),
                ..whole
            }
        }
        None => whole,
    }
}

/// Scales the spend of the hours before `shift` to the newer cost level: the traffic of
/// those hours at today's price.
fn at_newer_cost(hours: &mut [Hour], shift: &CostShift) {
    for h in hours.iter_mut().filter(|h| h.start < shift.at) {
        h.spend *= shift.factor;
    }
}

/// How much the learnt shape widens the variance of a pace measured over less than a
/// week: the shape's weights are themselves spend of the same hours in the weeks it was
/// learnt from (the median of `w` weeks, or one week's own hours), so the mass a short
/// stretch is measured against carries their noise too. Whole weeks weigh exactly a
/// week, so a pace over weeks carries none.
fn shape_noise(pace: &Pace) -> f64 {
    match &pace.shape {
        crate::budget::shape::Shape::Weekly { weeks, .. } if *weeks > 1 => {
            // The median of w samples has about π/2 times the variance of their mean.
            1.0 + std::f64::consts::FRAC_PI_2 / f64::from(*weeks)
        }
        _ => 2.0,
    }
}

/// The split with the largest likelihood ratio (hours from `split` on are the newer
/// pace), when its z exceeds [`Z_CHANGE`]; `noise` widens the newer stretch's variance
/// for the shape's own ([`shape_noise`]).
fn change(hours: &[Hour], variation: &Variation, noise: f64) -> Option<usize> {
    let n = hours.len();
    let (total_s, total_m) = totals(hours);
    let (mut after_s, mut after_m) = (0.0, 0.0);
    let mut best: Option<(usize, f64)> = None;
    for (k, h) in hours.iter().enumerate().rev() {
        after_s += h.spend;
        after_m += h.mass;
        let (newer, older) = ((n - k) as i64, k as i64);
        if newer < MIN_AFTER || older < MIN_BEFORE {
            continue;
        }
        let before = ratio(total_s - after_s, total_m - after_m);
        let sd = before
            * (variation.relative_variance(after_m) * noise
                + variation.relative_variance(total_m - after_m))
            .sqrt();
        if sd <= 0.0 {
            continue;
        }
        let z = ((ratio(after_s, after_m) - before) / sd).abs();
        if z > Z_CHANGE && best.is_none_or(|(_, b)| z > b) {
            best = Some((k, z));
        }
    }
    best.map(|(k, _)| k)
}

/// The hours of the last [`SPAN`] that the ledger holds, oldest first, each spike
/// clipped: whole clock hours, with the parts at either end as hours of their own.
fn hours(ledger: &SpendLedger, group: &Labels, pace: &Pace, now: DateTime<Utc>) -> Vec<Hour> {
    // From the hour of the first spend: a stretch starting at the first row itself
    // would leave that row out (ranges are `(after, until]`) but count its hour's mass.
    let from = match (ledger.first_spend(), ledger.range()) {
        (Some(first), Some((from, _))) => floor_hour(first).max(from),
        _ => return Vec::new(),
    };
    let start = (now - SPAN).max(from);
    if start >= now {
        return Vec::new();
    }
    let first = ceil_hour(start).min(now);
    let last = floor_hour(now).max(first);
    let n = (last - first).num_hours().max(0) as usize;
    let part = |a: DateTime<Utc>, b: DateTime<Utc>| Hour {
        start: a,
        spend: ledger.sum(Some(group), a, b),
        mass: pace.mass(a, b),
    };
    let mut out = vec![part(start, first)];
    out.extend(
        ledger
            .hourly(Some(group), first, n)
            .into_iter()
            .zip(pace.hourly_mass(first, n))
            .enumerate()
            .map(|(i, (spend, mass))| Hour {
                start: first + Duration::hours(i as i64),
                spend,
                mass,
            }),
    );
    out.push(part(last, now));
    out.retain(|h| h.mass > 0.0);
    clip(&mut out);
    out
}

/// Caps each hour at [`SPIKE_CLIP`] times the median hour's spend per unit of mass.
fn clip(hours: &mut [Hour]) {
    let mut ratios: Vec<f64> = hours.iter().map(|h| h.spend / h.mass).collect();
    ratios.sort_by(f64::total_cmp);
    let Some(median) = ratios.get(ratios.len() / 2).copied() else {
        return;
    };
    if median <= 0.0 {
        return;
    }
    for h in hours {
        h.spend = h.spend.min(median * SPIKE_CLIP * h.mass);
    }
}

fn totals(hours: &[Hour]) -> (f64, f64) {
    hours
        .iter()
        .fold((0.0, 0.0), |(s, m), h| (s + h.spend, m + h.mass))
}

fn ratio(s: f64, m: f64) -> f64 {
    if m > 0.0 {
        s / m
    } else {
        0.0
    }
}

fn floor_hour(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp().div_euclid(3600) * 3600, 0).unwrap_or(at)
}

fn ceil_hour(at: DateTime<Utc>) -> DateTime<Utc> {
    let floor = floor_hour(at);
    if floor == at {
        at
    } else {
        floor + Duration::hours(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::period::{Bounds, Period};
    use crate::budget::shape::Shape;
    use crate::budget::test_support::hourly as ledger;
    use chrono_tz::Tz;

    fn weekly_pace(now: DateTime<Utc>) -> Pace {
        let shape = Shape::Weekly {
            weights: vec![1.0; 168],
            weeks: 4,
        };
        Pace::new(
            Bounds::containing(Period::Month, Tz::UTC, now),
            shape,
            1000.0,
        )
    }

    const STEADY: Variation = Variation {
        daily: 0.1,
        autocorrelation: 0.0,
    };

    #[test]
    fn a_steady_pace_rests_on_four_weeks_and_a_doubling_is_taken_from_when_it_began() {
        let start: DateTime<Utc> = "2026-11-02T00:00:00Z".parse().unwrap();
        let now = start + Duration::days(30);
        // ±10 % hour to hour around $1 an hour.
        let wobble = |h: i64| 1.0 + 0.1 * ((h % 3) as f64 - 1.0);
        let l = ledger(start, 24 * 30, wobble);
        let level = level(&l, &Labels::new(), &weekly_pace(now), now, &STEADY);
        assert_eq!(level.changed_at, None, "{level:?}");
        assert!((level.evidence - 24.0 * 28.0).abs() < 1e-9);
        assert!((level.per_mass - 1.0).abs() < 0.01, "{level:?}");
        // Twice the spend for the last 16 hours.
        let l = ledger(start, 24 * 30, |h| {
            wobble(h) * if h >= 24 * 30 - 16 { 2.0 } else { 1.0 }
        });
        let changed = super::level(&l, &Labels::new(), &weekly_pace(now), now, &STEADY);
        assert_eq!(
            changed.changed_at,
            Some(now - Duration::hours(16)),
            "{changed:?}"
        );
        assert!((changed.per_mass - 2.0).abs() < 0.1, "{changed:?}");
    }

    #[test]
    fn one_expensive_hour_is_not_a_change_of_pace() {
        let start: DateTime<Utc> = "2026-11-02T00:00:00Z".parse().unwrap();
        let now = start + Duration::days(10);
        let l = ledger(
            start,
            24 * 10,
            |h| if h == 24 * 10 - 4 { 60.0 } else { 1.0 },
        );
        let level = level(&l, &Labels::new(), &weekly_pace(now), now, &STEADY);
        assert_eq!(level.changed_at, None, "{level:?}");
        assert!(level.per_mass < 1.02, "{level:?}");
    }
}
