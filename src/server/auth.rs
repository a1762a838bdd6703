//! Bearer-token authentication for mutating API endpoints, as a reusable axum layer.
//!
//! Wrap any router with [`require_token`]; requests without `Authorization: Bearer
//! <token>` matching the configured `[server] api_token` get a JSON 401. When no token is
//! configured, mutating calls are refused with 403 instead of being left open.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

use crate::server::error::ApiError;
use crate::types::Secret;

/// The configured token, shared by every request.
#[derive(Clone)]
pub struct ApiToken(Option<Arc<Secret>>);

impl ApiToken {
    /// Wraps the configured token (`None`: mutating calls are disabled).
    pub fn new(token: Option<Secret>) -> Self {
        Self(token.map(Arc::new))
    }

    /// Checks an `Authorization` header value against the token.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), ApiError> {
        let Some(expected) = &self.0 else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "mutating API calls are disabled: set [server] api_token in driftwatch.toml",
            ));
        };
        let presented = authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing bearer token: send \"Authorization: Bearer <api_token>\"",
                )
            })?;
        if constant_time_eq(presented.as_bytes(), expected.expose().as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid bearer token",
            ))
        }
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// Middleware body: lets the request through only with the right token.
pub async fn bearer_auth(
    State(token): State<ApiToken>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    token.check(header)?;
    Ok(next.run(request).await)
}

/// Puts every route of `router` behind the bearer token.
pub fn require_token<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    token: ApiToken,
) -> Router<S> {
    router.layer(axum::middleware::from_fn_with_state(token, bearer_auth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_checks() {
        let t = ApiToken::new(Some(Secret::new("s3cret-token-value")));
        assert!(t.check(Some("Bearer s3cret-token-value")).is_ok());
        let e = t.check(None).unwrap_err();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            t.check(Some("Bearer s3cret-token-valuX"))
                .unwrap_err()
                .status,
            StatusCode::UNAUTHORIZED
        );
        assert!(
            t.check(Some("Bearer s3cret")).is_err(),
            "a prefix is not enough"
        );
        assert!(t.check(Some("Basic s3cret-token-value")).is_err());
        let off = ApiToken::new(None);
        assert_eq!(
            off.check(Some("Bearer x")).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
    }
}
