//! The SQL differences between SQLite and PostgreSQL that the catalog needs.

/// Which SQL flavour a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (timestamps stored as ISO text, as SQLAlchemy writes them).
    Sqlite,
    /// PostgreSQL (timestamp or timestamptz columns; sessions run in UTC).
    Postgres,
}

impl Dialect {
    /// The dialect a connection URL names, if any.
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Dialect::Postgres)
        } else {
            None
        }
    }

    /// Unix seconds (float) of a timestamp column.
    pub fn epoch(self, col: &str) -> String {
        match self {
            // julianday() reads ISO text with or without 'T' and a zone suffix.
            Dialect::Sqlite => format!("((julianday({col}) - 2440587.5) * 86400.0)"),
            Dialect::Postgres => format!("EXTRACT(EPOCH FROM {col})::float8"),
        }
    }

    /// `col` is strictly after the unix-seconds parameter `$n`.
    pub fn after_param(self, col: &str, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("julianday({col}) > 2440587.5 + ${n} / 86400.0"),
            Dialect::Postgres => format!("{col} > to_timestamp(${n})"),
        }
    }

    /// `col` is at or before the unix-seconds parameter `$n`.
    pub fn until_param(self, col: &str, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("julianday({col}) <= 2440587.5 + ${n} / 86400.0"),
            Dialect::Postgres => format!("{col} <= to_timestamp(${n})"),
        }
    }

    /// An expression as a double.
    pub fn float(self, expr: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST({expr} AS REAL)"),
            Dialect::Postgres => format!("({expr})::float8"),
        }
    }

    /// An expression as text.
    pub fn text(self, expr: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST({expr} AS TEXT)"),
            Dialect::Postgres => format!("({expr})::text"),
        }
    }

    /// The `model` key of a JSON column, or NULL when it is not JSON.
    pub fn json_model(self, col: &str) -> String {
        match self {
            Dialect::Sqlite => {
                format!("(CASE WHEN json_valid({col}) THEN json_extract({col}, '$.model') END)")
            }
            Dialect::Postgres => format!("(({col})::jsonb ->> 'model')"),
        }
    }
}
