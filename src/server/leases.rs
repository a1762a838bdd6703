//! `GET /api/v1/leases`: which replica evaluates which rule, under which fencing token,
//! until when (replicas sharing rules; empty when leases are off).

use axum::extract::State;
use axum::Json;

use crate::server::error::ApiError;
use crate::server::ServerState;

/// The lease table, by rule.
pub async fn leases(State(state): State<ServerState>) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = state
        .store
        .leases()
        .await
        .map_err(|e| ApiError::internal(format!("cannot read the rule leases: {e}")))?;
    Ok(Json(serde_json::json!({ "leases": rows })))
}
