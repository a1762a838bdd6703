//! The HTTP server: `/metrics`, `/healthz`, `/readyz`, the read API under `/api/v1`,
//! the token-protected `POST /-/reload` and `POST /api/v1/receivers/{name}/enable`, and
//! the web console under `/ui` ([`console`]), served with limits against slow clients
//! ([`serve`]).

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod api;
pub mod auth;
pub mod budgets;
pub mod console;
pub mod correlation;
pub mod decision_log;
pub mod error;
pub mod leases;
pub mod receivers;
pub mod serve;
pub mod settings;
pub mod silences;
pub mod status;
pub mod summary;

use std::path::Path;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::sync::Notify;

use crate::clock::SharedClock;
use crate::notify::mute::silence::SilenceSet;
use crate::rule::Rule;
use crate::server::status::{ReloadStatus, RuleStatuses};
use crate::store::Store;
use crate::telemetry::Metrics;

/// The largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers need.
#[derive(Clone)]
pub struct ServerState {
    /// Own metrics.
    pub metrics: Metrics,
    /// The store (for readiness and alert state).
    pub store: Store,
    /// The clock (uptime, silence and notice times).
    pub clock: SharedClock,
    /// Each rule's last evaluation, as the evaluator records it.
    pub statuses: Arc<RuleStatuses>,
    /// The silences in force, kept in step with the store by the silences API.
    pub silences: Arc<SilenceSet>,
    /// Wakes the group flusher when silences change, so held alerts go out at once.
    pub groups_wake: Arc<Notify>,
    /// The running rules: listed, reloaded, and how the last reload went.
    pub rules: Arc<dyn RulesHandle>,
    /// When the service started.
    pub started_at: DateTime<Utc>,
    /// The SQL sources by name, for the performance summary.
    pub sql_sources: Arc<std::collections::HashMap<String, Arc<crate::sources::sql::SqlSource>>>,
    /// The bearer token mutating calls must present.
    pub api_token: auth::ApiToken,
    /// The configured receivers' names.
    pub receivers: Arc<Vec<String>>,
    /// Every budget's latest status, as the budgets' task records it.
    pub budgets: Arc<crate::budget::BudgetStatuses>,
    /// The web console's settings, sources and session key.
    pub console: Arc<console::Console>,
}

/// The running rules as the API reaches them. The service's reloader implements it; the
/// server holds this narrow handle instead of the wiring that owns the rules, so `server`
/// does not import `app`.
pub trait RulesHandle: Send + Sync {
    /// The rules running now.
    fn rules(&self) -> Vec<Arc<Rule>>;
    /// The directory rules are read from.
    fn rules_dir(&self) -> &Path;
    /// How the last reload went.
    fn status(&self) -> ReloadStatus;
    /// Reloads the rules now; `trigger` says who asked (`api`).
    fn reload<'a>(&'a self, trigger: &'a str) -> BoxFuture<'a, ReloadStatus>;
}

/// The routes.
pub fn router(state: ServerState) -> Router {
    let mutating = auth::require_token(
        Router::new()
            .route("/-/reload", post(api::reload))
            .route("/api/v1/receivers/{name}/enable", post(receivers::enable))
            .route("/api/v1/silences", post(silences::create))
            .route("/api/v1/silences/{id}", delete(silences::expire))
            .route("/api/v1/deadletters/{id}/requeue", post(receivers::requeue)),
        state.api_token.clone(),
    );
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/alerts", get(api::alerts))
        .route(
            "/api/v1/alerts/{fingerprint}/history",
            get(correlation::alert_history),
        )
        .route(
            "/api/v1/alerts/{fingerprint}/log",
            get(decision_log::alert_log),
        )
        .route("/api/v1/notifications", get(correlation::notifications))
        .route("/api/v1/rules", get(api::rules))
        .route("/api/v1/leases", get(leases::leases))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/summary", get(summary::summary))
        .route("/api/v1/budgets", get(budgets::budgets))
        .route("/api/v1/receivers", get(receivers::receivers))
        .route("/api/v1/deadletters", get(receivers::dead_letters))
        .route("/api/v1/silences", get(silences::list))
        .merge(mutating)
        .merge(console::router())
        .fallback(|| async {
            error::ApiError::new(
                StatusCode::NOT_FOUND,
                "no such endpoint; see /api/v1/status",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn metrics(State(state): State<ServerState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn readyz(State(state): State<ServerState>) -> impl IntoResponse {
    if state.store.ping().await {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n")
    }
}
