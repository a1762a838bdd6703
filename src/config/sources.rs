//! `[sources.NAME]` sections into the settings each kind of source is built from.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::service::{ServiceConfigFile, SourceSection};
use crate::config::validated::SourceConfig;
use crate::sources::dialect::Dialect;
use crate::types::{http_url, ConfigError, Secret, SourceFile};

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
                    let (settings, problems) = sc.settings(url);
                    for p in problems {
                        errors.push(file.error(
                            span.clone(),
                            None,
                            format!("source {name:?}: {p}"),
                        ));
                    }
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
