//! The serde model of `driftwatch.toml`: server, store, sources, receivers, delivery.
//! The sections of components that own their settings (`[server]`, each receiver kind,
//! scrape sources) are those components' types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::config::routing::{InhibitSection, RouteSection, TimeIntervalSection};
use crate::notify::deliver::alertmanager_section::AlertmanagerSection;
use crate::notify::deliver::allowlist::AllowedDestination;
use crate::notify::deliver::email_section::EmailSection;
use crate::notify::deliver::webhook_section::WebhookSection;
use crate::server::settings::ServerSection;
use crate::sources::scrape_settings::ScrapeSourceSection;
use crate::store::lease_settings::ClusterSection;
use crate::telemetry::LogSection;
use crate::types::{DurationSpec, EnvString};

/// `driftwatch.toml` exactly as written.
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfigFile {
    /// HTTP server for `/metrics`, `/healthz`, `/readyz`.
    #[serde(default)]
    pub server: ServerSection,
    /// driftwatch's own database.
    #[serde(default)]
    pub store: StoreSection,
    /// Replicas sharing one PostgreSQL store.
    #[serde(default)]
    pub cluster: ClusterSection,
    /// Where rules live.
    #[serde(default)]
    pub rules: RulesSection,
    /// Metric sources by name.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, SourceSection>")]
    pub sources: BTreeMap<String, Spanned<SourceSection>>,
    /// Notification receivers by name.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ReceiverSection>")]
    pub receivers: BTreeMap<String, Spanned<ReceiverSection>>,
    /// Default receivers and flap control.
    #[serde(default)]
    pub notify: NotifySection,
    /// The routing tree (Alertmanager-style); without it each alert goes to its rule's
    /// receivers at once, on its own, and is not repeated.
    #[serde(default)]
    pub route: Option<RouteSection>,
    /// Alerts that mute the alerts they explain.
    #[serde(default)]
    pub inhibit_rules: Vec<InhibitSection>,
    /// Named time intervals routes mute by (`mute_time_intervals`, `active_time_intervals`).
    #[serde(default)]
    pub time_intervals: BTreeMap<String, TimeIntervalSection>,
    /// Outbox delivery tuning.
    #[serde(default)]
    pub delivery: DeliverySection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
}

/// `[store]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite://path.db` or `postgres://…`; may use `${VAR}`.
    #[serde(default = "default_store_url")]
    #[schemars(with = "EnvString")]
    pub url: Spanned<EnvString>,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            url: default_store_url(),
        }
    }
}

fn default_store_url() -> Spanned<EnvString> {
    Spanned::new(0..0, EnvString("sqlite://driftwatch.db".to_owned()))
}

/// `[rules]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesSection {
    /// Directory of `*.toml` rule files, relative to the config file.
    #[serde(default = "default_rules_dir")]
    pub dir: String,
}

impl Default for RulesSection {
    fn default() -> Self {
        Self {
            dir: default_rules_dir(),
        }
    }
}

fn default_rules_dir() -> String {
    "rules".to_owned()
}

/// `[sources.NAME]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceSection {
    /// A CMBAgent workflow database.
    Sql(SqlSourceSection),
    /// A Prometheus server's HTTP query API, for `promql` rules.
    Prometheus(PrometheusSourceSection),
    /// An endpoint serving Prometheus text format or OpenMetrics, scraped on an interval.
    Scrape(ScrapeSourceSection),
}

/// `[sources.NAME] kind = "prometheus"`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSourceSection {
    /// Base URL of the server, e.g. `http://127.0.0.1:9090`; may use `${VAR}`.
    pub url: EnvString,
    /// Per-query timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<DurationSpec>,
}

/// `[sources.NAME] kind = "sql"`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlSourceSection {
    /// `sqlite://…` or `postgres://…`; may use `${VAR}`.
    pub url: EnvString,
    /// Per-query timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<DurationSpec>,
}

/// `[receivers.NAME]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReceiverSection {
    /// Signed JSON over HTTP(S).
    Webhook(WebhookSection),
    /// Email over SMTP.
    Email(EmailSection),
    /// Alerts pushed to an Alertmanager's `/api/v2/alerts`.
    Alertmanager(AlertmanagerSection),
}

/// `[notify]`.
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    /// Receivers for rules that name none (default: every receiver).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub default_receivers: Option<Vec<Spanned<String>>>,
    /// Flap control: the window state changes are counted in (default 1h).
    #[serde(default)]
    pub flap_window: Option<DurationSpec>,
    /// Flap control: this many changes within the window make an alert flapping, held
    /// until it keeps one state for a quarter of the window (default 8; 0: off).
    #[serde(default)]
    pub flap_threshold: Option<usize>,
    /// How long the decision log (why each notification was or was not sent, and each
    /// delivery attempt) is kept (default 14d).
    #[serde(default)]
    pub decision_log_retention: Option<DurationSpec>,
}

/// `[delivery]`.
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverySection {
    /// Waits between attempts; after the last one a notification is dead-lettered.
    #[serde(default)]
    pub retry_schedule: Option<Vec<DurationSpec>>,
    /// Random spread added to each wait, as a fraction of it (default 0.2).
    #[serde(default)]
    pub jitter: Option<f64>,
    /// Notifications delivered at once (default 64).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Non-public destinations receivers (webhook, email, Alertmanager) may reach: addresses (`"127.0.0.1"`), networks
    /// (`"10.0.0.0/8"`) or host names (`"hooks.internal"`). Default: none.
    #[serde(default)]
    pub allow_private: Vec<AllowedDestination>,
    /// The longest wait a receiver's `Retry-After` (on 429/503) can impose (default 1h).
    #[serde(default)]
    pub max_retry_after: Option<DurationSpec>,
}
