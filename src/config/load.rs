//! Reading `driftwatch.toml` and `rules/*.toml` from disk into validated values.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::location::{ConfigError, ConfigErrors, SourceFile};
use crate::config::receivers::{validate_receiver, ReceiverSite};
use crate::config::routing::{build_policy, PolicySections};
use crate::config::rule::RuleFileConfig;
use crate::config::service::{ServiceConfigFile, SourceSection};
use crate::config::validate::{validate_rule, RuleContext};
use crate::config::validated::{DeliveryConfig, RuleSet, ServiceConfig, SourceConfig};
use crate::sources::dialect::Dialect;
use crate::types::{EnvString, Secret};

fn read(path: &Path) -> Result<String, ConfigErrors> {
    let error = |line, column, message| {
        ConfigErrors(vec![ConfigError {
            file: path.display().to_string(),
            line,
            column,
            rule: None,
            message,
        }])
    };
    let bytes = std::fs::read(path).map_err(|e| error(0, 0, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        let (line, column) = text_position(e.as_bytes(), bad);
        let byte = e.as_bytes().get(bad).copied().unwrap_or_default();
        error(
            line,
            column,
            format!("byte 0x{byte:02x} is not UTF-8; rule and config files must be UTF-8 text"),
        )
    })
}

/// 1-based (line, column in characters) of byte `offset`, where everything before it is
/// valid UTF-8.
fn text_position(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = std::str::from_utf8(bytes.get(..offset).unwrap_or_default()).unwrap_or_default();
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

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
    let mut errors = crate::config::numbers::non_finite_numbers(&file);

    let listen = raw.server.listen.get_ref().clone();
    if listen.parse::<SocketAddr>().is_err() {
        errors.push(file.error(
            Some(raw.server.listen.span()),
            None,
            format!("invalid listen address {listen:?}; expected e.g. \"127.0.0.1:9187\""),
        ));
    }

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

    let mut sources = BTreeMap::new();
    for (name, section) in &raw.sources {
        let span = Some(section.span());
        match section.get_ref() {
            SourceSection::Prometheus(p) => match http_url(&p.url) {
                Ok(url) => {
                    sources.insert(
                        name.clone(),
                        SourceConfig::Prometheus {
                            url,
                            timeout: p
                                .timeout
                                .map(|d| d.get())
                                .unwrap_or(Duration::from_secs(10)),
                        },
                    );
                }
                Err(e) => errors.push(file.error(span, None, format!("source {name:?}: {e}"))),
            },
            SourceSection::Scrape(sc) => match http_url(&sc.url) {
                Ok(url) => {
                    let interval = sc
                        .interval
                        .map(|d| d.get())
                        .unwrap_or(Duration::from_secs(15));
                    let timeout = sc
                        .timeout
                        .map(|d| d.get())
                        .unwrap_or(Duration::from_secs(10))
                        .min(interval);
                    if interval < Duration::from_millis(100) {
                        errors.push(file.error(
                            span.clone(),
                            None,
                            format!("source {name:?}: `interval` must be at least 100ms"),
                        ));
                    }
                    let max_series = sc
                        .max_series
                        .map_or(crate::sources::scrape::DEFAULT_MAX_SERIES, |n| {
                            usize::try_from(n).unwrap_or(usize::MAX)
                        });
                    if max_series == 0 {
                        errors.push(file.error(
                            span.clone(),
                            None,
                            format!("source {name:?}: `max_series` must be at least 1"),
                        ));
                    }
                    sources.insert(
                        name.clone(),
                        SourceConfig::Scrape(crate::sources::scrape::ScrapeSettings {
                            url,
                            interval,
                            timeout,
                            max_bytes: sc.max_bytes.unwrap_or(64 << 20) as usize,
                            retention: sc
                                .retention
                                .map(|d| d.get())
                                .unwrap_or(Duration::from_secs(15 * 60))
                                .max(interval * 2),
                            max_series,
                        }),
                    );
                }
                Err(e) => errors.push(file.error(span, None, format!("source {name:?}: {e}"))),
            },
            SourceSection::Sql(sql) => match sql.url.expand() {
                Ok(url) if Dialect::from_url(&url).is_some() => {
                    sources.insert(
                        name.clone(),
                        SourceConfig::Sql {
                            url: Secret::new(url),
                            timeout: sql
                                .timeout
                                .map(|d| d.get())
                                .unwrap_or(Duration::from_secs(10)),
                        },
                    );
                }
                Ok(_) => errors.push(file.error(
                    span,
                    None,
                    format!("source {name:?}: url must start with sqlite: or postgres:"),
                )),
                Err(e) => errors.push(file.error(span, None, format!("source {name:?}: {e}"))),
            },
        }
    }

    let base = path.parent().unwrap_or(Path::new("."));
    let mut receivers = BTreeMap::new();
    for (name, section) in &raw.receivers {
        let site = ReceiverSite {
            name,
            span: section.span(),
            file: &file,
            base,
            allowlist: &raw.delivery.allow_private,
        };
        match validate_receiver(&site, section.get_ref()) {
            Ok(receiver) => {
                receivers.insert(name.clone(), receiver);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }

    let default_receivers = match &raw.notify.default_receivers {
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
    };

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

    let http = http_limits(&raw.server, &file, &mut errors);
    let rules_dir = base.join(&raw.rules.dir);
    let api_token = match &raw.server.api_token {
        None => None,
        Some(t) => match t.get_ref().expand() {
            Ok(v) if v.trim().len() >= 16 => Some(Secret::new(v)),
            Ok(_) => {
                errors.push(file.error(
                    Some(t.span()),
                    None,
                    "api_token must be at least 16 characters (use a random secret)",
                ));
                None
            }
            Err(e) => {
                errors.push(file.error(Some(t.span()), None, e));
                None
            }
        },
    };

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
    let notify_policy = build_policy(
        &file,
        &mut errors,
        &raw.receivers.keys().cloned().collect(),
        PolicySections {
            route: raw.route.as_ref(),
            inhibit_rules: &raw.inhibit_rules,
            time_intervals: &raw.time_intervals,
            flap_window: raw.notify.flap_window,
            flap_threshold: raw.notify.flap_threshold,
            no_resolved,
        },
    );

    ConfigErrors(errors).into_result(ServiceConfig {
        listen,
        api_token,
        http,
        store_url,
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

/// The rule files of a directory: `*.toml` directly inside it, in name order.
pub fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigErrors> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: dir.display().to_string(),
            line: 0,
            column: 0,
            rule: None,
            message: format!("cannot read the rules directory: {e}"),
        }])
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Loads and validates every rule file in `dir`, reporting all problems at once.
pub fn load_rules(dir: &Path, ctx: &RuleContext) -> Result<RuleSet, ConfigErrors> {
    let mut sources = Vec::new();
    for path in rule_files(dir)? {
        sources.push(SourceFile::new(path.display().to_string(), read(&path)?));
    }
    parse_rules(&sources, ctx)
}

/// Validates rule files already in memory.
pub fn parse_rules(files: &[SourceFile], ctx: &RuleContext) -> Result<RuleSet, ConfigErrors> {
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for file in files {
        for (offset, parsed) in parse_rule_chunks(file, &mut errors) {
            match validate_rule(parsed, file, offset, ctx) {
                Ok(rule) => {
                    if let Some(first) = seen.get(&rule.name) {
                        errors.push(ConfigError {
                            file: file.path.clone(),
                            line: file.position(offset).0,
                            column: 1,
                            rule: Some(rule.name.clone()),
                            message: format!("duplicate rule name (first defined in {first})"),
                        });
                    } else {
                        seen.insert(rule.name.clone(), file.path.clone());
                        rules.push(Arc::new(rule));
                    }
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
    }
    ConfigErrors(errors).into_result(RuleSet { rules })
}

/// Splits a file at its `[[rule]]` headers and deserializes each rule on its own, so one
/// bad rule does not hide the problems of the next. Returns (offset, rule) pairs.
fn parse_rule_chunks(
    file: &SourceFile,
    errors: &mut Vec<ConfigError>,
) -> Vec<(usize, crate::config::rule::RuleConfig)> {
    // First the whole file's syntax: a syntax error makes chunking meaningless.
    let table = match file.text.parse::<toml::Table>() {
        Ok(t) => t,
        Err(e) => {
            errors.push(file.error(e.span(), None, toml_message(&e, &file.text)));
            return Vec::new();
        }
    };
    errors.extend(crate::config::numbers::non_finite_numbers(file));
    let expected = table
        .get("rule")
        .and_then(|r| r.as_array())
        .map(|a| a.len())
        .unwrap_or(0);
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in file.text.split_inclusive('\n') {
        let t = line.trim();
        let header = t.split('#').next().unwrap_or("").trim().replace(' ', "");
        if header == "[[rule]]" {
            starts.push(offset);
        }
        offset += line.len();
    }
    let mut out = Vec::new();
    if starts.len() != expected
        || starts
            .first()
            .is_some_and(|s| !only_comments(&file.text[..*s]))
    {
        // Unusual layout (inline arrays, keys before the first rule): whole-file parse.
        match toml::from_str::<RuleFileConfig>(&file.text) {
            Ok(f) => out.extend(f.rule.into_iter().map(|r| (0, r))),
            Err(e) => errors.push(file.error(e.span(), None, toml_message(&e, &file.text))),
        }
        return out;
    }
    for (i, start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(file.text.len());
        let chunk = &file.text[*start..end];
        match toml::from_str::<RuleFileConfig>(chunk) {
            Ok(mut f) if f.rule.len() == 1 => out.push((*start, f.rule.remove(0))),
            Ok(_) => errors.push(file.error(Some(*start..*start), None, "expected one rule")),
            Err(e) => {
                let name = table
                    .get("rule")
                    .and_then(|r| r.as_array())
                    .and_then(|a| a.get(i))
                    .and_then(|r| r.get("name"))
                    .and_then(|n| n.as_str())
                    .map(str::to_owned);
                let span = e.span().map(|s| s.start + start..s.end + start);
                let message = with_suggestion(&toml_message(&e, chunk));
                errors.push(file.error(span, name.as_deref(), message));
            }
        }
    }
    out
}

/// A TOML error's message. toml gives some syntax errors (a control character in a
/// comment, say) no message at all: those name the character found instead of printing
/// an empty error.
fn toml_message(e: &toml::de::Error, text: &str) -> String {
    if !e.message().trim().is_empty() {
        return e.message().to_owned();
    }
    let found = e
        .span()
        .and_then(|s| text.get(s.start..))
        .and_then(|rest| rest.chars().next());
    match found {
        Some(c) => format!("invalid TOML: unexpected {c:?}"),
        None => "invalid TOML".to_owned(),
    }
}

/// Adds "did you mean `x`?" to serde's unknown field/variant messages.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))
    else {
        return message.to_owned();
    };
    let Some((found, expected)) = rest.split_once('`') else {
        return message.to_owned();
    };
    let best = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|candidate| (strsim::damerau_levenshtein(found, candidate), candidate))
        .min();
    match best {
        Some((distance, candidate)) if distance <= 2 => {
            format!("{message}; did you mean `{candidate}`?")
        }
        _ => message.to_owned(),
    }
}

fn only_comments(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}

/// An `http`/`https` URL from a config string (after `${VAR}` expansion): sources and
/// webhook receivers.
pub(crate) fn http_url(text: &EnvString) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(&text.expand()?).map_err(|e| format!("invalid url ({e})"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("url scheme {other:?}; expected http or https")),
    }
}

/// `[server] header_read_timeout` and `max_connections`, with their defaults.
fn http_limits(
    server: &crate::config::service::ServerSection,
    file: &SourceFile,
    errors: &mut Vec<ConfigError>,
) -> crate::server::serve::HttpLimits {
    let mut limits = crate::server::serve::HttpLimits::default();
    if let Some(t) = server.header_read_timeout {
        limits.header_read_timeout = t.get();
    }
    if let Some(n) = server.max_connections {
        limits.max_connections = n;
    }
    if limits.header_read_timeout < Duration::from_millis(100) {
        errors.push(file.error(
            None,
            None,
            "server.header_read_timeout must be at least 100ms",
        ));
    }
    if limits.max_connections == 0 {
        errors.push(file.error(None, None, "server.max_connections must be at least 1"));
    }
    limits
}
