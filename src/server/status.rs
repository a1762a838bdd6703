//! What the API reports about rules: each rule's last evaluation, and the last reload.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::types::ConfigError;

/// How one rule's last evaluation went.
#[derive(Debug, Clone, Serialize)]
pub struct RuleStatus {
    /// When it ended.
    pub last_evaluation: DateTime<Utc>,
    /// How long it took.
    pub duration_seconds: f64,
    /// `ok`, `source_error`, `query_error`, `store_error` or `panic`.
    pub result: &'static str,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Series the rule tracked after it.
    pub series: i64,
}

/// The last evaluation of every rule, by name.
///
/// A poisoned lock is read through: each update is one map insert or removal, so a panic
/// elsewhere cannot leave the map half-changed, and the API keeps answering.
#[derive(Debug, Default)]
pub struct RuleStatuses(Mutex<HashMap<String, RuleStatus>>);

impl RuleStatuses {
    /// Records an evaluation.
    pub fn record(&self, rule: &str, status: RuleStatus) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(rule.to_owned(), status);
    }

    /// The last evaluation of `rule`, if it has run.
    pub fn get(&self, rule: &str) -> Option<RuleStatus> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(rule)
            .cloned()
    }

    /// Rules whose last evaluation panicked, with the panic: their tasks are restarting
    /// after a backoff, so `/api/v1/status` does not read as all well.
    pub fn panicked(&self) -> std::collections::BTreeMap<String, String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, s)| s.result == "panic")
            .map(|(name, s)| (name.clone(), s.error.clone().unwrap_or_default()))
            .collect()
    }

    /// Forgets rules that are gone.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|k, _| keep(k));
    }
}

/// How the last reload went.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadStatus {
    /// When it was attempted (the start, for the initial load).
    pub at: DateTime<Utc>,
    /// What triggered it: `startup`, `api`, `sighup` or `watch`.
    pub trigger: String,
    /// Whether the new rules are running.
    pub success: bool,
    /// Every problem found, each with file:line:col, when it failed.
    pub errors: Vec<ReloadError>,
    /// Rules added, changed, removed and kept by the reload.
    pub summary: ReloadSummary,
}

/// One reload problem, located.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadError {
    /// `file:line:col`.
    pub location: String,
    /// The rule it concerns, if known.
    pub rule: Option<String>,
    /// What was wrong.
    pub message: String,
}

impl From<&ConfigError> for ReloadError {
    fn from(e: &ConfigError) -> Self {
        Self {
            location: format!("{}:{}:{}", e.file, e.line, e.column),
            rule: e.rule.clone(),
            message: e.message.clone(),
        }
    }
}

/// What a successful reload changed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ReloadSummary {
    /// New rule names.
    pub added: Vec<String>,
    /// Rules whose definition changed (restarted, alert state handed over).
    pub changed: Vec<String>,
    /// Rules no longer defined (stopped).
    pub removed: Vec<String>,
    /// Rules left running untouched.
    pub unchanged: usize,
}
