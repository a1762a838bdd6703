//! `driftwatch template render`: what a receiver would be sent for a notification (the
//! built-in sample or a payload from a file), rendered exactly as at delivery time.

use std::path::Path;

use crate::model::payload::WebhookPayload;
use crate::notify::deliver::email::render_email;
use crate::notify::deliver::settings::BodyFormat;
use crate::notify::deliver::settings::ReceiverConfig;
use crate::notify::render::body::WebhookBody;
use crate::notify::render::sample::sample_payload;
use crate::notify::render::template::Template;

/// What to render.
#[derive(Debug, Clone)]
pub enum PreviewTarget {
    /// A configured receiver, with its format or templates.
    Receiver {
        /// Its name (the sample payload is addressed to it).
        name: String,
        /// Its settings.
        config: Box<ReceiverConfig>,
    },
    /// A webhook body preset.
    Format(BodyFormat),
    /// A template file.
    Template(std::path::PathBuf),
}

/// The payload to preview with: the file's (a driftwatch webhook payload), or the
/// built-in sample of two firing alerts and a resolved one.
pub fn preview_payload(file: Option<&Path>, receiver: &str) -> Result<WebhookPayload, String> {
    match file {
        None => Ok(sample_payload(receiver)),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a driftwatch webhook payload: {e}", path.display()))
        }
    }
}

/// The rendered body (or, for an email receiver, its subject, text and HTML parts).
pub fn render_preview(target: &PreviewTarget, payload: &WebhookPayload) -> Result<String, String> {
    let stored =
        serde_json::to_string(payload).map_err(|e| format!("cannot encode the payload: {e}"))?;
    let body = match target {
        PreviewTarget::Receiver { config, .. } => match config.as_ref() {
            ReceiverConfig::Webhook(w) => w.body.clone(),
            ReceiverConfig::Alertmanager(a) => a.as_webhook().body,
            ReceiverConfig::Email(e) => {
                let (subject, text, html) = render_email(e, payload)?;
                let to: Vec<String> = e.to.iter().map(|m| m.to_string()).collect();
                return Ok(format!(
                    "From: {}\nTo: {}\nSubject: {subject}\n\n--- text/plain ---\n{text}\n--- text/html ---\n{html}\n",
                    e.from,
                    to.join(", ")
                ));
            }
        },
        PreviewTarget::Format(format) => WebhookBody::from(*format),
        PreviewTarget::Template(path) => {
            let source = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            WebhookBody::Template(
                Template::compile(&path.display().to_string(), &source)
                    .map_err(|e| e.to_string())?,
            )
        }
    };
    body.render(&stored).map(|b| b.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_file_error_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body.j2");
        std::fs::write(&path, "ok\n{% for a in alerts %}\n").unwrap();
        let err = render_preview(&PreviewTarget::Template(path.clone()), &sample_payload("x"))
            .unwrap_err();
        assert!(
            err.starts_with(&format!("{}:", path.display())) && err.contains("syntax error"),
            "{err}"
        );
    }

    #[test]
    fn presets_preview_as_sent() {
        let payload = sample_payload("x");
        let slack = render_preview(&PreviewTarget::Format(BodyFormat::Slack), &payload).unwrap();
        assert!(slack.contains("[FIRING:2] workflow_slow"), "{slack}");
        let own = render_preview(&PreviewTarget::Format(BodyFormat::Driftwatch), &payload).unwrap();
        assert_eq!(own, serde_json::to_string(&payload).unwrap());
    }
}
