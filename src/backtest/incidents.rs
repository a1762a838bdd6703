//! Known incidents (a labels file) and how well a backtest's alerts found them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backtest::AlertSpan;
use crate::model::Labels;

/// One known incident: a time range, optionally tied to a rule and labels.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// A name for reports.
    #[serde(default)]
    pub name: String,
    /// Only alerts of this rule count (any rule when absent).
    #[serde(default)]
    pub rule: Option<String>,
    /// Only alerts carrying these labels count.
    #[serde(default)]
    pub labels: Labels,
    /// When it began.
    pub start: DateTime<Utc>,
    /// When it ended.
    pub end: DateTime<Utc>,
}

/// Reads a JSON list of incidents.
pub fn read_incidents(text: &str) -> Result<Vec<Incident>, String> {
    serde_json::from_str(text).map_err(|e| {
        format!("incidents file: {e}; expected a JSON list of {{\"start\": RFC 3339, \"end\": RFC 3339, \"rule\"?, \"labels\"?, \"name\"?}}")
    })
}

/// Precision, recall and detection delays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Incidents in the file.
    pub incidents: usize,
    /// Incidents some alert found.
    pub detected: usize,
    /// Alerts considered.
    pub alerts: usize,
    /// Alerts that fell on an incident.
    pub true_alerts: usize,
    /// true_alerts / alerts (1 when there are no alerts).
    pub precision: f64,
    /// detected / incidents (1 when there are no incidents).
    pub recall: f64,
    /// Per incident: its name and the seconds from its start to the first alert on it.
    pub delays: Vec<(String, Option<f64>)>,
}

fn matches(alert: &AlertSpan, incident: &Incident) -> bool {
    let rule_ok = incident.rule.as_ref().is_none_or(|r| *r == alert.rule);
    let labels_ok = incident
        .labels
        .iter()
        .all(|(k, v)| alert.labels.get(k) == Some(v.as_str()));
    // An alert counts for an incident when it fires while the incident lasts.
    rule_ok && labels_ok && alert.start >= incident.start && alert.start <= incident.end
}

/// Scores alerts against incidents.
pub fn score(alerts: &[AlertSpan], incidents: &[Incident]) -> Scores {
    let true_alerts = alerts
        .iter()
        .filter(|a| incidents.iter().any(|i| matches(a, i)))
        .count();
    let mut delays = Vec::new();
    let mut detected = 0;
    for (n, incident) in incidents.iter().enumerate() {
        let first = alerts
            .iter()
            .filter(|a| matches(a, incident))
            .map(|a| a.start)
            .min();
        if first.is_some() {
            detected += 1;
        }
        let name = if incident.name.is_empty() {
            format!("incident {}", n + 1)
        } else {
            incident.name.clone()
        };
        delays.push((
            name,
            first.map(|t| (t - incident.start).num_milliseconds() as f64 / 1000.0),
        ));
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    Scores {
        incidents: incidents.len(),
        detected,
        alerts: alerts.len(),
        true_alerts,
        precision: ratio(true_alerts, alerts.len()),
        recall: ratio(detected, incidents.len()),
        delays,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(m: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(m * 60, 0).unwrap()
    }

    fn span(rule: &str, start: i64) -> AlertSpan {
        AlertSpan {
            rule: rule.into(),
            fingerprint: crate::model::fingerprint(rule, &Labels::new()),
            labels: Labels::from([("mode", "a")]),
            start: t(start),
            end: None,
            peak: 1.0,
            reason: String::new(),
            summary: String::new(),
            moves: Vec::new(),
        }
    }

    #[test]
    fn precision_recall_and_delay() {
        let incidents = read_incidents(
            r#"[{"name": "slow", "rule": "r", "start": "1970-01-01T00:10:00Z", "end": "1970-01-01T00:20:00Z"},
                {"start": "1970-01-01T01:00:00Z", "end": "1970-01-01T01:10:00Z", "labels": {"mode": "b"}}]"#,
        )
        .unwrap();
        let alerts = [span("r", 12), span("r", 40), span("other", 15)];
        let s = score(&alerts, &incidents);
        assert_eq!((s.detected, s.true_alerts), (1, 1));
        assert!((s.precision - 1.0 / 3.0).abs() < 1e-9);
        assert!((s.recall - 0.5).abs() < 1e-9);
        assert_eq!(s.delays[0], ("slow".to_owned(), Some(120.0)));
        assert_eq!(s.delays[1].1, None);
    }
}
