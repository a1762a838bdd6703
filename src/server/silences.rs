//! The silences API: list, create (bearer token), expire (bearer token). The one
//! implementation of silences; the notification pipeline consults the same set.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::model::silence::{Matcher, Silence};
use crate::server::error::ApiError;
use crate::server::ServerState;
use crate::types::DurationSpec;

/// Body of `POST /api/v1/silences`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// Matchers, all of which must match: `["model=gpt-4o", "severity=~warning|info"]`.
    matchers: Vec<String>,
    /// Start (RFC 3339); now when absent.
    starts_at: Option<DateTime<Utc>>,
    /// End (RFC 3339); or give `duration`.
    ends_at: Option<DateTime<Utc>>,
    /// Length from the start, e.g. `"2h"`, instead of `ends_at`.
    duration: Option<DurationSpec>,
    /// Who is silencing.
    created_by: String,
    /// Why.
    comment: String,
    /// End the silence once the alerts it muted have resolved (default false).
    #[serde(default)]
    expire_on_resolve: bool,
}

/// Reloads the shared silence set from the store and has groups holding alerts flush now,
/// so a change applies at once.
pub(crate) async fn refresh(state: &ServerState) -> Result<Vec<Silence>, ApiError> {
    let all = state
        .store
        .silences()
        .await
        .map_err(|e| ApiError::internal(format!("cannot read silences: {e}")))?;
    state.silences.replace(all.clone());
    // Groups holding alerts back look again now, not at their next recheck.
    let now = state.clock.now().timestamp_millis();
    if let Err(e) = state.store.flush_held_groups_now(now).await {
        tracing::warn!(error = %e, "could not plan a flush of held groups");
    }
    state.groups_wake.notify_one();
    Ok(all)
}

/// `GET /api/v1/silences`: every silence, newest first, with whether it is active now.
pub async fn list(State(state): State<ServerState>) -> Result<Json<serde_json::Value>, ApiError> {
    let now = state.clock.now();
    let all = refresh(&state).await?;
    let list: Vec<serde_json::Value> = all
        .iter()
        .map(|s| {
            let mut v = match serde_json::to_value(s) {
                Ok(serde_json::Value::Object(fields)) => fields,
                _ => serde_json::Map::new(),
            };
            v.insert(
                "active".to_owned(),
                serde_json::Value::Bool(s.is_active(now)),
            );
            serde_json::Value::Object(v)
        })
        .collect();
    Ok(Json(serde_json::json!({ "silences": list })))
}

/// The longest a silence may last: a year, as `"1y"` reads (365.25 days). A mute meant
/// for longer is a rule or route to change, not a silence.
pub const MAX_SILENCE: std::time::Duration = std::time::Duration::from_secs(31_557_600);

/// `POST /api/v1/silences` (bearer token): creates a silence; 201 with its id.
pub async fn create(
    State(state): State<ServerState>,
    body: Result<Json<NewSilence>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(body) = body?;
    if body.matchers.is_empty() {
        return Err(ApiError::bad_request(
            "a silence needs at least one matcher, e.g. \"model=gpt-4o\"",
        ));
    }
    let matchers = body
        .matchers
        .iter()
        .map(|m| Matcher::parse(m))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::bad_request)?;
    if body.created_by.trim().is_empty() || body.comment.trim().is_empty() {
        return Err(ApiError::bad_request(
            "a silence needs `created_by` and a `comment` saying why",
        ));
    }
    let starts_at = body.starts_at.unwrap_or_else(|| state.clock.now());
    let ends_at = match (body.ends_at, body.duration) {
        (Some(end), None) => end,
        (None, Some(d)) => crate::time_math::later(starts_at, d.get()),
        _ => return Err(ApiError::bad_request("give either `ends_at` or `duration`")),
    };
    if ends_at <= starts_at {
        return Err(ApiError::bad_request("`ends_at` must be after `starts_at`"));
    }
    if ends_at - starts_at > crate::time_math::delta(MAX_SILENCE) {
        return Err(ApiError::bad_request(
            "a silence lasts at most 1y (365.25 days); give a shorter `duration` or an earlier `ends_at`",
        ));
    }
    let silence = Silence {
        id: uuid::Uuid::now_v7().to_string(),
        matchers,
        starts_at,
        ends_at,
        created_by: body.created_by,
        comment: body.comment,
        expire_on_resolve: body.expire_on_resolve,
    };
    state
        .store
        .create_silence(&silence)
        .await
        .map_err(|e| ApiError::internal(format!("cannot save the silence: {e}")))?;
    refresh(&state).await?;
    tracing::info!(id = %silence.id, by = %silence.created_by, "silence created");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": silence.id })),
    ))
}

/// `DELETE /api/v1/silences/{id}` (bearer token): expires a silence now; alerts it held
/// that still fire are sent at their group's next flush.
pub async fn expire(
    State(state): State<ServerState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = state.clock.now();
    let expired = state
        .store
        .expire_silence(&id, now)
        .await
        .map_err(|e| ApiError::internal(format!("cannot expire the silence: {e}")))?;
    if !expired {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no active or pending silence {id:?}"),
        ));
    }
    refresh(&state).await?;
    tracing::info!(%id, "silence expired");
    Ok(Json(serde_json::json!({ "id": id, "expired": true })))
}
