//! The SQL source: reads catalog metrics or a rule's own SQL from SQLite or PostgreSQL.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Column, Row};

use crate::model::{Labels, Sample};
use crate::sources::async_trait_free::BoxFuture;
use crate::sources::catalog::{Bind, BoundSql};
use crate::sources::dialect::Dialect;
use crate::sources::running::RunningInterval;
use crate::sources::RuleQuery;
use crate::sources::{FetchRequest, Observation, Source, SourceError};
use crate::types::Secret;

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
                Box::pin(async move { read_only_session(conn, dialect, timeout).await })
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

    /// Runs `query` in a transaction in which nothing can be written, whatever the URL
    /// or the role allow: every query of a source (the catalog's, a rule's own, the
    /// summary's) goes through here. The connection itself already refuses writes
    /// (`read_only_session`); PostgreSQL's transaction is marked read-only as well, so a
    /// `WITH … DELETE` fails there too.
    pub(crate) async fn read_only_rows<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SET TRANSACTION READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let rows = query.fetch_all(&mut *tx).await?;
        tx.rollback().await?;
        Ok(rows)
    }

    /// [`SqlSource::read_only_rows`] for a query that returns exactly one row.
    pub(crate) async fn read_only_row<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<AnyRow, sqlx::Error> {
        let rows = self.read_only_rows(query).await?;
        rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)
    }

    /// Whether the source's credentials could write, had driftwatch not made every
    /// session read-only: a PostgreSQL superuser or a role with INSERT, UPDATE, DELETE or
    /// TRUNCATE on some table, or an SQLite file opened without `mode=ro`.
    pub async fn credentials_can_write(&self, url: &Secret) -> Result<bool, SourceError> {
        if self.dialect == Dialect::Sqlite {
            let url = url.expose();
            return Ok(!(url.contains("mode=ro") || url.contains("immutable=1")));
        }
        let sql = "SELECT CAST(CASE WHEN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
                   OR EXISTS (SELECT 1 FROM information_schema.tables t \
                     WHERE t.table_schema NOT IN ('pg_catalog', 'information_schema') \
                     AND t.table_type = 'BASE TABLE' \
                     AND has_table_privilege(quote_ident(t.table_schema) || '.' || quote_ident(t.table_name), \
                         'INSERT, UPDATE, DELETE, TRUNCATE')) \
                   THEN 1 ELSE 0 END AS BIGINT)";
        let check = async {
            self.read_only_row(sqlx::query(sql))
                .await?
                .try_get::<i64, _>(0)
        };
        let can = tokio::time::timeout(self.timeout, check)
            .await
            .map_err(|_| SourceError::Unreachable {
                source_name: self.name.clone(),
                message: format!("privilege check timed out after {:?}", self.timeout),
            })?
            .map_err(|e| classify(&self.name, e))?;
        Ok(can != 0)
    }

    /// Logs a warning when the source's credentials could write (see
    /// `credentials_can_write`); driftwatch stays read-only either way, so this is
    /// advice, not a refusal. A source that cannot be reached is left to `source_down`.
    pub async fn warn_if_writable(&self, url: &Secret) {
        match self.credentials_can_write(url).await {
            Ok(true) => tracing::warn!(
                source = %self.name,
                "the source's credentials can write to it; driftwatch only reads (every query \
                 runs in a read-only transaction), but a read-only role or an sqlite URL with \
                 ?mode=ro keeps a mistake elsewhere from writing too"
            ),
            Ok(false) => {}
            Err(e) => tracing::debug!(source = %self.name, error = %e, "privilege check skipped"),
        }
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
            RuleQuery::PromQl { .. } | RuleQuery::Scraped { .. } | RuleQuery::Increase { .. } => {
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
        let rows = tokio::time::timeout(self.timeout, self.read_only_rows(query))
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
            RuleQuery::Increase { .. } => Some("a SQL source has no counters; read spend rows with `metric` (catalog) or `query`"),
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

    fn examples<'a>(
        &'a self,
        request: FetchRequest<'a>,
        slice: &'a crate::model::Labels,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Observation>, SourceError>> {
        let RuleQuery::Catalog { metric, filter } = request.query else {
            return Box::pin(async { Ok(Vec::new()) });
        };
        let bounds = (
            request.after.timestamp_millis() as f64 / 1000.0,
            request.until.timestamp_millis() as f64 / 1000.0,
        );
        let statement = metric.examples_query(self.dialect, filter, slice, bounds, limit);
        Box::pin(self.run(statement))
    }

    fn fetch_running<'a>(
        &'a self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<Vec<RunningInterval>, SourceError>> {
        let statement = match request.query {
            RuleQuery::Catalog { metric, filter } => crate::sources::running::intervals_query(
                *metric,
                self.dialect,
                filter,
                request.after.timestamp_millis() as f64 / 1000.0,
                request.until.timestamp_millis() as f64 / 1000.0,
            ),
            _ => None,
        };
        let Some(statement) = statement else {
            let err = SourceError::Query {
                source_name: self.name.clone(),
                message: "only the catalog's running metrics replay from start and end times"
                    .to_owned(),
            };
            return Box::pin(async move { Err(err) });
        };
        Box::pin(async move {
            let rows = self.run(statement).await?;
            Ok(rows
                .into_iter()
                .map(RunningInterval::from_observation)
                .collect())
        })
    }
}

/// Makes a new pooled connection refuse writes for its whole life: SQLite's
/// `query_only`, PostgreSQL's default read-only transactions and a server-side
/// `statement_timeout` (so a query abandoned by our own timeout stops on the server too).
async fn read_only_session(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    let statements = match dialect {
        Dialect::Sqlite => vec!["PRAGMA query_only = ON".to_owned()],
        Dialect::Postgres => vec![
            // Timestamps without a zone are read as UTC, like EXTRACT(EPOCH) does.
            "SET TIME ZONE 'UTC'".to_owned(),
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY".to_owned(),
            format!("SET statement_timeout = {}", timeout.as_millis().max(1)),
        ],
    };
    for statement in statements {
        sqlx::query(&statement).execute(&mut *conn).await?;
    }
    Ok(())
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
