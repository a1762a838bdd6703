//! The forecast of spend at the period's end: the spend so far plus the rest of the
//! period's shape at the recent pace ([`level`]: the pace since it last changed, up to
//! four weeks), with an 80 % interval from how well that pace is known and how much the
//! rest of the period's spend will vary ([`variation`]), and the day the budget is
//! expected to be crossed.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::budget::level::level;
use crate::budget::pace::Pace;
use crate::budget::period::day_name;
use crate::budget::spend::SpendLedger;
use crate::budget::variation::Variation;
use crate::model::Labels;

/// z of the 10th and 90th percentiles of a normal distribution.
const Z80: f64 = 1.2816;

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
    /// The relative day-to-day variation of a day of average spend the interval assumes.
    pub daily_variation: f64,
    /// The lag-1 autocorrelation of the days the interval assumes.
    pub autocorrelation: f64,
    /// When the pace last changed, if it did within the four weeks looked at: the
    /// forecast carries forward the pace since then.
    pub pace_changed_at: Option<DateTime<Utc>>,
    /// How much more (or less) a single row (a call, a run) costs since the rows' cost
    /// level last changed, when it did: the spend before is counted at the newer price.
    pub row_cost_factor: Option<f64>,
    /// When the budget is expected to be crossed at the forecast pace (None: not before
    /// the period ends); the instant it was crossed when it already was.
    pub crossing: Option<DateTime<Utc>>,
    /// The crossing as people name the day (`24 Dec`).
    pub crossing_day: Option<String>,
}

/// Forecasts `group`'s spend at `pace`'s period end, as of `now`, its spend varying by
/// `variation` ([`crate::budget::variation::variation`]). The interval's variance is the
/// pace's own (the rest of the period at a pace measured over `evidence` of mass) plus
/// the rest's variation around it; both grow with the days' autocorrelation.
pub fn forecast(
    ledger: &SpendLedger,
    group: &Labels,
    pace: &Pace,
    now: DateTime<Utc>,
    variation: &Variation,
) -> Forecast {
    let bounds = pace.bounds;
    let now = now.clamp(bounds.start, bounds.end);
    let spent = ledger.sum(Some(group), bounds.start, now);
    let lvl = level(ledger, group, pace, now, variation);
    let rest_mass = pace.mass(now, bounds.end);
    let rest = lvl.per_mass * rest_mass;
    let relative_sd = (variation.relative_variance(lvl.evidence)
        + lvl.shift_variance
        + variation.relative_variance(rest_mass))
    .sqrt();
    let sd = rest * relative_sd;
    let expected = spent + rest;
    let crossing = crossing(ledger, group, pace, now, spent, lvl.per_mass);
    Forecast {
        spent,
        expected,
        low: (expected - Z80 * sd).max(spent),
        high: expected + Z80 * sd,
        pace_ratio: lvl.per_mass * pace.total_mass() / pace.amount,
        daily_variation: variation.daily,
        autocorrelation: variation.autocorrelation,
        pace_changed_at: lvl.changed_at,
        row_cost_factor: lvl.cost_shift.map(|s| s.factor),
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
    if spent + per_mass * pace.mass(now, bounds.end) < pace.amount {
        return None;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::period::{Bounds, Period};
    use crate::budget::shape::Shape;
    use crate::budget::test_support::hourly as steady;
    use chrono_tz::Tz;

    const V: Variation = Variation {
        daily: 0.1,
        autocorrelation: 0.0,
    };

    #[test]
    fn steady_spend_forecasts_its_own_total_and_a_doubling_moves_it_within_a_day() {
        let start: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let bounds = Bounds::containing(Period::Month, Tz::UTC, start);
        let shape = Shape::Weekly {
            weights: vec![1.0; 168],
            weeks: 1,
        };
        let pace = Pace::new(bounds, shape, 1000.0);
        let now = start + Duration::days(10);
        let l = steady(start, 24 * 10, |_| 1.0);
        let f = forecast(&l, &Labels::new(), &pace, now, &V);
        assert!((f.expected - 744.0).abs() < 1e-6, "{f:?}");
        assert!(f.low < f.expected && f.high > f.expected && f.low >= f.spent);
        assert_eq!(f.crossing, None);
        // From day 9 on, $2 an hour: by day 10 the forecast is at the new pace.
        let l = steady(start, 24 * 10, |h| if h >= 24 * 9 { 2.0 } else { 1.0 });
        let f = forecast(&l, &Labels::new(), &pace, now, &V);
        assert!(f.expected > 264.0 + 1.7 * 504.0, "{f:?}");
        assert_eq!(f.crossing_day.as_deref(), Some("26 Dec"), "{f:?}");
    }

    #[test]
    fn every_call_costing_a_third_more_forecasts_the_overrun_within_a_day() {
        use crate::budget::test_support::calls;
        use crate::budget::variation::variation;
        // February: 28 days of a hundred heavy-tailed calls an hour, a budget 10 % above
        // what the month spends at the old prices.
        let start: DateTime<Utc> = "2026-02-01T00:00:00Z".parse().unwrap();
        let bounds = Bounds::containing(Period::Month, Tz::UTC, start);
        let month = calls(start, 28 * 24, 100, |_| 1.0);
        let budget = 1.1 * month.sum(None, start, bounds.end);
        let shape = Shape::Weekly {
            weights: vec![1.0; 168],
            weeks: 1,
        };
        let pace = Pace::new(bounds, shape, budget);
        let judge = |hours: i64, factor: f64| {
            let change = 24 * 10 + 10;
            let l = calls(
                start,
                hours,
                100,
                |h| if h >= change { factor } else { 1.0 },
            );
            let now = start + Duration::hours(hours);
            let v = variation(&l, &Labels::new(), &pace, now);
            forecast(&l, &Labels::new(), &pace, now, &v)
        };
        // From 10:00 on day 11 every call costs 32 % more: the month ends ~10 % over,
        // and 20 hours later the whole 80 % interval is over the budget.
        let f = judge(24 * 10 + 30, 1.32);
        assert!(f.low > budget, "{f:?} budget {budget}");
        assert!(f.row_cost_factor.is_some_and(|x| x > 1.2), "{f:?}");
        // The same hours at the old prices stay under it.
        let f = judge(24 * 10 + 30, 1.0);
        assert!(f.low < budget && f.row_cost_factor.is_none(), "{f:?}");
    }

    #[test]
    fn a_crossed_budget_says_when() {
        let start: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let bounds = Bounds::containing(Period::Month, Tz::UTC, start);
        let pace = Pace::new(bounds, Shape::Flat, 100.0);
        let l = steady(start, 48, |_| 4.0);
        let f = forecast(&l, &Labels::new(), &pace, start + Duration::hours(48), &V);
        assert_eq!(f.crossing, Some(start + Duration::hours(25)));
    }
}
