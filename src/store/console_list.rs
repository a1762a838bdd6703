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

/// Separates the listing's rows.
const ROW: char = '\u{1e}';
/// Separates a row's fields.
const FIELD: char = '\u{1f}';

/// One row as the aggregate query spells it: fingerprint, rule, state, resolve time
/// (empty when none) and the labels' JSON last. No field holds a control character:
/// fingerprints are hex, rule names letters, digits and `_-.:`, and JSON escapes them.
fn listed(row: &str) -> Result<ListedAlert, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(format!("alert listing: {e}"));
    let mut fields = row.splitn(5, FIELD);
    let mut next = || {
        fields
            .next()
            .ok_or_else(|| corrupt(format!("short row {row:?}")))
    };
    let (fingerprint, rule, state, resolved_at, labels) =
        (next()?, next()?, next()?, next()?, next()?);
    Ok(ListedAlert {
        fingerprint: fingerprint.to_owned(),
        rule: rule.to_owned(),
        state: AlertState::parse(state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
        labels: serde_json::from_str(labels).map_err(|e| corrupt(e.to_string()))?,
        resolved_at: match resolved_at {
            "" => None,
            t => Some(
                t.parse::<DateTime<Utc>>()
                    .map_err(|e| corrupt(e.to_string()))?,
            ),
        },
    })
}

/// The listing of the alerts in `n` states ($1..$n) as one text in one row: a row per
/// alert through the driver costs more than all the rest of a page (a channel send and
/// a conversion per row), and plain separators cost the database and the parse less
/// than a JSON array of the same rows would.
fn listing_sql(dialect: Dialect, n: usize) -> String {
    let states: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    let (unit, record, concat) = match dialect {
        Dialect::Sqlite => ("char(31)", "char(30)", "group_concat"),
        Dialect::Postgres => ("chr(31)", "chr(30)", "string_agg"),
    };
    format!(
        "SELECT COALESCE({concat}(fingerprint || {unit} || rule || {unit} || state || {unit} \
         || COALESCE(resolved_at, '') || {unit} || labels, {record}), '') AS listing \
         FROM alert_listing WHERE state IN ({})",
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
        listing
            .split(ROW)
            .filter(|row| !row.is_empty())
            .map(listed)
            .collect()
    }
}
