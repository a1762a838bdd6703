//! Inhibition: a firing alert that explains others (a `source_down`, a failure burst)
//! mutes the notifications of the alerts it explains, as Alertmanager's inhibit rules:
//! source matchers, target matchers, and labels both must share (`equal`).

use chrono::{DateTime, Utc};

use crate::model::group::Hold;
use crate::model::group::{GroupMember, GroupRecord};
use crate::model::silence::Matcher;
use crate::model::Labels;
use crate::notify::mute::Muter;

/// One inhibit rule.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    /// What a muting alert looks like.
    pub source: Vec<Matcher>,
    /// What a muted alert looks like.
    pub target: Vec<Matcher>,
    /// Labels whose values must be equal in both (a label missing in both is equal).
    pub equal: Vec<String>,
}

fn all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

/// The inhibit rules applied to the alerts firing at one moment.
pub struct Inhibitor<'a> {
    rules: &'a [InhibitRule],
    /// Per rule: the firing alerts matching its source side (fingerprint, labels).
    sources: Vec<Vec<(&'a str, &'a Labels)>>,
}

impl<'a> Inhibitor<'a> {
    /// Indexes the firing alerts (fingerprint, labels) by the rules they can inhibit for.
    pub fn new(rules: &'a [InhibitRule], firing: &'a [(String, Labels)]) -> Self {
        let sources = rules
            .iter()
            .map(|r| {
                firing
                    .iter()
                    .filter(|(_, l)| all(&r.source, l))
                    .map(|(fp, l)| (fp.as_str(), l))
                    .collect()
            })
            .collect();
        Self { rules, sources }
    }

    /// The fingerprint of a firing alert that inhibits the alert `fingerprint` with
    /// `labels`, if any. An alert never inhibits itself.
    pub fn inhibited_by(&self, fingerprint: &str, labels: &Labels) -> Option<&'a str> {
        self.rules
            .iter()
            .zip(&self.sources)
            .filter(|(r, _)| all(&r.target, labels))
            .find_map(|(r, sources)| {
                sources
                    .iter()
                    .find(|(fp, src)| {
                        *fp != fingerprint && r.equal.iter().all(|n| src.get(n) == labels.get(n))
                    })
                    .map(|(fp, _)| *fp)
            })
    }
}

impl Muter for Inhibitor<'_> {
    /// A firing alert that explains this one holds it while it fires.
    fn hold_alert(
        &self,
        _group: &GroupRecord,
        member: &GroupMember,
        _now: DateTime<Utc>,
    ) -> Option<Hold> {
        self.inhibited_by(&member.fingerprint, &member.alert.labels)
            .map(|by| Hold::Inhibited(by.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> InhibitRule {
        InhibitRule {
            source: vec![Matcher::parse("rule=source_down").unwrap()],
            target: vec![Matcher::parse("rule!=source_down").unwrap()],
            equal: vec!["source".into()],
        }
    }

    #[test]
    fn a_firing_source_mutes_targets_that_share_the_equal_labels() {
        let rules = [rule()];
        let firing = vec![(
            "down".to_owned(),
            Labels::from([("rule", "source_down"), ("source", "cmbagent")]),
        )];
        let inh = Inhibitor::new(&rules, &firing);
        let same = Labels::from([("rule", "latency"), ("source", "cmbagent")]);
        let other = Labels::from([("rule", "latency"), ("source", "billing")]);
        assert_eq!(inh.inhibited_by("a", &same), Some("down"));
        assert_eq!(inh.inhibited_by("b", &other), None, "equal labels differ");
        assert_eq!(
            inh.inhibited_by("down", &firing[0].1),
            None,
            "the source is no target"
        );
        let none: Vec<(String, Labels)> = Vec::new();
        assert_eq!(Inhibitor::new(&rules, &none).inhibited_by("a", &same), None);
    }
}
