//! The decision log in the API: `GET /api/v1/alerts/{fingerprint}/log`, why each
//! notification of an alert was or was not sent, and each delivery attempt.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;

use crate::server::error::ApiError;
use crate::server::ServerState;
use crate::types::Fingerprint;

/// Entries an answer holds unless `limit` says otherwise, and at most.
const DEFAULT_ROWS: i64 = 200;
const MAX_ROWS: i64 = 2_000;

/// `GET /api/v1/alerts/{fingerprint}/log?limit=N`: the alert's newest decisions and the
/// attempts of the notifications they sent, oldest first, each with a sentence.
pub async fn alert_log(
    State(state): State<ServerState>,
    Path(fingerprint): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(unknown) = params.keys().find(|k| k.as_str() != "limit") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown query parameter {unknown:?}; expected limit"),
        ));
    }
    let limit = match params.get("limit") {
        None => DEFAULT_ROWS,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=MAX_ROWS).contains(&n) => n,
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("limit {text:?}: expected a whole number from 1 to {MAX_ROWS}"),
                ))
            }
        },
    };
    let fingerprint =
        Fingerprint::parse(&fingerprint).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let entries = state
        .store
        .alert_log(&fingerprint, limit)
        .await
        .map_err(|e| ApiError::internal(format!("cannot read the alert's decision log: {e}")))?;
    Ok(Json(
        serde_json::json!({ "fingerprint": fingerprint, "entries": entries }),
    ))
}
