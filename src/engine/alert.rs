//! The alert state machine: inactive → pending (`for`) → firing → resolved.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{AlertState, Labels, Severity};

use crate::model::payload::Example;
use crate::types::Fingerprint;

/// One alert instance: a (rule, label set) and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable identity of (rule, group labels).
    pub fingerprint: Fingerprint,
    /// The rule's name.
    pub rule: String,
    /// The group's labels (what `group_by` selected).
    pub group: Labels,
    /// All labels: group, rule labels, `rule` and `severity`.
    pub labels: Labels,
    /// Severity.
    pub severity: Severity,
    /// Current state.
    pub state: AlertState,
    /// When the current breach began (pending or firing).
    pub active_since: Option<DateTime<Utc>>,
    /// When it last started firing.
    pub fired_at: Option<DateTime<Utc>>,
    /// When it last resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When the value last breached.
    pub last_breach_at: Option<DateTime<Utc>>,
    /// When it was last evaluated.
    pub evaluated_at: DateTime<Utc>,
    /// The value at the last evaluation.
    pub value: Option<f64>,
    /// The threshold or baseline centre at the last evaluation.
    pub threshold: Option<f64>,
    /// Anomaly score in [0,1] at the last evaluation.
    pub score: f64,
    /// The rendered summary at the last evaluation.
    pub summary: String,
    /// The detector's reason at the last evaluation (usually one of its fixed phrases,
    /// kept borrowed so the evaluation of a quiet series touches no string of its own).
    pub reason: Cow<'static, str>,
    /// Written by versions before notification groups: its firing notification was
    /// held back by a silence, so it is not adopted into a group as already notified.
    #[serde(default)]
    pub muted: bool,
    /// A sliced rule's cause: the slices it shows in, the one that explains it best
    /// first (empty for rules without slices).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<Labels>,
    /// The rows behind the alert when it started firing: its slice's worst values of the
    /// window, with the run, step and session they belong to (catalog metrics only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Example>,
}

/// What one judgement says about a group at one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Whether the value breaches.
    pub breach: bool,
    /// The aggregated value, if there was data.
    pub value: Option<f64>,
    /// The threshold or baseline centre.
    pub threshold: Option<f64>,
    /// Anomaly score.
    pub score: f64,
    /// Summary rendered for this judgement.
    pub summary: String,
    /// Reason fragment.
    pub reason: std::borrow::Cow<'static, str>,
}

/// A change of state that the store records.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The alert after the change.
    pub alert: Alert,
    /// The state before.
    pub from: AlertState,
    /// When.
    pub at: DateTime<Utc>,
}

impl Transition {
    /// True for the changes people are notified of: starting to fire, and resolving.
    pub fn notifies(&self) -> bool {
        matches!(
            (self.from, self.alert.state),
            (_, AlertState::Firing) | (AlertState::Firing, AlertState::Resolved)
        ) && self.from != self.alert.state
    }
}

/// The timing parameters of the state machine.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a breach must last before firing.
    pub for_duration: Duration,
    /// How long to keep firing after the breach ends.
    pub keep_firing_for: Duration,
}

impl Alert {
    /// A new, inactive alert of `rule` for the group `group`, carrying `extra` labels
    /// besides the group's, `rule` and `severity`.
    pub fn new(
        rule: &str,
        group: Labels,
        extra: &Labels,
        severity: Severity,
        now: DateTime<Utc>,
    ) -> Self {
        let labels = group
            .merged(extra)
            .with("rule", rule)
            .with("severity", severity.as_str());
        Alert {
            fingerprint: crate::model::fingerprint(rule, &group),
            rule: rule.to_owned(),
            group,
            labels,
            severity,
            state: AlertState::Inactive,
            active_since: None,
            fired_at: None,
            resolved_at: None,
            last_breach_at: None,
            evaluated_at: now,
            value: None,
            threshold: None,
            score: 0.0,
            summary: String::new(),
            reason: Cow::Borrowed(""),
            muted: false,
            slices: Vec::new(),
            examples: Vec::new(),
        }
    }

    /// Names another slice as the alert's group (a sliced rule's cause is refined to the
    /// slice that explains it better), keeping its fingerprint: receivers and silences
    /// see one alert whose labels move, not a resolve and a new page.
    pub fn rehome(&mut self, group: Labels, extra: &Labels) {
        self.labels = group
            .merged(extra)
            .with("rule", &self.rule)
            .with("severity", self.severity.as_str());
        self.group = group;
    }

    /// Applies one judgement at `now`; returns the transition if the state changed.
    pub fn apply(
        &mut self,
        j: &Judgement,
        now: DateTime<Utc>,
        timing: Timing,
    ) -> Option<Transition> {
        let from = self.state;
        self.evaluated_at = now;
        if j.value.is_some() {
            self.value = j.value;
        }
        self.threshold = j.threshold.or(self.threshold);
        self.score = j.score;
        if !same_text(&self.reason, &j.reason) {
            self.reason = j.reason.clone();
        }
        if j.breach {
            self.summary = j.summary.clone();
            self.last_breach_at = Some(now);
            match self.state {
                AlertState::Inactive | AlertState::Resolved => {
                    self.active_since = Some(now);
                    self.state = AlertState::Pending;
                }
                AlertState::Pending | AlertState::Firing => {}
            }
            if self.state == AlertState::Pending {
                let since = self.active_since.unwrap_or(now);
                if elapsed(since, now) >= timing.for_duration {
                    self.state = AlertState::Firing;
                    self.fired_at = Some(now);
                    self.resolved_at = None;
                }
            }
        } else {
            match self.state {
                AlertState::Pending => {
                    self.state = AlertState::Inactive;
                    self.active_since = None;
                }
                AlertState::Firing => {
                    let last = self.last_breach_at.unwrap_or(now);
                    if elapsed(last, now) >= timing.keep_firing_for {
                        self.state = AlertState::Resolved;
                        self.resolved_at = Some(now);
                        self.active_since = None;
                        // A resolve tells what the value is now and why it is fine
                        // (back in band, or accepted as the new level), not the
                        // sentence it fired with.
                        if !j.summary.is_empty() {
                            self.summary = j.summary.clone();
                        }
                    }
                }
                AlertState::Inactive | AlertState::Resolved => {}
            }
        }
        (self.state != from).then(|| Transition {
            alert: self.clone(),
            from,
            at: now,
        })
    }
}

/// Whether two reasons read the same; the same fixed phrase is known without reading it.
fn same_text(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert::new(
            "r",
            Labels::new(),
            &Labels::new(),
            Severity::Warning,
            Utc::now(),
        )
    }

    fn j(breach: bool) -> Judgement {
        Judgement {
            breach,
            value: Some(1.0),
            threshold: Some(0.5),
            score: if breach { 1.0 } else { 0.0 },
            summary: "s".into(),
            reason: "r".into(),
        }
    }

    #[test]
    fn pending_then_firing_after_for_then_resolved() {
        let t0 = Utc::now();
        let timing = Timing {
            for_duration: Duration::from_secs(60),
            keep_firing_for: Duration::ZERO,
        };
        let mut a = alert();
        let tr = a.apply(&j(true), t0, timing).unwrap();
        assert_eq!(
            (tr.from, a.state),
            (AlertState::Inactive, AlertState::Pending)
        );
        assert!(!tr.notifies());
        assert!(a
            .apply(&j(true), t0 + chrono::Duration::seconds(30), timing)
            .is_none());
        let tr = a
            .apply(&j(true), t0 + chrono::Duration::seconds(60), timing)
            .unwrap();
        assert_eq!(a.state, AlertState::Firing);
        assert!(tr.notifies());
        let tr = a
            .apply(&j(false), t0 + chrono::Duration::seconds(90), timing)
            .unwrap();
        assert_eq!(a.state, AlertState::Resolved);
        assert!(tr.notifies());
    }

    #[test]
    fn pending_that_recovers_never_fires() {
        let t0 = Utc::now();
        let timing = Timing {
            for_duration: Duration::from_secs(60),
            keep_firing_for: Duration::ZERO,
        };
        let mut a = alert();
        a.apply(&j(true), t0, timing);
        let tr = a
            .apply(&j(false), t0 + chrono::Duration::seconds(30), timing)
            .unwrap();
        assert_eq!(a.state, AlertState::Inactive);
        assert!(!tr.notifies());
    }

    #[test]
    fn keep_firing_for_holds_the_alert() {
        let t0 = Utc::now();
        let timing = Timing {
            for_duration: Duration::ZERO,
            keep_firing_for: Duration::from_secs(120),
        };
        let mut a = alert();
        a.apply(&j(true), t0, timing);
        assert_eq!(a.state, AlertState::Firing);
        assert!(a
            .apply(&j(false), t0 + chrono::Duration::seconds(60), timing)
            .is_none());
        assert_eq!(a.state, AlertState::Firing);
        a.apply(&j(false), t0 + chrono::Duration::seconds(120), timing);
        assert_eq!(a.state, AlertState::Resolved);
    }
}
