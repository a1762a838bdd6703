//! Validating `[receivers.NAME]` sections: webhooks (with their body format or
//! template), email (SMTP, TLS policy, templates) and Alertmanager.

use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use crate::config::load::http_url;
use crate::config::service::{AlertmanagerSection, EmailSection, ReceiverSection, WebhookSection};
use crate::notify::address_policy::AddressPolicy;
use crate::notify::allowlist::AllowedDestination;
use crate::notify::body::WebhookBody;
use crate::notify::settings::{
    AlertmanagerConfig, EmailConfig, EmailTls, ReceiverConfig, WebhookConfig,
};
use crate::notify::signing::SigningKey;
use crate::notify::template::{
    Template, TemplateError, DEFAULT_EMAIL_HTML, DEFAULT_EMAIL_SUBJECT, DEFAULT_EMAIL_TEXT,
};
use crate::types::{ConfigError, SourceFile};
use crate::types::{EnvString, Secret};

/// Where a receiver is declared, and what it may refer to.
pub(crate) struct ReceiverSite<'a> {
    /// The receiver's name.
    pub name: &'a str,
    /// Its section's span in `file`.
    pub span: Range<usize>,
    /// `driftwatch.toml`.
    pub file: &'a SourceFile,
    /// The directory template and CA files are relative to.
    pub base: &'a Path,
    /// `[delivery] allow_private`.
    pub allowlist: &'a [AllowedDestination],
}

impl ReceiverSite<'_> {
    fn error(&self, message: impl std::fmt::Display) -> ConfigError {
        self.file.error(
            Some(self.span.clone()),
            None,
            format!("receiver {:?}: {message}", self.name),
        )
    }

    /// A template file's error, placed in the template file itself.
    fn template_error(&self, e: TemplateError) -> ConfigError {
        ConfigError {
            file: e.name.clone(),
            line: e.line.unwrap_or(0),
            column: e.column.unwrap_or(0),
            rule: None,
            message: format!("receiver {:?}: {}", self.name, e.message),
        }
    }

    /// Reads and compiles the template file `path` (relative to the config file).
    fn template_file(&self, path: &str) -> Result<Template, ConfigError> {
        let full = self.base.join(path);
        let text = std::fs::read_to_string(&full)
            .map_err(|e| self.error(format!("cannot read template {}: {e}", full.display())))?;
        Template::compile(&full.display().to_string(), &text).map_err(|e| self.template_error(e))
    }

    /// Compiles an inline template, reporting at the receiver with the template's line.
    fn inline_template(&self, key: &str, source: &str) -> Result<Template, ConfigError> {
        Template::compile(&format!("receiver {} {key}", self.name), source).map_err(|e| {
            let at = match e.line {
                Some(line) => format!(" (line {line} of the template)"),
                None => String::new(),
            };
            self.error(format!("`{key}`{at}: {}", e.message))
        })
    }
}

/// Validates one receiver section, collecting every problem.
pub(crate) fn validate_receiver(
    site: &ReceiverSite<'_>,
    section: &ReceiverSection,
) -> Result<ReceiverConfig, Vec<ConfigError>> {
    match section {
        ReceiverSection::Webhook(w) => webhook(site, w).map(ReceiverConfig::Webhook),
        ReceiverSection::Email(e) => email(site, e).map(ReceiverConfig::Email),
        ReceiverSection::Alertmanager(a) => alertmanager(site, a).map(ReceiverConfig::Alertmanager),
    }
}

fn webhook(site: &ReceiverSite<'_>, w: &WebhookSection) -> Result<WebhookConfig, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let url = http_url(&w.url)
        .and_then(|u| literal_host_allowed(&u, site.allowlist, w.allow_private).map(|()| u));
    let secret_of = |s: &EnvString| {
        s.expand()
            .and_then(|s| SigningKey::from_whsec(&s).map(|_| Secret::new(s)))
    };
    let secret = match &w.secret {
        None if !w.previous_secrets.is_empty() => Err(
            "previous_secrets needs `secret`: the new secret signs beside the old ones".to_owned(),
        ),
        None => Ok(None),
        Some(s) => secret_of(s).map(Some),
    };
    let previous: Result<Vec<Secret>, String> = w.previous_secrets.iter().map(secret_of).collect();
    let body = match (&w.format, &w.template, &w.body_template) {
        (None, None, None) => Ok(WebhookBody::Driftwatch),
        (Some(f), None, None) => Ok(WebhookBody::from(*f)),
        (None, Some(path), None) => site.template_file(path).map(WebhookBody::Template),
        (None, None, Some(source)) => site
            .inline_template("body_template", source)
            .map(WebhookBody::Template),
        _ => Err(site.error("give one of `format`, `template` and `body_template`")),
    };
    let body = body.map_err(|e| errors.push(e)).ok();
    match (url, secret.and_then(|s| previous.map(|p| (s, p))), body) {
        (Ok(url), Ok((secret, previous_secrets)), Some(body)) if errors.is_empty() => {
            Ok(WebhookConfig {
                url,
                secret,
                previous_secrets,
                timeout: w
                    .timeout
                    .map(|d| d.get())
                    .unwrap_or(Duration::from_secs(10)),
                max_response_bytes: w.max_response_bytes.unwrap_or(64 * 1024),
                allow_private: w.allow_private,
                disable_after: w.disable_after.map(|d| d.get()),
                body,
            })
        }
        (url, secret, _) => {
            for e in [url.err(), secret.err()].into_iter().flatten() {
                errors.push(site.error(e));
            }
            Err(errors)
        }
    }
}

/// True for `localhost` and loopback address literals: the only hosts plaintext SMTP
/// may go to.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn email(site: &ReceiverSite<'_>, e: &EmailSection) -> Result<EmailConfig, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let host = e.host.expand().unwrap_or_else(|why| {
        errors.push(site.error(why));
        String::new()
    });
    let tls = e.tls.unwrap_or_default();
    check_email_address(site, e, &host, tls, &mut errors);
    let port = e.port.unwrap_or(match tls {
        EmailTls::Starttls => 587,
        EmailTls::Tls => 465,
        EmailTls::None => 25,
    });
    let ca_pem = ca_pem_of(site, e, &mut errors);
    let mailbox = |text: &str, what: &str, errors: &mut Vec<ConfigError>| {
        lettre::message::Mailbox::from_str(text)
            .map_err(|why| {
                errors.push(site.error(format!("{what} {text:?} is not an email address ({why})")))
            })
            .ok()
    };
    let from = mailbox(&e.from, "from", &mut errors);
    if e.to.is_empty() {
        errors.push(site.error("`to` must name at least one recipient"));
    }
    let to: Vec<_> =
        e.to.iter()
            .filter_map(|t| mailbox(t, "to", &mut errors))
            .collect();
    let credentials = credentials_of(site, e, &mut errors);
    let (subject, text, html) = email_templates(site, e, &mut errors);
    // Each of these is None only when its error was pushed.
    let (Some(from), Some(subject), Some(text), Some(html)) = (from, subject, text, html) else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(EmailConfig {
        host,
        port,
        tls,
        ca_pem,
        from,
        to,
        credentials,
        timeout: e
            .timeout
            .map(|d| d.get())
            .unwrap_or(Duration::from_secs(30)),
        subject,
        text,
        html,
        disable_after: e.disable_after.map(|d| d.get()),
        allow_private: e.allow_private,
    })
}

/// Plaintext only with the flag and only to a loopback relay; the host, when an address,
/// must be one the address policy allows (`localhost` judged as 127.0.0.1).
fn check_email_address(
    site: &ReceiverSite<'_>,
    e: &EmailSection,
    host: &str,
    tls: EmailTls,
    errors: &mut Vec<ConfigError>,
) {
    match tls {
        EmailTls::None if !e.allow_plaintext => errors.push(site.error(
            "tls = \"none\" sends mail and passwords in clear text: it needs allow_plaintext = true, and is accepted only for a relay on localhost",
        )),
        EmailTls::None if !is_loopback_host(host) => errors.push(site.error(format!(
            "tls = \"none\" is accepted only for localhost or a loopback address, not {host:?}; use \"starttls\" or \"tls\""
        ))),
        EmailTls::Starttls | EmailTls::Tls if e.allow_plaintext => errors.push(site.error(
            "allow_plaintext = true only applies with tls = \"none\"",
        )),
        _ => {}
    }
    // `localhost` is judged as the loopback address it always is, so a relay there
    // needs allowlisting like 127.0.0.1; other names are checked when resolved.
    let judged = if host.eq_ignore_ascii_case("localhost") {
        "127.0.0.1"
    } else {
        host
    };
    if let Err(why) = literal_ip_allowed(judged, site.allowlist, e.allow_private) {
        errors.push(site.error(why));
    }
}

/// The extra CA certificates of `ca_file` (relative to the configuration), checked to be PEM.
fn ca_pem_of(
    site: &ReceiverSite<'_>,
    e: &EmailSection,
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<u8>> {
    match &e.ca_file {
        None => None,
        Some(path) => {
            let full = site.base.join(path);
            match std::fs::read(&full) {
                Ok(pem) => match lettre::transport::smtp::client::Certificate::from_pem(&pem) {
                    Ok(_) => Some(pem),
                    Err(why) => {
                        errors.push(site.error(format!(
                            "ca_file {}: not a PEM certificate ({why})",
                            full.display()
                        )));
                        None
                    }
                },
                Err(why) => {
                    errors
                        .push(site.error(format!("cannot read ca_file {}: {why}", full.display())));
                    None
                }
            }
        }
    }
}

/// SMTP user name and password, both or neither, expanded from the environment.
fn credentials_of(
    site: &ReceiverSite<'_>,
    e: &EmailSection,
    errors: &mut Vec<ConfigError>,
) -> Option<(Secret, Secret)> {
    match (&e.username, &e.password) {
        (None, None) => None,
        (Some(u), Some(p)) => match (u.expand(), p.expand()) {
            (Ok(u), Ok(p)) => Some((Secret::new(u), Secret::new(p))),
            (u, p) => {
                for why in [u.err(), p.err()].into_iter().flatten() {
                    errors.push(site.error(why));
                }
                None
            }
        },
        _ => {
            errors.push(site.error("give both `username` and `password`, or neither"));
            None
        }
    }
}

/// The subject, text and HTML templates: the receiver's own or the defaults; `None` for
/// each that did not compile (its error is pushed).
fn email_templates(
    site: &ReceiverSite<'_>,
    e: &EmailSection,
    errors: &mut Vec<ConfigError>,
) -> (Option<Template>, Option<Template>, Option<Template>) {
    let mut template =
        |result: Result<Template, ConfigError>| result.map_err(|e| errors.push(e)).ok();
    let subject = template(match &e.subject {
        Some(s) => site.inline_template("subject", s),
        None => Template::compile("default email subject", DEFAULT_EMAIL_SUBJECT)
            .map_err(|e| site.error(e)),
    });
    let text = template(match &e.text_template {
        Some(path) => site.template_file(path),
        None => {
            Template::compile("default email.txt", DEFAULT_EMAIL_TEXT).map_err(|e| site.error(e))
        }
    });
    let html = template(match &e.html_template {
        Some(path) => site.template_file(path),
        None => {
            Template::compile("default email.html", DEFAULT_EMAIL_HTML).map_err(|e| site.error(e))
        }
    });
    (subject, text, html)
}

fn alertmanager(
    site: &ReceiverSite<'_>,
    a: &AlertmanagerSection,
) -> Result<AlertmanagerConfig, Vec<ConfigError>> {
    let url = http_url(&a.url)
        .and_then(|u| literal_host_allowed(&u, site.allowlist, a.allow_private).map(|()| u))
        .map_err(|e| vec![site.error(e)])?;
    Ok(AlertmanagerConfig {
        url,
        timeout: a
            .timeout
            .map(|d| d.get())
            .unwrap_or(Duration::from_secs(10)),
        allow_private: a.allow_private,
        firing_ttl: a
            .firing_ttl
            .map(|d| d.get())
            .unwrap_or(Duration::from_secs(24 * 3600)),
        disable_after: a.disable_after.map(|d| d.get()),
    })
}

/// Refuses, at load time, a URL whose host is an IP literal the address policy would
/// refuse at every attempt anyway (names are checked when they are resolved).
fn literal_host_allowed(
    url: &reqwest::Url,
    allowlist: &[AllowedDestination],
    receiver_allows_private: bool,
) -> Result<(), String> {
    literal_ip_allowed(
        url.host_str().unwrap_or_default(),
        allowlist,
        receiver_allows_private,
    )
}

/// Refuses a host that is an IP literal the address policy refuses.
fn literal_ip_allowed(
    host: &str,
    allowlist: &[AllowedDestination],
    receiver_allows_private: bool,
) -> Result<(), String> {
    let host = host.trim_matches(['[', ']']);
    match host.parse::<IpAddr>() {
        Ok(ip) => AddressPolicy::new(allowlist, receiver_allows_private)
            .check(host, ip)
            .map_err(|why| why.to_string()),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse_service_config;
    use crate::notify::body::WebhookBody;
    use crate::notify::settings::{EmailConfig, EmailTls, ReceiverConfig};

    fn load(dir: &std::path::Path, text: &str) -> Result<crate::config::ServiceConfig, String> {
        parse_service_config(&dir.join("driftwatch.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_broken_template_file_is_reported_at_its_own_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("body.j2"), "{\n  \"s\": {{ status }\n}").unwrap();
        let err = load(
            dir.path(),
            "[receivers.hook]\nkind = \"webhook\"\nurl = \"https://h.example.com\"\ntemplate = \"body.j2\"\n",
        )
        .unwrap_err();
        let file = dir.path().join("body.j2").display().to_string();
        assert!(err.starts_with(&format!("{file}:2:")), "{err}");
        assert!(err.contains("receiver \"hook\": syntax error"), "{err}");
    }

    #[test]
    fn an_inline_template_error_points_at_the_receiver_and_says_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(
            dir.path(),
            "[receivers.hook]\nkind = \"webhook\"\nurl = \"https://h.example.com\"\nbody_template = \"\"\"\nok\n{% if x %}\"\"\"\n",
        )
        .unwrap_err();
        assert!(err.contains("driftwatch.toml:1:1: receiver \"hook\": `body_template` (line 2 of the template): syntax error"), "{err}");
    }

    #[test]
    fn misspelt_kinds_and_formats_get_a_suggestion_and_formats_exclude_templates() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), "[receivers.x]\nkind = \"emial\"\n").unwrap_err();
        assert!(err.ends_with("did you mean `email`?"), "{err}");
        let err = load(
            dir.path(),
            "[receivers.x]\nkind = \"webhook\"\nurl = \"https://h.example.com\"\nformat = \"slak\"\n",
        )
        .unwrap_err();
        assert!(err.ends_with("did you mean `slack`?"), "{err}");
        let err = load(
            dir.path(),
            "[receivers.x]\nkind = \"webhook\"\nurl = \"https://h.example.com\"\nformat = \"slack\"\nbody_template = \"x\"\n",
        )
        .unwrap_err();
        assert!(
            err.contains("give one of `format`, `template` and `body_template`"),
            "{err}"
        );
        let ok = load(
            dir.path(),
            "[receivers.x]\nkind = \"webhook\"\nurl = \"https://h.example.com\"\nformat = \"alertmanager\"\n",
        )
        .unwrap();
        assert!(matches!(
            &ok.receivers["x"],
            ReceiverConfig::Webhook(w) if w.body == WebhookBody::AlertmanagerWebhook
        ));
    }

    #[test]
    fn an_alertmanager_receiver_posts_under_its_base_path_and_obeys_the_address_policy() {
        let dir = tempfile::tempdir().unwrap();
        let ok = load(
            dir.path(),
            "[receivers.am]\nkind = \"alertmanager\"\nurl = \"https://am.example.com/prefix/\"\n",
        )
        .unwrap();
        let ReceiverConfig::Alertmanager(am) = &ok.receivers["am"] else {
            panic!("{:?}", ok.receivers)
        };
        assert_eq!(
            am.alerts_url().as_str(),
            "https://am.example.com/prefix/api/v2/alerts"
        );
        let err = load(
            dir.path(),
            "[receivers.am]\nkind = \"alertmanager\"\nurl = \"http://169.254.169.254\"\n",
        )
        .unwrap_err();
        assert!(err.contains("refused"), "{err}");
    }

    fn email_config(extra: &str) -> Result<EmailConfig, String> {
        let text = format!(
            "[receivers.mail]\nkind = \"email\"\nfrom = \"driftwatch <dw@example.com>\"\n\
             to = [\"ops@example.com\", \"Oncall <oncall@example.com>\"]\n{extra}"
        );
        let config = parse_service_config(std::path::Path::new("driftwatch.toml"), &text)
            .map_err(|e| e.to_string())?;
        match config.receivers.get("mail") {
            Some(ReceiverConfig::Email(e)) => Ok(e.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plaintext_is_refused_to_a_non_local_host_and_without_the_flag() {
        let err =
            email_config("host = \"smtp.example.com\"\ntls = \"none\"\nallow_plaintext = true\n")
                .unwrap_err();
        assert!(
            err.contains("only for localhost or a loopback address"),
            "{err}"
        );
        assert!(
            err.starts_with("driftwatch.toml:1:1: receiver \"mail\""),
            "{err}"
        );
        let err = email_config("host = \"127.0.0.1\"\ntls = \"none\"\n").unwrap_err();
        assert!(err.contains("needs allow_plaintext = true"), "{err}");
        let ok = email_config(
            "host = \"localhost\"\ntls = \"none\"\nallow_plaintext = true\n\
             [delivery]\nallow_private = [\"127.0.0.1\"]\n",
        )
        .unwrap();
        assert_eq!((ok.port, ok.tls), (25, EmailTls::None));
        let ok = email_config("host = \"smtp.example.com\"\n").unwrap();
        assert_eq!((ok.port, ok.tls), (587, EmailTls::Starttls));
    }
}
