//! Webhook delivery: one signed POST with a total deadline, no redirects, a capped read,
//! and only to addresses the receiver's address policy allows.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::notify::deliver::address_policy::{AddressPolicy, AddressRefused};
use crate::notify::deliver::allowlist::AllowedDestination;
use crate::notify::deliver::resolver::{CheckedResolver, HostLookup, SystemLookup};
use crate::notify::deliver::retry::parse_retry_after;
use crate::notify::deliver::settings::WebhookConfig;
use crate::notify::deliver::signing::SigningKey;

/// What kind of failure an attempt met, which decides what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// May succeed later: a transport error, a timeout, a non-2xx status.
    Transient,
    /// The address policy refused every address; no connection was made, and trying
    /// again cannot help until the configuration changes.
    Refused,
    /// HTTP 410 Gone: the endpoint no longer exists; the receiver is disabled.
    Gone,
    /// The receiver refused this message for good (an SMTP 5xx reply): it is not sent
    /// again, and the failure counts against the receiver's health.
    Rejected,
    /// The message could not be rendered for the receiver (a template error or a payload
    /// that does not parse): nothing was sent, and trying again would fail the same way.
    Unrenderable,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// What happened (status and the start of the response, or the transport error).
    pub message: String,
    /// What kind of failure it was.
    pub kind: FailureKind,
    /// The wait a 429 or 503 asked for with `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    /// True when trying again can help.
    pub fn retryable(&self) -> bool {
        self.kind == FailureKind::Transient
    }

    /// A failure of `kind` without a requested wait.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind,
            retry_after: None,
        }
    }

    fn transient(message: String) -> Self {
        Self::new(FailureKind::Transient, message)
    }

    fn refused(why: &AddressRefused) -> Self {
        Self {
            message: why.to_string(),
            kind: FailureKind::Refused,
            retry_after: None,
        }
    }
}

/// Sends to one webhook receiver.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    config: WebhookConfig,
    /// The current key first, then those being rotated out; empty: unsigned.
    keys: Vec<SigningKey>,
    policy: Arc<AddressPolicy>,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender")
            .field("config", &self.config)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl WebhookSender {
    /// A sender resolving names with the system resolver; `allowlist` is `[delivery]
    /// allow_private`.
    pub fn new(config: WebhookConfig, allowlist: &[AllowedDestination]) -> Result<Self, String> {
        Self::with_lookup(config, allowlist, Arc::new(SystemLookup))
    }

    /// A sender with its own connection pool that resolves names through `lookup` and
    /// connects only to the addresses its policy allows. Redirects are never followed (a
    /// redirect could move a signed payload to a host nobody configured) and proxies are
    /// not used (a proxy would resolve the name itself, past the address check).
    pub fn with_lookup(
        config: WebhookConfig,
        allowlist: &[AllowedDestination],
        lookup: Arc<dyn HostLookup>,
    ) -> Result<Self, String> {
        let keys = config
            .secret
            .iter()
            .chain(&config.previous_secrets)
            .map(|s| SigningKey::from_whsec(s.expose()))
            .collect::<Result<Vec<_>, _>>()?;
        let policy = Arc::new(AddressPolicy::new(allowlist, config.allow_private));
        let resolver = CheckedResolver::new(lookup, Arc::clone(&policy));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(128)
            .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(Self {
            client,
            config,
            keys,
            policy,
        })
    }

    /// The receiver's settings.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Checks a URL whose host is an IP literal, which reaches no resolver: reqwest
    /// connects to it directly.
    fn check_literal_host(&self) -> Result<(), AddressRefused> {
        let host = self.config.url.host_str().unwrap_or_default();
        let host = host.trim_matches(['[', ']']);
        match host.parse::<IpAddr>() {
            Ok(ip) => self.policy.check(host, ip),
            Err(_) => Ok(()),
        }
    }

    /// POSTs `body` as message `msg_id`, signed with the current time.
    pub async fn send(&self, msg_id: &str, body: &str) -> Result<u16, DeliveryError> {
        let deadline = self.config.timeout;
        match tokio::time::timeout(deadline, self.attempt(msg_id, body)).await {
            Ok(result) => result,
            Err(_) => Err(DeliveryError::transient(format!(
                "no complete response within {deadline:?}"
            ))),
        }
    }

    async fn attempt(&self, msg_id: &str, body: &str) -> Result<u16, DeliveryError> {
        self.check_literal_host()
            .map_err(|why| DeliveryError::refused(&why))?;
        let timestamp = chrono::Utc::now().timestamp();
        let mut request = self
            .client
            .post(self.config.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string());
        if !self.keys.is_empty() {
            request = request.header(
                "webhook-signature",
                SigningKey::sign_with_all(&self.keys, msg_id, timestamp, body.as_bytes()),
            );
        }
        let mut response =
            request
                .body(body.to_owned())
                .send()
                .await
                .map_err(|e| match refusal(&e) {
                    Some(why) => DeliveryError::refused(why),
                    None => {
                        DeliveryError::transient(format!("request failed: {}", without_url(&e)))
                    }
                })?;
        let status = response.status();
        let retry_after = match status.as_u16() {
            429 | 503 => response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now())),
            _ => None,
        };
        // Read at most the cap, so a huge or endless response cannot hold us.
        let mut read = Vec::new();
        while read.len() < self.config.max_response_bytes {
            match response.chunk().await {
                Ok(Some(chunk)) => read.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    return Err(DeliveryError::transient(format!(
                        "reading the response failed: {}",
                        without_url(&e)
                    )))
                }
            }
        }
        if status.is_success() {
            return Ok(status.as_u16());
        }
        read.truncate(self.config.max_response_bytes.min(200));
        let snippet = String::from_utf8_lossy(&read).replace(['\n', '\r'], " ");
        if status == reqwest::StatusCode::GONE {
            return Err(DeliveryError {
                message: format!("HTTP 410 Gone: {}", snippet.trim()),
                kind: FailureKind::Gone,
                retry_after: None,
            });
        }
        let what = if status.is_redirection() {
            "redirect not followed"
        } else {
            "not a 2xx status"
        };
        let mut error = DeliveryError::transient(format!(
            "HTTP {} ({what}): {}",
            status.as_u16(),
            snippet.trim()
        ));
        error.retry_after = retry_after;
        Err(error)
    }
}

/// The address refusal behind a failed request, if that is why it failed.
fn refusal(e: &reqwest::Error) -> Option<&AddressRefused> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(why) = s.downcast_ref::<AddressRefused>() {
            return Some(why);
        }
        source = s.source();
    }
    None
}

/// The error text without the URL (which may carry a token in its query string).
fn without_url(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(url.as_str(), "<receiver url>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
