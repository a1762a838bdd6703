//! Alertmanager's two JSON shapes built from a driftwatch payload: the webhook body an
//! Alertmanager sends to its receivers (version 4, for receivers written against it) and
//! the alerts its `/api/v2/alerts` endpoint accepts (for pushing to an Alertmanager).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::payload::{AlertPayload, WebhookPayload};
use crate::model::AlertState;

/// Alertmanager's "zero" time, which its webhooks send as `endsAt` of a firing alert.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The webhook body Alertmanager sends (`version: "4"`), as documented in its
/// configuration reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerWebhook {
    /// Always `"4"`.
    pub version: String,
    /// Identifies the group the alerts belong to.
    pub group_key: String,
    /// How many alerts were left out (driftwatch sends all: 0).
    pub truncated_alerts: u64,
    /// `firing` or `resolved`.
    pub status: String,
    /// The receiver's name.
    pub receiver: String,
    /// The labels the group was formed by.
    pub group_labels: BTreeMap<String, String>,
    /// Labels all alerts share.
    pub common_labels: BTreeMap<String, String>,
    /// Annotations all alerts share.
    pub common_annotations: BTreeMap<String, String>,
    /// Link back to the sender (empty: driftwatch has no UI page for a group).
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// The alerts.
    pub alerts: Vec<AlertmanagerWebhookAlert>,
}

/// One alert of an [`AlertmanagerWebhook`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerWebhookAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// The alert's labels, `alertname` (the rule) among them.
    pub labels: BTreeMap<String, String>,
    /// The alert's annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing (RFC 3339).
    pub starts_at: String,
    /// When it resolved; Alertmanager's zero time while firing.
    pub ends_at: String,
    /// Link to what produced the alert (empty).
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// The alert's identity.
    pub fingerprint: String,
}

/// One alert as Alertmanager's `POST /api/v2/alerts` accepts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    /// Identifying labels, `alertname` among them.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started.
    pub starts_at: String,
    /// When it ends: the resolve time, or for a firing alert the time after which
    /// Alertmanager should consider it resolved unless told again.
    pub ends_at: String,
}

/// An alert's labels as Alertmanager wants them: `alertname` set to the rule, names
/// outside `[a-zA-Z_][a-zA-Z0-9_]*` rewritten with `_`, empty values left out.
fn labels_of(alert: &AlertPayload) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = alert
        .labels
        .0
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (label_name(k), v.clone()))
        .collect();
    out.insert("alertname".to_owned(), alert.rule.clone());
    out
}

fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn status_of(alert: &AlertPayload) -> &'static str {
    match alert.state {
        AlertState::Resolved => "resolved",
        _ => "firing",
    }
}

/// When `alert` started firing (the notification's time when unknown).
fn started(payload: &WebhookPayload, alert: &AlertPayload) -> String {
    alert
        .starts_at
        .clone()
        .unwrap_or_else(|| payload.created_at.clone())
}

/// When a resolved `alert` ended (the notification's time when unknown); `None` while
/// it fires.
fn ended(payload: &WebhookPayload, alert: &AlertPayload) -> Option<String> {
    (alert.state == AlertState::Resolved).then(|| {
        alert
            .ends_at
            .clone()
            .unwrap_or_else(|| payload.created_at.clone())
    })
}

/// The entries every map of `maps` holds with the same value.
fn common(maps: &[BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let Some((first, rest)) = maps.split_first() else {
        return BTreeMap::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The Alertmanager webhook (version 4) body for `payload`.
pub fn webhook_body(payload: &WebhookPayload) -> AlertmanagerWebhook {
    let alerts: Vec<AlertmanagerWebhookAlert> = payload
        .alerts
        .iter()
        .map(|a| AlertmanagerWebhookAlert {
            status: status_of(a).to_owned(),
            labels: labels_of(a),
            annotations: a.annotations.clone(),
            starts_at: started(payload, a),
            ends_at: ended(payload, a).unwrap_or_else(|| ZERO_TIME.to_owned()),
            generator_url: String::new(),
            fingerprint: a.fingerprint.clone(),
        })
        .collect();
    let labels: Vec<_> = alerts.iter().map(|a| a.labels.clone()).collect();
    let annotations: Vec<_> = alerts.iter().map(|a| a.annotations.clone()).collect();
    let status = if alerts.iter().any(|a| a.status == "firing") {
        "firing"
    } else {
        "resolved"
    };
    AlertmanagerWebhook {
        version: "4".to_owned(),
        group_key: payload.group_key.clone(),
        truncated_alerts: 0,
        status: status.to_owned(),
        receiver: payload.receiver.clone(),
        group_labels: payload
            .group_labels
            .0
            .iter()
            .map(|(k, v)| (label_name(k), v.clone()))
            .collect(),
        common_labels: common(&labels),
        common_annotations: common(&annotations),
        external_url: String::new(),
        alerts,
    }
}

/// The `POST /api/v2/alerts` body for `payload`. A firing alert ends `firing_ttl` after
/// the notification was created, so an Alertmanager that hears nothing more (driftwatch
/// gone) resolves it then; a resolved alert ends when it resolved.
pub fn api_alerts(payload: &WebhookPayload, firing_ttl: Duration) -> Vec<PostableAlert> {
    let created = chrono::DateTime::parse_from_rfc3339(&payload.created_at)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::DateTime::<chrono::Utc>::UNIX_EPOCH);
    let rfc3339 =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    payload
        .alerts
        .iter()
        .map(|a| PostableAlert {
            labels: labels_of(a),
            annotations: a.annotations.clone(),
            starts_at: started(payload, a),
            ends_at: ended(payload, a)
                .unwrap_or_else(|| rfc3339(crate::time_math::later(created, firing_ttl))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::render::sample::sample_payload;

    /// The example from Alertmanager's configuration reference (`<webhook_config>`),
    /// filled in as an Alertmanager 0.25 sends it.
    const DOCUMENTED: &str = r#"{
      "version": "4",
      "groupKey": "{}:{alertname=\"workflow_slow\"}",
      "truncatedAlerts": 0,
      "status": "firing",
      "receiver": "ops",
      "groupLabels": {"alertname": "workflow_slow"},
      "commonLabels": {"alertname": "workflow_slow", "severity": "warning"},
      "commonAnnotations": {},
      "externalURL": "http://alertmanager:9093",
      "alerts": [{
        "status": "firing",
        "labels": {"alertname": "workflow_slow", "mode": "one_shot", "severity": "warning"},
        "annotations": {"summary": "slow"},
        "startsAt": "2025-01-06T09:58:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "c6f1fa2a6ea1a8b4"
      }]
    }"#;

    /// Every key of `documented`, recursively, with the JSON type of its value.
    fn shape(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m)
                if !path.ends_with("abels") && !path.ends_with("nnotations") =>
            {
                for (k, v) in m {
                    shape(v, &format!("{path}.{k}"), out);
                }
            }
            serde_json::Value::Array(a) => {
                if let Some(first) = a.first() {
                    shape(first, &format!("{path}[]"), out);
                }
            }
            other => {
                let kind = match other {
                    serde_json::Value::Null => "null",
                    serde_json::Value::Bool(_) => "bool",
                    serde_json::Value::Number(_) => "number",
                    serde_json::Value::String(_) => "string",
                    serde_json::Value::Array(_) => "array",
                    serde_json::Value::Object(_) => "object",
                };
                out.push(format!("{path}: {kind}"));
            }
        }
    }

    #[test]
    fn the_webhook_preset_has_exactly_the_documented_shape() {
        let ours = serde_json::to_value(webhook_body(&sample_payload("ops"))).unwrap();
        let documented: serde_json::Value = serde_json::from_str(DOCUMENTED).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        shape(&ours, "", &mut a);
        shape(&documented, "", &mut b);
        a.sort();
        b.sort();
        assert_eq!(a, b);
        // And a receiver written against the documented example reads ours.
        let parsed: AlertmanagerWebhook = serde_json::from_value(ours).unwrap();
        assert_eq!(parsed.version, "4");
        assert_eq!(parsed.status, "firing");
        assert_eq!(parsed.alerts.len(), 3);
        assert_eq!(parsed.alerts[0].labels["alertname"], "workflow_slow");
        assert_eq!(parsed.alerts[0].ends_at, ZERO_TIME);
        assert_eq!(parsed.alerts[2].status, "resolved");
        assert_eq!(parsed.alerts[2].ends_at, "2025-01-06T09:59:30.000Z");
        assert_eq!(
            parsed.common_labels.get("alertname").map(String::as_str),
            Some("workflow_slow")
        );
        assert!(
            !parsed.common_labels.contains_key("mode"),
            "mode differs between alerts"
        );
    }

    #[test]
    fn api_alerts_end_after_the_ttl_while_firing_and_at_resolution_when_resolved() {
        let alerts = api_alerts(&sample_payload("am"), Duration::from_secs(3600));
        assert_eq!(alerts.len(), 3);
        assert_eq!(alerts[0].ends_at, "2025-01-06T11:00:00.000Z");
        assert_eq!(alerts[2].ends_at, "2025-01-06T09:59:30.000Z");
        assert_eq!(alerts[0].labels["alertname"], "workflow_slow");
        let json = serde_json::to_value(&alerts[0]).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["annotations", "endsAt", "labels", "startsAt"]);
    }

    #[test]
    fn label_names_are_made_valid_for_alertmanager() {
        assert_eq!(label_name("step.number"), "step_number");
        assert_eq!(label_name("9x"), "_9x");
        assert_eq!(label_name("model"), "model");
    }
}
