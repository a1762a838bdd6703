//! The receivers API: receiver health, dead letters, and re-enabling a disabled
//! receiver (with its dead letters sent again on request).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::notify::deliver::receiver_health::receiver_notices;
use crate::server::error::ApiError;
use crate::server::ServerState;

/// The most dead letters one call returns.
const MAX_DEAD_LETTERS: i64 = 1000;

fn millis_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn unknown_receiver(name: &str, state: &ServerState) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "unknown receiver {name:?}; configured receivers: {}",
            state.receivers.join(", ")
        ),
    )
}

/// Query of `GET /api/v1/deadletters`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterQuery {
    /// Only this receiver's.
    receiver: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    limit: Option<i64>,
}

/// `GET /api/v1/deadletters?receiver=NAME&limit=100`: notifications that will not be
/// attempted again, newest first, each with its last error and its payload.
pub async fn dead_letters(
    State(state): State<ServerState>,
    query: Result<Query<DeadLetterQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_DEAD_LETTERS).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit {limit}: expected 1 to {MAX_DEAD_LETTERS}"
        )));
    }
    if let Some(name) = &query.receiver {
        if !state.receivers.contains(name) {
            return Err(unknown_receiver(name, &state));
        }
    }
    let letters = state
        .store
        .dead_letters(query.receiver.as_deref(), limit)
        .await
        .map_err(|e| ApiError::internal(format!("cannot read dead letters: {e}")))?;
    let letters: Vec<serde_json::Value> = letters
        .into_iter()
        .map(|d| {
            let payload = serde_json::from_str::<serde_json::Value>(&d.payload)
                .unwrap_or(serde_json::Value::String(d.payload));
            serde_json::json!({
                "id": d.id,
                "receiver": d.receiver,
                "fingerprint": d.fingerprint,
                "event": d.event,
                "created_at": millis_to_rfc3339(d.created_at_ms),
                "attempts": d.attempts,
                "last_error": d.last_error,
                "payload": payload,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "dead_letters": letters })))
}

/// `GET /api/v1/receivers`: every configured receiver, whether it is disabled and why,
/// and since when it has been failing.
pub async fn receivers(
    State(state): State<ServerState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let states = state
        .store
        .receiver_states()
        .await
        .map_err(|e| ApiError::internal(format!("cannot read receiver state: {e}")))?;
    let list: Vec<serde_json::Value> = state
        .receivers
        .iter()
        .map(|name| {
            let s = states.iter().find(|s| &s.receiver == name);
            let disabled_at = s.and_then(|s| s.disabled_at_ms);
            serde_json::json!({
                "name": name,
                "disabled": disabled_at.is_some(),
                "disabled_at": disabled_at.map(millis_to_rfc3339),
                "disabled_reason": s.and_then(|s| s.disabled_reason.clone()),
                "failing_since": s.and_then(|s| s.failing_since_ms).map(millis_to_rfc3339),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "receivers": list })))
}

/// Query of `POST /api/v1/receivers/{name}/enable`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnableQuery {
    /// Put the receiver's dead letters back in the outbox, due now.
    #[serde(default)]
    requeue: bool,
}

/// `POST /api/v1/receivers/{name}/enable?requeue=true` (bearer token): enables a
/// disabled receiver with a clean failure record, tells the other receivers (the
/// `receiver_disabled` alert resolves), and with `requeue` sends its dead letters again.
pub async fn enable(
    State(state): State<ServerState>,
    Path(name): Path<String>,
    query: Result<Query<EnableQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query?;
    let done = enable_receiver(&state, &name, query.requeue, "through the API").await?;
    Ok(Json(serde_json::json!({
        "receiver": name,
        "was_disabled": done.was_disabled,
        "requeued": done.requeued,
    })))
}

/// Enables receiver `name` (`how` says through what, for the notices and the log), and
/// with `requeue` sends its dead letters again.
pub(crate) async fn enable_receiver(
    state: &ServerState,
    name: &str,
    requeue: bool,
    how: &str,
) -> Result<crate::store::Reenabled, ApiError> {
    if !state.receivers.iter().any(|r| r == name) {
        return Err(unknown_receiver(name, state));
    }
    let disabled: Vec<String> = state
        .store
        .receiver_states()
        .await
        .map_err(|e| ApiError::internal(format!("cannot read receiver state: {e}")))?
        .into_iter()
        .filter(|s| s.disabled_at_ms.is_some())
        .map(|s| s.receiver)
        .collect();
    let now = state.clock.now();
    let notices = receiver_notices(
        name,
        how,
        true,
        state
            .receivers
            .iter()
            .filter(|r| !disabled.contains(r))
            .map(String::as_str),
        now,
    );
    let done = state
        .store
        .enable_receiver(name, now.timestamp_millis(), requeue, &notices)
        .await
        .map_err(|e| ApiError::internal(format!("cannot enable receiver {name}: {e}")))?;
    tracing::warn!(receiver = %name, was_disabled = done.was_disabled, requeued = done.requeued, how, "receiver enabled");
    Ok(done)
}

/// `POST /api/v1/deadletters/{id}/requeue` (bearer token): sends one dead letter
/// again: back in the outbox, due now, its attempts reset.
pub async fn requeue(
    State(state): State<ServerState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    requeue_dead_letter(&state, &id).await?;
    Ok(Json(serde_json::json!({ "id": id, "requeued": true })))
}

/// Puts dead letter `id` back in the outbox and wakes nothing: the dispatcher finds it
/// due at its next look.
pub(crate) async fn requeue_dead_letter(state: &ServerState, id: &str) -> Result<(), ApiError> {
    let now = state.clock.now().timestamp_millis();
    let done = state
        .store
        .requeue_dead_letter(id, now)
        .await
        .map_err(|e| ApiError::internal(format!("cannot requeue dead letter {id}: {e}")))?;
    if !done {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no dead letter {id:?}"),
        ));
    }
    tracing::info!(%id, "dead letter requeued");
    Ok(())
}
