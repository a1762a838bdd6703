//! `GET /api/v1/budgets`: every budget's spend, even pace, burn rates, forecast with its
//! 80 % interval and expected crossing day, per group, as last judged.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;

use crate::server::error::ApiError;
use crate::server::ServerState;

/// `GET /api/v1/budgets[?budget=NAME]`: `{"budgets": [status, …]}`.
pub async fn budgets(
    State(state): State<ServerState>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = query?;
    if let Some(unknown) = params.keys().find(|k| k.as_str() != "budget") {
        return Err(ApiError::bad_request(format!(
            "unknown parameter {unknown:?}; expected budget"
        )));
    }
    let all = state.budgets.all();
    let chosen: Vec<_> = match params.get("budget") {
        Some(name) => all.into_iter().filter(|s| &s.budget == name).collect(),
        None => all,
    };
    Ok(Json(serde_json::json!({ "budgets": chosen })))
}
