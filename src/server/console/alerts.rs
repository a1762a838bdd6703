//! `GET /ui`: the alerts page. Firing, pending and recently resolved alerts, filtered by
//! state, severity and a label, grouped as their notifications are, fifty to a page.
//!
//! A request reads the narrow listing of the alerts (no stored body parsed), picks the
//! page with [`super::listing`], then reads the bodies of only the alerts it shows.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Html;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::Alert;
use crate::model::AlertState;
use crate::notify::pipeline::route::Route;
use crate::server::console::listing::{choose, GroupHead, Wanted};
use crate::server::console::page::{render, v, Frame, PageError};
use crate::server::console::session::{Reader, Viewer};
use crate::server::ServerState;
use crate::store::Store;

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

impl AlertFilter {
    /// What the filter keeps, or why it cannot be read.
    pub fn wanted(&self) -> Result<Wanted, PageError> {
        let state = match self.state.as_str() {
            "" => None,
            s @ ("firing" | "pending" | "resolved") => AlertState::parse(s),
            s => return Err(PageError::bad_request(format!("no state {s:?} is listed"))),
        };
        let label = match self.label.trim() {
            "" => None,
            l => {
                let (k, v) = l.split_once('=').ok_or_else(|| {
                    PageError::bad_request(format!("label filter {l:?} must look like name=value"))
                })?;
                Some((k.trim().to_owned(), v.trim().to_owned()))
            }
        };
        Ok(Wanted {
            state,
            severity: (!self.severity.is_empty()).then(|| self.severity.clone()),
            label,
        })
    }
}

/// One page of alerts, read: its groups with the alerts shown.
#[derive(Debug, Clone, Default)]
pub struct AlertsPage {
    /// Alerts the filter keeps.
    pub total: usize,
    /// This page, from 1.
    pub page: usize,
    /// Pages in all.
    pub pages: usize,
    /// The groups shown, each with its alerts in order.
    pub groups: Vec<(GroupHead, Vec<Alert>)>,
}

/// Reads the page `filter` asks for from `store`: the narrow listing of every listed
/// alert, grouped under `route`, then the bodies of the page's alerts only.
pub async fn read_page(
    store: &Store,
    route: &Route,
    filter: &AlertFilter,
    now: DateTime<Utc>,
) -> Result<AlertsPage, PageError> {
    let wanted = filter.wanted()?;
    let read_error = |e| PageError::internal(format!("cannot read alerts: {e}"));
    let listed = store
        .listed_alerts(&wanted.states())
        .await
        .map_err(read_error)?;
    let chosen = choose(&listed, &wanted, route, filter.page.unwrap_or(1), now);
    let shown: Vec<&str> = chosen
        .groups
        .iter()
        .flat_map(|(_, fps)| fps.iter().map(String::as_str))
        .collect();
    let mut bodies: HashMap<String, Alert> = store
        .alerts_by_fingerprint(&shown)
        .await
        .map_err(read_error)?;
    let groups = chosen
        .groups
        .into_iter()
        .map(|(head, fps)| {
            // An alert forgotten between the two reads is left out.
            let alerts = fps.iter().filter_map(|fp| bodies.remove(fp)).collect();
            (head, alerts)
        })
        .collect();
    Ok(AlertsPage {
        total: chosen.total,
        page: chosen.page,
        pages: chosen.pages,
        groups,
    })
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

/// One notification group on the page.
#[derive(Debug, Serialize)]
struct Group<'a> {
    head: &'a GroupHead,
    alerts: Vec<Row<'a>>,
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
            .filter(|(k, _)| k.as_str() != "severity")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        summary: &a.summary,
        since: since
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default(),
        silenced_by: silenced_by(a),
    }
}

/// Renders `page` of the alerts `filter` selects; `silenced_by` names the silence
/// muting a listed alert, if one does.
pub fn render_alerts(
    page: &AlertsPage,
    filter: &AlertFilter,
    silenced_by: &dyn Fn(&Alert) -> Option<String>,
    viewer: &Viewer,
) -> Result<String, PageError> {
    let groups: Vec<Group> = page
        .groups
        .iter()
        .map(|(head, alerts)| Group {
            head,
            alerts: alerts.iter().map(|a| row(a, silenced_by)).collect(),
        })
        .collect();
    let link = |p: usize| AlertFilter {
        page: Some(p),
        ..filter.clone()
    };
    let (n, pages) = (page.page, page.pages);
    render(
        "alerts.html",
        minijinja::context! {
            frame => v(&Frame::new("Alerts", "alerts", viewer)),
            filter => v(&filter),
            groups => v(&groups),
            total => page.total,
            page => n,
            pages,
            prev => v(&(n > 1).then(|| link(n - 1))),
            next => v(&(n < pages).then(|| link(n + 1))),
        },
    )
}

/// `GET /ui?state=&severity=&label=name=value&page=N`.
pub async fn page(
    State(state): State<ServerState>,
    Reader(viewer): Reader,
    Query(filter): Query<AlertFilter>,
) -> Result<Html<String>, PageError> {
    let now = state.clock.now();
    let route = &state.console.policy.route;
    let page = read_page(&state.store, route, &filter, now).await?;
    let silenced_by = |a: &Alert| state.silences.muting(&a.labels, now);
    render_alerts(&page, &filter, &silenced_by, &viewer).map(Html)
}
