//! The `source_down` alerts: a source that cannot be read is an alert of its own.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::engine::alert::{Alert, Judgement, Timing, Transition};
use crate::model::{Labels, Severity};

/// The rule name `source_down` alerts carry.
pub const SOURCE_DOWN_RULE: &str = "source_down";

/// One `source_down` alert per source.
#[derive(Debug, Default)]
pub struct SourceHealth {
    alerts: HashMap<String, Alert>,
}

impl SourceHealth {
    /// Restores alerts written by an earlier process.
    pub fn restore(&mut self, alerts: Vec<Alert>) {
        for a in alerts {
            if let Some(source) = a.group.get("source") {
                self.alerts.insert(source.to_owned(), a);
            }
        }
    }

    /// Records a fetch result for `source`: `Some(message)` when it was unreachable.
    pub fn record(
        &mut self,
        source: &str,
        failure: Option<&str>,
        now: DateTime<Utc>,
    ) -> (Alert, Option<Transition>) {
        let alert = self.alerts.entry(source.to_owned()).or_insert_with(|| {
            let group = Labels::new().with("source", source);
            Alert::new(
                SOURCE_DOWN_RULE,
                group,
                &Labels::new(),
                Severity::Critical,
                now,
            )
        });
        let (breach, reason) = match failure {
            Some(m) => (true, format!("source {source} is unreachable: {m}")),
            None => (false, format!("source {source} is reachable again")),
        };
        let judgement = Judgement {
            breach,
            value: Some(if breach { 1.0 } else { 0.0 }),
            threshold: None,
            score: if breach { 1.0 } else { 0.0 },
            summary: reason.clone(),
            reason: reason.into(),
        };
        let timing = Timing {
            for_duration: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
        };
        let transition = alert.apply(&judgement, now, timing);
        (alert.clone(), transition)
    }
}
