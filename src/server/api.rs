//! The JSON API: alerts (filtered by state, rule and labels), rules with their last
//! evaluation, service status with the last reload, and `POST /-/reload`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::engine::Alert;
use crate::model::AlertState;
use crate::rule::Schedule;
use crate::server::error::ApiError;
use crate::server::status::{ReloadStatus, RuleStatus};
use crate::server::ServerState;

/// `GET /api/v1/alerts?state=firing,pending&rule=NAME&label=model=gpt-4o`: the alerts
/// the store holds, newest evaluation first. `label` may repeat; all must match.
pub async fn alerts(
    State(state): State<ServerState>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = query?;
    let mut states: Option<Vec<AlertState>> = None;
    let mut rule: Option<String> = None;
    let mut labels: Vec<(String, String)> = Vec::new();
    for (key, value) in params {
        match key.as_str() {
            "state" => {
                let mut parsed = Vec::new();
                for s in value.split(',').filter(|s| !s.is_empty()) {
                    parsed.push(AlertState::parse(s).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "unknown state {s:?}; expected inactive, pending, firing or resolved"
                        ))
                    })?);
                }
                states.get_or_insert_with(Vec::new).extend(parsed);
            }
            "rule" => rule = Some(value),
            "label" => {
                let (k, v) = value.split_once('=').ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "label filter {value:?} must look like name=value"
                    ))
                })?;
                labels.push((k.to_owned(), v.to_owned()));
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}; expected state, rule or label"
                )))
            }
        }
    }
    let mut found: Vec<Alert> = state
        .store
        .load_alerts()
        .await
        .map_err(|e| ApiError::internal(format!("cannot read alerts: {e}")))?
        .into_iter()
        .filter(|a| states.as_ref().is_none_or(|s| s.contains(&a.state)))
        .filter(|a| rule.as_ref().is_none_or(|r| &a.rule == r))
        .filter(|a| labels.iter().all(|(k, v)| a.labels.get(k) == Some(v)))
        .collect();
    found.sort_by_key(|a| std::cmp::Reverse(a.evaluated_at));
    Ok(Json(serde_json::json!({ "alerts": found })))
}

/// One rule in `GET /api/v1/rules`.
#[derive(Debug, Serialize)]
pub struct RuleInfo {
    /// Name.
    pub name: String,
    /// File it is defined in.
    pub file: String,
    /// Source it reads.
    pub source: String,
    /// `every 1m` or `cron <expr>`.
    pub schedule: String,
    /// Severity of its alerts.
    pub severity: &'static str,
    /// Its last evaluation, if it has run since it was (re)loaded.
    pub last_evaluation: Option<RuleStatus>,
}

/// `GET /api/v1/rules`: the running rules with their last evaluation.
pub async fn rules(State(state): State<ServerState>) -> Json<serde_json::Value> {
    let rules: Vec<RuleInfo> = state
        .rules
        .rules()
        .iter()
        .map(|r| RuleInfo {
            name: r.name.clone(),
            file: r.file.clone(),
            source: r.source.clone(),
            schedule: match &r.schedule {
                Schedule::Every(d) => format!("every {}", humantime::format_duration(*d)),
                Schedule::Cron(c) => format!("cron {}", c.schedule()),
            },
            severity: r.severity.as_str(),
            last_evaluation: state.statuses.get(&r.name),
        })
        .collect();
    Json(serde_json::json!({ "rules": rules }))
}

/// `GET /api/v1/status`: version, uptime, rules dir, last reload (with every error at
/// file:line:col when it failed).
pub async fn status(State(state): State<ServerState>) -> Json<serde_json::Value> {
    let now = state.clock.now();
    Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": state.started_at,
        "uptime_seconds": (now - state.started_at).num_seconds(),
        "rules_dir": state.rules.rules_dir().display().to_string(),
        "rules_loaded": state.rules.rules().len(),
        "store_ready": state.store.ping().await,
        "last_reload": state.rules.status(),
        "rules_restarting": state.statuses.panicked(),
    }))
}

/// `POST /-/reload` (bearer token): reloads the rules now; 200 with the summary, or 422
/// with every error while the old rules keep running.
pub async fn reload(
    State(state): State<ServerState>,
) -> Result<Json<ReloadStatus>, (StatusCode, Json<ReloadStatus>)> {
    let outcome = state.rules.reload("api").await;
    if outcome.success {
        Ok(Json(outcome))
    } else {
        Err((StatusCode::UNPROCESSABLE_ENTITY, Json(outcome)))
    }
}
