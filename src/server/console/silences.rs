//! The silences pages: the list (with expire), and the form that creates one, prefilled
//! from an alert's labels, with a preview of the current alerts it will match.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};

use crate::engine::Alert;
use crate::model::silence::{Matcher, Silence};
use crate::model::AlertState;
use crate::server::console::page::{html, v, Frame, PageError};
use crate::server::console::session::{CsrfForm, Editor, Reader, Viewer};
use crate::server::silences::{refresh, MAX_SILENCE};
use crate::server::ServerState;
use crate::types::DurationSpec;

/// Matching alerts listed by the preview.
const PREVIEW_ROWS: usize = 50;

/// The silence form's fields (the query prefills them; `from` names an alert whose
/// labels become the matchers).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct SilenceForm {
    /// The alert to prefill from.
    #[serde(default)]
    pub from: String,
    /// Matchers, one a line.
    #[serde(default)]
    pub matchers: String,
    /// How long, e.g. `2h`.
    #[serde(default)]
    pub duration: String,
    /// Who silences.
    #[serde(default)]
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// `preview` or `create`.
    #[serde(default)]
    pub action: String,
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
}

/// A current alert the silence would match, as the preview lists it.
#[derive(Debug, Serialize)]
struct Match<'a> {
    fingerprint: &'a str,
    rule: &'a str,
    state: &'static str,
    summary: &'a str,
}

fn parse_matchers(text: &str) -> Result<Vec<Matcher>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Matcher::parse)
        .collect()
}

/// The current (firing or pending) alerts `matchers` match, as the narrow listing
/// has them, in (rule, labels) order: how many, and the bodies of the first
/// [`PREVIEW_ROWS`], so a preview over thousands of alerts parses fifty.
async fn matching(
    state: &ServerState,
    matchers: &[Matcher],
) -> Result<(usize, Vec<Alert>), PageError> {
    let read_error = |e| PageError::internal(format!("cannot read alerts: {e}"));
    let mut listed = state
        .store
        .listed_alerts(&[AlertState::Firing, AlertState::Pending])
        .await
        .map_err(read_error)?;
    listed.retain(|a| matchers.iter().all(|m| m.matches(&a.labels)));
    listed.sort_by(|a, b| (&a.rule, &a.labels).cmp(&(&b.rule, &b.labels)));
    let shown: Vec<&str> = listed
        .iter()
        .take(PREVIEW_ROWS)
        .map(|a| a.fingerprint.as_str())
        .collect();
    let mut bodies = state
        .store
        .alerts_by_fingerprint(&shown)
        .await
        .map_err(read_error)?;
    let alerts = shown.iter().filter_map(|fp| bodies.remove(*fp)).collect();
    Ok((listed.len(), alerts))
}

/// Renders the form with its preview and `error`, answering `status`.
async fn form_page(
    state: &ServerState,
    viewer: &Viewer,
    form: &SilenceForm,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let (count, alerts, problem) = match parse_matchers(&form.matchers) {
        Ok(m) if m.is_empty() => (0, Vec::new(), None),
        Ok(m) => {
            let (count, alerts) = matching(state, &m).await?;
            (count, alerts, None)
        }
        Err(e) => (0, Vec::new(), Some(e)),
    };
    let shown: Vec<Match> = alerts
        .iter()
        .map(|a| Match {
            fingerprint: &a.fingerprint,
            rule: &a.rule,
            state: a.state.as_str(),
            summary: &a.summary,
        })
        .collect();
    let page = html(
        "silence_new.html",
        minijinja::context! {
            frame => v(&Frame::new("New silence", "silences", viewer)),
            form => v(&form),
            matched => v(&shown),
            count,
            error => error.or(problem),
        },
    )?;
    Ok((status, page).into_response())
}

/// `GET /ui/silences/new?from=FINGERPRINT`: the form, prefilled and previewed.
pub async fn form(
    State(state): State<ServerState>,
    Reader(viewer): Reader,
    Query(mut form): Query<SilenceForm>,
) -> Result<Response, PageError> {
    if form.matchers.is_empty() && !form.from.is_empty() {
        let found = state
            .store
            .alerts_by_fingerprint(&[form.from.as_str()])
            .await
            .map_err(|e| PageError::internal(e.to_string()))?;
        if let Some(alert) = found.get(&form.from) {
            form.matchers = alert
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\"\n"))
                .collect();
        }
    }
    if form.duration.is_empty() {
        form.duration = "2h".to_owned();
    }
    form_page(&state, &viewer, &form, None, StatusCode::OK).await
}

/// What a valid form makes, or what is wrong with it.
fn silence_of(form: &SilenceForm, state: &ServerState) -> Result<Silence, String> {
    let matchers = parse_matchers(&form.matchers)?;
    if matchers.is_empty() {
        return Err("a silence needs at least one matcher, e.g. model=\"gpt-4o\"".into());
    }
    if form.created_by.trim().is_empty() || form.comment.trim().is_empty() {
        return Err("say who is silencing and why".into());
    }
    let duration: DurationSpec = form
        .duration
        .trim()
        .parse()
        .map_err(|e| format!("duration {:?}: {e}", form.duration))?;
    if duration.get() > MAX_SILENCE || duration.get().is_zero() {
        return Err("a silence lasts more than nothing and at most 1y".into());
    }
    let starts_at = state.clock.now();
    Ok(Silence {
        id: uuid::Uuid::now_v7().to_string(),
        matchers,
        starts_at,
        ends_at: crate::time_math::later(starts_at, duration.get()),
        created_by: form.created_by.trim().to_owned(),
        comment: form.comment.trim().to_owned(),
        expire_on_resolve: false,
    })
}

/// `POST /ui/silences` (login, CSRF): previews again, or creates the silence.
pub async fn create(
    State(state): State<ServerState>,
    editor: Editor,
    Form(form): Form<SilenceForm>,
) -> Result<Response, PageError> {
    editor.check_csrf(&form.csrf)?;
    let viewer = &editor.0;
    if form.action != "create" {
        return form_page(&state, viewer, &form, None, StatusCode::OK).await;
    }
    let silence = match silence_of(&form, &state) {
        Ok(s) => s,
        Err(e) => return form_page(&state, viewer, &form, Some(e), StatusCode::BAD_REQUEST).await,
    };
    state
        .store
        .create_silence(&silence)
        .await
        .map_err(|e| PageError::internal(format!("cannot save the silence: {e}")))?;
    refresh(&state)
        .await
        .map_err(|e| PageError::internal(e.message))?;
    tracing::info!(id = %silence.id, by = %silence.created_by, "silence created in the console");
    Ok(Redirect::to(&format!("/ui/silences?created={}", silence.id)).into_response())
}

/// `POST /ui/silences/{id}/expire` (login, CSRF): ends a silence now.
pub async fn expire(
    State(state): State<ServerState>,
    editor: Editor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    editor.check_csrf(&form.csrf)?;
    let expired = state
        .store
        .expire_silence(&id, state.clock.now())
        .await
        .map_err(|e| PageError::internal(format!("cannot expire the silence: {e}")))?;
    if !expired {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            format!("no active or pending silence {id:?}"),
        ));
    }
    refresh(&state)
        .await
        .map_err(|e| PageError::internal(e.message))?;
    Ok(Redirect::to("/ui/silences").into_response())
}

/// A silence as the list shows it.
#[derive(Debug, Serialize)]
struct Row {
    silence: Silence,
    status: &'static str,
}

/// The list page's query: the silence just created, to point out.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Its id.
    #[serde(default)]
    created: String,
}

/// `GET /ui/silences`: every silence, newest first.
pub async fn page(
    State(state): State<ServerState>,
    Reader(viewer): Reader,
    Query(query): Query<ListQuery>,
) -> Result<Html<String>, PageError> {
    let now = state.clock.now();
    let mut all = state
        .store
        .silences()
        .await
        .map_err(|e| PageError::internal(format!("cannot read silences: {e}")))?;
    all.sort_by_key(|s| std::cmp::Reverse(s.starts_at));
    let rows: Vec<Row> = all
        .into_iter()
        .map(|s| Row {
            status: if s.is_active(now) {
                "active"
            } else if s.starts_at > now {
                "pending"
            } else {
                "expired"
            },
            silence: s,
        })
        .collect();
    html(
        "silences.html",
        minijinja::context! {
            frame => v(&Frame::new("Silences", "silences", &viewer)),
            rows => v(&rows),
            created => query.created,
        },
    )
}
