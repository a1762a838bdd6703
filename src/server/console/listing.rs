//! Which alerts the alerts page shows, and how they are grouped: the filter (state,
//! severity, a label, resolved within [`RECENT`]) over the narrow stored listing; each
//! kept alert in the group its notifications join (the first route it matches and that
//! route's `group_by` labels, as the intake stage routes it); groups with firing alerts
//! first; then the one page of [`PAGE_SIZE`] alerts shown.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{AlertState, Labels};
use crate::notify::pipeline::route::{GroupBy, Route};
use crate::store::ListedAlert;

/// Alerts shown on one page.
pub const PAGE_SIZE: usize = 50;
/// How long a resolved alert stays listed.
pub const RECENT: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// What the page's filter keeps (`None`: any).
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// One state of firing, pending and resolved.
    pub state: Option<AlertState>,
    /// One severity (`info`, `warning`, `critical`).
    pub severity: Option<String>,
    /// A label (name, value) the alert must hold.
    pub label: Option<(String, String)>,
}

impl Wanted {
    /// The states to read from the store.
    pub fn states(&self) -> Vec<AlertState> {
        match self.state {
            Some(s) => vec![s],
            None => vec![
                AlertState::Firing,
                AlertState::Pending,
                AlertState::Resolved,
            ],
        }
    }

    fn keeps(&self, a: &ListedAlert, now: DateTime<Utc>) -> bool {
        let shown = match a.state {
            AlertState::Firing | AlertState::Pending => true,
            AlertState::Resolved => a.resolved_at.is_some_and(|t| now - t <= RECENT),
            AlertState::Inactive => false,
        };
        shown
            && self.state.is_none_or(|s| s == a.state)
            && self
                .severity
                .as_deref()
                .is_none_or(|s| a.labels.get("severity") == Some(s))
            && self
                .label
                .as_ref()
                .is_none_or(|(k, v)| a.labels.get(k) == Some(v.as_str()))
    }
}

/// A notification group as the page heads it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupHead {
    /// The route's id (`root`, `root.0`, …).
    pub route: String,
    /// The route's receiver (`None`: each rule's own receivers).
    pub receiver: Option<String>,
    /// The group's labels; `None` when the route groups by every label, so each alert is
    /// notified on its own and the page lists them under the route.
    pub labels: Option<Labels>,
    /// Alerts of the group the filter keeps, on every page.
    pub size: usize,
    /// True when the group began on an earlier page.
    pub continued: bool,
}

/// One page of the listing: its groups, each with the fingerprints shown, in order.
#[derive(Debug, Clone, Default)]
pub struct Chosen {
    /// Alerts the filter keeps.
    pub total: usize,
    /// This page, from 1.
    pub page: usize,
    /// Pages in all (at least 1).
    pub pages: usize,
    /// The groups on this page with their alerts' fingerprints.
    pub groups: Vec<(GroupHead, Vec<String>)>,
}

fn rank(state: AlertState) -> u8 {
    match state {
        AlertState::Firing => 0,
        AlertState::Pending => 1,
        AlertState::Resolved => 2,
        AlertState::Inactive => 3,
    }
}

type Key = (String, Option<Labels>);

/// The kept alerts by the group they join, each group in page order.
fn grouped<'a, 'r>(
    alerts: &'a [ListedAlert],
    wanted: &Wanted,
    route: &'r Route,
    now: DateTime<Utc>,
) -> Vec<(&'r Route, Option<Labels>, Vec<&'a ListedAlert>)> {
    let mut groups: BTreeMap<Key, (&'r Route, Vec<&'a ListedAlert>)> = BTreeMap::new();
    for a in alerts.iter().filter(|a| wanted.keeps(a, now)) {
        // The root always matches, so an alert has a first route; only it is used,
        // so an alert routed twice (`continue`) is listed once.
        let Some(r) = route.resolve(&a.labels).into_iter().next() else {
            continue;
        };
        let labels = match r.group_by {
            GroupBy::All => None,
            GroupBy::Labels(_) => Some(r.group_labels(&a.labels)),
        };
        groups
            .entry((r.id.clone(), labels))
            .or_insert_with(|| (r, Vec::new()))
            .1
            .push(a);
    }
    let mut out: Vec<_> = groups
        .into_iter()
        .map(|((_, labels), (r, members))| (r, labels, members))
        .collect();
    // Stable: groups of equal rank keep the key order (route, then labels). Members are
    // sorted only in the groups a page shows (see `choose`).
    let best = |m: &[&ListedAlert]| m.iter().map(|a| rank(a.state)).min().unwrap_or(u8::MAX);
    out.sort_by_cached_key(|(_, _, m)| best(m));
    out
}

/// A group's alerts in page order: firing first, then by rule and labels.
fn in_order(members: &mut [&ListedAlert]) {
    members.sort_by(|a, b| {
        (rank(a.state), &a.rule, &a.labels).cmp(&(rank(b.state), &b.rule, &b.labels))
    });
}

/// The `page` (from 1, clamped) of the alerts `wanted` keeps, grouped under `route`.
pub fn choose(
    alerts: &[ListedAlert],
    wanted: &Wanted,
    route: &Route,
    page: usize,
    now: DateTime<Utc>,
) -> Chosen {
    let groups = grouped(alerts, wanted, route, now);
    let total: usize = groups.iter().map(|g| g.2.len()).sum();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let (first, last) = ((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
    let mut chosen = Chosen {
        total,
        page,
        pages,
        groups: Vec::new(),
    };
    let mut at = 0;
    for (r, labels, mut members) in groups {
        let (start, end) = (at, at + members.len());
        at = end;
        if end <= first || start >= last {
            continue;
        }
        in_order(&mut members);
        let shown = members
            .iter()
            .skip(first.saturating_sub(start))
            .take(last.min(end) - first.max(start))
            .map(|a| a.fingerprint.clone())
            .collect();
        let head = GroupHead {
            route: r.id.clone(),
            receiver: r.receiver.clone(),
            labels,
            size: members.len(),
            continued: start < first,
        };
        chosen.groups.push((head, shown));
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(i: usize, state: AlertState, team: &str) -> ListedAlert {
        let labels = Labels::new()
            .with("rule", format!("r{}", i % 3))
            .with(
                "severity",
                if i.is_multiple_of(2) {
                    "warning"
                } else {
                    "critical"
                },
            )
            .with("team", team)
            .with("n", format!("{i:03}"));
        ListedAlert {
            fingerprint: format!("fp{i:03}"),
            rule: format!("r{}", i % 3),
            state,
            labels,
            resolved_at: None,
        }
    }

    fn by_team() -> Route {
        Route {
            group_by: GroupBy::Labels(vec!["team".into()]),
            ..Route::implicit()
        }
    }

    #[test]
    fn groups_by_the_routes_group_by_labels_firing_groups_first_across_rules() {
        let mut alerts: Vec<ListedAlert> =
            (0..6).map(|i| alert(i, AlertState::Pending, "a")).collect();
        alerts.extend((6..8).map(|i| alert(i, AlertState::Firing, "b")));
        alerts.push(alert(8, AlertState::Inactive, "b"));
        let chosen = choose(&alerts, &Wanted::default(), &by_team(), 1, Utc::now());
        assert_eq!(chosen.total, 8, "the inactive one is not listed");
        let teams: Vec<_> = chosen
            .groups
            .iter()
            .map(|(h, fps)| (h.labels.as_ref().unwrap().to_string(), fps.len()))
            .collect();
        assert_eq!(teams, vec![("team=b".into(), 2), ("team=a".into(), 6)]);
        let rules: Vec<&str> = chosen.groups[1]
            .1
            .iter()
            .map(|fp| {
                alerts
                    .iter()
                    .find(|a| &a.fingerprint == fp)
                    .unwrap()
                    .rule
                    .as_str()
            })
            .collect();
        assert_eq!(
            rules,
            ["r0", "r0", "r1", "r1", "r2", "r2"],
            "one group, many rules"
        );
    }

    #[test]
    fn pages_split_a_group_and_the_filter_counts_only_what_it_keeps() {
        let alerts: Vec<ListedAlert> = (0..120)
            .map(|i| alert(i, AlertState::Firing, if i < 70 { "a" } else { "b" }))
            .collect();
        let route = by_team();
        let second = choose(&alerts, &Wanted::default(), &route, 2, Utc::now());
        assert_eq!((second.total, second.page, second.pages), (120, 2, 3));
        let heads: Vec<_> = second
            .groups
            .iter()
            .map(|(h, fps)| (h.size, h.continued, fps.len()))
            .collect();
        assert_eq!(heads, vec![(70, true, 20), (50, false, 30)]);
        let critical_b = Wanted {
            severity: Some("critical".into()),
            label: Some(("team".into(), "b".into())),
            ..Default::default()
        };
        let kept = choose(&alerts, &critical_b, &route, 9, Utc::now());
        assert_eq!((kept.total, kept.page, kept.pages), (25, 1, 1));
    }

    #[test]
    fn a_route_grouping_by_every_label_lists_its_alerts_under_it_and_old_resolves_drop() {
        let now = Utc::now();
        let mut old = alert(1, AlertState::Resolved, "a");
        old.resolved_at = Some(now - RECENT - chrono::TimeDelta::minutes(1));
        let mut recent = alert(2, AlertState::Resolved, "a");
        recent.resolved_at = Some(now - chrono::TimeDelta::minutes(1));
        let chosen = choose(
            &[old, recent, alert(3, AlertState::Firing, "a")],
            &Wanted::default(),
            &Route::implicit(),
            1,
            now,
        );
        assert_eq!(chosen.groups.len(), 1);
        let (head, fps) = &chosen.groups[0];
        assert_eq!((head.route.as_str(), &head.labels), ("root", &None));
        assert_eq!(fps, &["fp003", "fp002"]);
    }
}
