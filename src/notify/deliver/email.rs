//! Email delivery over SMTP (lettre): STARTTLS required or implicit TLS (plaintext only
//! to a loopback relay, checked when the configuration loads), only to addresses the
//! address policy allows (as for webhooks), a deadline per send, text and HTML parts
//! rendered from the receiver's templates, and a Message-ID, date and MIME boundary
//! derived from the notification, so a retry sends the same bytes.

use std::sync::Arc;
use std::time::SystemTime;

use lettre::message::{Message, MultiPart, SinglePart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};

use crate::model::payload::WebhookPayload;
use crate::notify::deliver::address_policy::AddressPolicy;
use crate::notify::deliver::allowlist::AllowedDestination;
use crate::notify::deliver::resolver::{CheckedResolver, HostLookup, SystemLookup};
use crate::notify::deliver::settings::EmailConfig;
use crate::notify::deliver::settings::EmailTls;
use crate::notify::deliver::smtp_transport::{SendError, SmtpTransport};
use crate::notify::deliver::webhook::{DeliveryError, FailureKind};

/// Sends to one email receiver.
#[derive(Clone)]
pub struct EmailSender {
    transport: SmtpTransport,
    config: EmailConfig,
}

impl std::fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config's Debug hides the credentials (they are `Secret`s).
        f.debug_struct("EmailSender")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The Message-ID of notification `id`: the same on every attempt, so a retry after a
/// lost reply is recognisable as the same message.
pub fn message_id(id: &str) -> String {
    format!("<{id}@driftwatch>")
}

impl EmailSender {
    /// A sender for `config` resolving the host with the system resolver; `allowlist` is
    /// `[delivery] allow_private`. Certificates are checked against the public roots
    /// plus `ca_file`, under the SMTP host's name.
    pub fn new(config: EmailConfig, allowlist: &[AllowedDestination]) -> Result<Self, String> {
        Self::with_lookup(config, allowlist, Arc::new(SystemLookup))
    }

    /// A sender that resolves the SMTP host through `lookup` and connects only to the
    /// addresses the policy of `allowlist` and the receiver's `allow_private` allows.
    pub fn with_lookup(
        config: EmailConfig,
        allowlist: &[AllowedDestination],
        lookup: Arc<dyn HostLookup>,
    ) -> Result<Self, String> {
        let parameters = || -> Result<TlsParameters, String> {
            let mut builder = TlsParameters::builder(config.host.clone());
            if let Some(pem) = &config.ca_pem {
                let ca = Certificate::from_pem(pem).map_err(|e| format!("ca_file: {e}"))?;
                builder = builder.add_root_certificate(ca);
            }
            builder
                .build_rustls()
                .map_err(|e| format!("cannot set up TLS: {e}"))
        };
        let tls = match config.tls {
            EmailTls::Starttls => Tls::Required(parameters()?),
            EmailTls::Tls => Tls::Wrapper(parameters()?),
            EmailTls::None => Tls::None,
        };
        let policy = AddressPolicy::new(allowlist, config.allow_private);
        let resolver = CheckedResolver::new(lookup, Arc::new(policy));
        Ok(Self {
            transport: SmtpTransport::new(resolver, tls),
            config,
        })
    }

    /// The receiver's settings.
    pub fn config(&self) -> &EmailConfig {
        &self.config
    }

    /// The email for stored payload `stored` of notification `id`: subject, text and HTML
    /// rendered from the templates; Date from the notification's creation time.
    pub fn message(&self, id: &str, stored: &str) -> Result<Message, String> {
        let payload: WebhookPayload = serde_json::from_str(stored)
            .map_err(|e| format!("the stored payload does not parse: {e}"))?;
        let (subject, text, html) = self.render(&payload)?;
        let date = chrono::DateTime::parse_from_rfc3339(&payload.created_at)
            .map(SystemTime::from)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut builder = Message::builder()
            .from(self.config.from.clone())
            .message_id(Some(message_id(id)))
            .date(date)
            .subject(subject);
        for to in &self.config.to {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(
                MultiPart::alternative()
                    .boundary(format!("driftwatch-{id}"))
                    .singlepart(SinglePart::plain(text))
                    .singlepart(SinglePart::html(html)),
            )
            .map_err(|e| format!("cannot build the email: {e}"))
    }

    /// Subject (one line), text and HTML for `payload`.
    pub fn render(&self, payload: &WebhookPayload) -> Result<(String, String, String), String> {
        render_email(&self.config, payload)
    }

    /// Sends notification `id` within the receiver's timeout; returns the server's reply
    /// code. A 5xx reply is a permanent rejection; everything else may be retried.
    pub async fn send(&self, id: &str, stored: &str) -> Result<u16, DeliveryError> {
        let message = self
            .message(id, stored)
            .map_err(|e| DeliveryError::new(FailureKind::Unrenderable, e))?;
        let deadline = self.config.timeout;
        let sent = tokio::time::timeout(deadline, self.transport.send(&self.config, message)).await;
        match sent {
            Err(_) => Err(DeliveryError::new(
                FailureKind::Transient,
                format!("SMTP: no reply within {deadline:?}"),
            )),
            Ok(Ok(response)) => Ok(response.code().to_string().parse().unwrap_or(250)),
            Ok(Err(SendError::Address(e))) => Err(e),
            Ok(Err(SendError::Smtp(e))) => {
                let kind = if e.is_permanent() {
                    FailureKind::Rejected
                } else {
                    FailureKind::Transient
                };
                Err(DeliveryError::new(
                    kind,
                    format!(
                        "SMTP {}:{}: {}",
                        self.config.host,
                        self.config.port,
                        smtp_error(&e)
                    ),
                ))
            }
        }
    }
}

/// Subject (whitespace collapsed to one line), text and HTML of an email receiver's
/// message about `payload`.
pub fn render_email(
    config: &EmailConfig,
    payload: &WebhookPayload,
) -> Result<(String, String, String), String> {
    let render = |t: &crate::notify::render::template::Template| {
        t.render(payload).map_err(|e| format!("template {e}"))
    };
    let subject = render(&config.subject)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Ok((subject, render(&config.text)?, render(&config.html)?))
}

/// lettre's error with its causes (a TLS or connection failure is in the source chain).
fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::render::sample::sample_payload;
    use crate::notify::render::template::{
        Template, DEFAULT_EMAIL_HTML, DEFAULT_EMAIL_SUBJECT, DEFAULT_EMAIL_TEXT,
    };

    /// The settings `[receivers.mail]` with this `host` and the defaults validates to
    /// (validation itself is tested in `config::receivers`, which builds them).
    fn email_config(host: &str) -> EmailConfig {
        let template = |name: &str, text: &str| Template::compile(name, text).unwrap();
        EmailConfig {
            host: host.to_owned(),
            port: 587,
            tls: EmailTls::Starttls,
            ca_pem: None,
            from: "driftwatch <dw@example.com>".parse().unwrap(),
            to: vec![
                "ops@example.com".parse().unwrap(),
                "Oncall <oncall@example.com>".parse().unwrap(),
            ],
            credentials: None,
            timeout: std::time::Duration::from_secs(30),
            subject: template("default email subject", DEFAULT_EMAIL_SUBJECT),
            text: template("default email.txt", DEFAULT_EMAIL_TEXT),
            html: template("default email.html", DEFAULT_EMAIL_HTML),
            disable_after: None,
            allow_private: false,
        }
    }

    // The transport's connection pool lives on the tokio runtime.
    #[tokio::test]
    async fn the_message_is_multipart_with_an_id_derived_from_the_notification() {
        let sender = EmailSender::new(email_config("smtp.example.com"), &[]).unwrap();
        let stored = serde_json::to_string(&sample_payload("mail")).unwrap();
        let first = sender.message("msg_1", &stored).unwrap().formatted();
        let again = sender.message("msg_1", &stored).unwrap().formatted();
        assert_eq!(first, again, "a retry sends the same bytes");
        let text = String::from_utf8(first).unwrap();
        assert!(text.contains("Message-ID: <msg_1@driftwatch>"), "{text}");
        assert!(
            text.contains("Subject: [FIRING:2] workflow_slow (rule=workflow_slow)"),
            "{text}"
        );
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(
            text.contains("text/plain") && text.contains("text/html"),
            "{text}"
        );
        assert!(text.contains("Date: Mon, 06 Jan 2025 10:00:00"), "{text}");
    }

    #[tokio::test]
    async fn a_host_name_is_refused_when_it_resolves_to_metadata_even_if_allowlisted() {
        // As `host = "smtp.internal"` with `[delivery] allow_private = ["smtp.internal"]`.
        let config = email_config("smtp.internal");
        let allowlist = ["smtp.internal".parse().unwrap()];
        let metadata = "169.254.169.254".parse().unwrap();
        let lookup = crate::notify::deliver::resolver::StaticLookup::new()
            .with("smtp.internal", &[metadata]);
        let sender = EmailSender::with_lookup(config, &allowlist, Arc::new(lookup)).unwrap();
        let stored = serde_json::to_string(&sample_payload("mail")).unwrap();
        let err = sender.send("msg_1", &stored).await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Refused, "{}", err.message);
        assert!(
            err.message
                .contains("smtp.internal at 169.254.169.254 (cloud metadata address)"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn a_broken_template_dead_letters_instead_of_retrying() {
        let mut config = email_config("smtp.example.com");
        config.subject =
            crate::notify::render::template::Template::compile("subject", "{{ alerts[0].nope }}")
                .unwrap();
        let sender = EmailSender::new(config, &[]).unwrap();
        let stored = serde_json::to_string(&sample_payload("mail")).unwrap();
        let err = sender.send("msg_1", &stored).await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Unrenderable);
        assert!(
            err.message.starts_with("template subject:1:"),
            "{}",
            err.message
        );
    }
}
