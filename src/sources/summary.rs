//! The performance summary of a session or an agent over the last hours, read from the
//! workflow database: runs (total, completed, failed), error rate, duration, cost.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::sources::sql::SqlSource;
use crate::sources::SourceError;

/// Whose runs to summarise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryScope {
    /// One session's runs (`workflow_runs.session_id`).
    Session(String),
    /// One agent's runs (`workflow_runs.agent`).
    Agent(String),
}

impl SummaryScope {
    fn column(&self) -> &'static str {
        match self {
            SummaryScope::Session(_) => "session_id",
            SummaryScope::Agent(_) => "agent",
        }
    }

    fn value(&self) -> &str {
        match self {
            SummaryScope::Session(v) | SummaryScope::Agent(v) => v,
        }
    }
}

/// Runs started since `since` in a scope, summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerformanceSummary {
    /// Runs started in the period.
    pub total_runs: u64,
    /// Of them, completed.
    pub completed_runs: u64,
    /// Of them, failed.
    pub failed_runs: u64,
    /// failed / (completed + failed); 0 when none finished.
    pub error_rate: f64,
    /// Mean duration of finished runs, seconds.
    pub avg_duration_seconds: Option<f64>,
    /// Longest finished run, seconds.
    pub max_duration_seconds: Option<f64>,
    /// Sum of the runs' LLM costs, USD.
    pub total_cost_usd: f64,
    /// total cost / total runs.
    pub avg_cost_usd: Option<f64>,
}

impl SqlSource {
    /// Summarises the runs of `scope` started after `since`.
    pub async fn performance_summary(
        &self,
        scope: &SummaryScope,
        since: DateTime<Utc>,
    ) -> Result<PerformanceSummary, SourceError> {
        let d = self.dialect;
        let col = scope.column();
        let duration = format!(
            "CASE WHEN r.status IN ('completed', 'failed') AND r.completed_at IS NOT NULL \
             THEN {} - {} END",
            d.epoch("r.completed_at"),
            d.epoch("r.started_at")
        );
        let sql = format!(
            "SELECT {total}, {completed}, {failed}, {avg}, {max}, {cost} \
             FROM workflow_runs r WHERE r.{col} = $1 AND {after}",
            total = d.float("COUNT(*)"),
            completed = d.float("COALESCE(SUM(CASE WHEN r.status = 'completed' THEN 1 ELSE 0 END), 0)"),
            failed = d.float("COALESCE(SUM(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END), 0)"),
            avg = d.float(&format!("AVG({duration})")),
            max = d.float(&format!("MAX({duration})")),
            cost = d.float(
                "COALESCE(SUM((SELECT COALESCE(SUM(c.cost_usd), 0) FROM cost_records c WHERE c.run_id = r.id)), 0)"
            ),
            after = d.after_param("r.started_at", 2),
        );
        let query = sqlx::query(&sql)
            .bind(scope.value().to_owned())
            .bind(since.timestamp_millis() as f64 / 1000.0);
        let row = tokio::time::timeout(self.timeout, self.read_only_row(query))
            .await
            .map_err(|_| SourceError::Unreachable {
                source_name: self.name.clone(),
                message: format!("summary query timed out after {:?}", self.timeout),
            })?
            .map_err(|e| SourceError::Query {
                source_name: self.name.clone(),
                message: e.to_string(),
            })?;
        let get = |i: usize| -> Result<Option<f64>, SourceError> {
            row.try_get::<Option<f64>, _>(i)
                .map_err(|e| SourceError::Query {
                    source_name: self.name.clone(),
                    message: format!("summary column {i}: {e}"),
                })
        };
        let total = get(0)?.unwrap_or(0.0);
        let completed = get(1)?.unwrap_or(0.0);
        let failed = get(2)?.unwrap_or(0.0);
        let total_cost = get(5)?.unwrap_or(0.0);
        let finished = completed + failed;
        Ok(PerformanceSummary {
            total_runs: total as u64,
            completed_runs: completed as u64,
            failed_runs: failed as u64,
            error_rate: if finished > 0.0 {
                failed / finished
            } else {
                0.0
            },
            avg_duration_seconds: get(3)?,
            max_duration_seconds: get(4)?,
            total_cost_usd: total_cost,
            avg_cost_usd: (total > 0.0).then(|| total_cost / total),
        })
    }
}
