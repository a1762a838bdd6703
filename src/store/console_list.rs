//! The console's alert listing, narrow: each listed alert's identity, state, labels and
//! resolve time, from the `alert_listing` table that triggers keep beside `alerts`
//! (migration 0012), so a page sorts, filters and groups 10,000 alerts without parsing
//! any stored body (the database's own JSON functions cost as much as serde for that);
//! it then reads the bodies of the fifty it shows.

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

/// One listing row as the aggregate query spells it: fingerprint, rule, state, the
/// labels' JSON text, resolve time.
type Spelled = (String, String, String, String, Option<String>);

fn listed(
    (fingerprint, rule, state, labels, resolved_at): Spelled,
) -> Result<ListedAlert, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    Ok(ListedAlert {
        fingerprint,
        rule,
        state: AlertState::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
        labels: serde_json::from_str(&labels).map_err(|e| corrupt(e.to_string()))?,
        resolved_at: resolved_at
            .map(|t| t.parse::<DateTime<Utc>>())
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?,
    })
}

/// The listing of the alerts in `n` states ($1..$n) as one JSON array in one row: a
/// row per alert through the driver costs more than all the rest of a page (a channel
/// send and a conversion per row), one array parses in a few milliseconds.
fn listing_sql(dialect: Dialect, n: usize) -> String {
    let states: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    let aggregate = match dialect {
        Dialect::Sqlite => {
            "json_group_array(json_array(fingerprint, rule, state, labels, resolved_at))"
        }
        Dialect::Postgres => {
            "COALESCE(json_agg(json_build_array(fingerprint, rule, state, labels, \
             resolved_at))::text, '[]')"
        }
    };
    format!(
        "SELECT {aggregate} AS listing FROM alert_listing WHERE state IN ({})",
        states.join(", ")
    )
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
        let listing: String = query.fetch_one(&self.pool).await?.try_get("listing")?;
        let rows: Vec<Spelled> =
            serde_json::from_str(&listing).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        rows.into_iter().map(listed).collect()
    }
}
