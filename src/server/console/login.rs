//! Logging in and out of the console. The login form carries its own CSRF token before
//! any session exists (a signed double-submit: `GET /ui/login` sets a random value in
//! an HttpOnly, SameSite=Strict cookie and puts its HMAC under the store's key in the
//! form), and a login whose form does not match its cookie is refused, so another site
//! cannot log a browser in. A login opens a session row in the store; a logout deletes
//! it, so the cookie, or any copy of it, stops working on every replica.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use crate::server::console::page::{html, v, Frame, PageError};
use crate::server::console::session::{
    cookie_value, key, mac, nonce, same, sign, CsrfForm, Editor, Viewer, COOKIE, SESSION_LIFETIME,
};
use crate::server::ServerState;

/// The login form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "dw_login";
/// How long a login form stays usable.
const LOGIN_FORM_LIFETIME: i64 = 3600;

/// The login form's token for the double-submit cookie value `seed`.
fn login_token(key: &[u8], seed: &str) -> String {
    mac(key, &["login", seed])
}

/// The login form's cookie value, as the request carries it.
#[derive(Debug, Default)]
pub struct LoginSeed(Option<String>);

impl axum::extract::FromRequestParts<ServerState> for LoginSeed {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &ServerState,
    ) -> Result<Self, Self::Rejection> {
        Ok(LoginSeed(
            cookie_value(parts, LOGIN_COOKIE).map(str::to_owned),
        ))
    }
}

/// `GET /ui/login`: the login form, with a fresh double-submit cookie and its token.
pub async fn login_form(
    State(state): State<ServerState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    login_page(&state, &viewer, StatusCode::OK, "").await
}

async fn login_page(
    state: &ServerState,
    viewer: &Viewer,
    status: StatusCode,
    error: &str,
) -> Result<Response, PageError> {
    let seed = nonce();
    let token = login_token(key(state).await?, &seed);
    let page = html(
        "login.html",
        minijinja::context! {
            frame => v(&Frame::new("Log in", "login", viewer)),
            error,
            login_csrf => token,
        },
    )?;
    let cookie = format!(
        "{LOGIN_COOKIE}={seed}; Path=/ui/login; HttpOnly; SameSite=Strict; Max-Age={LOGIN_FORM_LIFETIME}"
    );
    let mut response = (status, page).into_response();
    append_cookie(&mut response, &cookie);
    Ok(response)
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The API token.
    token: String,
    /// The form's CSRF token (the HMAC of its cookie).
    #[serde(default)]
    csrf: String,
}

/// `POST /ui/login`: with the form's CSRF token matching its cookie and the right API
/// token, opens a session and sets its cookie.
pub async fn login(
    State(state): State<ServerState>,
    viewer: Viewer,
    LoginSeed(seed): LoginSeed,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let key = key(&state).await?;
    let expected = seed.map(|s| login_token(key, &s)).unwrap_or_default();
    if expected.is_empty() || !same(expected.as_bytes(), form.csrf.as_bytes()) {
        let why = "The login form expired or did not come from this console; log in again.";
        return login_page(&state, &viewer, StatusCode::FORBIDDEN, why).await;
    }
    let bearer = format!("Bearer {}", form.token.trim());
    if let Err(e) = state.api_token.check(Some(&bearer)) {
        return login_page(&state, &viewer, e.status, "That is not the API token.").await;
    }
    let now = state.clock.now();
    let expires = now + SESSION_LIFETIME;
    let (value, id) = sign(key, expires.timestamp());
    state
        .store
        .open_console_session(&id, expires.timestamp_millis(), now.timestamp_millis())
        .await
        .map_err(|e| PageError::internal(format!("cannot open the session: {e}")))?;
    tracing::info!("console login");
    let mut response = Redirect::to("/ui").into_response();
    append_cookie(
        &mut response,
        &format!(
            "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
            SESSION_LIFETIME.num_seconds()
        ),
    );
    // The form's seed is spent: a new form gets a new one.
    append_cookie(
        &mut response,
        &format!("{LOGIN_COOKIE}=; Path=/ui/login; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// `POST /ui/logout`: ends the session in the store (on every replica) and clears its
/// cookie.
pub async fn logout(
    State(state): State<ServerState>,
    editor: Editor,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    editor.check_csrf(&form.csrf)?;
    if let Some(session) = &editor.0.session {
        state
            .store
            .revoke_console_session(&session.id)
            .await
            .map_err(|e| PageError::internal(format!("cannot end the session: {e}")))?;
    }
    tracing::info!("console logout");
    let mut response = Redirect::to("/ui").into_response();
    append_cookie(
        &mut response,
        &format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}
