//! The documented, versioned webhook payload (`driftwatch.alert.v1`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::engine::Alert;
use crate::model::{AlertState, Labels};

/// The payload schema version this code writes.
pub const PAYLOAD_VERSION: &str = "driftwatch.alert.v1";

/// The JSON body POSTed to webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// Always [`PAYLOAD_VERSION`] for this layout.
    pub version: String,
    /// `alert.firing` or `alert.resolved`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The notification id (equals the `webhook-id` header).
    pub id: String,
    /// The receiver's name.
    pub receiver: String,
    /// When the notification was created (RFC 3339), not when it was sent.
    pub created_at: String,
    /// `firing` while any alert of the group fires, else `resolved`.
    #[serde(default)]
    pub status: String,
    /// Identity of the group (route and grouping labels) this notification is about.
    #[serde(default)]
    pub group_key: String,
    /// The labels the group was formed by (the route's `group_by`).
    #[serde(default)]
    pub group_labels: Labels,
    /// Labels every alert of the notification shares.
    #[serde(default)]
    pub common_labels: Labels,
    /// Annotations every alert of the notification shares.
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// The alerts this notification is about.
    pub alerts: Vec<AlertPayload>,
}

/// One alert inside a payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertPayload {
    /// Stable identity of (rule, group labels).
    pub fingerprint: String,
    /// The rule's name.
    pub rule: String,
    /// `firing` or `resolved`.
    pub state: AlertState,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// All labels.
    pub labels: Labels,
    /// `summary`, `reason`, and the rule's own annotations.
    pub annotations: BTreeMap<String, String>,
    /// The value that was judged (null when there was no data).
    pub value: Option<f64>,
    /// The threshold or baseline centre it was judged against.
    pub threshold: Option<f64>,
    /// Anomaly score in [0,1].
    pub score: f64,
    /// When the breach began (RFC 3339).
    pub starts_at: Option<String>,
    /// When it resolved (RFC 3339), null while firing.
    pub ends_at: Option<String>,
    /// The evaluation that made this change (absent for changes made outside one, such
    /// as a receiver's health notice): the same id is on that evaluation's log lines and
    /// in the alert's history (`GET /api/v1/alerts/{fingerprint}/history`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_id: Option<String>,
    /// A sliced rule's cause: the slices it shows in, the one that explains it best first
    /// (absent for rules without slices).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<Labels>,
    /// The rows behind the alert (runs, steps, sessions and their values), worst first
    /// (absent when the rule's source cannot say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<crate::engine::alert::Example>,
}

impl WebhookPayload {
    /// The distinct evaluation ids of the alerts it carries, sorted.
    pub fn evaluation_ids(&self) -> Vec<String> {
        let ids: std::collections::BTreeSet<&String> = self
            .alerts
            .iter()
            .filter_map(|a| a.evaluation_id.as_ref())
            .collect();
        ids.into_iter().cloned().collect()
    }
}

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
    all.insert("reason".into(), alert.reason.clone());
    AlertPayload {
        fingerprint: alert.fingerprint.clone(),
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
