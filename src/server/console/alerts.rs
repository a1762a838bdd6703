//! `GET /ui`: the alerts page. Firing, pending and recently resolved alerts, filtered by
//! state, severity and a label, grouped by rule as notifications group them by default,
//! fifty to a page.

use axum::extract::{Query, State};
use axum::response::Html;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::Alert;
use crate::model::AlertState;
use crate::server::console::page::{render, v, Frame, PageError};
use crate::server::console::session::{Reader, Viewer};
use crate::server::ServerState;

/// Alerts shown on one page.
pub const PAGE_SIZE: usize = 50;
/// How long a resolved alert stays listed.
pub const RECENT: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The page's filters, as the form sends them (empty fields mean "any").
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct AlertFilter {
    /// `firing`, `pending` or `resolved`; any of the three when empty.
    #[serde(default)]
    pub state: String,
    /// `info`, `warning` or `critical`; any when empty.
    #[serde(default)]
    pub severity: String,
    /// `name=value` that the alert's labels must hold.
    #[serde(default)]
    pub label: String,
    /// Which page, from 1.
    #[serde(default)]
    pub page: Option<usize>,
}

/// One listed alert, as the template shows it.
#[derive(Debug, Serialize)]
struct Row<'a> {
    fingerprint: &'a str,
    state: &'static str,
    severity: &'static str,
    labels: Vec<(&'a str, &'a str)>,
    summary: &'a str,
    since: String,
    silenced_by: Option<String>,
}

/// Alerts of one rule on the page.
#[derive(Debug, Serialize)]
struct Group<'a> {
    rule: &'a str,
    alerts: Vec<Row<'a>>,
}

fn rank(state: AlertState) -> u8 {
    match state {
        AlertState::Firing => 0,
        AlertState::Pending => 1,
        AlertState::Resolved => 2,
        AlertState::Inactive => 3,
    }
}

fn listed(a: &Alert, f: &AlertFilter, label: Option<(&str, &str)>, now: DateTime<Utc>) -> bool {
    let shown = match a.state {
        AlertState::Firing | AlertState::Pending => true,
        AlertState::Resolved => a.resolved_at.is_some_and(|t| now - t <= RECENT),
        AlertState::Inactive => false,
    };
    shown
        && (f.state.is_empty() || a.state.as_str() == f.state)
        && (f.severity.is_empty() || a.severity.as_str() == f.severity)
        && label.is_none_or(|(k, v)| a.labels.get(k) == Some(v))
}

fn row<'a>(a: &'a Alert, silenced_by: &dyn Fn(&Alert) -> Option<String>) -> Row<'a> {
    let since = match a.state {
        AlertState::Resolved => a.resolved_at,
        AlertState::Firing => a.fired_at.or(a.active_since),
        _ => a.active_since,
    };
    Row {
        fingerprint: &a.fingerprint,
        state: a.state.as_str(),
        severity: a.severity.as_str(),
        labels: a
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "rule" && k.as_str() != "severity")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        summary: &a.summary,
        since: since
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default(),
        silenced_by: silenced_by(a),
    }
}

/// Renders the alerts page for `alerts` as `filter` selects, at `now`; `silenced_by`
/// names the silence muting a listed alert, if one does.
pub fn render_alerts(
    alerts: &[Alert],
    filter: &AlertFilter,
    now: DateTime<Utc>,
    silenced_by: &dyn Fn(&Alert) -> Option<String>,
    viewer: &Viewer,
) -> Result<String, PageError> {
    let label = match filter.label.trim() {
        "" => None,
        l => Some(l.split_once('=').ok_or_else(|| {
            PageError::bad_request(format!("label filter {l:?} must look like name=value"))
        })?),
    };
    let mut shown: Vec<&Alert> = alerts
        .iter()
        .filter(|a| listed(a, filter, label, now))
        .collect();
    shown.sort_by(|a, b| {
        (rank(a.state), &a.rule, &a.labels.0).cmp(&(rank(b.state), &b.rule, &b.labels.0))
    });
    let total = shown.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = filter.page.unwrap_or(1).clamp(1, pages);
    let mut groups: Vec<Group> = Vec::new();
    for a in shown.iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE) {
        match groups.last_mut() {
            Some(g) if g.rule == a.rule => g.alerts.push(row(a, silenced_by)),
            _ => groups.push(Group {
                rule: &a.rule,
                alerts: vec![row(a, silenced_by)],
            }),
        }
    }
    let link = |p: usize| AlertFilter {
        page: Some(p),
        ..filter.clone()
    };
    render(
        "alerts.html",
        minijinja::context! {
            frame => v(&Frame::new("Alerts", "alerts", viewer)),
            filter => v(&filter),
            groups => v(&groups),
            total,
            page,
            pages,
            prev => v(&(page > 1).then(|| link(page - 1))),
            next => v(&(page < pages).then(|| link(page + 1))),
        },
    )
}

/// `GET /ui?state=&severity=&label=name=value&page=N`.
pub async fn page(
    State(state): State<ServerState>,
    Reader(viewer): Reader,
    Query(filter): Query<AlertFilter>,
) -> Result<Html<String>, PageError> {
    let listed = [
        AlertState::Firing,
        AlertState::Pending,
        AlertState::Resolved,
    ];
    let alerts = state
        .store
        .alerts_in_states(&listed)
        .await
        .map_err(|e| PageError::internal(format!("cannot read alerts: {e}")))?;
    let now = state.clock.now();
    let silenced_by = |a: &Alert| state.silences.muting(&a.labels, now);
    render_alerts(&alerts, &filter, now, &silenced_by, &viewer).map(Html)
}
