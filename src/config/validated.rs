//! The typed, validated configuration that the running service is built from.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::notify::deliver::settings::{DeliveryConfig, ReceiverConfig};
use crate::sources::SourceKind;
use crate::telemetry::LogFormat;
use crate::types::Secret;

/// The whole service configuration, validated.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Address for the HTTP server.
    pub listen: String,
    /// Bearer token for mutating API calls (expanded from the environment; never logged).
    pub api_token: Option<Secret>,
    /// The HTTP server's header-read timeout and connection limit.
    pub http: crate::server::settings::HttpLimits,
    /// Who may read the web console (`[server] console_read`).
    pub console_read: crate::server::settings::ConsoleRead,
    /// driftwatch's own database URL.
    pub store_url: String,
    /// Rule leases, when replicas sharing the store divide the rules (`None`: off).
    pub leases: Option<crate::store::LeaseSettings>,
    /// Directory holding the rule files.
    pub rules_dir: PathBuf,
    /// Sources by name.
    pub sources: BTreeMap<String, SourceConfig>,
    /// Receivers by name.
    pub receivers: BTreeMap<String, ReceiverConfig>,
    /// Receivers for rules that name none.
    pub default_receivers: Vec<String>,
    /// Routing, grouping, inhibition, time intervals and flap control.
    pub notify_policy: crate::notify::pipeline::policy::NotifyPolicy,
    /// Outbox delivery settings.
    pub delivery: DeliveryConfig,
    /// Log output format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
}

/// One metric source.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// A SQL database with the CMBAgent tables.
    Sql {
        /// Connection URL (secrets expanded; never logged).
        url: Secret,
        /// Per-query timeout.
        timeout: Duration,
    },
    /// A Prometheus server's query API.
    Prometheus {
        /// Base URL.
        url: reqwest::Url,
        /// Per-query timeout.
        timeout: Duration,
    },
    /// A scraped exposition endpoint.
    Scrape(crate::sources::scrape_settings::ScrapeSettings),
}

impl SourceConfig {
    /// Which kind of source this is.
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceConfig::Sql { .. } => SourceKind::Sql,
            SourceConfig::Prometheus { .. } => SourceKind::Prometheus,
            SourceConfig::Scrape(_) => SourceKind::Scrape,
        }
    }
}
