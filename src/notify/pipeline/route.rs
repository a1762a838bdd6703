//! The routing tree: label matchers choose the receivers of an alert and how its
//! notifications are grouped and timed, the way Alertmanager's `route` does (nested
//! routes, first match wins unless `continue`, settings inherited from the parent).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::silence::Matcher;
use crate::model::Labels;

use crate::model::group::GroupSettings;

/// Which labels form an alert's group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupBy {
    /// `["..."]`: every label, so each alert is its own group.
    All,
    /// These labels (none: the whole route is one group).
    Labels(Vec<String>),
}

/// One node of the routing tree, with every inherited setting filled in.
#[derive(Debug, Clone)]
pub struct Route {
    /// Position in the tree (`root`, `root.0`, `root.0.2`), part of each group's key.
    pub id: String,
    /// All must match (the root matches everything).
    pub matchers: Vec<Matcher>,
    /// The receiver; `None` means each alert's own rule receivers (or the defaults).
    pub receiver: Option<String>,
    /// Grouping labels.
    pub group_by: GroupBy,
    /// See [`GroupSettings::group_wait_ms`].
    pub group_wait: Duration,
    /// See [`GroupSettings::group_interval_ms`].
    pub group_interval: Duration,
    /// See [`GroupSettings::repeat_interval_ms`].
    pub repeat_interval: Option<Duration>,
    /// Keep looking at the following siblings after this route matched.
    pub continue_matching: bool,
    /// Names of time intervals that mute this route.
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which this route is muted.
    pub active_time_intervals: Vec<String>,
    /// Child routes, tried in order.
    pub routes: Vec<Route>,
}

impl Route {
    /// The tree used when `driftwatch.toml` has no `[route]`: each alert goes to its
    /// rule's receivers at once, as its own group, and is not repeated.
    pub fn implicit() -> Self {
        Self {
            id: "root".to_owned(),
            matchers: Vec::new(),
            receiver: None,
            group_by: GroupBy::All,
            group_wait: Duration::ZERO,
            group_interval: Duration::ZERO,
            repeat_interval: None,
            continue_matching: false,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            routes: Vec::new(),
        }
    }

    fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }

    /// The routes an alert with `labels` is sent through: the deepest matching route
    /// of each matching branch (Alertmanager's algorithm). The root always matches.
    pub fn resolve(&self, labels: &Labels) -> Vec<&Route> {
        let mut out = Vec::new();
        self.collect(labels, &mut out);
        out
    }

    fn collect<'a>(&'a self, labels: &Labels, out: &mut Vec<&'a Route>) {
        let before = out.len();
        for child in &self.routes {
            if child.matches(labels) {
                child.collect(labels, out);
                if !child.continue_matching {
                    break;
                }
            }
        }
        if out.len() == before {
            out.push(self);
        }
    }

    /// The labels that form an alert's group on this route.
    pub fn group_labels(&self, labels: &Labels) -> Labels {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => labels.project(names),
        }
    }

    /// The settings stored with a group of this route for `receiver`.
    pub fn settings(&self, send_resolved: bool) -> GroupSettings {
        GroupSettings {
            group_wait_ms: self.group_wait.as_millis() as i64,
            group_interval_ms: self.group_interval.as_millis() as i64,
            repeat_interval_ms: self.repeat_interval.map(|d| d.as_millis() as i64),
            send_resolved,
            mute_time_intervals: self.mute_time_intervals.clone(),
            active_time_intervals: self.active_time_intervals.clone(),
        }
    }

    /// Every route of the tree, this one first.
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for child in &self.routes {
            out.extend(child.walk());
        }
        out
    }
}

/// A group's stable key: the same route, receiver and group labels give the same key
/// after every restart, so the notification log finds its group again.
pub fn group_key(route_id: &str, receiver: &str, group_labels: &Labels) -> String {
    let mut hasher = Sha256::new();
    hasher.update(route_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(receiver.as_bytes());
    for (k, v) in group_labels.iter() {
        hasher.update([0u8]);
        hasher.update(k.as_bytes());
        hasher.update([1u8]);
        hasher.update(v.as_bytes());
    }
    let digest = hasher.finalize();
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(id: &str, matchers: &[&str], receiver: &str, cont: bool) -> Route {
        Route {
            id: id.to_owned(),
            matchers: matchers
                .iter()
                .map(|m| Matcher::parse(m).unwrap())
                .collect(),
            receiver: Some(receiver.to_owned()),
            continue_matching: cont,
            group_by: GroupBy::Labels(vec!["rule".into()]),
            ..Route::implicit()
        }
    }

    fn tree() -> Route {
        let mut critical = route("root.0", &["severity=critical"], "pager", true);
        critical.routes = vec![route("root.0.0", &["team=~ml|data"], "ml-pager", false)];
        Route {
            routes: vec![critical, route("root.1", &["rule=~llm_.*"], "llm", false)],
            ..route("root", &[], "ops", false)
        }
    }

    fn receivers(tree: &Route, labels: &Labels) -> Vec<String> {
        tree.resolve(labels)
            .iter()
            .map(|r| r.receiver.clone().unwrap())
            .collect()
    }

    #[test]
    fn first_match_wins_continue_goes_on_and_the_root_catches_the_rest() {
        let t = tree();
        let l = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .fold(Labels::new(), |acc, (k, v)| acc.with(*k, *v))
        };
        assert_eq!(receivers(&t, &l(&[("rule", "cost")])), ["ops"]);
        assert_eq!(receivers(&t, &l(&[("rule", "llm_latency")])), ["llm"]);
        assert_eq!(
            receivers(&t, &l(&[("rule", "llm_latency"), ("severity", "critical")])),
            ["pager", "llm"],
            "continue lets the next sibling match too"
        );
        assert_eq!(
            receivers(&t, &l(&[("severity", "critical"), ("team", "ml")])),
            ["ml-pager"],
            "the deepest matching route wins"
        );
        assert_eq!(
            receivers(&t, &l(&[("severity", "critical"), ("team", "mlops")])),
            ["pager"],
            "regex matchers are anchored"
        );
    }

    #[test]
    fn group_keys_depend_on_route_receiver_and_group_labels_only() {
        let t = tree();
        let a = Labels::from([("rule", "cost"), ("model", "a")]);
        let b = Labels::from([("rule", "cost"), ("model", "b")]);
        let key = |l: &Labels| group_key(&t.id, "ops", &t.group_labels(l));
        assert_eq!(key(&a), key(&b), "grouped by rule only");
        assert_ne!(
            group_key(&t.id, "ops", &a),
            group_key(&t.id, "other", &a),
            "each receiver has its own group"
        );
        assert_eq!(Route::implicit().group_labels(&a), a);
    }
}
