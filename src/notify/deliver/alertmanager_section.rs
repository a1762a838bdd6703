//! An Alertmanager receiver as written, `[receivers.NAME] kind = "alertmanager"`, and its
//! validation into the [`AlertmanagerConfig`] its sender is built from.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::notify::deliver::receiver_site::ReceiverSite;
use crate::notify::deliver::settings::AlertmanagerConfig;
use crate::types::{http_url, DurationSpec, EnvString, Problem};

/// `[receivers.NAME] kind = "alertmanager"`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerSection {
    /// The Alertmanager's base URL, e.g. `http://alertmanager:9093`; alerts go to
    /// `/api/v2/alerts` under it. May use `${VAR}`.
    pub url: EnvString,
    /// Total deadline for one attempt (default 10s).
    #[serde(default)]
    pub timeout: Option<DurationSpec>,
    /// `true` lets this receiver reach loopback and private addresses, like webhooks.
    #[serde(default)]
    pub allow_private: bool,
    /// How long a firing alert stays firing in Alertmanager without being pushed again
    /// (its `endsAt`; default 24h). Resolved alerts are pushed with their end time.
    #[serde(default)]
    pub firing_ttl: Option<DurationSpec>,
    /// Disable the receiver when every attempt has failed for this long. Default: never.
    #[serde(default)]
    pub disable_after: Option<DurationSpec>,
}

impl AlertmanagerSection {
    /// The receiver's settings (timeout 10s, firing alerts last 24h), or its problem.
    pub fn build(&self, site: &ReceiverSite<'_>) -> Result<AlertmanagerConfig, Vec<Problem>> {
        let url = http_url(&self.url)
            .and_then(|u| {
                site.literal_host_allowed(&u, self.allow_private)
                    .map(|()| u)
            })
            .map_err(|e| vec![site.problem(e)])?;
        Ok(AlertmanagerConfig {
            url,
            timeout: self
                .timeout
                .map(|d| d.get())
                .unwrap_or(Duration::from_secs(10)),
            allow_private: self.allow_private,
            firing_ttl: self
                .firing_ttl
                .map(|d| d.get())
                .unwrap_or(Duration::from_secs(24 * 3600)),
            disable_after: self.disable_after.map(|d| d.get()),
        })
    }
}
