//! The validated settings of receivers and of delivery: what a sender is built from.
//!
//! They live beside the senders that use them, not in `config`, so `notify` does not
//! import the module that parses `driftwatch.toml`; each kind's section is validated into
//! them by its `build` (`*_section.rs`), and `config` places every problem in the file.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::notify::deliver::allowlist::AllowedDestination;
use crate::notify::render::body::WebhookBody;
use crate::notify::render::template::Template;
use crate::types::Secret;

/// One notification receiver.
#[derive(Debug, Clone)]
pub enum ReceiverConfig {
    /// Signed JSON POSTs.
    Webhook(WebhookConfig),
    /// Email over SMTP.
    Email(EmailConfig),
    /// Alerts pushed to an Alertmanager's API.
    Alertmanager(AlertmanagerConfig),
}

impl ReceiverConfig {
    /// How long the receiver may fail before it is disabled; `None`: never.
    pub fn disable_after(&self) -> Option<Duration> {
        match self {
            ReceiverConfig::Webhook(w) => w.disable_after,
            ReceiverConfig::Email(e) => e.disable_after,
            ReceiverConfig::Alertmanager(a) => a.disable_after,
        }
    }
}

/// An email receiver's settings.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// SMTP server host name (also the name its certificate must carry).
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// How the connection is secured.
    pub tls: EmailTls,
    /// Extra CA certificates (PEM) trusted for the server.
    pub ca_pem: Option<Vec<u8>>,
    /// The sender.
    pub from: lettre::message::Mailbox,
    /// The recipients (at least one).
    pub to: Vec<lettre::message::Mailbox>,
    /// SMTP user name and password, when the server wants them.
    pub credentials: Option<(Secret, Secret)>,
    /// Deadline for one send, connection included.
    pub timeout: Duration,
    /// Subject template.
    pub subject: Template,
    /// Plain-text body template.
    pub text: Template,
    /// HTML body template.
    pub html: Template,
    /// Disabled after failing this long without a success; `None`: never.
    pub disable_after: Option<Duration>,
    /// May reach any non-public address except cloud metadata (`allow_private = true`).
    pub allow_private: bool,
}

/// An Alertmanager receiver's settings.
#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    /// The Alertmanager's base URL.
    pub url: reqwest::Url,
    /// Total deadline per attempt.
    pub timeout: Duration,
    /// May reach any non-public address except cloud metadata.
    pub allow_private: bool,
    /// How long a pushed firing alert lasts in Alertmanager without news (its `endsAt`).
    pub firing_ttl: Duration,
    /// Disabled after failing this long without a success; `None`: never.
    pub disable_after: Option<Duration>,
}

impl AlertmanagerConfig {
    /// The endpoint alerts are POSTed to: `/api/v2/alerts` under the base URL.
    pub fn alerts_url(&self) -> reqwest::Url {
        let mut url = self.url.clone();
        let path = format!("{}/api/v2/alerts", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    /// The delivery settings of the POST: a webhook without signing whose body is the
    /// API's alert list, under the same address policy as webhooks.
    pub fn as_webhook(&self) -> WebhookConfig {
        WebhookConfig {
            url: self.alerts_url(),
            secret: None,
            previous_secrets: Vec::new(),
            timeout: self.timeout,
            max_response_bytes: 64 * 1024,
            allow_private: self.allow_private,
            disable_after: self.disable_after,
            body: WebhookBody::AlertmanagerApi {
                firing_ttl: self.firing_ttl,
            },
        }
    }
}

/// A webhook receiver's settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Target URL.
    pub url: reqwest::Url,
    /// Signing secret (`whsec_…`), if signing is wanted.
    pub secret: Option<Secret>,
    /// Secrets being rotated out: each signs too, until removed from the configuration.
    pub previous_secrets: Vec<Secret>,
    /// Total deadline per attempt.
    pub timeout: Duration,
    /// Response bytes read at most.
    pub max_response_bytes: usize,
    /// May reach any non-public address except cloud metadata (`allow_private = true`).
    pub allow_private: bool,
    /// Disabled after failing this long without a success; `None`: never.
    pub disable_after: Option<Duration>,
    /// How the body is made from the stored payload.
    pub body: WebhookBody,
}

/// Outbox delivery settings.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Waits between attempts (after the last, the notification is dead).
    pub retry_schedule: Vec<Duration>,
    /// Random spread as a fraction of each wait.
    pub jitter: f64,
    /// Notifications in flight at once.
    pub concurrency: usize,
    /// Non-public addresses, networks and host names webhooks may reach.
    pub allow_private: Vec<AllowedDestination>,
    /// The longest `Retry-After` believed; a receiver asking for more waits this long.
    pub max_retry_after: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            retry_schedule: [1, 5, 30, 120, 600, 1800, 3600, 3600 * 3]
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            jitter: 0.2,
            concurrency: 64,
            allow_private: Vec::new(),
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

// Also the `--format` of `driftwatch template render` (clap::ValueEnum), so the file and
// the command name the presets alike. (A `//` comment: doc comments reach the JSON Schema.)
/// The body a webhook receiver is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// driftwatch's own signed JSON (`driftwatch.alert.v1`), as documented.
    #[default]
    Driftwatch,
    /// The body Alertmanager's webhooks send (version 4), for receivers written for it.
    Alertmanager,
    /// A Slack incoming-webhook message (text and blocks).
    Slack,
}

/// How an email receiver secures its SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailTls {
    /// Plain connection upgraded with STARTTLS, which the server must offer (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only to a loopback relay, and only with `allow_plaintext = true`.
    None,
}
