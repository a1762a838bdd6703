//! `[receivers.NAME]` sections: each kind's section is validated by its sender's own
//! `build` (`notify/deliver/*_section.rs`); here every problem is placed at its
//! file:line:col, after the receiver's name.

use std::ops::Range;
use std::path::Path;

use crate::config::service::ReceiverSection;
use crate::notify::deliver::allowlist::AllowedDestination;
use crate::notify::deliver::receiver_site::ReceiverSite;
use crate::notify::deliver::settings::ReceiverConfig;
use crate::types::{ConfigError, SourceFile};

/// Validates the receiver `name` declared at `span` of `file` (its template and CA files
/// relative to `base`), collecting every problem with its place.
pub(crate) fn validate_receiver(
    file: &SourceFile,
    name: &str,
    span: Range<usize>,
    base: &Path,
    allowlist: &[AllowedDestination],
    section: &ReceiverSection,
) -> Result<ReceiverConfig, Vec<ConfigError>> {
    let site = ReceiverSite {
        name,
        span,
        base,
        allowlist,
    };
    let built = match section {
        ReceiverSection::Webhook(w) => w.build(&site).map(ReceiverConfig::Webhook),
        ReceiverSection::Email(e) => e.build(&site).map(ReceiverConfig::Email),
        ReceiverSection::Alertmanager(a) => a.build(&site).map(ReceiverConfig::Alertmanager),
    };
    built.map_err(|problems| {
        let prefix = format!("receiver {name:?}: ");
        problems
            .into_iter()
            .map(|p| file.place(p, &prefix))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use crate::config::parse_service_config;
    use crate::notify::deliver::settings::{EmailConfig, EmailTls, ReceiverConfig};
    use crate::notify::render::body::WebhookBody;

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
