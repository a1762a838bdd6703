//! The console's alert listing, narrow: each listed alert's identity, state, labels and
//! resolve time, picked out of its stored body by the database (SQLite's JSON functions,
//! PostgreSQL's `jsonb`), so a page sorts, filters and groups 10,000 alerts without
//! parsing 10,000 whole bodies; it then reads the bodies of the fifty it shows.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError};
use crate::model::{AlertState, Labels};
use crate::sources::dialect::Dialect;

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

/// The listing's SELECT for `dialect`, over `n` states ($1..$n).
fn listing_sql(dialect: Dialect, n: usize) -> String {
    let states: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    let states = states.join(", ");
    match dialect {
        // SQLite keeps the last parsed JSON text of a statement, so the second
        // extraction does not parse the body again.
        Dialect::Sqlite => format!(
            "SELECT fingerprint, rule, state, json_extract(body, '$.labels') AS labels, \
             json_extract(body, '$.resolved_at') AS resolved_at \
             FROM alerts WHERE state IN ({states})"
        ),
        // OFFSET 0 keeps the subquery whole, so each body is converted to jsonb once.
        Dialect::Postgres => format!(
            "SELECT fingerprint, rule, state, (j -> 'labels')::text AS labels, \
             j ->> 'resolved_at' AS resolved_at \
             FROM (SELECT fingerprint, rule, state, body::jsonb AS j FROM alerts \
             WHERE state IN ({states}) OFFSET 0) listed"
        ),
    }
}

fn listed(row: &sqlx::any::AnyRow) -> Result<ListedAlert, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let state: String = row.try_get("state")?;
    let labels: Option<String> = row.try_get("labels")?;
    let resolved_at: Option<String> = row.try_get("resolved_at")?;
    Ok(ListedAlert {
        fingerprint: row.try_get("fingerprint")?,
        rule: row.try_get("rule")?,
        state: AlertState::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
        labels: serde_json::from_str(labels.as_deref().unwrap_or("{}"))
            .map_err(|e| corrupt(e.to_string()))?,
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
        let sql = listing_sql(self.dialect, states.len());
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
