//! One sender per configured receiver, whatever its kind: webhooks and Alertmanager
//! (HTTP, `Retry-After` and 410 handling) and email (SMTP). Every kind connects only
//! where the address policy allows: each resolves its host through the
//! [`CheckedResolver`](crate::notify::deliver::resolver::CheckedResolver) built from the same
//! `[delivery] allow_private` and the receiver's own `allow_private`.

use std::collections::{BTreeMap, HashMap};

use crate::notify::deliver::allowlist::AllowedDestination;
use crate::notify::deliver::email::EmailSender;
use crate::notify::deliver::settings::ReceiverConfig;
use crate::notify::deliver::webhook::{DeliveryError, FailureKind, WebhookSender};

/// Delivers to one receiver.
#[derive(Debug, Clone)]
pub enum Sender {
    /// An HTTP POST: a webhook, or an Alertmanager's alerts API.
    Webhook(WebhookSender),
    /// An email.
    Email(EmailSender),
}

impl From<WebhookSender> for Sender {
    fn from(s: WebhookSender) -> Self {
        Sender::Webhook(s)
    }
}

impl From<EmailSender> for Sender {
    fn from(s: EmailSender) -> Self {
        Sender::Email(s)
    }
}

impl Sender {
    /// A sender for one receiver's configuration; `allowlist` is `[delivery]
    /// allow_private`.
    pub fn build(
        config: &ReceiverConfig,
        allowlist: &[AllowedDestination],
    ) -> Result<Self, String> {
        Ok(match config {
            ReceiverConfig::Webhook(w) => WebhookSender::new(w.clone(), allowlist)?.into(),
            ReceiverConfig::Alertmanager(a) => {
                WebhookSender::new(a.as_webhook(), allowlist)?.into()
            }
            ReceiverConfig::Email(e) => EmailSender::new(e.clone(), allowlist)?.into(),
        })
    }

    /// Disabled after failing this long without a success; `None`: never.
    pub fn disable_after(&self) -> Option<std::time::Duration> {
        match self {
            Sender::Webhook(w) => w.config().disable_after,
            Sender::Email(e) => e.config().disable_after,
        }
    }

    /// Delivers notification `id` whose stored driftwatch payload is `stored`, rendered
    /// into the receiver's format; returns the HTTP status or SMTP reply code.
    pub async fn send(&self, id: &str, stored: &str) -> Result<u16, DeliveryError> {
        match self {
            Sender::Webhook(w) => {
                let body = w
                    .config()
                    .body
                    .render(stored)
                    .map_err(|e| DeliveryError::new(FailureKind::Unrenderable, e))?;
                w.send(id, &body).await
            }
            Sender::Email(e) => e.send(id, stored).await,
        }
    }
}

/// Builds the senders for every configured receiver; `allowlist` is `[delivery]
/// allow_private`, the non-public destinations every receiver may reach.
pub fn build_senders(
    receivers: &BTreeMap<String, ReceiverConfig>,
    allowlist: &[AllowedDestination],
) -> Result<HashMap<String, Sender>, String> {
    receivers
        .iter()
        .map(|(name, cfg)| {
            Sender::build(cfg, allowlist)
                .map(|s| (name.clone(), s))
                .map_err(|e| format!("receiver {name}: {e}"))
        })
        .collect()
}
