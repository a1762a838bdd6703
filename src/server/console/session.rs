//! Console sessions: logging in with the API token ([`super::login`]) sets an
//! HttpOnly, SameSite=Strict cookie signed (HMAC-SHA256) with a key kept in the store,
//! naming a session row in the store (migration 0012). A cookie counts only while its
//! signature checks, it has not expired ([`SESSION_LIFETIME`]) and its row lives, so a
//! logout, which deletes the row, ends it on every replica. Each form carries a CSRF
//! token derived from the session, checked on every POST.
//!
//! Three extractors say who is asking: [`Viewer`] (anyone, with their session if any),
//! [`Reader`] (refused without a session when `[server] console_read = "token"`) and
//! [`Editor`] (always needs a session).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Deserialize;
use sha2::Sha256;

use crate::server::console::page::PageError;
use crate::server::settings::ConsoleRead;
use crate::server::ServerState;

/// The session cookie's name.
pub const COOKIE: &str = "dw_session";
/// How long a login lasts.
pub const SESSION_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(12);

/// A logged-in session, checked.
#[derive(Debug, Clone)]
pub struct Session {
    /// Its id: the cookie's nonce, and the key of its row in the store.
    pub id: String,
    csrf: String,
}

/// Whoever asks, with their session if the cookie is valid.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The session, when logged in.
    pub session: Option<Session>,
}

impl Viewer {
    /// The CSRF token this viewer's forms carry.
    pub fn csrf(&self) -> Option<String> {
        self.session.as_ref().map(|s| s.csrf.clone())
    }
}

/// A viewer allowed to read the console.
#[derive(Debug, Clone)]
pub struct Reader(pub Viewer);

/// A logged-in viewer, allowed to change things once the form's CSRF token checks.
#[derive(Debug, Clone)]
pub struct Editor(pub Viewer);

impl Editor {
    /// Checks a form's CSRF token against the session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), PageError> {
        let expected = self.0.csrf().unwrap_or_default();
        if !expected.is_empty() && same(expected.as_bytes(), presented.as_bytes()) {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "the form's CSRF token does not match your session; reload the page and try again",
            ))
        }
    }
}

/// Compares without an early exit.
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// HMAC-SHA256 of `parts` (each ended by a newline) under `key`, as hex.
pub(super) fn mac(key: &[u8], parts: &[&str]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    for p in parts {
        mac.update(p.as_bytes());
        mac.update(b"\n");
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 16 random bytes as hex.
pub(super) fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A cookie value for a new session ending at `expires` (unix seconds), and the
/// session's id.
pub fn sign(key: &[u8], expires: i64) -> (String, String) {
    let id = nonce();
    let exp = expires.to_string();
    let tag = mac(key, &["session", &exp, &id]);
    (format!("{exp}.{id}.{tag}"), id)
}

/// The session a cookie value holds, if its signature checks and it has not expired
/// (whether it was revoked is the store's to say).
pub fn verify(key: &[u8], value: &str, now: i64) -> Option<Session> {
    let mut parts = value.split('.');
    let (exp, nonce, tag) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || !same(
            mac(key, &["session", exp, nonce]).as_bytes(),
            tag.as_bytes(),
        )
    {
        return None;
    }
    if exp.parse::<i64>().ok()? <= now {
        return None;
    }
    let csrf = mac(key, &["csrf", value]);
    Some(Session {
        id: nonce.to_owned(),
        csrf: csrf.get(..32).unwrap_or_default().to_owned(),
    })
}

/// The key cookies are signed with, read from (or made in) the store once.
pub(super) async fn key(state: &ServerState) -> Result<&[u8], PageError> {
    let now = state.clock.now().timestamp_millis();
    state
        .console
        .key
        .get_or_try_init(|| async { state.store.console_key(now).await.map(String::into_bytes) })
        .await
        .map(Vec::as_slice)
        .map_err(|e| PageError::internal(format!("cannot read the console key: {e}")))
}

/// The value of the cookie `name` the request carries.
pub(super) fn cookie_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name)?.strip_prefix('='))
}

/// The session `value` names, if it checks and its row lives in the store.
async fn live_session(state: &ServerState, value: &str) -> Result<Option<Session>, PageError> {
    let key = key(state).await?;
    let now = state.clock.now();
    let Some(session) = verify(key, value, now.timestamp()) else {
        return Ok(None);
    };
    let live = state
        .store
        .console_session_live(&session.id, now.timestamp_millis())
        .await
        .map_err(|e| PageError::internal(format!("cannot read the session: {e}")))?;
    Ok(live.then_some(session))
}

impl FromRequestParts<ServerState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServerState,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = cookie_value(parts, COOKIE) else {
            return Ok(Viewer::default());
        };
        Ok(Viewer {
            session: live_session(state, value).await?,
        })
    }
}

impl FromRequestParts<ServerState> for Reader {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServerState,
    ) -> Result<Self, Self::Rejection> {
        let viewer = Viewer::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if state.console.read == ConsoleRead::Token && viewer.session.is_none() {
            return Err(Redirect::to("/ui/login").into_response());
        }
        Ok(Reader(viewer))
    }
}

impl FromRequestParts<ServerState> for Editor {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServerState,
    ) -> Result<Self, Self::Rejection> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        if viewer.session.is_none() {
            return Err(PageError::new(
                StatusCode::UNAUTHORIZED,
                "changing anything needs a login with the API token: log in first",
            ));
        }
        Ok(Editor(viewer))
    }
}

/// A form's CSRF field (logout, expire, re-enable, re-send).
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's CSRF token.
    pub csrf: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_cookie_checks_until_it_expires_and_not_with_another_key() {
        let (value, id) = sign(b"key-one", 1_000);
        let session = verify(b"key-one", &value, 999).unwrap();
        assert_eq!(session.csrf.len(), 32);
        assert_eq!(session.id, id, "the session is named by the cookie's nonce");
        assert!(verify(b"key-one", &value, 1_000).is_none(), "expired");
        assert!(verify(b"key-two", &value, 999).is_none(), "other key");
        let forged = value.replacen("1000", "9999", 1);
        assert!(verify(b"key-one", &forged, 999).is_none(), "tampered");
        let other = verify(b"key-one", &sign(b"key-one", 1_000).0, 999).unwrap();
        assert_ne!(session.csrf, other.csrf, "each session its own CSRF token");
    }
}
