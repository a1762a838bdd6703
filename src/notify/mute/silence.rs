//! Silences: label matchers (`=`, `!=`, `=~`, `!~`, as in Alertmanager) with a time
//! range, an author and a comment, that mute the notifications of the alerts they match
//! while they are active.

use std::sync::{PoisonError, RwLock};

use chrono::{DateTime, Utc};

use crate::model::group::Hold;
use crate::model::group::{GroupMember, GroupRecord};
use crate::model::Labels;
use crate::notify::mute::Muter;

use crate::model::silence::Silence;

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

impl Muter for SilenceSet {
    /// An active silence matching the alert's labels holds it until the silence ends.
    fn hold_alert(
        &self,
        _group: &GroupRecord,
        member: &GroupMember,
        now: DateTime<Utc>,
    ) -> Option<Hold> {
        self.muting_until(&member.alert.labels, now)
            .map(|(id, until)| Hold::Silenced {
                id,
                until_ms: until.timestamp_millis(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::silence::Matcher;

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
