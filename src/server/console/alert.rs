//! `GET /ui/alerts/{fingerprint}`: one alert's page. What it is now, its series over the
//! last 24 h (drawn by [`super::chart`]), its state timeline, the example runs behind
//! it, and its decision log: why each notification was or was not sent.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Html;
use serde::Serialize;

use crate::server::console::page::{html, millis, v, Frame, PageError};
use crate::server::console::session::Reader;
use crate::server::ServerState;

/// State changes shown in the timeline.
const TIMELINE: i64 = 100;
/// Decision log lines shown.
const LOG_LINES: i64 = 200;

/// One change of the timeline, as shown.
#[derive(Debug, Serialize)]
struct Change {
    at: String,
    from: String,
    to: String,
    value: Option<f64>,
    summary: String,
}

/// One line of the decision log, as shown.
#[derive(Debug, Serialize)]
struct Line {
    at: String,
    kind: String,
    text: String,
}

/// `GET /ui/alerts/{fingerprint}`.
pub async fn page(
    State(state): State<ServerState>,
    Reader(viewer): Reader,
    Path(fingerprint): Path<String>,
) -> Result<Html<String>, PageError> {
    let store_error = |e: crate::store::StoreError| PageError::internal(e.to_string());
    let alert = state
        .store
        .alerts_by_fingerprint(&[fingerprint.as_str()])
        .await
        .map_err(store_error)?
        .remove(&fingerprint)
        .ok_or_else(|| {
            PageError::new(StatusCode::NOT_FOUND, format!("no alert {fingerprint:?}"))
        })?;
    let changes: Vec<Change> = state
        .store
        .alert_changes(&fingerprint, TIMELINE)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|c| Change {
            at: millis(c.at_ms),
            from: c.from,
            to: c.to,
            value: c.value,
            summary: c.summary,
        })
        .collect();
    let log: Vec<Line> = state
        .store
        .alert_log(&fingerprint, LOG_LINES)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|l| Line {
            at: millis(l.at_ms),
            kind: l.kind,
            text: l.text,
        })
        .collect();
    let matchers: Vec<(String, String)> = alert
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    html(
        "alert.html",
        minijinja::context! {
            frame => v(&Frame::new(format!("Alert {}", alert.rule), "alerts", &viewer)),
            alert => v(&alert),
            changes => v(&changes),
            log => v(&log),
            matchers => v(&matchers),
        },
    )
}
