//! Writes generated runs into the CMBAgent tables fast: multi-row inserts, a few
//! thousand rows per statement, many statements per transaction.

use sqlx::{Any, AnyPool, Transaction};

use crate::demo::workload::Run;
use crate::sources::dialect::Dialect;

/// Rows per transaction, counted in runs.
const RUNS_PER_TRANSACTION: usize = 1_000;
/// Bound parameters per statement. Both databases allow far more, but sqlx spends time
/// growing faster than the statement on very long ones: 500 writes a month in seconds,
/// 30,000 took over a minute.
const PARAMS_PER_STATEMENT: usize = 500;

/// One value to bind.
#[derive(Debug, Clone)]
enum Value {
    Text(Option<String>),
    Int(i64),
    Float(f64),
    /// A timestamp as SQLAlchemy writes it; cast on PostgreSQL.
    Time(Option<String>),
    /// JSON text; cast on PostgreSQL.
    Json(String),
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

fn text(s: &str) -> Value {
    Value::Text(Some(s.to_owned()))
}

/// One table's rows waiting to be written.
struct Table {
    sql_head: String,
    rows: Vec<Vec<Value>>,
}

impl Table {
    fn new(table: &str, columns: &[&str]) -> Table {
        Table {
            sql_head: format!("INSERT INTO {table} ({}) VALUES ", columns.join(", ")),
            rows: Vec::new(),
        }
    }

    /// Writes the rows in statements of at most [`PARAMS_PER_STATEMENT`] parameters.
    async fn flush(
        &mut self,
        tx: &mut Transaction<'_, Any>,
        dialect: Dialect,
    ) -> Result<(), sqlx::Error> {
        let Some(width) = self.rows.first().map(Vec::len) else {
            return Ok(());
        };
        for chunk in self.rows.chunks(PARAMS_PER_STATEMENT / width) {
            let mut sql = self.sql_head.clone();
            let mut n = 0;
            for (r, row) in chunk.iter().enumerate() {
                sql.push_str(if r == 0 { "(" } else { ", (" });
                for (c, v) in row.iter().enumerate() {
                    n += 1;
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&placeholder(v, n, dialect));
                }
                sql.push(')');
            }
            let mut q = sqlx::query(&sql);
            for v in chunk.iter().flatten() {
                q = match v.clone() {
                    Value::Text(s) | Value::Time(s) => q.bind(s),
                    Value::Json(s) => q.bind(s),
                    Value::Int(i) => q.bind(i),
                    Value::Float(f) => q.bind(f),
                };
            }
            q.execute(&mut **tx).await?;
        }
        self.rows.clear();
        Ok(())
    }
}

fn placeholder(v: &Value, n: usize, dialect: Dialect) -> String {
    match (v, dialect) {
        (Value::Time(_), Dialect::Postgres) => format!("CAST(${n} AS TIMESTAMP)"),
        (Value::Json(_), Dialect::Postgres) => format!("CAST(${n} AS JSONB)"),
        _ => format!("${n}"),
    }
}

/// The four tables a run is written to.
struct Batch {
    runs: Table,
    steps: Table,
    events: Table,
    costs: Table,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            runs: Table::new(
                "workflow_runs",
                &[
                    "id",
                    "session_id",
                    "mode",
                    "agent",
                    "model",
                    "status",
                    "started_at",
                    "completed_at",
                    "meta",
                ],
            ),
            steps: Table::new(
                "workflow_steps",
                &[
                    "id",
                    "run_id",
                    "session_id",
                    "step_number",
                    "status",
                    "started_at",
                    "completed_at",
                    "error_message",
                ],
            ),
            events: Table::new(
                "execution_events",
                &[
                    "id",
                    "run_id",
                    "step_id",
                    "event_type",
                    "agent_name",
                    "timestamp",
                    "duration_ms",
                    "status",
                    "meta",
                ],
            ),
            costs: Table::new(
                "cost_records",
                &[
                    "id",
                    "run_id",
                    "step_id",
                    "session_id",
                    "model",
                    "prompt_tokens",
                    "completion_tokens",
                    "total_tokens",
                    "cost_usd",
                    "timestamp",
                ],
            ),
        }
    }

    fn add(&mut self, run: &Run) {
        self.runs.rows.push(vec![
            text(&run.id),
            text(&run.session_id),
            text(&run.mode),
            text(&run.agent),
            text(&run.model),
            text(&run.status),
            Value::Time(Some(ts(run.started_at))),
            Value::Time(run.completed_at.map(ts)),
            Value::Json("{}".to_owned()),
        ]);
        for (i, step) in run.steps.iter().enumerate() {
            let step_id = format!("{}-s{}", run.id, i + 1);
            let error = (step.status == "failed").then(|| "agent raised an exception".to_owned());
            self.steps.rows.push(vec![
                text(&step_id),
                text(&run.id),
                text(&run.session_id),
                Value::Int(i as i64 + 1),
                text(&step.status),
                Value::Time(Some(ts(step.started_at))),
                Value::Time(step.completed_at.map(ts)),
                Value::Text(error),
            ]);
            self.add_calls(run, step, &step_id);
        }
    }

    fn add_calls(&mut self, run: &Run, step: &crate::demo::workload::Step, step_id: &str) {
        let mut at = step.started_at;
        for (c, call) in step.calls.iter().enumerate() {
            // Each call is recorded when it finishes.
            at += chrono::Duration::milliseconds((call.seconds * 1000.0) as i64);
            let id = format!("{step_id}-c{}", c + 1);
            let model = serde_json::json!({ "model": call.model }).to_string();
            self.events.rows.push(vec![
                text(&id),
                text(&run.id),
                text(step_id),
                text("agent_call"),
                text(&call.agent),
                Value::Time(Some(ts(at))),
                Value::Int((call.seconds * 1000.0) as i64),
                text("completed"),
                Value::Json(model),
            ]);
            self.costs.rows.push(vec![
                text(&id),
                text(&run.id),
                text(step_id),
                text(&run.session_id),
                text(&call.model),
                Value::Int(call.prompt_tokens),
                Value::Int(call.completion_tokens),
                Value::Int(call.prompt_tokens + call.completion_tokens),
                Value::Float(call.cost_usd),
                Value::Time(Some(ts(at))),
            ]);
        }
    }

    async fn flush(
        &mut self,
        tx: &mut Transaction<'_, Any>,
        d: Dialect,
    ) -> Result<(), sqlx::Error> {
        self.runs.flush(tx, d).await?;
        self.steps.flush(tx, d).await?;
        self.events.flush(tx, d).await?;
        self.costs.flush(tx, d).await
    }
}

/// Writes `runs` (with their steps, LLM calls as execution events, and cost records)
/// in transactions of [`RUNS_PER_TRANSACTION`] runs.
pub async fn write_runs(pool: &AnyPool, dialect: Dialect, runs: &[Run]) -> Result<(), sqlx::Error> {
    for chunk in runs.chunks(RUNS_PER_TRANSACTION) {
        let mut batch = Batch::new();
        for run in chunk {
            batch.add(run);
        }
        let mut tx = pool.begin().await?;
        batch.flush(&mut tx, dialect).await?;
        tx.commit().await?;
    }
    Ok(())
}
