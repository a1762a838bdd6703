//! A fixed sample notification (two firing alerts and a resolved one) for previewing
//! templates with `driftwatch template render` and for the format tests.

use std::collections::BTreeMap;

use crate::model::payload::{AlertPayload, WebhookPayload, PAYLOAD_VERSION};
use crate::model::{AlertState, Labels};

/// The sample notification for `receiver`; the same every time.
pub fn sample_payload(receiver: &str) -> WebhookPayload {
    let alert = |rule: &str,
                 mode: &str,
                 state: AlertState,
                 value: f64,
                 summary: &str,
                 reason: &str,
                 ends_at: Option<&str>| {
        let labels = Labels(BTreeMap::from([
            ("mode".to_owned(), mode.to_owned()),
            ("rule".to_owned(), rule.to_owned()),
            ("severity".to_owned(), "warning".to_owned()),
        ]));
        AlertPayload {
            fingerprint: format!("{rule}-{mode}"),
            rule: rule.to_owned(),
            state,
            severity: "warning".to_owned(),
            labels,
            annotations: BTreeMap::from([
                ("summary".to_owned(), summary.to_owned()),
                ("reason".to_owned(), reason.to_owned()),
            ]),
            value: Some(value),
            threshold: Some(600.0),
            score: 1.0,
            starts_at: Some("2025-01-06T09:58:00.000Z".to_owned()),
            ends_at: ends_at.map(str::to_owned),
            evaluation_id: Some("0194400000007000800000000000eval".to_owned()),
            slices: Vec::new(),
            examples: Vec::new(),
        }
    };
    WebhookPayload {
        version: PAYLOAD_VERSION.to_owned(),
        kind: "alert.firing".to_owned(),
        id: "msg_0194400000007000800000000000sample".to_owned(),
        receiver: receiver.to_owned(),
        created_at: "2025-01-06T10:00:00.000Z".to_owned(),
        status: "firing".to_owned(),
        group_key: "workflow_slow".to_owned(),
        group_labels: Labels(BTreeMap::from([(
            "rule".to_owned(),
            "workflow_slow".to_owned(),
        )])),
        common_labels: Labels(BTreeMap::from([
            ("rule".to_owned(), "workflow_slow".to_owned()),
            ("severity".to_owned(), "warning".to_owned()),
        ])),
        common_annotations: BTreeMap::new(),
        alerts: vec![
            alert(
                "workflow_slow",
                "planning_and_control",
                AlertState::Firing,
                1042.0,
                "slowest planning_and_control workflow took 1042 s",
                "1042 s is above the threshold 600 s",
                None,
            ),
            alert(
                "workflow_slow",
                "deep_research",
                AlertState::Firing,
                873.5,
                "slowest deep_research workflow took 873.5 s",
                "873.5 s is above the threshold 600 s",
                None,
            ),
            alert(
                "workflow_slow",
                "one_shot",
                AlertState::Resolved,
                41.0,
                "slowest one_shot workflow took 41 s",
                "41 s is within the threshold 600 s",
                Some("2025-01-06T09:59:30.000Z"),
            ),
        ],
    }
}
