//! An email receiver as written, `[receivers.NAME] kind = "email"`, and its validation
//! into the [`EmailConfig`] the email sender is built from: the TLS policy and the relay's
//! address, extra CA certificates, the addresses, credentials and templates.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::notify::deliver::receiver_site::ReceiverSite;
use crate::notify::deliver::settings::{EmailConfig, EmailTls};
use crate::notify::render::template::{
    Template, DEFAULT_EMAIL_HTML, DEFAULT_EMAIL_SUBJECT, DEFAULT_EMAIL_TEXT,
};
use crate::types::{DurationSpec, EnvString, Problem, Secret};

/// `[receivers.NAME] kind = "email"`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSection {
    /// The SMTP server's host name; may use `${VAR}`.
    pub host: EnvString,
    /// Its port (default 587 for `starttls`, 465 for `tls`, 25 for `none`).
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default), `tls`, or `none` (loopback relays with `allow_plaintext`).
    #[serde(default)]
    pub tls: Option<EmailTls>,
    /// `true` lets this receiver reach loopback, private and other non-public addresses
    /// (cloud metadata addresses excepted), like webhooks; default false.
    #[serde(default)]
    pub allow_private: bool,
    /// Must be `true` for `tls = "none"`, which is only accepted for localhost or a
    /// loopback address.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// A PEM file of extra CA certificates to trust for the server (relative to this
    /// file), e.g. a private CA; the public roots stay trusted.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The sender, e.g. `"driftwatch <alerts@example.com>"`.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// SMTP user name; use `${VAR}`.
    #[serde(default)]
    pub username: Option<EnvString>,
    /// SMTP password; use `${VAR}`. Never logged.
    #[serde(default)]
    pub password: Option<EnvString>,
    /// Deadline for one send, connection included (default 30s).
    #[serde(default)]
    pub timeout: Option<DurationSpec>,
    /// Subject template (minijinja, inline); default `[FIRING:n] rule (group labels)`.
    #[serde(default)]
    pub subject: Option<String>,
    /// Plain-text body template file (relative to this file); default: shipped.
    #[serde(default)]
    pub text_template: Option<String>,
    /// HTML body template file (relative to this file; HTML-escaped); default: shipped.
    #[serde(default)]
    pub html_template: Option<String>,
    /// Disable the receiver when every attempt has failed for this long. Default: never.
    #[serde(default)]
    pub disable_after: Option<DurationSpec>,
    /// Notify resolved alerts too (default true).
    #[serde(default)]
    pub send_resolved: Option<bool>,
}

/// True for `localhost` and loopback address literals: the only hosts plaintext SMTP
/// may go to.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl EmailSection {
    /// The email receiver's settings (STARTTLS on port 587 unless told otherwise, 30s
    /// per send, the shipped templates), or every problem.
    pub fn build(&self, site: &ReceiverSite<'_>) -> Result<EmailConfig, Vec<Problem>> {
        let mut problems = Vec::new();
        let host = self.host.expand().unwrap_or_else(|why| {
            problems.push(site.problem(why));
            String::new()
        });
        let tls = self.tls.unwrap_or_default();
        self.check_address(site, &host, tls, &mut problems);
        let port = self.port.unwrap_or(match tls {
            EmailTls::Starttls => 587,
            EmailTls::Tls => 465,
            EmailTls::None => 25,
        });
        let ca_pem = self.ca_pem(site, &mut problems);
        let mailbox = |text: &str, what: &str, problems: &mut Vec<Problem>| {
            lettre::message::Mailbox::from_str(text)
                .map_err(|why| {
                    problems.push(
                        site.problem(format!("{what} {text:?} is not an email address ({why})")),
                    )
                })
                .ok()
        };
        let from = mailbox(&self.from, "from", &mut problems);
        if self.to.is_empty() {
            problems.push(site.problem("`to` must name at least one recipient"));
        }
        let to: Vec<_> = self
            .to
            .iter()
            .filter_map(|t| mailbox(t, "to", &mut problems))
            .collect();
        let credentials = self.credentials(site, &mut problems);
        let (subject, text, html) = self.templates(site, &mut problems);
        // Each of these is None only when its problem was pushed.
        let (Some(from), Some(subject), Some(text), Some(html)) = (from, subject, text, html)
        else {
            return Err(problems);
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(EmailConfig {
            host,
            port,
            tls,
            ca_pem,
            from,
            to,
            credentials,
            timeout: self
                .timeout
                .map(|d| d.get())
                .unwrap_or(Duration::from_secs(30)),
            subject,
            text,
            html,
            disable_after: self.disable_after.map(|d| d.get()),
            allow_private: self.allow_private,
        })
    }

    /// Plaintext only with the flag and only to a loopback relay; the host, when an
    /// address, must be one the address policy allows (`localhost` judged as 127.0.0.1).
    fn check_address(
        &self,
        site: &ReceiverSite<'_>,
        host: &str,
        tls: EmailTls,
        problems: &mut Vec<Problem>,
    ) {
        match tls {
            EmailTls::None if !self.allow_plaintext => problems.push(site.problem(
                "tls = \"none\" sends mail and passwords in clear text: it needs allow_plaintext = true, and is accepted only for a relay on localhost",
            )),
            EmailTls::None if !is_loopback_host(host) => problems.push(site.problem(format!(
                "tls = \"none\" is accepted only for localhost or a loopback address, not {host:?}; use \"starttls\" or \"tls\""
            ))),
            EmailTls::Starttls | EmailTls::Tls if self.allow_plaintext => problems.push(
                site.problem("allow_plaintext = true only applies with tls = \"none\""),
            ),
            _ => {}
        }
        // `localhost` is judged as the loopback address it always is, so a relay there
        // needs allowlisting like 127.0.0.1; other names are checked when resolved.
        let judged = if host.eq_ignore_ascii_case("localhost") {
            "127.0.0.1"
        } else {
            host
        };
        if let Err(why) = site.literal_ip_allowed(judged, self.allow_private) {
            problems.push(site.problem(why));
        }
    }

    /// The extra CA certificates of `ca_file` (relative to the configuration), checked
    /// to be PEM.
    fn ca_pem(&self, site: &ReceiverSite<'_>, problems: &mut Vec<Problem>) -> Option<Vec<u8>> {
        let full = site.base.join(self.ca_file.as_ref()?);
        match std::fs::read(&full) {
            Ok(pem) => match lettre::transport::smtp::client::Certificate::from_pem(&pem) {
                Ok(_) => Some(pem),
                Err(why) => {
                    problems.push(site.problem(format!(
                        "ca_file {}: not a PEM certificate ({why})",
                        full.display()
                    )));
                    None
                }
            },
            Err(why) => {
                problems
                    .push(site.problem(format!("cannot read ca_file {}: {why}", full.display())));
                None
            }
        }
    }

    /// SMTP user name and password, both or neither, expanded from the environment.
    fn credentials(
        &self,
        site: &ReceiverSite<'_>,
        problems: &mut Vec<Problem>,
    ) -> Option<(Secret, Secret)> {
        match (&self.username, &self.password) {
            (None, None) => None,
            (Some(u), Some(p)) => match (u.expand(), p.expand()) {
                (Ok(u), Ok(p)) => Some((Secret::new(u), Secret::new(p))),
                (u, p) => {
                    for why in [u.err(), p.err()].into_iter().flatten() {
                        problems.push(site.problem(why));
                    }
                    None
                }
            },
            _ => {
                problems.push(site.problem("give both `username` and `password`, or neither"));
                None
            }
        }
    }

    /// The subject, text and HTML templates: the receiver's own or the defaults; `None`
    /// for each that did not compile (its problem is pushed).
    fn templates(
        &self,
        site: &ReceiverSite<'_>,
        problems: &mut Vec<Problem>,
    ) -> (Option<Template>, Option<Template>, Option<Template>) {
        let mut template =
            |result: Result<Template, Problem>| result.map_err(|e| problems.push(e)).ok();
        let subject = template(match &self.subject {
            Some(s) => site.inline_template("subject", s),
            None => Template::compile("default email subject", DEFAULT_EMAIL_SUBJECT)
                .map_err(|e| site.problem(e)),
        });
        let text = template(match &self.text_template {
            Some(path) => site.template_file(path),
            None => Template::compile("default email.txt", DEFAULT_EMAIL_TEXT)
                .map_err(|e| site.problem(e)),
        });
        let html = template(match &self.html_template {
            Some(path) => site.template_file(path),
            None => Template::compile("default email.html", DEFAULT_EMAIL_HTML)
                .map_err(|e| site.problem(e)),
        });
        (subject, text, html)
    }
}
