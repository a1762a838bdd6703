//! The CMBAgent workflow tables (the columns driftwatch reads), for the demo and tests.

use sqlx::AnyPool;

use crate::sources::dialect::Dialect;

/// Creates the CMBAgent tables if they do not exist.
pub async fn create_schema(pool: &AnyPool, dialect: Dialect) -> Result<(), sqlx::Error> {
    let (ts, float, json) = match dialect {
        Dialect::Sqlite => ("TIMESTAMP", "REAL", "TEXT"),
        Dialect::Postgres => ("TIMESTAMP", "DOUBLE PRECISION", "JSONB"),
    };
    let statements = [
        format!(
            "CREATE TABLE IF NOT EXISTS workflow_runs (id TEXT PRIMARY KEY, session_id TEXT, mode TEXT, \
             agent TEXT, model TEXT, status TEXT NOT NULL, started_at {ts}, completed_at {ts}, meta {json})"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS workflow_steps (id TEXT PRIMARY KEY, run_id TEXT, session_id TEXT, \
             step_number INTEGER, status TEXT NOT NULL, started_at {ts}, completed_at {ts}, error_message TEXT)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS cost_records (id TEXT PRIMARY KEY, run_id TEXT, step_id TEXT, \
             session_id TEXT, model TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER, \
             cost_usd {float}, timestamp {ts})"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS workflow_metrics (id TEXT PRIMARY KEY, run_id TEXT, step_id TEXT, \
             timestamp {ts}, metric_name TEXT, metric_value {float})"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS execution_events (id TEXT PRIMARY KEY, run_id TEXT, step_id TEXT, \
             event_type TEXT, agent_name TEXT, timestamp {ts}, duration_ms INTEGER, status TEXT, meta {json})"
        ),
        "CREATE INDEX IF NOT EXISTS workflow_runs_completed ON workflow_runs (completed_at)".to_owned(),
        "CREATE INDEX IF NOT EXISTS workflow_steps_completed ON workflow_steps (completed_at)".to_owned(),
        "CREATE INDEX IF NOT EXISTS cost_records_ts ON cost_records (timestamp)".to_owned(),
        "CREATE INDEX IF NOT EXISTS execution_events_ts ON execution_events (timestamp)".to_owned(),
    ];
    for s in statements {
        sqlx::query(&s).execute(pool).await?;
    }
    Ok(())
}
