//! Metric sources: the only code that talks to outside metric systems.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod catalog;
pub mod counter;
pub mod dialect;
pub mod exposition;
pub mod increase;
pub mod prometheus_query;
pub mod query;
pub mod running;
pub mod scrape;
pub mod scrape_settings;
pub mod scrape_store;
pub mod sql;
pub mod sql_guard;
pub mod summary;

use async_trait_free::BoxFuture;
use chrono::{DateTime, Utc};

use crate::model::{Labels, Sample};

pub use query::{RuleQuery, SourceKind};

/// What one evaluation asks a source for.
#[derive(Debug, Clone)]
pub struct FetchRequest<'a> {
    /// The rule's query.
    pub query: &'a RuleQuery,
    /// Only rows strictly after this instant.
    pub after: DateTime<Utc>,
    /// Only rows at or before this instant (also "now" for snapshot metrics).
    pub until: DateTime<Utc>,
}

/// One sample with its labels, as a source returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// All natural labels of the row; shared, so a source that keeps its series (the
    /// scrape store) hands them out without copying.
    pub labels: std::sync::Arc<Labels>,
    /// Its time and value.
    pub sample: Sample,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source cannot be reached or refused the connection: raises `source_down`.
    #[error("source {source_name} is unreachable: {message}")]
    Unreachable {
        /// The source's configured name.
        source_name: String,
        /// What the driver said (no secrets).
        message: String,
    },
    /// The source answered, but the query is wrong for it (a rule problem).
    #[error("query on source {source_name} failed: {message}")]
    Query {
        /// The source's configured name.
        source_name: String,
        /// What the driver said.
        message: String,
    },
    /// No source of that name is configured.
    #[error("no source named {0:?}")]
    Unknown(String),
}

impl SourceError {
    /// True when the source itself is down (as opposed to a bad query).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, SourceError::Unreachable { .. })
    }
}

/// A place samples come from.
pub trait Source: Send + Sync {
    /// The configured name.
    fn name(&self) -> &str;
    /// Fetches the observations a request asks for.
    fn fetch<'a>(
        &'a self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<Vec<Observation>, SourceError>>;
    /// True for metrics that describe the present (e.g. running steps' age): their
    /// window is re-read every time instead of incrementally.
    fn is_snapshot(&self, query: &RuleQuery) -> bool;

    /// The rows behind an alert on `slice` (labels the rows must have), worst first: at
    /// most `limit` observations whose labels carry `run_id`, `step_id` and
    /// `session_id` where the source knows them. Sources that cannot say return none.
    fn examples<'a>(
        &'a self,
        request: FetchRequest<'a>,
        slice: &'a crate::model::Labels,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Observation>, SourceError>> {
        let _ = (request, slice, limit);
        Box::pin(async { Ok(Vec::new()) })
    }

    /// For a snapshot metric, the running intervals (start, end) of every row that was
    /// running at some instant of the request's `(after, until]`, so a backtest can
    /// rebuild the snapshot at any past instant. Sources that cannot say refuse.
    fn fetch_running<'a>(
        &'a self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<Vec<running::RunningInterval>, SourceError>> {
        let err = SourceError::Query {
            source_name: self.name().to_owned(),
            message: "this source cannot replay running rows from history".to_owned(),
        };
        let _ = request;
        Box::pin(async move { Err(err) })
    }
}

/// A boxed future, so the trait stays object safe without an extra crate.
pub mod async_trait_free {
    /// A pinned, boxed, sendable future.
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}
