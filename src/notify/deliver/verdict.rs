//! The verdict on a failed delivery attempt, as a value: send again after a wait, keep
//! the message as a dead letter, or keep it and disable the receiver. The dispatcher
//! applies it (the outbox row, the metrics, the receiver's health); nothing here sends,
//! writes or counts.

use std::time::Duration;

use crate::notify::deliver::retry::{next_attempt_delay, wait_honouring_retry_after};
use crate::notify::deliver::settings::DeliveryConfig;
use crate::notify::deliver::webhook::{DeliveryError, FailureKind};

/// What becomes of a message whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Send it again after this wait: the schedule's, never shorter than the receiver's
    /// `Retry-After` (believed up to `max_retry_after`).
    RetryAfter(Duration),
    /// Keep it as a dead letter.
    Dead(DeadReason),
    /// Keep it as a dead letter and disable the receiver: its endpoint is gone (HTTP 410).
    Disable,
}

/// Why a message is a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadReason {
    /// The address policy refused every address of the receiver.
    Refused,
    /// The receiver refused this message for good (an SMTP 5xx reply).
    Rejected,
    /// The message could not be rendered for the receiver.
    Unrenderable,
    /// A transient failure after the last attempt of the retry schedule.
    Exhausted,
}

impl Verdict {
    /// The outcome label it counts under in `driftwatch_notifications_total`.
    pub fn outcome(self) -> &'static str {
        match self {
            Verdict::RetryAfter(_) => "retry",
            Verdict::Disable => "gone",
            Verdict::Dead(DeadReason::Refused) => "refused",
            Verdict::Dead(DeadReason::Rejected) => "rejected",
            Verdict::Dead(DeadReason::Unrenderable) => "unrenderable",
            Verdict::Dead(DeadReason::Exhausted) => "dead",
        }
    }
}

/// The verdict on `error` after `attempts` attempts (the failed one included): a failure
/// that sending again would repeat is dead now; a transient one is retried on the
/// schedule until it is used up.
pub fn verdict(error: &DeliveryError, attempts: usize, config: &DeliveryConfig) -> Verdict {
    match error.kind {
        FailureKind::Transient => {
            match next_attempt_delay(&config.retry_schedule, attempts, config.jitter) {
                Some(scheduled) => Verdict::RetryAfter(wait_honouring_retry_after(
                    scheduled,
                    error.retry_after,
                    config.max_retry_after,
                )),
                None => Verdict::Dead(DeadReason::Exhausted),
            }
        }
        FailureKind::Gone => Verdict::Disable,
        FailureKind::Refused => Verdict::Dead(DeadReason::Refused),
        FailureKind::Rejected => Verdict::Dead(DeadReason::Rejected),
        FailureKind::Unrenderable => Verdict::Dead(DeadReason::Unrenderable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DeliveryConfig {
        DeliveryConfig {
            retry_schedule: vec![Duration::from_secs(1), Duration::from_secs(30)],
            jitter: 0.0,
            max_retry_after: Duration::from_secs(600),
            ..DeliveryConfig::default()
        }
    }

    #[test]
    fn a_transient_failure_is_retried_on_the_schedule_then_dead() {
        let e = DeliveryError::new(FailureKind::Transient, "HTTP 503");
        let secs = |s| Verdict::RetryAfter(Duration::from_secs(s));
        assert_eq!(verdict(&e, 1, &config()), secs(1));
        assert_eq!(verdict(&e, 2, &config()), secs(30));
        assert_eq!(
            verdict(&e, 3, &config()),
            Verdict::Dead(DeadReason::Exhausted)
        );
        assert_eq!(verdict(&e, 3, &config()).outcome(), "dead");
    }

    #[test]
    fn a_retry_waits_at_least_what_the_receiver_asked_for_up_to_the_cap() {
        let mut e = DeliveryError::new(FailureKind::Transient, "HTTP 429");
        e.retry_after = Some(Duration::from_secs(120));
        assert_eq!(
            verdict(&e, 1, &config()),
            Verdict::RetryAfter(Duration::from_secs(120))
        );
        e.retry_after = Some(Duration::from_secs(86_400));
        assert_eq!(
            verdict(&e, 1, &config()),
            Verdict::RetryAfter(Duration::from_secs(600))
        );
    }

    #[test]
    fn failures_that_would_repeat_are_dead_at_once_and_a_gone_endpoint_disables() {
        let v = |kind| verdict(&DeliveryError::new(kind, "x"), 1, &config());
        assert_eq!(v(FailureKind::Gone), Verdict::Disable);
        assert_eq!(v(FailureKind::Refused), Verdict::Dead(DeadReason::Refused));
        assert_eq!(
            v(FailureKind::Rejected),
            Verdict::Dead(DeadReason::Rejected)
        );
        assert_eq!(
            v(FailureKind::Unrenderable),
            Verdict::Dead(DeadReason::Unrenderable)
        );
    }
}
