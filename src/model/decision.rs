//! The decision log as values: every step that decided what became of an alert's
//! notifications (grouped, held and why, sent as which notification) and every delivery
//! attempt of those notifications. notify makes them, the store keeps them, the API and
//! `driftwatch explain` tell them.

use serde::Serialize;

use crate::model::group::Hold;

/// What was decided about one alert's notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// A change joined a notification group (route, receiver, group, when it is due).
    Grouped,
    /// A change made the alert flapping: notified once, marked so.
    FlapStarted,
    /// A change of a flapping alert was held.
    FlapHeld,
    /// A flapping alert settled; its state now is notified.
    FlapSettled,
    /// A silence held it back.
    Silenced,
    /// Another firing alert inhibited it.
    Inhibited,
    /// A time interval muted its route.
    Muted,
    /// It went out in a notification to a receiver.
    Sent,
    /// Its resolve was not sent (the receiver does not want resolves).
    ResolveNotSent,
}

impl DecisionKind {
    /// Every kind.
    pub const ALL: [DecisionKind; 9] = [
        DecisionKind::Grouped,
        DecisionKind::FlapStarted,
        DecisionKind::FlapHeld,
        DecisionKind::FlapSettled,
        DecisionKind::Silenced,
        DecisionKind::Inhibited,
        DecisionKind::Muted,
        DecisionKind::Sent,
        DecisionKind::ResolveNotSent,
    ];

    /// Its name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Grouped => "grouped",
            DecisionKind::FlapStarted => "flap_started",
            DecisionKind::FlapHeld => "flap_held",
            DecisionKind::FlapSettled => "flap_settled",
            DecisionKind::Silenced => "silenced",
            DecisionKind::Inhibited => "inhibited",
            DecisionKind::Muted => "muted",
            DecisionKind::Sent => "sent",
            DecisionKind::ResolveNotSent => "resolve_not_sent",
        }
    }

    /// The kind a stored name stands for (`None`: written by a newer version).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The kind of a hold.
    pub fn of_hold(hold: &Hold) -> Self {
        match hold {
            Hold::Silenced { .. } => DecisionKind::Silenced,
            Hold::Inhibited(_) => DecisionKind::Inhibited,
            Hold::MuteInterval { .. } | Hold::OutsideActiveIntervals { .. } => DecisionKind::Muted,
        }
    }
}

/// One entry of an alert's decision log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The alert it is about.
    pub fingerprint: String,
    /// Its rule.
    pub rule: String,
    /// When it was decided (unix ms).
    pub at_ms: i64,
    /// What was decided.
    pub kind: DecisionKind,
    /// The receiver concerned, if one.
    pub receiver: Option<String>,
    /// The notification group concerned, if one.
    pub group_key: Option<String>,
    /// The notification it went out in (`webhook-id`), for `sent`.
    pub message_id: Option<String>,
    /// What caused a hold: the silence id, the inhibiting alert's fingerprint, the time
    /// interval's name.
    pub cause: Option<String>,
    /// Until when a hold is known to last, or when a group is due (unix ms).
    pub until_ms: Option<i64>,
    /// The decision in one plain sentence.
    pub text: String,
}

impl Decision {
    /// A decision about `fingerprint` of `rule` at `at_ms`, with no receiver, group,
    /// message, cause or time yet.
    pub fn new(
        fingerprint: &str,
        rule: &str,
        at_ms: i64,
        kind: DecisionKind,
        text: impl Into<String>,
    ) -> Self {
        Self {
            fingerprint: fingerprint.to_owned(),
            rule: rule.to_owned(),
            at_ms,
            kind,
            receiver: None,
            group_key: None,
            message_id: None,
            cause: None,
            until_ms: None,
            text: text.into(),
        }
    }

    /// The decision that `hold` held the alert back from `receiver` in group `group_key`.
    pub fn held(
        fingerprint: &str,
        rule: &str,
        at_ms: i64,
        hold: &Hold,
        receiver: &str,
        group_key: &str,
    ) -> Self {
        let cause = match hold {
            Hold::Silenced { id, .. } => id.clone(),
            Hold::Inhibited(by) => by.clone(),
            Hold::MuteInterval { name, .. } => name.clone(),
            Hold::OutsideActiveIntervals { names, .. } => names.join(", "),
        };
        Self {
            receiver: Some(receiver.to_owned()),
            group_key: Some(group_key.to_owned()),
            cause: Some(cause),
            until_ms: hold.until_ms(),
            ..Self::new(
                fingerprint,
                rule,
                at_ms,
                DecisionKind::of_hold(hold),
                format!("held back from {receiver}: {}", hold.describe()),
            )
        }
    }
}

/// One delivery attempt of a notification, as the dispatcher recorded it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// The notification (`webhook-id`).
    pub message_id: String,
    /// Its receiver.
    pub receiver: String,
    /// Which attempt (1 for the first; a postponed or not-sent one repeats the count).
    pub attempt: i64,
    /// When it ended (unix ms).
    pub at_ms: i64,
    /// `delivered`, `retry`, `dead`, `postponed` or `not_sent`.
    pub outcome: String,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// When the next attempt is due, for `retry` and `postponed` (unix ms).
    pub next_at_ms: Option<i64>,
}

/// One line of an alert's story: a decision or a delivery attempt, in time order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// When (unix ms).
    pub at_ms: i64,
    /// The alert, for decisions (an attempt delivers a notification of one or more).
    pub fingerprint: Option<String>,
    /// `grouped`, `silenced`, …, or `attempt`.
    pub kind: String,
    /// The receiver concerned.
    pub receiver: Option<String>,
    /// The notification concerned (`webhook-id`).
    pub message_id: Option<String>,
    /// What caused a hold (silence id, inhibiting alert, time interval).
    pub cause: Option<String>,
    /// The line in words.
    pub text: String,
}

/// The decisions and the attempts of the notifications they sent, as one story in time
/// order (a decision before an attempt made at the same instant).
pub fn timeline(decisions: &[Decision], attempts: &[Attempt]) -> Vec<LogLine> {
    let mut lines: Vec<(i64, u8, LogLine)> = decisions
        .iter()
        .map(|d| (d.at_ms, 0, decision_line(d)))
        .chain(attempts.iter().map(|a| (a.at_ms, 1, attempt_line(a))))
        .collect();
    lines.sort_by_key(|(at, order, _)| (*at, *order));
    lines.into_iter().map(|(_, _, line)| line).collect()
}

fn decision_line(d: &Decision) -> LogLine {
    let text = match (d.kind, d.until_ms) {
        (DecisionKind::Grouped, Some(due)) => format!("{}, due {}", d.text, time_of(due)),
        (DecisionKind::Silenced | DecisionKind::Muted, Some(until)) => {
            format!("{} until {}", d.text, time_of(until))
        }
        _ => d.text.clone(),
    };
    LogLine {
        at_ms: d.at_ms,
        fingerprint: Some(d.fingerprint.clone()),
        kind: d.kind.as_str().to_owned(),
        receiver: d.receiver.clone(),
        message_id: d.message_id.clone(),
        cause: d.cause.clone(),
        text,
    }
}

fn attempt_line(a: &Attempt) -> LogLine {
    let what = format!("notification {} to {}", a.message_id, a.receiver);
    let error = a.error.as_deref().unwrap_or("no reason recorded");
    let text = match a.outcome.as_str() {
        "delivered" => format!("attempt {} of {what}: delivered", a.attempt),
        "retry" => format!(
            "attempt {} of {what} failed ({error}); retry scheduled for {}",
            a.attempt,
            a.next_at_ms.map_or_else(|| "later".to_owned(), time_of)
        ),
        "dead" => format!(
            "attempt {} of {what} failed ({error}); dead-lettered, no more attempts",
            a.attempt
        ),
        "postponed" => format!(
            "{what} postponed: the receiver asked for nothing before {}",
            a.next_at_ms.map_or_else(|| "later".to_owned(), time_of)
        ),
        "not_sent" => format!("{what} not sent ({error}); kept as a dead letter"),
        other => format!("attempt {} of {what}: {other}", a.attempt),
    };
    LogLine {
        at_ms: a.at_ms,
        fingerprint: None,
        kind: "attempt".to_owned(),
        receiver: Some(a.receiver.clone()),
        message_id: Some(a.message_id.clone()),
        cause: None,
        text,
    }
}

/// A unix-ms instant as RFC 3339 UTC to the second.
pub fn time_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms"),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_stored_name_and_an_unknown_one_is_none() {
        for k in DecisionKind::ALL {
            assert_eq!(DecisionKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(DecisionKind::parse("escalated"), None);
    }

    #[test]
    fn the_story_puts_a_decision_before_an_attempt_of_the_same_instant() {
        let sent = Decision {
            message_id: Some("m1".into()),
            receiver: Some("ops".into()),
            ..Decision::new("fp", "r", 1_000, DecisionKind::Sent, "sent as firing")
        };
        let attempt = Attempt {
            message_id: "m1".into(),
            receiver: "ops".into(),
            attempt: 1,
            at_ms: 1_000,
            outcome: "retry".into(),
            error: Some("HTTP 503".into()),
            next_at_ms: Some(61_000),
        };
        let lines = timeline(&[sent], &[attempt]);
        assert_eq!(lines[0].kind, "sent");
        assert_eq!(
            lines[1].text,
            "attempt 1 of notification m1 to ops failed (HTTP 503); retry scheduled for 1970-01-01T00:01:01Z"
        );
    }
}
