//! `GET /ui/rules`: the running rules with their last evaluation (when, how long, the
//! error, series tracked), what each would have done last week (a backtest summary the
//! background task keeps, "computing…" until it has one), and how the last reload went,
//! each error at file:line:col.

use axum::extract::State;
use axum::response::Html;
use serde::Serialize;

use crate::rule::{Rule, Schedule};
use crate::server::console::last_week::{Week, SPAN};
use crate::server::console::page::{render, v, Frame, PageError};
use crate::server::console::session::{Reader, Viewer};
use crate::server::status::{ReloadStatus, RuleStatus};
use crate::server::ServerState;

/// One rule as the page shows it.
#[derive(Debug, Serialize)]
pub struct RuleRow {
    /// Name.
    pub name: String,
    /// File (and source) it is defined in and reads.
    pub file: String,
    /// Source it reads.
    pub source: String,
    /// `every 1m` or `cron …`.
    pub schedule: String,
    /// Severity.
    pub severity: &'static str,
    /// Its last evaluation, if it ran since it was loaded.
    pub last: Option<RuleStatus>,
    /// What it would have done last week, once computed.
    pub week: Option<Week>,
}

/// The row of `rule` with its last evaluation and last week's summary.
pub fn row(rule: &Rule, last: Option<RuleStatus>, week: Option<Week>) -> RuleRow {
    RuleRow {
        name: rule.name.clone(),
        file: rule.file.clone(),
        source: rule.source.clone(),
        schedule: match &rule.schedule {
            Schedule::Every(d) => format!("every {}", humantime::format_duration(*d)),
            Schedule::Cron(c) => format!("cron {}", c.schedule()),
        },
        severity: rule.severity.as_str(),
        last,
        week,
    }
}

/// Renders the rules page.
pub fn render_rules(
    rows: &[RuleRow],
    reload: &ReloadStatus,
    viewer: &Viewer,
) -> Result<String, PageError> {
    render(
        "rules.html",
        minijinja::context! {
            frame => v(&Frame::new("Rules", "rules", viewer)),
            rules => v(&rows),
            reload => v(&reload),
            span_days => SPAN.num_days(),
        },
    )
}

/// `GET /ui/rules`.
pub async fn page(
    State(state): State<ServerState>,
    Reader(viewer): Reader,
) -> Result<Html<String>, PageError> {
    let weeks = &state.console.last_week;
    let mut rows: Vec<RuleRow> = state
        .rules
        .rules()
        .iter()
        .map(|r| row(r, state.statuses.get(&r.name), weeks.get(r)))
        .collect();
    // After reading: the first visit starts the task and shows "computing…".
    weeks.ask();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    render_rules(&rows, &state.rules.status(), &viewer).map(Html)
}
