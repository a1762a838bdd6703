//! The SQL source: reads catalog metrics or a rule's own SQL from SQLite or PostgreSQL.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Column, Row};

use crate::config::types::Secret;
use crate::config::validated::RuleQuery;
use crate::model::{Labels, Sample};
use crate::sources::async_trait_free::BoxFuture;
use crate::sources::catalog::{Bind, BoundSql};
use crate::sources::dialect::Dialect;
use crate::sources::{FetchRequest, Observation, Source, SourceError};

/// A workflow database read through sqlx.
pub struct SqlSource {
    pub(crate) name: String,
    pub(crate) dialect: Dialect,
    pub(crate) pool: AnyPool,
    pub(crate) timeout: Duration,
}

impl SqlSource {
    /// Prepares a lazily connecting pool: a database that is down at start-up becomes a
    /// `source_down` alert on the first evaluation instead of stopping the service.
    pub fn new(name: &str, url: &Secret, timeout: Duration) -> Result<Self, SourceError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url.expose()).ok_or_else(|| SourceError::Query {
            source_name: name.to_owned(),
            message: "the URL must start with sqlite: or postgres:".to_owned(),
        })?;
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .acquire_timeout(timeout)
            .idle_timeout(Duration::from_secs(60))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Postgres {
                        // Timestamps without a zone are read as UTC, like EXTRACT(EPOCH) does.
                        sqlx::query("SET TIME ZONE 'UTC'")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy(url.expose())
            .map_err(|e| SourceError::Unreachable {
                source_name: name.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Self {
            name: name.to_owned(),
            dialect,
            pool,
            timeout,
        })
    }

    /// The SQL flavour of this source.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn statement(&self, request: &FetchRequest<'_>) -> BoundSql {
        let after = request.after.timestamp_millis() as f64 / 1000.0;
        let until = request.until.timestamp_millis() as f64 / 1000.0;
        match request.query {
            RuleQuery::Catalog { metric, filter } => {
                metric.query(self.dialect, filter, after, until)
            }
            RuleQuery::Sql { sql } => BoundSql {
                sql: sql.clone(),
                binds: vec![Bind::Float(after), Bind::Float(until)],
            },
            RuleQuery::PromQl { .. } | RuleQuery::Scraped { .. } => {
                unreachable!("`fetch` refuses other sources' queries before building SQL")
            }
        }
    }

    async fn run(&self, statement: BoundSql) -> Result<Vec<Observation>, SourceError> {
        let mut query = sqlx::query(&statement.sql);
        for bind in &statement.binds {
            query = match bind {
                Bind::Float(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.clone()),
            };
        }
        let rows = tokio::time::timeout(self.timeout, query.fetch_all(&self.pool))
            .await
            .map_err(|_| SourceError::Unreachable {
                source_name: self.name.clone(),
                message: format!("query timed out after {:?}", self.timeout),
            })?
            .map_err(|e| classify(&self.name, e))?;
        rows.iter()
            .map(|row| {
                decode_row(row).map_err(|message| SourceError::Query {
                    source_name: self.name.clone(),
                    message,
                })
            })
            .collect()
    }
}

impl Source for SqlSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn fetch<'a>(
        &'a self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<Vec<Observation>, SourceError>> {
        let refused = match request.query {
            RuleQuery::PromQl { .. } => Some("a SQL source cannot run `promql`; point the rule at a kind = \"prometheus\" source"),
            RuleQuery::Scraped { .. } => Some("a SQL source has no scraped metrics; point the rule at a kind = \"scrape\" source"),
            _ => None,
        };
        if let Some(message) = refused {
            let err = SourceError::Query {
                source_name: self.name().to_owned(),
                message: message.to_owned(),
            };
            return Box::pin(async move { Err(err) });
        }
        let statement = self.statement(&request);
        Box::pin(self.run(statement))
    }

    fn is_snapshot(&self, query: &RuleQuery) -> bool {
        matches!(query, RuleQuery::Catalog { metric, .. } if metric.is_snapshot())
    }
}

/// Turns one result row into an observation: `ts`, `value`, the rest are labels.
fn decode_row(row: &AnyRow) -> Result<Observation, String> {
    let ts = decode_ts(row)?;
    let value = decode_number(row, "value")?.ok_or_else(|| "column `value` is NULL".to_owned())?;
    let mut labels = Labels::new();
    for column in row.columns() {
        let name = column.name();
        if name == "ts" || name == "value" {
            continue;
        }
        if let Some(text) = decode_text(row, column.ordinal()) {
            labels.insert(name, text);
        }
    }
    Ok(Observation {
        labels: labels.into(),
        sample: Sample { ts, value },
    })
}

fn decode_number(row: &AnyRow, column: &str) -> Result<Option<f64>, String> {
    if let Ok(v) = row.try_get::<Option<f64>, _>(column) {
        return Ok(v);
    }
    if let Ok(v) = row.try_get::<Option<i64>, _>(column) {
        return Ok(v.map(|v| v as f64));
    }
    if let Ok(Some(s)) = row.try_get::<Option<String>, _>(column) {
        return s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("column `{column}` holds {s:?}, expected a number"));
    }
    Err(format!(
        "expected a numeric column `{column}` (cast it to a float in the query)"
    ))
}

fn decode_ts(row: &AnyRow) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(Some(s)) = row.try_get::<Option<String>, _>("ts") {
        if let Ok(t) = parse_timestamp(&s) {
            return Ok(t);
        }
    }
    let secs = decode_number(row, "ts")?.ok_or_else(|| "column `ts` is NULL".to_owned())?;
    chrono::DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
        .ok_or_else(|| format!("column `ts` holds {secs}, not a unix time in seconds"))
}

fn decode_text(row: &AnyRow, ordinal: usize) -> Option<String> {
    if let Ok(v) = row.try_get::<Option<String>, _>(ordinal) {
        return v;
    }
    if let Ok(v) = row.try_get::<Option<i64>, _>(ordinal) {
        return v.map(|v| v.to_string());
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(ordinal) {
        return v.map(|v| v.to_string());
    }
    row.try_get::<Option<bool>, _>(ordinal)
        .ok()
        .flatten()
        .map(|v| v.to_string())
}

/// Parses RFC 3339 or `YYYY-MM-DD HH:MM:SS[.ffffff]` (read as UTC).
pub fn parse_timestamp(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    Err(format!("cannot read {s:?} as a timestamp"))
}

/// Decides whether a driver error means "the source is down" or "the query is wrong".
fn classify(source_name: &str, e: sqlx::Error) -> SourceError {
    let message = e.to_string();
    let unreachable = match &e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if code.chars().all(|c| c.is_ascii_digit()) && !code.is_empty() {
                // SQLite: busy, locked, I/O, can't open, not a database.
                let primary = code.parse::<u32>().unwrap_or(0) & 0xff;
                matches!(primary, 5 | 6 | 10 | 14 | 26)
            } else {
                // PostgreSQL SQLSTATE: connection, resources, operator, auth, no database.
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57")
                    || code.starts_with("28")
                    || code == "3D000"
            }
        }
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::RowNotFound => false,
        _ => true,
    };
    if unreachable {
        SourceError::Unreachable {
            source_name: source_name.to_owned(),
            message,
        }
    } else {
        SourceError::Query {
            source_name: source_name.to_owned(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_common_shapes() {
        let a = parse_timestamp("2024-01-02 03:04:05.250000").unwrap();
        let b = parse_timestamp("2024-01-02T03:04:05.25Z").unwrap();
        assert_eq!(a, b);
        assert!(parse_timestamp("yesterday").is_err());
    }
}
