//! A Slack incoming-webhook message built from a driftwatch payload: a plain `text`
//! (what notifications and old clients show) and Block Kit `blocks`, within Slack's
//! limits (50 blocks, 150 characters of header, 3000 per section).

use serde_json::{json, Value};

use crate::model::payload::{AlertPayload, WebhookPayload};
use crate::model::AlertState;

/// Alerts listed one section each; the rest are counted.
const MAX_LISTED: usize = 20;
/// Slack's limit on a section's text.
const MAX_SECTION: usize = 3000;
/// Slack's limit on a header's text.
const MAX_HEADER: usize = 150;

/// Escapes the three characters Slack's mrkdwn treats as control characters.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn headline(payload: &WebhookPayload) -> String {
    let firing = payload
        .alerts
        .iter()
        .filter(|a| a.state != AlertState::Resolved)
        .count();
    let resolved = payload.alerts.len() - firing;
    let mut rules: Vec<&str> = payload.alerts.iter().map(|a| a.rule.as_str()).collect();
    rules.dedup();
    let what = rules.join(", ");
    if firing > 0 {
        format!("[FIRING:{firing}] {what}")
    } else {
        format!("[RESOLVED:{resolved}] {what}")
    }
}

fn section(alert: &AlertPayload) -> Value {
    let icon = match alert.state {
        AlertState::Resolved => ":white_check_mark:",
        _ => match alert.severity.as_str() {
            "critical" => ":red_circle:",
            "warning" => ":warning:",
            _ => ":information_source:",
        },
    };
    let state = match alert.state {
        AlertState::Resolved => "resolved",
        _ => "firing",
    };
    let mut text = format!(
        "{icon} *{}* ({}, {state})",
        escape(&alert.rule),
        escape(&alert.severity)
    );
    if let Some(summary) = alert.annotations.get("summary") {
        text.push_str(&format!("\n{}", escape(summary)));
    }
    if let Some(reason) = alert.annotations.get("reason") {
        text.push_str(&format!("\n_{}_", escape(reason)));
    }
    let labels: Vec<String> = alert
        .labels
        .0
        .iter()
        .map(|(k, v)| format!("`{}={}`", escape(k), escape(v)))
        .collect();
    if !labels.is_empty() {
        text.push_str(&format!("\n{}", labels.join(" ")));
    }
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": cut(&text, MAX_SECTION) } })
}

/// The Slack message body for `payload`.
pub fn message(payload: &WebhookPayload) -> Value {
    let headline = headline(payload);
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": cut(&headline, MAX_HEADER) }
    })];
    blocks.extend(payload.alerts.iter().take(MAX_LISTED).map(section));
    if payload.alerts.len() > MAX_LISTED {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": format!("…and {} more", payload.alerts.len() - MAX_LISTED) }]
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": format!("driftwatch · {} · {}", escape(&payload.receiver), escape(&payload.created_at)) }]
    }));
    json!({ "text": headline, "blocks": blocks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::render::sample::sample_payload;

    #[test]
    fn a_message_has_text_and_blocks_within_slacks_limits() {
        let mut payload = sample_payload("slack");
        let many = payload.alerts[0].clone();
        payload.alerts.extend(std::iter::repeat_n(many, 60));
        payload.alerts[0]
            .annotations
            .insert("summary".into(), "a <b> & c".into());
        let m = message(&payload);
        assert_eq!(m["text"], "[FIRING:62] workflow_slow");
        let blocks = m["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50, "{}", blocks.len());
        assert_eq!(blocks[0]["type"], "header");
        let first = blocks[1]["text"]["text"].as_str().unwrap();
        assert!(first.contains("a &lt;b&gt; &amp; c"), "{first}");
        assert!(first.contains("`mode=planning_and_control`"), "{first}");
        let more = &blocks[blocks.len() - 2]["elements"][0]["text"];
        assert_eq!(more, "…and 43 more");
    }

    #[test]
    fn a_resolved_only_message_says_so() {
        let mut payload = sample_payload("slack");
        payload.alerts.retain(|a| a.state == AlertState::Resolved);
        assert_eq!(message(&payload)["text"], "[RESOLVED:1] workflow_slow");
    }
}
