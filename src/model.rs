//! The plain values that cross module boundaries: labels, samples, series, severities;
//! notification groups, payloads and silences in the submodules.

pub mod decision;
pub mod flap;
pub mod group;
pub mod journal;
pub mod payload;
pub mod silence;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::types::Fingerprint;

/// A sorted set of label name/value pairs; sorted so that equal sets compare and hash equal.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Labels(pub BTreeMap<String, String>);

impl Labels {
    /// An empty label set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces one label, returning the set (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// Adds or replaces one label.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// The value of one label, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Iterates over the pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Only the named labels (missing ones are left out).
    pub fn project(&self, names: &[String]) -> Labels {
        Labels(
            names
                .iter()
                .filter_map(|n| self.0.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        )
    }

    /// Merges `other` over `self` (other wins on conflicts).
    pub fn merged(&self, other: &Labels) -> Labels {
        let mut out = self.clone();
        for (k, v) in other.iter() {
            out.0.insert(k.clone(), v.clone());
        }
        out
    }
}

impl fmt::Display for Labels {
    /// `model=gpt-4o, agent=engineer` (empty string for no labels).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in &self.0 {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl<const N: usize> From<[(&str, &str); N]> for Labels {
    fn from(pairs: [(&str, &str); N]) -> Self {
        Labels(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Labels {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(pairs: I) -> Self {
        Labels(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

/// One observation of one series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When the observation was made (for a workflow run: when it finished).
    pub ts: DateTime<Utc>,
    /// The observed value, in the metric's unit.
    pub value: f64,
}

/// Samples of one metric with one label set, in time order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The labels that identify the series (metric name excluded).
    pub labels: Labels,
    /// The samples, oldest first.
    pub samples: Vec<Sample>,
}

/// How urgent an alert is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record; nobody needs to act now.
    Info,
    /// Someone should look soon.
    Warning,
    /// Someone should act now.
    Critical,
}

impl Severity {
    /// The lowercase name used in labels and payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lifecycle state of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Not breaching.
    Inactive,
    /// Breaching, but not yet for the rule's `for` duration.
    Pending,
    /// Breaching long enough: notifications go out.
    Firing,
    /// Was firing, has recovered.
    Resolved,
}

impl AlertState {
    /// Every state, each at its [`AlertState::index`].
    pub const ALL: [AlertState; 4] = [
        AlertState::Inactive,
        AlertState::Pending,
        AlertState::Firing,
        AlertState::Resolved,
    ];

    /// Its position in [`AlertState::ALL`], for counts by state.
    pub fn index(self) -> usize {
        match self {
            AlertState::Inactive => 0,
            AlertState::Pending => 1,
            AlertState::Firing => 2,
            AlertState::Resolved => 3,
        }
    }

    /// The lowercase name used in the store, payloads and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    /// Parses the name written by [`AlertState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "inactive" => AlertState::Inactive,
            "pending" => AlertState::Pending,
            "firing" => AlertState::Firing,
            "resolved" => AlertState::Resolved,
            _ => return None,
        })
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stable identity for one (rule, label set): the same inputs give the same
/// fingerprint on every machine and after every restart.
pub fn fingerprint(rule: &str, labels: &Labels) -> Fingerprint {
    let mut hasher = Sha256::new();
    hasher.update(rule.as_bytes());
    for (k, v) in labels.iter() {
        // Separators that cannot appear unescaped keep ("a","bc") and ("ab","c") apart.
        hasher.update([0u8]);
        hasher.update(k.as_bytes());
        hasher.update([1u8]);
        hasher.update(v.as_bytes());
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Fingerprint::from_digest(&first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_label_order_free() {
        let a = Labels::from([("model", "gpt-4o"), ("agent", "engineer")]);
        let b = Labels::new()
            .with("agent", "engineer")
            .with("model", "gpt-4o");
        assert_eq!(fingerprint("r", &a), fingerprint("r", &b));
        assert_eq!(fingerprint("r", &a).len(), 16);
        assert_ne!(fingerprint("r", &a), fingerprint("s", &a));
        let c = Labels::from([("ab", "c")]);
        let d = Labels::from([("a", "bc")]);
        assert_ne!(fingerprint("r", &c), fingerprint("r", &d));
    }

    #[test]
    fn labels_display_and_project() {
        let l = Labels::from([("model", "m1"), ("agent", "a1"), ("mode", "x")]);
        assert_eq!(l.to_string(), "agent=a1, mode=x, model=m1");
        let p = l.project(&["model".into(), "missing".into()]);
        assert_eq!(p, Labels::from([("model", "m1")]));
    }
}
