//! What an HTTP receiver is sent: the stored driftwatch JSON as it is, or a body rendered
//! from it at delivery time (a preset or the receiver's own template).

use std::borrow::Cow;
use std::time::Duration;

use crate::model::payload::WebhookPayload;
use crate::notify::deliver::settings::BodyFormat;
use crate::notify::render::template::Template;
use crate::notify::render::{alertmanager, slack};

/// How a webhook's body is made from the stored payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum WebhookBody {
    /// driftwatch's own JSON (`driftwatch.alert.v1`), byte for byte as stored.
    #[default]
    Driftwatch,
    /// The body Alertmanager's webhooks send (version 4).
    AlertmanagerWebhook,
    /// A Slack incoming-webhook message.
    Slack,
    /// The receiver's own template.
    Template(Template),
    /// The alerts array of Alertmanager's `POST /api/v2/alerts`; firing alerts end
    /// this long after the notification was created unless pushed again.
    AlertmanagerApi {
        /// How long a firing alert stays firing in Alertmanager without news.
        firing_ttl: Duration,
    },
}

/// A preset's body.
impl From<BodyFormat> for WebhookBody {
    fn from(format: BodyFormat) -> Self {
        match format {
            BodyFormat::Driftwatch => WebhookBody::Driftwatch,
            BodyFormat::Alertmanager => WebhookBody::AlertmanagerWebhook,
            BodyFormat::Slack => WebhookBody::Slack,
        }
    }
}

impl WebhookBody {
    /// The body for the stored payload `stored`. Fails when the payload does not parse
    /// or the template cannot render it: trying again would fail the same way.
    pub fn render<'a>(&self, stored: &'a str) -> Result<Cow<'a, str>, String> {
        if *self == WebhookBody::Driftwatch {
            return Ok(Cow::Borrowed(stored));
        }
        let payload: WebhookPayload = serde_json::from_str(stored)
            .map_err(|e| format!("the stored payload does not parse: {e}"))?;
        let json = |v: serde_json::Result<String>| {
            v.map(Cow::Owned)
                .map_err(|e| format!("cannot encode the body: {e}"))
        };
        match self {
            WebhookBody::Driftwatch => Ok(Cow::Borrowed(stored)),
            WebhookBody::AlertmanagerWebhook => {
                json(serde_json::to_string(&alertmanager::webhook_body(&payload)))
            }
            WebhookBody::Slack => json(serde_json::to_string(&slack::message(&payload))),
            WebhookBody::AlertmanagerApi { firing_ttl } => json(serde_json::to_string(
                &alertmanager::api_alerts(&payload, *firing_ttl),
            )),
            WebhookBody::Template(t) => t
                .render(&payload)
                .map(Cow::Owned)
                .map_err(|e| format!("template {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::render::sample::sample_payload;

    #[test]
    fn the_driftwatch_body_is_the_stored_bytes_untouched() {
        // Not re-serialized: odd spacing and key order survive.
        let stored = "{ \"version\":\"driftwatch.alert.v1\",  \"zz\": 1 }";
        assert!(matches!(
            WebhookBody::Driftwatch.render(stored).unwrap(),
            Cow::Borrowed(s) if s == stored
        ));
    }

    #[test]
    fn presets_and_templates_render_deterministically() {
        let stored = serde_json::to_string(&sample_payload("ops")).unwrap();
        let template = Template::compile("t.json", "{\"n\": {{ alerts|length }}}").unwrap();
        for body in [
            WebhookBody::AlertmanagerWebhook,
            WebhookBody::Slack,
            WebhookBody::Template(template),
            WebhookBody::AlertmanagerApi {
                firing_ttl: Duration::from_secs(60),
            },
        ] {
            let a = body.render(&stored).unwrap();
            assert_eq!(a, body.render(&stored).unwrap(), "{body:?}");
            serde_json::from_str::<serde_json::Value>(&a).unwrap();
        }
    }

    #[test]
    fn a_render_failure_says_which_template_and_why() {
        let stored = serde_json::to_string(&sample_payload("ops")).unwrap();
        let t = Template::compile("hooks/ops.j2", "{{ nope }}").unwrap();
        let err = WebhookBody::Template(t).render(&stored).unwrap_err();
        assert!(
            err.starts_with("template hooks/ops.j2:1:4: undefined value"),
            "{err}"
        );
        let err = WebhookBody::Slack.render("not json").unwrap_err();
        assert!(err.contains("does not parse"), "{err}");
    }
}
