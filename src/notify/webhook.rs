//! Webhook delivery: one signed POST with a total deadline, no redirects, a capped read.

use std::time::Duration;

use crate::config::validated::WebhookConfig;
use crate::notify::signing::SigningKey;

/// Why an attempt failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// What happened (status and the start of the response, or the transport error).
    pub message: String,
    /// False when no retry can succeed.
    pub retryable: bool,
}

/// Sends to one webhook receiver.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    config: WebhookConfig,
    key: Option<SigningKey>,
}

impl WebhookSender {
    /// A sender with its own connection pool; redirects are never followed (a redirect
    /// could move a signed payload to a host nobody configured).
    pub fn new(config: WebhookConfig) -> Result<Self, String> {
        let key = config
            .secret
            .as_ref()
            .map(|s| SigningKey::from_whsec(s.expose()))
            .transpose()?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(128)
            .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(Self {
            client,
            config,
            key,
        })
    }

    /// POSTs `body` as message `msg_id`, signed with the current time.
    pub async fn send(&self, msg_id: &str, body: &str) -> Result<u16, DeliveryError> {
        let deadline = self.config.timeout;
        match tokio::time::timeout(deadline, self.attempt(msg_id, body)).await {
            Ok(result) => result,
            Err(_) => Err(DeliveryError {
                message: format!("no complete response within {deadline:?}"),
                retryable: true,
            }),
        }
    }

    async fn attempt(&self, msg_id: &str, body: &str) -> Result<u16, DeliveryError> {
        let timestamp = chrono::Utc::now().timestamp();
        let mut request = self
            .client
            .post(self.config.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(key) = &self.key {
            request = request.header(
                "webhook-signature",
                key.sign(msg_id, timestamp, body.as_bytes()),
            );
        }
        let mut response =
            request
                .body(body.to_owned())
                .send()
                .await
                .map_err(|e| DeliveryError {
                    message: format!("request failed: {}", without_url(&e)),
                    retryable: true,
                })?;
        let status = response.status();
        // Read at most the cap, so a huge or endless response cannot hold us.
        let mut read = Vec::new();
        while read.len() < self.config.max_response_bytes {
            match response.chunk().await {
                Ok(Some(chunk)) => read.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    return Err(DeliveryError {
                        message: format!("reading the response failed: {}", without_url(&e)),
                        retryable: true,
                    })
                }
            }
        }
        if status.is_success() {
            return Ok(status.as_u16());
        }
        read.truncate(self.config.max_response_bytes.min(200));
        let snippet = String::from_utf8_lossy(&read).replace(['\n', '\r'], " ");
        let what = if status.is_redirection() {
            "redirect not followed"
        } else {
            "not a 2xx status"
        };
        Err(DeliveryError {
            message: format!("HTTP {} ({what}): {}", status.as_u16(), snippet.trim()),
            retryable: true,
        })
    }
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
