//! Reading `driftwatch.toml` and `rules/*.toml` from disk into validated values.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::receivers::validate_receiver;
use crate::config::routing::{build_policy, PolicySections};
use crate::config::service::ServiceConfigFile;
use crate::config::sources::source_configs;
use crate::config::validated::ServiceConfig;
use crate::notify::deliver::settings::{DeliveryConfig, ReceiverConfig};
use crate::rule::toml_text::{read, toml_message, with_suggestion};
use crate::rule::RuleContext;
use crate::server::settings::HttpLimits;
use crate::sources::dialect::Dialect;
use crate::types::{ConfigError, ConfigErrors, SourceFile};

/// Reads and validates `driftwatch.toml`; a missing file means all defaults.
pub fn load_service_config(path: &Path) -> Result<ServiceConfig, ConfigErrors> {
    let text = if path.exists() {
        read(path)?
    } else {
        String::new()
    };
    parse_service_config(path, &text)
}

/// Validates the text of a `driftwatch.toml` that lives at `path`.
pub fn parse_service_config(path: &Path, text: &str) -> Result<ServiceConfig, ConfigErrors> {
    let file = SourceFile::new(path.display().to_string(), text);
    let raw: ServiceConfigFile = toml::from_str(text).map_err(|e| {
        ConfigErrors(vec![file.error(
            e.span(),
            None,
            with_suggestion(&toml_message(&e, text)),
        )])
    })?;
    let mut errors = crate::rule::numbers::non_finite_numbers(&file);

    let listen = raw.server.listen().unwrap_or_else(|p| {
        errors.push(file.place(p, ""));
        String::new()
    });

    let store_url = match raw.store.url.get_ref().expand() {
        Ok(u) if Dialect::from_url(&u).is_some() => u,
        Ok(_) => {
            errors.push(file.error(
                Some(raw.store.url.span()),
                None,
                "store url must start with sqlite: or postgres:",
            ));
            String::new()
        }
        Err(e) => {
            errors.push(file.error(Some(raw.store.url.span()), None, e));
            String::new()
        }
    };

    let postgres = Dialect::from_url(&store_url) == Some(Dialect::Postgres);
    let leases = raw.cluster.settings(postgres).unwrap_or_else(|p| {
        errors.push(file.place(p, ""));
        None
    });

    let sources = source_configs(&raw, &file, &mut errors);

    let base = path.parent().unwrap_or(Path::new("."));
    let receivers = receiver_configs(&raw, &file, base, &mut errors);
    let default_receivers = default_receivers(&raw, &file, &mut errors);

    let delivery = delivery_config(&raw, &file, &mut errors);
    let http = raw.server.limits().unwrap_or_else(|problems| {
        errors.extend(problems.into_iter().map(|p| file.place(p, "")));
        HttpLimits::default()
    });
    let rules_dir = base.join(&raw.rules.dir);
    let api_token = raw.server.api_token().unwrap_or_else(|p| {
        errors.push(file.place(p, ""));
        None
    });

    let notify_policy = notify_policy(&raw, &file, &mut errors);

    ConfigErrors(errors).into_result(ServiceConfig {
        listen,
        api_token,
        http,
        console_read: raw.server.console_read,
        store_url,
        leases,
        rules_dir,
        sources,
        receivers,
        default_receivers,
        notify_policy,
        delivery,
        log_format: raw.log.format.unwrap_or_default(),
        log_level: raw.log.level.clone().unwrap_or_else(|| "info".to_owned()),
    })
}

/// `[receivers.NAME]`, each validated into its settings (files relative to `base`).
fn receiver_configs(
    raw: &ServiceConfigFile,
    file: &SourceFile,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, ReceiverConfig> {
    let mut receivers = BTreeMap::new();
    for (name, section) in &raw.receivers {
        let allowlist = &raw.delivery.allow_private;
        match validate_receiver(
            file,
            name,
            section.span(),
            base,
            allowlist,
            section.get_ref(),
        ) {
            Ok(receiver) => {
                receivers.insert(name.clone(), receiver);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    receivers
}

/// `[notify] default_receivers`, each configured; every receiver when it is not given.
fn default_receivers(
    raw: &ServiceConfigFile,
    file: &SourceFile,
    errors: &mut Vec<ConfigError>,
) -> Vec<String> {
    match &raw.notify.default_receivers {
        Some(list) => {
            let mut out = Vec::new();
            for r in list {
                if raw.receivers.contains_key(r.get_ref()) {
                    out.push(r.get_ref().clone());
                } else {
                    errors.push(file.error(
                        Some(r.span()),
                        None,
                        format!("unknown receiver {:?} in default_receivers", r.get_ref()),
                    ));
                }
            }
            out
        }
        None => raw.receivers.keys().cloned().collect(),
    }
}

/// `[delivery]`: retries, jitter, concurrency, the private-address allowlist.
fn delivery_config(
    raw: &ServiceConfigFile,
    file: &SourceFile,
    errors: &mut Vec<ConfigError>,
) -> DeliveryConfig {
    let mut delivery = DeliveryConfig::default();
    if let Some(schedule) = &raw.delivery.retry_schedule {
        delivery.retry_schedule = schedule.iter().map(|d| d.get()).collect();
    }
    if let Some(j) = raw.delivery.jitter {
        if !(0.0..=1.0).contains(&j) {
            errors.push(file.error(None, None, format!("delivery.jitter {j}: expected 0 to 1")));
        }
        delivery.jitter = j;
    }
    if let Some(c) = raw.delivery.concurrency {
        delivery.concurrency = c.max(1);
    }
    delivery.allow_private = raw.delivery.allow_private.clone();
    if let Some(cap) = raw.delivery.max_retry_after {
        delivery.max_retry_after = cap.get();
    }
    delivery
}

/// Routes, inhibition, time intervals and flap control.
fn notify_policy(
    raw: &ServiceConfigFile,
    file: &SourceFile,
    errors: &mut Vec<ConfigError>,
) -> crate::notify::pipeline::policy::NotifyPolicy {
    let no_resolved = raw
        .receivers
        .iter()
        .filter(|(_, r)| match r.get_ref() {
            crate::config::service::ReceiverSection::Webhook(w) => w.send_resolved == Some(false),
            crate::config::service::ReceiverSection::Email(e) => e.send_resolved == Some(false),
            // Alertmanager resolves an alert only when told it ended.
            crate::config::service::ReceiverSection::Alertmanager(_) => false,
        })
        .map(|(name, _)| name.clone())
        .collect();
    build_policy(
        file,
        errors,
        &raw.receivers.keys().cloned().collect(),
        PolicySections {
            route: raw.route.as_ref(),
            inhibit_rules: &raw.inhibit_rules,
            time_intervals: &raw.time_intervals,
            flap_window: raw.notify.flap_window,
            flap_threshold: raw.notify.flap_threshold,
            decision_log_retention: raw.notify.decision_log_retention,
            no_resolved,
        },
    )
}

impl ServiceConfig {
    /// The names rules may refer to.
    pub fn rule_context(&self) -> RuleContext {
        RuleContext {
            sources: self.sources.keys().cloned().collect(),
            source_kinds: self
                .sources
                .iter()
                .map(|(name, s)| (name.clone(), s.kind()))
                .collect(),
            receivers: self.receivers.keys().cloned().collect(),
            default_receivers: self.default_receivers.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_service_config;

    #[test]
    fn server_problems_are_placed_at_their_setting_or_the_file() {
        let err = parse_service_config(
            std::path::Path::new("driftwatch.toml"),
            "[server]\nlisten = \"nowhere\"\nheader_read_timeout = \"10ms\"\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "driftwatch.toml:2:10: invalid listen address \"nowhere\"; expected e.g. \"127.0.0.1:9187\"\n\
             driftwatch.toml:0:0: server.header_read_timeout must be at least 100ms"
        );
    }
}
