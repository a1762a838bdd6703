//! The documented, versioned webhook payload (`driftwatch.alert.v1`).

use std::collections::BTreeMap;

use crate::engine::Alert;
use crate::model::{AlertState, Labels};

use crate::model::payload::{AlertPayload, WebhookPayload, PAYLOAD_VERSION};

/// Builds the payload for one alert's notification.
pub fn render_payload(
    id: &str,
    receiver: &str,
    alert: &Alert,
    annotations: &BTreeMap<String, String>,
    created_at: chrono::DateTime<chrono::Utc>,
) -> WebhookPayload {
    let one = alert_payload(alert, annotations);
    group_payload(
        id,
        receiver,
        &alert.fingerprint,
        &alert.labels,
        vec![one],
        created_at,
    )
}

/// One alert as notifications list it: its labels, its rule's annotations plus
/// `summary` and `reason`, its value, score and times.
pub fn alert_payload(alert: &Alert, annotations: &BTreeMap<String, String>) -> AlertPayload {
    let mut all = annotations.clone();
    all.insert("summary".into(), alert.summary.clone());
    all.insert("reason".into(), alert.reason.to_string());
    AlertPayload {
        fingerprint: alert.fingerprint.to_string(),
        rule: alert.rule.clone(),
        state: alert.state,
        severity: alert.severity.as_str().to_owned(),
        labels: alert.labels.clone(),
        annotations: all,
        value: alert.value,
        threshold: alert.threshold,
        score: alert.score,
        starts_at: alert
            .fired_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        ends_at: alert
            .resolved_at
            .filter(|_| alert.state == AlertState::Resolved)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        evaluation_id: None,
        slices: alert.slices.clone(),
        examples: alert.examples.clone(),
    }
}

/// The payload of one notification about a group's alerts: `firing` while any of them
/// fires; common labels and annotations are those every alert shares.
pub fn group_payload(
    id: &str,
    receiver: &str,
    group_key: &str,
    group_labels: &Labels,
    alerts: Vec<AlertPayload>,
    created_at: chrono::DateTime<chrono::Utc>,
) -> WebhookPayload {
    let firing = alerts.iter().any(|a| a.state != AlertState::Resolved);
    let mut common_labels = alerts.first().map(|a| a.labels.clone()).unwrap_or_default();
    let mut common_annotations = alerts
        .first()
        .map(|a| a.annotations.clone())
        .unwrap_or_default();
    for a in alerts.iter().skip(1) {
        common_labels
            .0
            .retain(|k, v| a.labels.get(k) == Some(v.as_str()));
        common_annotations.retain(|k, v| a.annotations.get(k) == Some(v));
    }
    WebhookPayload {
        version: PAYLOAD_VERSION.to_owned(),
        kind: if firing {
            "alert.firing"
        } else {
            "alert.resolved"
        }
        .to_owned(),
        id: id.to_owned(),
        receiver: receiver.to_owned(),
        created_at: created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        status: if firing { "firing" } else { "resolved" }.to_owned(),
        group_key: group_key.to_owned(),
        group_labels: group_labels.clone(),
        common_labels,
        common_annotations,
        alerts,
    }
}

/// A new message id: time-ordered, unique, usable as `webhook-id`.
pub fn new_message_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}
