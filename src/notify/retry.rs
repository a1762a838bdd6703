//! Retries as data: a schedule of waits plus jitter, and a verdict on each failure.

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
