//! Silences: label matchers (`=`, `!=`, `=~`, `!~`, as in Alertmanager) with a time
//! range, an author and a comment, that mute the notifications of the alerts they match
//! while they are active.

use std::sync::{PoisonError, RwLock};

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Serialize, Serializer};

use crate::model::Labels;

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `name=value`.
    Equal,
    /// `name!=value`.
    NotEqual,
    /// `name=~regex` (anchored, as in Prometheus).
    Regex,
    /// `name!~regex`.
    NotRegex,
}

/// One label matcher; a missing label reads as the empty string, as in Prometheus.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// Value or pattern as written.
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Parses `name=value`, `name!=value`, `name=~regex` or `name!~regex`; the value may
    /// be double-quoted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| format!("matcher {text:?} has no operator; expected name=value, name!=value, name=~regex or name!~regex"))?;
        let name = &text[..end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("matcher {text:?}: invalid label name {name:?}"));
        }
        let rest = &text[end..];
        let (op, value) = [
            ("=~", MatchOp::Regex),
            ("!~", MatchOp::NotRegex),
            ("!=", MatchOp::NotEqual),
            ("=", MatchOp::Equal),
        ]
        .into_iter()
        .find_map(|(sym, op)| rest.strip_prefix(sym).map(|v| (op, v)))
        .ok_or_else(|| format!("matcher {text:?}: expected =, !=, =~ or !~ after {name:?}"))?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value)
            .to_owned();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("matcher {text:?}: invalid regex: {e}"))?,
            ),
            _ => None,
        };
        Ok(Self {
            name: name.to_owned(),
            op,
            value,
            regex,
        })
    }

    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.0.get(&self.name).map(String::as_str).unwrap_or("");
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(v),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
            _ => false,
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A silence.
#[derive(Debug, Clone, Serialize)]
pub struct Silence {
    /// Its id.
    pub id: String,
    /// All must match.
    pub matchers: Vec<Matcher>,
    /// Active from.
    pub starts_at: DateTime<Utc>,
    /// Active until (expiring sets it to now).
    pub ends_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// End the silence once the alerts it muted have resolved and none it matches
    /// fires, so it cannot outlive the incident and hide the next one.
    #[serde(default)]
    pub expire_on_resolve: bool,
}

impl Silence {
    /// Active at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// Every matcher matches `labels`.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// The silences group flushes consult, refreshed from the store when they change.
#[derive(Debug, Default)]
pub struct SilenceSet {
    silences: RwLock<Vec<Silence>>,
}

impl SilenceSet {
    /// Replaces the set (after a change through the API, or at start).
    pub fn replace(&self, silences: Vec<Silence>) {
        *self
            .silences
            .write()
            .unwrap_or_else(PoisonError::into_inner) = silences;
    }

    /// The active silence that mutes `labels` at `now`: its id and end.
    pub fn muting_until(
        &self,
        labels: &Labels,
        now: DateTime<Utc>,
    ) -> Option<(String, DateTime<Utc>)> {
        self.silences
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|s| s.is_active(now) && s.matches(labels))
            .map(|s| (s.id.clone(), s.ends_at))
    }

    /// The active silences that end once the alerts they muted resolve.
    pub fn expiring_on_resolve(&self, now: DateTime<Utc>) -> Vec<Silence> {
        self.silences
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|s| s.expire_on_resolve && s.is_active(now))
            .cloned()
            .collect()
    }

    /// The id of an active silence that mutes `labels` at `now`.
    pub fn muting(&self, labels: &Labels, now: DateTime<Utc>) -> Option<String> {
        self.silences
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|s| s.is_active(now) && s.matches(labels))
            .map(|s| s.id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels::new()
            .with("model", "gpt-4o")
            .with("severity", "warning")
    }

    #[test]
    fn matchers_parse_and_match_like_alertmanager() {
        let cases = [
            ("model=gpt-4o", true),
            ("model=\"gpt-4o\"", true),
            ("model!=gpt-4o", false),
            ("model=~gpt-.*", true),
            ("model=~gpt", false),
            ("model!~claude.*", true),
            ("agent=", true),
            ("agent!=", false),
        ];
        for (text, expected) in cases {
            let m = Matcher::parse(text).unwrap();
            assert_eq!(m.matches(&labels()), expected, "{text}");
        }
        for bad in ["model", "=x", "1a=b", "model=~(", "model<x"] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Matcher::parse("model=~gpt.*").unwrap().to_string(),
            "model=~\"gpt.*\""
        );
    }

    #[test]
    fn a_silence_mutes_only_what_it_matches_and_only_while_active() {
        let now = Utc::now();
        let set = SilenceSet::default();
        set.replace(vec![Silence {
            id: "s1".into(),
            matchers: vec![Matcher::parse("model=gpt-4o").unwrap()],
            starts_at: now,
            ends_at: now + chrono::Duration::hours(1),
            created_by: "me".into(),
            comment: "maintenance".into(),
            expire_on_resolve: false,
        }]);
        assert_eq!(set.muting(&labels(), now), Some("s1".into()));
        assert_eq!(
            set.muting(&Labels::new().with("model", "claude"), now),
            None
        );
        assert_eq!(
            set.muting(&labels(), now - chrono::Duration::seconds(1)),
            None
        );
        assert_eq!(
            set.muting(&labels(), now + chrono::Duration::hours(1)),
            None
        );
    }
}
