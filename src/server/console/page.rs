//! Rendering a page and answering with an error page: the pieces every console handler
//! shares.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use crate::server::console::session::Viewer;
use crate::server::console::templates;

/// What every page's frame needs: its title, which tab it is, and the viewer's login.
#[derive(Debug, Serialize)]
pub struct Frame {
    /// The page title.
    pub title: String,
    /// The navigation tab to mark (`alerts`, `rules`, …).
    pub tab: &'static str,
    /// Whether the viewer is logged in.
    pub logged_in: bool,
    /// The CSRF token forms carry (empty when not logged in).
    pub csrf: String,
}

impl Frame {
    /// The frame of a page titled `title` under `tab`, for `viewer`.
    pub fn new(title: impl Into<String>, tab: &'static str, viewer: &Viewer) -> Self {
        Self {
            title: title.into(),
            tab,
            logged_in: viewer.session.is_some(),
            csrf: viewer.csrf().unwrap_or_default(),
        }
    }
}

/// A page that could not be made: its status and what went wrong, shown as a page.
#[derive(Debug)]
pub struct PageError {
    /// The status to answer with.
    pub status: StatusCode,
    /// What went wrong, for the reader.
    pub message: String,
}

impl PageError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A server-side failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// A request the reader should fix.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let ctx = minijinja::context! {
            frame => v(&Frame {
                title: format!("Error {}", self.status.as_u16()),
                tab: "",
                logged_in: false,
                csrf: String::new(),
            }),
            status => self.status.as_u16(),
            message => self.message,
        };
        match render("error.html", ctx) {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(e) => (self.status, e.message).into_response(),
        }
    }
}

/// Renders template `name` with `ctx`.
pub fn render(name: &str, ctx: minijinja::Value) -> Result<String, PageError> {
    templates::env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| PageError::internal(format!("cannot render {name}: {e}")))
}

/// Renders template `name` with `ctx` as an HTML answer.
pub fn html(name: &str, ctx: minijinja::Value) -> Result<Html<String>, PageError> {
    render(name, ctx).map(Html)
}

/// Formats unix milliseconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn millis(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// A serializable value as a template value.
pub fn v<T: Serialize + ?Sized>(value: &T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value))
}
