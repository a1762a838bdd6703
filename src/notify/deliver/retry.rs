//! Retries as data: a schedule of waits plus jitter, a verdict on each failure, and the
//! wait a receiver asks for with `Retry-After`.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// When to try again after a failed attempt, or `None` when attempts are used up.
///
/// `attempts_made` counts the failed attempt just made (1 after the first failure).
pub fn next_attempt_delay(
    schedule: &[Duration],
    attempts_made: usize,
    jitter: f64,
) -> Option<Duration> {
    let base = *schedule.get(attempts_made.checked_sub(1)?)?;
    let spread = base.as_secs_f64() * jitter.clamp(0.0, 1.0);
    let offset = if spread > 0.0 {
        rand::thread_rng().gen_range(-spread..=spread)
    } else {
        0.0
    };
    Some(Duration::from_secs_f64(
        (base.as_secs_f64() + offset).max(0.0),
    ))
}

/// The wait a `Retry-After` header asks for: delay-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2026 07:28:00 GMT`), measured from `now`; a date in the past means no
/// wait. `None` when the value is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait before the next attempt: the schedule's, but never shorter than what the
/// receiver asked for, which is believed only up to `cap`.
pub fn wait_honouring_retry_after(
    scheduled: Duration,
    retry_after: Option<Duration>,
    cap: Duration,
) -> Duration {
    match retry_after {
        Some(asked) => scheduled.max(asked.min(cap)),
        None => scheduled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        let secs = |s: u64| Some(Duration::from_secs(s));
        assert_eq!(parse_retry_after("120", now), secs(120));
        assert_eq!(parse_retry_after(" 0 ", now), secs(0));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:29:30 GMT", now),
            secs(90)
        );
        // The obsolete RFC 850 and asctime forms are HTTP-dates too.
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-26 07:28:10 GMT", now),
            secs(10)
        );
        assert_eq!(parse_retry_after("Wed Oct 21 07:28:05 2026", now), secs(5));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now),
            secs(0),
            "a past date means now"
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn the_longer_wait_wins_up_to_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(wait_honouring_retry_after(s(1), Some(s(30)), s(60)), s(30));
        assert_eq!(
            wait_honouring_retry_after(s(1), Some(s(3600)), s(60)),
            s(60)
        );
        assert_eq!(wait_honouring_retry_after(s(90), Some(s(30)), s(60)), s(90));
        assert_eq!(wait_honouring_retry_after(s(5), None, s(60)), s(5));
    }

    #[test]
    fn follows_the_schedule_then_gives_up() {
        let s = [Duration::from_secs(1), Duration::from_secs(10)];
        assert_eq!(next_attempt_delay(&s, 1, 0.0), Some(Duration::from_secs(1)));
        assert_eq!(
            next_attempt_delay(&s, 2, 0.0),
            Some(Duration::from_secs(10))
        );
        assert_eq!(next_attempt_delay(&s, 3, 0.0), None);
        for _ in 0..100 {
            let d = next_attempt_delay(&s, 2, 0.2).unwrap().as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
        }
    }
}
