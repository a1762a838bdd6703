//! The notification policy the service runs with: the routing tree, inhibit rules,
//! named time intervals, receivers' `send_resolved`, and flap control; and routing an
//! alert change into the groups it joins.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::engine::Alert;
use crate::model::payload::AlertPayload;
use crate::notify::mute::inhibit::InhibitRule;
use crate::notify::mute::time_interval::TimeInterval;
use crate::notify::pipeline::route::{group_key, Route};
use crate::store::GroupEntry;

/// When an alert counts as flapping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlapControl {
    /// The window state changes are counted in.
    pub window: Duration,
    /// This many changes (firing or resolving) within the window make it flapping.
    pub threshold: usize,
}

impl FlapControl {
    /// How long a flapping alert must keep its state before it counts as settled.
    pub fn quiet(&self) -> Duration {
        self.window / 4
    }
}

/// Everything that decides who is told what, and when.
#[derive(Debug, Clone)]
pub struct NotifyPolicy {
    /// The routing tree.
    pub route: Route,
    /// Inhibit rules.
    pub inhibit_rules: Vec<InhibitRule>,
    /// Named time intervals routes refer to.
    pub time_intervals: BTreeMap<String, TimeInterval>,
    /// Receivers that do not want resolved notifications (`send_resolved = false`).
    pub no_resolved: HashSet<String>,
    /// Flap control; `None`: off.
    pub flap: Option<FlapControl>,
    /// How long the decision log keeps its entries.
    pub decision_log_retention: Duration,
}

impl Default for NotifyPolicy {
    fn default() -> Self {
        Self {
            route: Route::implicit(),
            inhibit_rules: Vec::new(),
            time_intervals: BTreeMap::new(),
            no_resolved: HashSet::new(),
            flap: None,
            decision_log_retention: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

impl NotifyPolicy {
    /// The groups an alert change joins: one per (matching route, receiver). A route
    /// without a receiver sends to `rule_receivers` (the rule's, or the defaults).
    pub fn route(
        &self,
        alert: &Alert,
        payload: &AlertPayload,
        rule_receivers: &[String],
    ) -> Vec<GroupEntry> {
        let mut out = Vec::new();
        for route in self.route.resolve(&alert.labels) {
            let receivers: Vec<&String> = match &route.receiver {
                Some(r) => vec![r],
                None => rule_receivers.iter().collect(),
            };
            let group_labels = route.group_labels(&alert.labels);
            for receiver in receivers {
                let send_resolved = !self.no_resolved.contains(receiver);
                out.push(GroupEntry {
                    key: group_key(&route.id, receiver, &group_labels),
                    receiver: receiver.clone(),
                    route: route.id.clone(),
                    group_labels: group_labels.clone(),
                    settings: route.settings(send_resolved),
                    alert: payload.clone(),
                });
            }
        }
        out
    }
}
