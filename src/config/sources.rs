//! `[sources.NAME]` sections into the settings each kind of source is built from.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use crate::config::load::http_url;
use crate::config::service::{ScrapeSourceSection, ServiceConfigFile, SourceSection};
use crate::config::validated::SourceConfig;
use crate::sources::dialect::Dialect;
use crate::sources::scrape::ScrapeSettings;
use crate::types::{ConfigError, Secret, SourceFile};

/// Every configured source, validated; problems are added to `errors`.
pub fn source_configs(
    raw: &ServiceConfigFile,
    file: &SourceFile,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, SourceConfig> {
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
                    let settings = scrape_settings(name, sc, url, span, file, errors);
                    sources.insert(name.clone(), SourceConfig::Scrape(settings));
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
    sources
}

/// A scrape source's settings with their defaults: interval 15s, timeout 10s (at most the
/// interval), retention 15m (at least two intervals), 64 MiB per scrape.
fn scrape_settings(
    name: &str,
    sc: &ScrapeSourceSection,
    url: reqwest::Url,
    span: Option<Range<usize>>,
    file: &SourceFile,
    errors: &mut Vec<ConfigError>,
) -> ScrapeSettings {
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
    ScrapeSettings {
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
    }
}
