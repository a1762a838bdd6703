//! `GET /api/v1/summary`: a session's or an agent's performance over the last N hours,
//! read from a SQL source (runs, error rate, duration, cost).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;

use crate::server::error::ApiError;
use crate::server::ServerState;
use crate::sources::summary::{PerformanceSummary, SummaryScope};

/// The longest period a summary may cover.
const MAX_HOURS: f64 = 24.0 * 90.0;

/// `GET /api/v1/summary?session_id=S|agent=A[&hours=24][&source=NAME]`. `source` may be
/// left out when exactly one SQL source is configured.
pub async fn summary(
    State(state): State<ServerState>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = query?;
    if let Some(unknown) = params
        .keys()
        .find(|k| !["session_id", "agent", "hours", "source"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown parameter {unknown:?}; expected session_id or agent, hours, source"
        )));
    }
    let scope = match (params.get("session_id"), params.get("agent")) {
        (Some(s), None) => SummaryScope::Session(s.clone()),
        (None, Some(a)) => SummaryScope::Agent(a.clone()),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of session_id or agent",
            ))
        }
    };
    let hours: f64 = match params.get("hours") {
        None => 24.0,
        Some(h) => h
            .parse()
            .ok()
            .filter(|h: &f64| *h > 0.0 && *h <= MAX_HOURS)
            .ok_or_else(|| {
                ApiError::bad_request(format!("hours {h:?} must be a number in (0, {MAX_HOURS}]"))
            })?,
    };
    let source = match params.get("source") {
        Some(name) => state
            .sql_sources
            .get(name)
            .ok_or_else(|| ApiError::bad_request(format!("no SQL source named {name:?}")))?,
        None => match state.sql_sources.values().collect::<Vec<_>>().as_slice() {
            [only] => *only,
            _ => {
                let mut names: Vec<&String> = state.sql_sources.keys().collect();
                names.sort();
                return Err(ApiError::bad_request(format!(
                    "name the SQL source with source=…; configured: {names:?}"
                )));
            }
        },
    };
    let now = state.clock.now();
    let since = crate::time_math::earlier_by(
        now,
        chrono::TimeDelta::milliseconds((hours * 3_600_000.0) as i64),
    );
    let summary: PerformanceSummary = source
        .performance_summary(&scope, since)
        .await
        .map_err(|e| ApiError::new(axum::http::StatusCode::BAD_GATEWAY, e.to_string()))?;
    let (kind, value) = match &scope {
        SummaryScope::Session(s) => ("session_id", s),
        SummaryScope::Agent(a) => ("agent", a),
    };
    Ok(Json(serde_json::json!({
        kind: value,
        "hours": hours,
        "since": since,
        "summary": summary,
    })))
}
