//! `GET /ui/summary`: the per-session (or per-agent) performance summary of
//! `/api/v1/summary` as a page: runs, error rate, durations and cost.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Html;
use serde::{Deserialize, Serialize};

use crate::server::console::page::{html, v, Frame, PageError};
use crate::server::console::session::Reader;
use crate::server::ServerState;

/// The form's fields (empty ones are left out of the question).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct SummaryForm {
    /// `session_id` or `agent`.
    #[serde(default)]
    pub scope: String,
    /// The session id or agent name.
    #[serde(default)]
    pub value: String,
    /// Over how many hours (default 24).
    #[serde(default)]
    pub hours: String,
    /// Which SQL source (when several).
    #[serde(default)]
    pub source: String,
}

/// `GET /ui/summary?scope=session_id&value=S&hours=24&source=NAME`.
pub async fn page(
    State(state): State<ServerState>,
    Reader(viewer): Reader,
    Query(form): Query<SummaryForm>,
) -> Result<Html<String>, PageError> {
    let mut sources: Vec<String> = state.sql_sources.keys().cloned().collect();
    sources.sort();
    let (summary, error) = if form.value.trim().is_empty() {
        (None, None)
    } else {
        let scope = if form.scope == "agent" {
            "agent"
        } else {
            "session_id"
        };
        let mut params = HashMap::from([(scope.to_owned(), form.value.trim().to_owned())]);
        for (k, v) in [("hours", &form.hours), ("source", &form.source)] {
            if !v.trim().is_empty() {
                params.insert(k.to_owned(), v.trim().to_owned());
            }
        }
        match crate::server::summary::summary(State(state.clone()), Ok(Query(params))).await {
            Ok(answer) => (Some(answer.0), None),
            Err(e) => (None, Some(e.message)),
        }
    };
    html(
        "summary.html",
        minijinja::context! {
            frame => v(&Frame::new("Performance summary", "summary", &viewer)),
            form => v(&form),
            sources,
            summary => v(&summary),
            error,
        },
    )
}
