//! A webhook receiver as written, `[receivers.NAME] kind = "webhook"`, and its validation
//! into the [`WebhookConfig`] the webhook sender is built from: the URL and its address,
//! signing secrets, the body format or template, and the defaults.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::notify::deliver::receiver_site::ReceiverSite;
use crate::notify::deliver::settings::{BodyFormat, WebhookConfig};
use crate::notify::deliver::signing::SigningKey;
use crate::notify::render::body::WebhookBody;
use crate::types::{http_url, DurationSpec, EnvString, Problem, Secret};

/// `[receivers.NAME] kind = "webhook"`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// Where to POST; may use `${VAR}`.
    pub url: EnvString,
    /// Standard Webhooks secret, `whsec_<base64>`; use `${VAR}`.
    #[serde(default)]
    pub secret: Option<EnvString>,
    /// Secrets being rotated out: while listed, every request carries a signature with
    /// each of them too, so receivers can switch secrets at their own pace.
    #[serde(default)]
    pub previous_secrets: Vec<EnvString>,
    /// Total deadline for one attempt, response included (default 10s).
    #[serde(default)]
    pub timeout: Option<DurationSpec>,
    /// At most this many response bytes are read (default 64 KiB).
    #[serde(default)]
    pub max_response_bytes: Option<usize>,
    /// `true` lets this receiver reach loopback, private and other non-public addresses
    /// (cloud metadata addresses excepted); default false.
    #[serde(default)]
    pub allow_private: bool,
    /// Disable the receiver when every attempt has failed for this long (e.g. `"24h"`);
    /// the other receivers are told. Default: never.
    #[serde(default)]
    pub disable_after: Option<DurationSpec>,
    /// The body: `driftwatch` (default, signed JSON), `alertmanager` (Alertmanager's
    /// webhook body) or `slack`.
    #[serde(default)]
    pub format: Option<BodyFormat>,
    /// A minijinja template file for the body instead of a preset (relative to this file).
    #[serde(default)]
    pub template: Option<String>,
    /// An inline minijinja template for the body instead of a preset.
    #[serde(default)]
    pub body_template: Option<String>,
    /// Notify resolved alerts too (default true).
    #[serde(default)]
    pub send_resolved: Option<bool>,
}

impl WebhookSection {
    /// The webhook's settings (timeout 10s, 64 KiB of response read), or every problem.
    pub fn build(&self, site: &ReceiverSite<'_>) -> Result<WebhookConfig, Vec<Problem>> {
        let mut problems = Vec::new();
        let url = http_url(&self.url).and_then(|u| {
            site.literal_host_allowed(&u, self.allow_private)
                .map(|()| u)
        });
        let secrets = self.secrets();
        let body = self.body(site).map_err(|e| problems.push(e)).ok();
        match (url, secrets, body) {
            (Ok(url), Ok((secret, previous_secrets)), Some(body)) if problems.is_empty() => {
                Ok(WebhookConfig {
                    url,
                    secret,
                    previous_secrets,
                    timeout: self
                        .timeout
                        .map(|d| d.get())
                        .unwrap_or(Duration::from_secs(10)),
                    max_response_bytes: self.max_response_bytes.unwrap_or(64 * 1024),
                    allow_private: self.allow_private,
                    disable_after: self.disable_after.map(|d| d.get()),
                    body,
                })
            }
            (url, secrets, _) => {
                for e in [url.err(), secrets.err()].into_iter().flatten() {
                    problems.push(site.problem(e));
                }
                Err(problems)
            }
        }
    }

    /// The signing secret and the ones being rotated out, each a valid `whsec_` key.
    fn secrets(&self) -> Result<(Option<Secret>, Vec<Secret>), String> {
        let secret_of = |s: &EnvString| {
            s.expand()
                .and_then(|s| SigningKey::from_whsec(&s).map(|_| Secret::new(s)))
        };
        let secret = match &self.secret {
            None if !self.previous_secrets.is_empty() => Err(
                "previous_secrets needs `secret`: the new secret signs beside the old ones"
                    .to_owned(),
            ),
            None => Ok(None),
            Some(s) => secret_of(s).map(Some),
        };
        let previous: Result<Vec<Secret>, String> =
            self.previous_secrets.iter().map(secret_of).collect();
        secret.and_then(|s| previous.map(|p| (s, p)))
    }

    /// The body: a preset format, a template file or an inline template (one at most).
    fn body(&self, site: &ReceiverSite<'_>) -> Result<WebhookBody, Problem> {
        match (&self.format, &self.template, &self.body_template) {
            (None, None, None) => Ok(WebhookBody::Driftwatch),
            (Some(f), None, None) => Ok(WebhookBody::from(*f)),
            (None, Some(path), None) => site.template_file(path).map(WebhookBody::Template),
            (None, None, Some(source)) => site
                .inline_template("body_template", source)
                .map(WebhookBody::Template),
            _ => Err(site.problem("give one of `format`, `template` and `body_template`")),
        }
    }
}
