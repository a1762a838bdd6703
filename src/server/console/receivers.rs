//! `GET /ui/receivers`: each receiver's state (disabled and why, failing since when)
//! with re-enable, and the dead letters with re-send.

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Serialize;

use crate::server::console::page::{html, millis, v, Frame, PageError};
use crate::server::console::session::{CsrfForm, Editor, Reader};
use crate::server::error::ApiError;
use crate::server::receivers::{enable_receiver, requeue_dead_letter};
use crate::server::ServerState;

/// Dead letters listed.
const DEAD_LETTERS: i64 = 100;

/// A receiver as the page shows it.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    disabled_at: Option<String>,
    disabled_reason: Option<String>,
    failing_since: Option<String>,
}

/// A dead letter as the page shows it (its payload stays out: it is the body sent).
#[derive(Debug, Serialize)]
struct Letter {
    id: String,
    receiver: String,
    fingerprint: String,
    event: String,
    created_at: String,
    attempts: i64,
    last_error: Option<String>,
}

fn page_error(e: ApiError) -> PageError {
    PageError::new(e.status, e.message)
}

/// `GET /ui/receivers`.
pub async fn page(
    State(state): State<ServerState>,
    Reader(viewer): Reader,
) -> Result<Html<String>, PageError> {
    let states = state
        .store
        .receiver_states()
        .await
        .map_err(|e| PageError::internal(format!("cannot read receiver state: {e}")))?;
    let rows: Vec<Row> = state
        .receivers
        .iter()
        .map(|name| {
            let s = states.iter().find(|s| &s.receiver == name);
            Row {
                name: name.clone(),
                disabled_at: s.and_then(|s| s.disabled_at_ms).map(millis),
                disabled_reason: s.and_then(|s| s.disabled_reason.clone()),
                failing_since: s.and_then(|s| s.failing_since_ms).map(millis),
            }
        })
        .collect();
    let letters: Vec<Letter> = state
        .store
        .dead_letters(None, DEAD_LETTERS)
        .await
        .map_err(|e| PageError::internal(format!("cannot read dead letters: {e}")))?
        .into_iter()
        .map(|d| Letter {
            id: d.id,
            receiver: d.receiver,
            fingerprint: d.fingerprint,
            event: d.event,
            created_at: millis(d.created_at_ms),
            attempts: d.attempts,
            last_error: d.last_error,
        })
        .collect();
    html(
        "receivers.html",
        minijinja::context! {
            frame => v(&Frame::new("Receivers", "receivers", &viewer)),
            receivers => v(&rows),
            letters => v(&letters),
        },
    )
}

/// `POST /ui/receivers/{name}/enable` (login, CSRF): enables a disabled receiver.
pub async fn enable(
    State(state): State<ServerState>,
    editor: Editor,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    editor.check_csrf(&form.csrf)?;
    enable_receiver(&state, &name, false, "through the console")
        .await
        .map_err(page_error)?;
    Ok(Redirect::to("/ui/receivers").into_response())
}

/// `POST /ui/deadletters/{id}/resend` (login, CSRF): sends one dead letter again.
pub async fn resend(
    State(state): State<ServerState>,
    editor: Editor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    editor.check_csrf(&form.csrf)?;
    requeue_dead_letter(&state, &id).await.map_err(page_error)?;
    Ok(Redirect::to("/ui/receivers").into_response())
}
