//! Correlation ids in the API: an alert's changes with the evaluation behind each, and
//! the notifications (with their delivery state) that one evaluation caused.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;

use crate::server::error::ApiError;
use crate::server::ServerState;
use crate::types::Fingerprint;

/// Rows an answer holds at most.
const MAX_ROWS: i64 = 500;

/// `GET /api/v1/alerts/{fingerprint}/history?limit=N`: the alert's state changes,
/// newest first, each with its value, summary and `evaluation_id`.
pub async fn alert_history(
    State(state): State<ServerState>,
    Path(fingerprint): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = limit_of(&params)?;
    let fingerprint = Fingerprint::parse(&fingerprint)
        .map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, e))?;
    let changes = state
        .store
        .alert_changes(&fingerprint, limit)
        .await
        .map_err(|e| ApiError::internal(format!("cannot read the alert's history: {e}")))?;
    Ok(Json(
        serde_json::json!({ "fingerprint": fingerprint, "changes": changes }),
    ))
}

/// `GET /api/v1/notifications?evaluation_id=ID&limit=N`: the notifications reporting
/// a change that evaluation made, newest first, with their status and attempts.
pub async fn notifications(
    State(state): State<ServerState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(unknown) = params
        .keys()
        .find(|k| !["evaluation_id", "limit"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown parameter {unknown:?}; expected evaluation_id and limit"
        )));
    }
    let Some(id) = params.get("evaluation_id") else {
        return Err(ApiError::bad_request(
            "give `evaluation_id` (from an evaluation's log line or an alert's history)",
        ));
    };
    if !crate::store::is_evaluation_id(id) {
        return Err(ApiError::bad_request(format!(
            "evaluation_id {id:?} is not an id driftwatch makes (hex digits and '-')"
        )));
    }
    let found = state
        .store
        .notifications_of_evaluation(id, limit_of(&params)?)
        .await
        .map_err(|e| ApiError::internal(format!("cannot read the outbox: {e}")))?;
    Ok(Json(
        serde_json::json!({ "evaluation_id": id, "notifications": found }),
    ))
}

fn limit_of(params: &HashMap<String, String>) -> Result<i64, ApiError> {
    match params.get("limit") {
        None => Ok(100),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=MAX_ROWS).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit {text:?} must be a whole number from 1 to {MAX_ROWS}"
            ))),
        },
    }
}
