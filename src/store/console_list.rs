//! The console's alert listing, narrow: each listed alert's identity, state, labels and
//! resolve time, from the `alert_listing` table that triggers keep beside `alerts`
//! (migration 0012), so a page sorts, filters and groups 10,000 alerts without parsing
//! any stored body (the database's own JSON functions cost as much as serde for that);
//! it then reads the bodies of the fifty it shows.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError};
use crate::model::{AlertState, Labels};

/// One stored alert as a list sorts, filters and groups it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedAlert {
    /// Its fingerprint (to read its body when it is shown).
    pub fingerprint: String,
    /// Its rule.
    pub rule: String,
    /// Its state.
    pub state: AlertState,
    /// All its labels (`rule` and `severity` among them).
    pub labels: Labels,
    /// When it last resolved.
    pub resolved_at: Option<DateTime<Utc>>,
}

fn listed(row: &sqlx::any::AnyRow) -> Result<ListedAlert, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let state: String = row.try_get("state")?;
    let labels: String = row.try_get("labels")?;
    let resolved_at: Option<String> = row.try_get("resolved_at")?;
    Ok(ListedAlert {
        fingerprint: row.try_get("fingerprint")?,
        rule: row.try_get("rule")?,
        state: AlertState::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
        labels: serde_json::from_str(&labels).map_err(|e| corrupt(e.to_string()))?,
        resolved_at: resolved_at
            .map(|t| t.parse::<DateTime<Utc>>())
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?,
    })
}

impl Store {
    /// The stored alerts in one of `states`, narrow (see [`ListedAlert`]).
    pub async fn listed_alerts(
        &self,
        states: &[AlertState],
    ) -> Result<Vec<ListedAlert>, StoreError> {
        let states_in: Vec<String> = (1..=states.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT fingerprint, rule, state, labels, resolved_at FROM alert_listing \
             WHERE state IN ({})",
            states_in.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for state in states {
            query = query.bind(state.as_str());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(listed)
            .collect()
    }
}
