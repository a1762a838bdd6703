//! When a receiver is disabled, and how the operator hears of it: a `receiver_disabled`
//! alert in the documented payload, sent to every other receiver.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::engine::Alert;
use crate::model::{AlertState, Labels, Severity};
use crate::notify::render::payload::{new_message_id, render_payload};
use crate::store::NewMessage;

/// The rule name the notices carry.
pub const RECEIVER_DISABLED_RULE: &str = "receiver_disabled";

/// Why a receiver should be disabled after a failed attempt at `now_ms`, if it should:
/// it has failed without a success since `failing_since_ms`, for at least `disable_after`.
pub fn failing_too_long(
    failing_since_ms: i64,
    now_ms: i64,
    disable_after: Option<Duration>,
    last_error: &str,
) -> Option<String> {
    let limit = disable_after?;
    let failing = Duration::from_millis((now_ms - failing_since_ms).max(0) as u64);
    if failing < limit {
        return None;
    }
    let since = DateTime::<Utc>::from_timestamp_millis(failing_since_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Some(format!(
        "every attempt since {since} failed (disable_after {}); last error: {last_error}",
        humantime::format_duration(limit)
    ))
}

/// The notices telling each receiver in `others` that `receiver` was disabled for
/// `reason` (`enabled` false), or enabled again (`enabled` true, a resolved alert).
pub fn receiver_notices<'a>(
    receiver: &str,
    reason: &str,
    enabled: bool,
    others: impl IntoIterator<Item = &'a str>,
    now: DateTime<Utc>,
) -> Vec<NewMessage> {
    let mut alert = Alert::new(
        RECEIVER_DISABLED_RULE,
        Labels::new().with("receiver", receiver),
        &Labels::new(),
        Severity::Critical,
        now,
    );
    let summary = if enabled {
        format!("receiver {receiver} was enabled again: {reason}")
    } else {
        format!("receiver {receiver} was disabled and gets no notifications: {reason}")
    };
    alert.state = if enabled {
        AlertState::Resolved
    } else {
        AlertState::Firing
    };
    alert.fired_at = Some(now);
    alert.resolved_at = enabled.then_some(now);
    alert.score = if enabled { 0.0 } else { 1.0 };
    alert.summary = summary.clone();
    alert.reason = summary.into();
    others
        .into_iter()
        .filter(|other| *other != receiver)
        .filter_map(|other| {
            let id = new_message_id();
            let payload = render_payload(&id, other, &alert, &BTreeMap::new(), now);
            let payload = match serde_json::to_string(&payload) {
                Ok(json) => json,
                Err(e) => {
                    tracing::error!(receiver = %other, error = %e, "receiver health notification does not serialize; not sent");
                    return None;
                }
            };
            Some(NewMessage {
                id,
                receiver: other.to_owned(),
                fingerprint: alert.fingerprint.to_string(),
                event: alert.state.as_str().to_owned(),
                payload,
                created_at_ms: now.timestamp_millis(),
                evaluation_ids: Vec::new(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::payload::WebhookPayload;

    #[test]
    fn disables_only_after_the_configured_time() {
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(failing_too_long(0, 3_599_999, hour, "HTTP 500"), None);
        let why = failing_too_long(0, 3_600_000, hour, "HTTP 500").unwrap();
        assert_eq!(
            why,
            "every attempt since 1970-01-01T00:00:00Z failed (disable_after 1h); last error: HTTP 500"
        );
        assert_eq!(failing_too_long(0, i64::MAX / 2, None, "x"), None);
    }

    #[test]
    fn every_other_receiver_is_told() {
        let now = Utc::now();
        let notices =
            receiver_notices("ops", "HTTP 410 Gone", false, ["ops", "pager", "chat"], now);
        assert_eq!(
            notices
                .iter()
                .map(|n| n.receiver.as_str())
                .collect::<Vec<_>>(),
            ["pager", "chat"]
        );
        let payload: WebhookPayload = serde_json::from_str(&notices[0].payload).unwrap();
        assert_eq!(payload.kind, "alert.firing");
        assert_eq!(payload.id, notices[0].id);
        let alert = &payload.alerts[0];
        assert_eq!(alert.rule, RECEIVER_DISABLED_RULE);
        assert_eq!(alert.labels.get("receiver"), Some("ops"));
        assert!(alert.annotations["summary"].contains("ops was disabled"));
        assert!(alert.annotations["summary"].contains("HTTP 410 Gone"));

        let back = receiver_notices("ops", "by the API", true, ["pager"], now);
        assert_eq!(
            back[0].fingerprint, notices[0].fingerprint,
            "the same alert"
        );
        assert_eq!(back[0].event, "resolved");
    }
}
