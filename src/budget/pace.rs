//! The even pace: the budget spread over its period by the traffic's weekly shape, so
//! "on pace" at any instant is what the shape says that hour normally takes.

use chrono::{DateTime, Duration, Offset, Utc};

use crate::budget::period::Bounds;
use crate::budget::shape::{hour_of_week, Shape};

/// The budget's pace over one period.
#[derive(Debug, Clone, PartialEq)]
pub struct Pace {
    /// The period.
    pub bounds: Bounds,
    /// The shape spend follows.
    pub shape: Shape,
    /// The amount per period.
    pub amount: f64,
    /// The shape's mass over the whole period (weighted hours).
    total: f64,
}

impl Pace {
    /// The pace of `amount` over `bounds` following `shape`.
    pub fn new(bounds: Bounds, shape: Shape, amount: f64) -> Self {
        let mut pace = Pace {
            bounds,
            shape,
            amount,
            total: 0.0,
        };
        pace.total = pace.mass(bounds.start, bounds.end).max(f64::MIN_POSITIVE);
        pace
    }

    /// The shape's weighted hours in `(a, b]`: each piece of a UTC hour counts the
    /// weight of the local hour it starts in.
    pub fn mass(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
        let mut mass = 0.0;
        self.pieces(a, b, |hours, weight| mass += hours * weight);
        mass
    }

    /// The mass of each of the `hours` UTC hours from `start` (an hour boundary).
    pub fn hourly_mass(&self, start: DateTime<Utc>, hours: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(hours);
        let end = start + Duration::hours(hours as i64);
        self.pieces(start, end, |h, weight| out.push(h * weight));
        out
    }

    /// Calls `f(hours, weight)` for each piece of `(a, b]` cut at UTC hour
    /// boundaries. Evaluations ask for weeks of hours, so the time zone is consulted
    /// once a day, not once an hour: within a day of one UTC offset, each UTC hour is
    /// the local hour after the one before.
    fn pieces(&self, a: DateTime<Utc>, b: DateTime<Utc>, mut f: impl FnMut(f64, f64)) {
        const HOUR_MS: i64 = 3_600_000;
        let tz = self.bounds.tz;
        let offset = |t: DateTime<Utc>| t.with_timezone(&tz).offset().fix().local_minus_utc();
        let mut t = a;
        while t < b {
            let day_end = (t + Duration::days(1)).min(b);
            // Asked only when there is a second piece: most calls are an hour or less.
            let mut fixed = None;
            let (mut ms, end) = (t.timestamp_millis(), day_end.timestamp_millis());
            let mut index: Option<usize> = None;
            while ms < end {
                let next = ((ms.div_euclid(HOUR_MS) + 1) * HOUR_MS).min(end);
                let i = match index {
                    Some(i) if *fixed.get_or_insert_with(|| offset(t) == offset(day_end)) => i,
                    _ => hour_of_week(DateTime::from_timestamp_millis(ms).unwrap_or(t), tz),
                };
                f((next - ms) as f64 / HOUR_MS as f64, self.shape.weight_of(i));
                // A piece that began on the hour is followed by the next local hour.
                index = (ms.rem_euclid(HOUR_MS) == 0).then_some(i + 1);
                ms = next;
            }
            t = day_end;
        }
    }

    /// The whole period's mass.
    pub fn total_mass(&self) -> f64 {
        self.total
    }

    /// What the even pace spends in `(a, b]`.
    pub fn expected(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
        self.amount * self.mass(a, b) / self.total
    }

    /// What a flat pace (the amount spread evenly over the period's hours) spends in
    /// `(a, b]`.
    pub fn flat_expected(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
        let hours = self.bounds.length().num_milliseconds() as f64 / 3_600_000.0;
        let window = (b - a).num_milliseconds().max(0) as f64 / 3_600_000.0;
        self.amount * window / hours.max(f64::MIN_POSITIVE)
    }

    /// What the even pace has spent by `at` since the period began.
    pub fn expected_by(&self, at: DateTime<Utc>) -> f64 {
        self.expected(self.bounds.start, at.min(self.bounds.end))
    }

    /// The even pace per hour at `at`.
    pub fn hourly_rate(&self, at: DateTime<Utc>) -> f64 {
        self.expected(at, at + Duration::hours(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::period::Period;
    use chrono_tz::Tz;

    #[test]
    fn a_flat_pace_spends_evenly_and_a_25_hour_day_spreads_over_25_hours() {
        let at: DateTime<Utc> = "2026-10-25T12:00:00Z".parse().unwrap();
        let b = Bounds::containing(Period::Day, chrono_tz::Europe::Berlin, at);
        let p = Pace::new(b, Shape::Flat, 250.0);
        assert!((p.total_mass() - 25.0).abs() < 1e-9);
        assert!((p.hourly_rate(at) - 10.0).abs() < 1e-9);
        assert!((p.expected_by(b.end) - 250.0).abs() < 1e-9);
        let half = b.start + Duration::minutes(30);
        assert!((p.expected_by(half) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn a_weekly_shape_expects_more_in_busy_hours() {
        let at: DateTime<Utc> = "2026-11-04T12:00:00Z".parse().unwrap();
        let b = Bounds::containing(Period::Week, Tz::UTC, at);
        let mut weights = vec![0.5; 168];
        weights[2 * 24 + 12] = 84.5; // Wednesday 12:00 weighs as much as 169 other hours.
        let total: f64 = weights.iter().sum();
        let weights: Vec<f64> = weights.iter().map(|w| w * 168.0 / total).collect();
        let p = Pace::new(b, Shape::Weekly { weights, weeks: 1 }, 168.0);
        assert!((p.expected_by(b.end) - 168.0).abs() < 1e-6);
        assert!(
            (p.hourly_rate(at) - 84.5).abs() < 1e-6,
            "{}",
            p.hourly_rate(at)
        );
        assert!((p.hourly_rate(at + Duration::hours(1)) - 0.5).abs() < 1e-6);
    }
}
