//! The web console under `/ui`: server-rendered pages over the same store and handles
//! as the JSON API (alerts, one alert's story, rules, silences, receivers and dead
//! letters, the performance summary), with every asset in the binary and no script.
//!
//! Pages are minijinja templates with HTML auto-escaping ([`templates`]); every answer
//! carries a strict Content-Security-Policy ([`headers`]); changing anything needs a
//! session from logging in with the API token ([`login`], whose form has its own CSRF
//! token), kept in the store so a logout holds on every replica, and a CSRF token on
//! the form ([`session`]).

pub mod alert;
pub mod alerts;
pub mod assets;
pub mod band;
pub mod chart;
pub mod headers;
pub mod last_week;
pub mod listing;
pub mod login;
pub mod page;
pub mod receivers;
pub mod rules;
pub mod session;
pub mod silences;
pub mod summary;
pub mod templates;

use std::collections::HashMap;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::notify::pipeline::policy::NotifyPolicy;
use crate::server::console::last_week::LastWeek;
use crate::server::settings::ConsoleRead;
use crate::server::ServerState;
use crate::sources::Source;

/// What the console needs beyond the API's handles.
pub struct Console {
    /// Who may read the pages.
    pub read: ConsoleRead,
    /// The sources by name, to re-query an alert's series.
    pub sources: HashMap<String, Arc<dyn Source>>,
    /// The notification policy, whose routes group the alerts page.
    pub policy: Arc<NotifyPolicy>,
    /// The rules' last-week backtest summaries, kept by a background task.
    pub last_week: Arc<LastWeek>,
    /// The session signing key, read from the store once.
    key: tokio::sync::OnceCell<Vec<u8>>,
}

impl Console {
    /// A console reading as `read` says, charting from `sources`, with the default
    /// policy and an empty last-week cache (the service sets both).
    pub fn new(read: ConsoleRead, sources: HashMap<String, Arc<dyn Source>>) -> Self {
        Self {
            read,
            sources,
            policy: Arc::new(NotifyPolicy::default()),
            last_week: Arc::new(LastWeek::default()),
            key: tokio::sync::OnceCell::new(),
        }
    }
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

/// The console's routes, each answer with the security headers.
pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/ui", get(alerts::page))
        .route("/ui/alerts/{fingerprint}", get(alert::page))
        .route("/ui/alerts/{fingerprint}/series.svg", get(chart::series))
        .route("/ui/rules", get(rules::page))
        .route("/ui/silences", get(silences::page).post(silences::create))
        .route("/ui/silences/new", get(silences::form))
        .route("/ui/silences/{id}/expire", post(silences::expire))
        .route("/ui/receivers", get(receivers::page))
        .route("/ui/receivers/{name}/enable", post(receivers::enable))
        .route("/ui/deadletters/{id}/resend", post(receivers::resend))
        .route("/ui/summary", get(summary::page))
        .route("/ui/login", get(login::login_form).post(login::login))
        .route("/ui/logout", post(login::logout))
        .route("/ui/static/console.css", get(assets::css))
        .route("/ui/static/favicon.svg", get(assets::favicon))
        .layer(axum::middleware::from_fn(headers::secure))
}
