//! `[cluster]` in driftwatch.toml as written, and its validation into the lease settings:
//! replicas sharing one PostgreSQL store divide the rules between them.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::store::leases::{LeaseSettings, DEFAULT_LEASE_TTL};
use crate::types::{DurationSpec, Problem};

/// `[cluster]`.
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Divide the rules between the replicas on this store: each rule is evaluated by one
    /// replica at a time, under a lease whose fencing token its commits must still hold.
    /// Needs a PostgreSQL store (default false: every replica evaluates every rule).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub leases: Option<Spanned<bool>>,
    /// This replica's name among them (default: the host name and the process id).
    #[serde(default)]
    pub replica_id: Option<String>,
    /// How long a lease lasts unless renewed (default 15s, at least 3s): a stopped
    /// replica's rules move to the others within it and one evaluation interval.
    #[serde(default)]
    pub lease_ttl: Option<DurationSpec>,
}

impl ClusterSection {
    /// The lease settings, `None` when leases are off; `postgres` says whether the store
    /// is PostgreSQL (SQLite stays one process).
    pub fn settings(&self, postgres: bool) -> Result<Option<LeaseSettings>, Problem> {
        let Some(on) = &self.leases else {
            return Ok(None);
        };
        if !*on.get_ref() {
            return Ok(None);
        }
        if !postgres {
            return Err(Problem::at(
                Some(on.span()),
                "leases divide rules between replicas sharing a PostgreSQL store; an sqlite store serves one process",
            ));
        }
        let ttl = self.lease_ttl.map_or(DEFAULT_LEASE_TTL, |d| d.get());
        if ttl < Duration::from_secs(3) {
            return Err(Problem::at(
                None,
                format!("[cluster] lease_ttl {ttl:?}: expected at least 3s"),
            ));
        }
        Ok(Some(LeaseSettings {
            replica_id: self.replica_id.clone().unwrap_or_else(default_replica_id),
            ttl,
        }))
    }
}

/// The host name and process id: unique among processes sharing a store.
fn default_replica_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "driftwatch".to_owned());
    format!("{host}-{}", std::process::id())
}
