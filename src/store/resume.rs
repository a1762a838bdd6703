//! What a replica reads when it takes a rule over from another (or from its own earlier
//! life): the rule's alerts, learnt baselines and flap records, as the last holder
//! committed them.

use std::collections::HashMap;

use sqlx::Row;

use super::baseline_journal::read_journals;
use super::{Store, StoreError};
use crate::engine::Alert;
use crate::model::flap::FlapRecord;
use crate::model::journal::BaselineJournal;
use crate::types::Fingerprint;

/// One rule's stored state.
#[derive(Debug, Default)]
pub struct RuleState {
    /// Its alerts.
    pub alerts: Vec<Alert>,
    /// Its series' baselines, by fingerprint.
    pub baselines: HashMap<String, serde_json::Value>,
    /// Its alerts' flap records.
    pub flaps: HashMap<Fingerprint, FlapRecord>,
    /// Its baseline journal, to apply to the baselines.
    pub journal: BaselineJournal,
}

fn corrupt(e: impl ToString) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl Store {
    /// The stored state of `rule`.
    pub async fn load_rule_state(&self, rule: &str) -> Result<RuleState, StoreError> {
        let mut state = RuleState::default();
        let alerts = sqlx::query("SELECT body FROM alerts WHERE rule = $1")
            .bind(rule.to_owned())
            .fetch_all(&self.pool)
            .await?;
        for r in alerts {
            let body: String = r.try_get("body")?;
            state
                .alerts
                .push(serde_json::from_str(&body).map_err(corrupt)?);
        }
        let baselines = sqlx::query("SELECT fingerprint, state FROM baselines WHERE rule = $1")
            .bind(rule.to_owned())
            .fetch_all(&self.pool)
            .await?;
        for r in baselines {
            let text: String = r.try_get("state")?;
            let value = serde_json::from_str(&text).map_err(corrupt)?;
            state.baselines.insert(r.try_get("fingerprint")?, value);
        }
        state.journal = read_journals(&self.pool, Some(rule))
            .await?
            .remove(rule)
            .unwrap_or_default();
        let flaps = sqlx::query("SELECT fingerprint, record FROM alert_flaps WHERE rule = $1")
            .bind(rule.to_owned())
            .fetch_all(&self.pool)
            .await?;
        for r in flaps {
            let fingerprint =
                Fingerprint::parse(&r.try_get::<String, _>("fingerprint")?).map_err(corrupt)?;
            let record =
                serde_json::from_str(&r.try_get::<String, _>("record")?).map_err(corrupt)?;
            state.flaps.insert(fingerprint, record);
        }
        Ok(state)
    }
}
