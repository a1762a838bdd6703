//! Intake, the first stage of the notification path: an evaluation's alert changes
//! become entries of the notification groups their routes name, with flap control (an
//! alert that changes too often is reported once as flapping, then held until it has
//! kept one state for a quiet spell). Each rule's intake owns its alerts' flap records.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::engine::{Alert, Transition};
use crate::model::decision::{Decision, DecisionKind};
use crate::model::flap::FlapRecord;
use crate::model::AlertState;
use crate::notify::mute::flap::{self, FlapVerdict};
use crate::notify::pipeline::policy::NotifyPolicy;
use crate::notify::render::payload::alert_payload;
use crate::store::GroupEntry;
use crate::types::Fingerprint;

/// Where one rule's alert changes go.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    /// The rule's receivers (routes without a receiver of their own send to them).
    pub receivers: &'a [String],
    /// The rule's annotations, added to each alert's payload.
    pub annotations: &'a BTreeMap<String, String>,
    /// The evaluation that made the changes, carried in each payload.
    pub evaluation_id: Option<&'a str>,
}

/// What intake made of one evaluation's changes.
#[derive(Debug, Default)]
pub struct IntakeOutcome {
    /// The changes as entries of their groups, to commit with the evaluation.
    pub entries: Vec<GroupEntry>,
    /// Flap records that changed (fingerprint, record), to commit with the evaluation.
    pub flap_records: Vec<(Fingerprint, FlapRecord)>,
    /// Alerts that started flapping here (fingerprints).
    pub started_flapping: Vec<Fingerprint>,
    /// What flap control decided, for the decision log.
    pub decisions: Vec<Decision>,
}

/// One rule's intake: its flap records, by alert fingerprint.
#[derive(Debug, Default, Clone)]
pub struct Intake {
    records: HashMap<Fingerprint, FlapRecord>,
}

impl Intake {
    /// An intake resuming from stored flap records.
    pub fn new(records: HashMap<Fingerprint, FlapRecord>) -> Self {
        Self { records }
    }

    /// The flap record of one alert, if it has one.
    pub fn record(&self, fingerprint: &str) -> Option<&FlapRecord> {
        self.records.get(fingerprint)
    }

    /// Drops the records of alerts the engine forgot.
    pub fn forget(&mut self, fingerprints: &[Fingerprint]) {
        for fp in fingerprints {
            self.records.remove(fp);
        }
    }

    /// Takes one evaluation's `transitions` in: the notifying ones join their groups
    /// unless flap control holds them, and flapping alerts that settled by `now` are
    /// notified in the state they have now (`current` gives the rule's alerts).
    pub fn take<'a>(
        &mut self,
        policy: &NotifyPolicy,
        to: Destination<'_>,
        transitions: &[Transition],
        current: impl Fn(&str) -> Option<&'a Alert>,
        now: DateTime<Utc>,
    ) -> IntakeOutcome {
        let mut out = IntakeOutcome::default();
        let mut touched = HashSet::new();
        for t in transitions.iter().filter(|t| t.notifies()) {
            let fp = &t.alert.fingerprint;
            if current(fp).is_none() {
                out.entries
                    .extend(route(policy, &t.alert, to, None::<String>));
                continue;
            }
            if policy.flap.is_some() {
                touched.insert(fp.clone());
            }
            self.take_change(policy, to, t, &mut out);
        }
        self.settle(policy, to, &current, now, &mut touched, &mut out);
        out.flap_records = touched
            .into_iter()
            .filter_map(|fp| self.records.get(&fp).map(|r| (fp.clone(), r.clone())))
            .collect();
        out
    }

    /// Records one notifying change and routes it, unless flap control holds it.
    fn take_change(
        &mut self,
        policy: &NotifyPolicy,
        to: Destination<'_>,
        t: &Transition,
        out: &mut IntakeOutcome,
    ) {
        let fp = &t.alert.fingerprint;
        let at_ms = t.at.timestamp_millis();
        let decision = |kind, text: String| Decision::new(fp, &t.alert.rule, at_ms, kind, text);
        if policy.flap.is_none() && !self.records.contains_key(fp) {
            // Flap control is off: nothing to keep for an alert that never flapped.
            out.entries.extend(route(policy, &t.alert, to, None));
            return;
        }
        let record = self.records.entry(fp.clone()).or_default();
        match flap::on_change(record, policy.flap, t.at) {
            FlapVerdict::Notify | FlapVerdict::Settled => {
                out.entries.extend(route(policy, &t.alert, to, None));
            }
            FlapVerdict::StartedFlapping => {
                let note = policy
                    .flap
                    .map(|f| flap::flapping_note(t.alert.state, record, f));
                tracing::warn!(fingerprint = %fp, "alert is flapping; its changes are held until it settles");
                let text = format!(
                    "{} change made it flapping: notified once as firing, further changes held",
                    t.alert.state
                );
                out.decisions
                    .push(decision(DecisionKind::FlapStarted, text));
                out.entries.extend(route(policy, &t.alert, to, note));
                out.started_flapping.push(fp.clone());
            }
            FlapVerdict::Hold => {
                tracing::info!(fingerprint = %fp, "change of a flapping alert held");
                let text = format!("{} change held: the alert is flapping", t.alert.state);
                out.decisions.push(decision(DecisionKind::FlapHeld, text));
            }
        }
    }

    /// Notifies the flapping alerts (not changed this evaluation) that have settled.
    fn settle<'a>(
        &mut self,
        policy: &NotifyPolicy,
        to: Destination<'_>,
        current: &impl Fn(&str) -> Option<&'a Alert>,
        now: DateTime<Utc>,
        touched: &mut HashSet<Fingerprint>,
        out: &mut IntakeOutcome,
    ) {
        for (fp, record) in self.records.iter_mut() {
            if !record.flapping || touched.contains(fp) {
                continue;
            }
            let Some(alert) = current(fp) else {
                continue;
            };
            if flap::on_evaluation(record, policy.flap, now) != FlapVerdict::Settled {
                continue;
            }
            tracing::info!(fingerprint = %fp, state = %alert.state, "flapping alert settled");
            let mut alert = alert.clone();
            if alert.state != AlertState::Firing {
                alert.state = AlertState::Resolved;
                alert.resolved_at.get_or_insert(now);
            }
            out.decisions.push(Decision::new(
                fp,
                &alert.rule,
                now.timestamp_millis(),
                DecisionKind::FlapSettled,
                format!("stopped flapping: notified as {}", alert.state),
            ));
            out.entries.extend(route(policy, &alert, to, None));
            touched.insert(fp.clone());
        }
    }
}

/// The group entries of one alert change, without flap control (`note`: the flap-control
/// sentence of an alert reported as flapping, which is then notified as firing).
pub fn route(
    policy: &NotifyPolicy,
    alert: &Alert,
    to: Destination<'_>,
    note: Option<String>,
) -> Vec<GroupEntry> {
    let mut payload = alert_payload(alert, to.annotations);
    payload.evaluation_id = to.evaluation_id.map(str::to_owned);
    if let Some(note) = note {
        payload.state = AlertState::Firing;
        payload.ends_at = None;
        payload.annotations.insert("flapping".to_owned(), note);
    }
    policy.route(alert, &payload, to.receivers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Labels, Severity};
    use crate::notify::pipeline::policy::FlapControl;
    use std::time::Duration;

    fn policy() -> NotifyPolicy {
        NotifyPolicy {
            flap: Some(FlapControl {
                window: Duration::from_secs(3600),
                threshold: 2,
            }),
            ..NotifyPolicy::default()
        }
    }

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap()
    }

    fn change(alert: &mut Alert, to: AlertState, minute: i64) -> Transition {
        let from = alert.state;
        alert.state = to;
        Transition {
            alert: alert.clone(),
            from,
            at: at(minute),
        }
    }

    #[test]
    fn a_resumed_intake_keeps_holding_a_flapping_alert_until_it_settles() {
        let (policy, receivers, annotations) = (policy(), vec!["ops".to_owned()], BTreeMap::new());
        let to = Destination {
            receivers: &receivers,
            annotations: &annotations,
            evaluation_id: Some("ev"),
        };
        let mut alert = Alert::new("r", Labels::new(), &Labels::new(), Severity::Warning, at(0));
        let fp = alert.fingerprint.clone();
        let mut intake = Intake::default();
        let fired = change(&mut alert, AlertState::Firing, 0);
        let out = intake.take(&policy, to, &[fired], |_| Some(&alert), at(0));
        assert_eq!(out.entries.len(), 1);
        let resolved = change(&mut alert, AlertState::Resolved, 5);
        let out = intake.take(&policy, to, &[resolved], |_| Some(&alert), at(5));
        assert_eq!(out.started_flapping, std::slice::from_ref(&fp));
        assert_eq!(
            out.entries[0].alert.state,
            AlertState::Firing,
            "reported once as firing"
        );
        assert!(out.entries[0].alert.annotations["flapping"].contains("2 times"));

        // A restart: the intake resumes from the records it handed to the store.
        let stored: HashMap<_, _> = out.flap_records.into_iter().collect();
        let mut intake = Intake::new(stored);
        let fired = change(&mut alert, AlertState::Firing, 6);
        let out = intake.take(&policy, to, &[fired], |_| Some(&alert), at(6));
        assert!(out.entries.is_empty(), "held: {:?}", out.entries);
        let resolved = change(&mut alert, AlertState::Resolved, 7);
        assert!(intake
            .take(&policy, to, &[resolved], |_| Some(&alert), at(7))
            .entries
            .is_empty());
        // Quiet for a quarter of the window: it settles, and its state now goes out.
        let out = intake.take(&policy, to, &[], |_| Some(&alert), at(7 + 14));
        assert!(out.entries.is_empty(), "not quiet long enough");
        let out = intake.take(&policy, to, &[], |_| Some(&alert), at(7 + 15));
        assert_eq!(out.entries.len(), 1);
        assert_eq!(out.entries[0].alert.state, AlertState::Resolved);
        assert_eq!(out.entries[0].alert.evaluation_id.as_deref(), Some("ev"));
        assert!(!intake.record(&fp).unwrap().flapping);
        assert_eq!(out.flap_records.len(), 1, "the settled record is stored");
    }
}
