//! Checked time arithmetic: an instant moved by a duration never panics, it saturates.
//!
//! `DateTime - TimeDelta` panics on overflow. Durations from settings are bounded where
//! they are parsed, but instants come from clocks, sources and the API too, so every
//! instant ± duration in the service goes through these instead of the operators.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// `t - d`, or the earliest representable instant when that would overflow.
pub fn earlier(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    earlier_by(t, delta(d))
}

/// `t + d`, or the latest representable instant when that would overflow.
pub fn later(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    later_by(t, delta(d))
}

/// `t - d` for a chrono delta, saturating in the direction of the move.
pub fn earlier_by(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_sub_signed(d)
        .unwrap_or(if d >= TimeDelta::zero() {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
}

/// `t + d` for a chrono delta, saturating in the direction of the move.
pub fn later_by(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(d)
        .unwrap_or(if d >= TimeDelta::zero() {
            DateTime::<Utc>::MAX_UTC
        } else {
            DateTime::<Utc>::MIN_UTC
        })
}

/// A std duration as chrono's, saturating at chrono's largest delta.
pub fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_saturates_instead_of_panicking() {
        let now = Utc::now();
        let huge = Duration::from_secs(u64::MAX);
        assert_eq!(earlier(now, huge), DateTime::<Utc>::MIN_UTC);
        assert_eq!(later(now, huge), DateTime::<Utc>::MAX_UTC);
        assert_eq!(earlier_by(now, TimeDelta::MIN), DateTime::<Utc>::MAX_UTC);
        assert_eq!(later_by(now, TimeDelta::MIN), DateTime::<Utc>::MIN_UTC);
        let minute = Duration::from_secs(60);
        assert_eq!(earlier(now, minute), now - TimeDelta::minutes(1));
        assert_eq!(later(now, minute), now + TimeDelta::minutes(1));
    }
}
