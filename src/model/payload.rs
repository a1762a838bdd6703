//! The documented, versioned webhook payload (`driftwatch.alert.v1`): what a
//! notification says about its alerts. notify builds it, the store keeps it with each
//! group and outbox row, receivers get it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    pub examples: Vec<Example>,
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

/// One row behind an alert: a person can jump from the page to the run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Example {
    /// The workflow run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The step, for step and call metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// The session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Its value of the rule's metric.
    pub value: f64,
    /// When (the metric's time column), RFC 3339.
    pub at: String,
}
