//! What a rule asks a source: the query kinds, and the source kinds that answer them.

use crate::model::Labels;
use crate::sources::catalog::CatalogMetric;

/// What a rule reads.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleQuery {
    /// A built-in metric with equality filters on its labels.
    Catalog {
        /// The metric.
        metric: CatalogMetric,
        /// Required label values.
        filter: Labels,
    },
    /// The rule's own SQL: columns `ts`, `value`, and label columns; `$1`/`$2` bind the
    /// window's start and end as unix seconds.
    Sql {
        /// The statement.
        sql: String,
    },
    /// A PromQL expression for a Prometheus server, evaluated as an instant query.
    PromQl {
        /// The expression.
        expr: String,
    },
    /// A metric read from a scrape source, by its exposition name (`x_total`, a
    /// histogram's family name, `x_count`, …), with label equality filters.
    Scraped {
        /// The sample name.
        metric: String,
        /// Required label values.
        filter: Labels,
    },
    /// A counter's increase over time, per series: what a budget over a Prometheus-format
    /// source spends (e.g. `llm_cost_usd_total`). A Prometheus server reads the counter's
    /// values and takes their differences, a drop being a reset; a scrape source stores
    /// counters as their increase already.
    Increase {
        /// The counter's sample name, as exposed (`llm_cost_usd_total`).
        metric: String,
        /// Required label values (a value `!x`: any value but x, Prometheus only).
        filter: Labels,
    },
}

/// Checks an exposition metric name (`llm_cost_usd_total`): letters, digits, `_` or `:`,
/// not starting with a digit.
pub fn check_metric_name(name: &str) -> Result<(), String> {
    let valid = name.bytes().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == b'_' || c == b':' || (i > 0 && c.is_ascii_digit())
    });
    if name.is_empty() || !valid {
        return Err(format!("invalid metric name {name:?}; expected letters, digits, '_' or ':', not starting with a digit"));
    }
    Ok(())
}

/// The kinds of source, for checking that a rule asks its source a question it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `kind = "sql"`: catalog metrics and SQL queries.
    Sql,
    /// `kind = "prometheus"`: PromQL.
    Prometheus,
    /// `kind = "scrape"`: exposition metric names.
    Scrape,
}
