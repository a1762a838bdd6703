//! Writes CMBAgent-shaped workflow records: normal traffic and injected incidents.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sqlx::AnyPool;

use crate::sources::dialect::Dialect;

/// One LLM call inside a step.
#[derive(Debug, Clone)]
pub struct LlmCall {
    /// The agent that made it.
    pub agent: String,
    /// The model called.
    pub model: String,
    /// How long it took, in seconds.
    pub seconds: f64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Cost in USD.
    pub cost_usd: f64,
}

/// One step of a run.
#[derive(Debug, Clone)]
pub struct Step {
    /// `completed`, `failed` or `running`.
    pub status: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished (None while running).
    pub completed_at: Option<DateTime<Utc>>,
    /// Its LLM calls.
    pub calls: Vec<LlmCall>,
}

/// One workflow run with its steps.
#[derive(Debug, Clone)]
pub struct Run {
    /// Run id.
    pub id: String,
    /// Session id.
    pub session_id: String,
    /// `one_shot`, `planning_and_control`, `deep_research`.
    pub mode: String,
    /// Lead agent.
    pub agent: String,
    /// Main model.
    pub model: String,
    /// Final or current status.
    pub status: String,
    /// Start time.
    pub started_at: DateTime<Utc>,
    /// Finish time (None while executing).
    pub completed_at: Option<DateTime<Utc>>,
    /// Steps.
    pub steps: Vec<Step>,
}

impl Run {
    /// The same run moved in time by `by`.
    pub fn shifted(mut self, by: Duration) -> Run {
        self.started_at += by;
        self.completed_at = self.completed_at.map(|t| t + by);
        for step in &mut self.steps {
            step.started_at += by;
            step.completed_at = step.completed_at.map(|t| t + by);
        }
        self
    }

    /// How long the run takes from start to finish (zero while unfinished).
    pub fn duration(&self) -> Duration {
        self.completed_at
            .map(|end| end - self.started_at)
            .unwrap_or_else(Duration::zero)
    }
}

/// Writes CMBAgent rows into a database.
pub struct Writer {
    pool: AnyPool,
    dialect: Dialect,
}

fn ts(t: DateTime<Utc>) -> String {
    // SQLAlchemy's format for DateTime columns.
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

impl Writer {
    /// A writer on an open pool.
    pub fn new(pool: AnyPool, dialect: Dialect) -> Self {
        Self { pool, dialect }
    }

    fn tp(&self, n: usize) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("${n}"),
            Dialect::Postgres => format!("CAST(${n} AS TIMESTAMP)"),
        }
    }

    fn jp(&self, n: usize) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("${n}"),
            Dialect::Postgres => format!("CAST(${n} AS JSONB)"),
        }
    }

    /// Inserts a whole run at once: the run, its steps, its LLM calls (as execution
    /// events) and cost records.
    pub async fn insert(&self, run: &Run) -> Result<(), sqlx::Error> {
        for (_, action) in timeline(run) {
            match action {
                // A run written whole is written with its final state straight away.
                Action::StartRun(r) => self.write_run(&r, true).await?,
                Action::StartStep { run, index } => self.write_step(&run, index, true).await?,
                Action::Call { run, index, call } => self.write_call(&run, index, call).await?,
                Action::FinishStep { .. } | Action::FinishRun(_) => {}
            }
        }
        Ok(())
    }

    /// Performs one timeline action.
    pub async fn apply(&self, action: &Action) -> Result<(), sqlx::Error> {
        match action {
            Action::StartRun(r) => self.write_run(r, false).await,
            Action::StartStep { run, index } => self.write_step(run, *index, false).await,
            Action::Call { run, index, call } => self.write_call(run, *index, *call).await,
            Action::FinishStep { run, index } => {
                let step = &run.steps[*index];
                let sql = format!(
                    "UPDATE workflow_steps SET status = $1, completed_at = {}, error_message = $3 WHERE id = $4",
                    self.tp(2)
                );
                sqlx::query(&sql)
                    .bind(step.status.clone())
                    .bind(step.completed_at.map(ts))
                    .bind((step.status == "failed").then(|| "agent raised an exception".to_owned()))
                    .bind(step_id(run, *index))
                    .execute(&self.pool)
                    .await
                    .map(|_| ())
            }
            Action::FinishRun(r) => {
                let sql = format!(
                    "UPDATE workflow_runs SET status = $1, completed_at = {} WHERE id = $3",
                    self.tp(2)
                );
                sqlx::query(&sql)
                    .bind(r.status.clone())
                    .bind(r.completed_at.map(ts))
                    .bind(r.id.clone())
                    .execute(&self.pool)
                    .await
                    .map(|_| ())
            }
        }
    }

    async fn write_run(&self, run: &Run, final_state: bool) -> Result<(), sqlx::Error> {
        let sql = format!(
            "INSERT INTO workflow_runs (id, session_id, mode, agent, model, status, started_at, completed_at, meta) \
             VALUES ($1, $2, $3, $4, $5, $6, {}, {}, {})",
            self.tp(7),
            self.tp(8),
            self.jp(9)
        );
        let (status, completed) = if final_state {
            (run.status.clone(), run.completed_at.map(ts))
        } else {
            ("executing".to_owned(), None)
        };
        sqlx::query(&sql)
            .bind(run.id.clone())
            .bind(run.session_id.clone())
            .bind(run.mode.clone())
            .bind(run.agent.clone())
            .bind(run.model.clone())
            .bind(status)
            .bind(ts(run.started_at))
            .bind(completed)
            .bind("{}".to_owned())
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    async fn write_step(
        &self,
        run: &Run,
        index: usize,
        final_state: bool,
    ) -> Result<(), sqlx::Error> {
        let step = &run.steps[index];
        let sql = format!(
            "INSERT INTO workflow_steps (id, run_id, session_id, step_number, status, started_at, completed_at, error_message) \
             VALUES ($1, $2, $3, $4, $5, {}, {}, $8)",
            self.tp(6),
            self.tp(7)
        );
        let (status, completed) = if final_state {
            (step.status.clone(), step.completed_at.map(ts))
        } else {
            ("running".to_owned(), None)
        };
        let failed = status == "failed";
        sqlx::query(&sql)
            .bind(step_id(run, index))
            .bind(run.id.clone())
            .bind(run.session_id.clone())
            .bind((index + 1) as i32)
            .bind(status)
            .bind(ts(step.started_at))
            .bind(completed)
            .bind(failed.then(|| "agent raised an exception".to_owned()))
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    async fn write_call(&self, run: &Run, index: usize, call: usize) -> Result<(), sqlx::Error> {
        let step = &run.steps[index];
        let c = &step.calls[call];
        let at = step.started_at
            + Duration::milliseconds(
                (step.calls[..=call].iter().map(|c| c.seconds).sum::<f64>() * 1000.0) as i64,
            );
        let sid = step_id(run, index);
        let call_id = format!("{sid}-c{}", call + 1);
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "INSERT INTO execution_events (id, run_id, step_id, event_type, agent_name, timestamp, duration_ms, status, meta) \
             VALUES ($1, $2, $3, 'agent_call', $4, {}, $6, 'completed', {})",
            self.tp(5),
            self.jp(7)
        );
        sqlx::query(&sql)
            .bind(call_id.clone())
            .bind(run.id.clone())
            .bind(sid.clone())
            .bind(c.agent.clone())
            .bind(ts(at))
            .bind((c.seconds * 1000.0) as i64)
            .bind(serde_json::json!({ "model": c.model }).to_string())
            .execute(&mut *tx)
            .await?;
        let sql = format!(
            "INSERT INTO cost_records (id, run_id, step_id, session_id, model, prompt_tokens, completion_tokens, total_tokens, cost_usd, timestamp) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {})",
            self.tp(10)
        );
        sqlx::query(&sql)
            .bind(call_id)
            .bind(run.id.clone())
            .bind(sid)
            .bind(run.session_id.clone())
            .bind(c.model.clone())
            .bind(c.prompt_tokens)
            .bind(c.completion_tokens)
            .bind(c.prompt_tokens + c.completion_tokens)
            .bind(c.cost_usd)
            .bind(ts(at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}

fn step_id(run: &Run, index: usize) -> String {
    format!("{}-s{}", run.id, index + 1)
}

/// One write that happens at a moment of a run's life.
#[derive(Debug, Clone)]
pub enum Action {
    /// The run starts (executing, no end yet).
    StartRun(Run),
    /// A step starts running.
    StartStep {
        /// The run.
        run: Run,
        /// Index of the step in the run.
        index: usize,
    },
    /// An LLM call finishes: its execution event and cost record are written.
    Call {
        /// The run.
        run: Run,
        /// Index of the step.
        index: usize,
        /// Index of the call in the step.
        call: usize,
    },
    /// A step finishes with its final status.
    FinishStep {
        /// The run.
        run: Run,
        /// Index of the step.
        index: usize,
    },
    /// The run finishes with its final status.
    FinishRun(Run),
}

/// The writes of a run in time order, each at the moment it happens, so rows appear
/// in the database when a live system would write them.
pub fn timeline(run: &Run) -> Vec<(DateTime<Utc>, Action)> {
    let mut out = vec![(run.started_at, Action::StartRun(run.clone()))];
    for (index, step) in run.steps.iter().enumerate() {
        out.push((
            step.started_at,
            Action::StartStep {
                run: run.clone(),
                index,
            },
        ));
        let mut t = step.started_at;
        for (call, c) in step.calls.iter().enumerate() {
            t += Duration::milliseconds((c.seconds * 1000.0) as i64);
            out.push((
                t,
                Action::Call {
                    run: run.clone(),
                    index,
                    call,
                },
            ));
        }
        if let Some(end) = step.completed_at {
            out.push((
                end,
                Action::FinishStep {
                    run: run.clone(),
                    index,
                },
            ));
        }
    }
    if let Some(end) = run.completed_at {
        out.push((end, Action::FinishRun(run.clone())));
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// What kind of trouble a generated run carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incident {
    /// A normal run.
    None,
    /// One model answers far slower than usual.
    SlowModel,
    /// The run costs about ten times its usual.
    Expensive,
    /// The run fails.
    Failure,
    /// A step hangs: it started long ago and is still running.
    HungStep,
    /// The whole run takes far longer than usual.
    SlowWorkflow,
}

/// The models and their normal per-call latency in seconds.
pub const MODELS: [(&str, f64); 3] = [
    ("gpt-4o", 3.0),
    ("claude-3-5-sonnet", 4.0),
    ("gemini-1.5-pro", 5.0),
];
/// The workflow modes.
pub const MODES: [&str; 3] = ["one_shot", "planning_and_control", "deep_research"];
/// The agents.
pub const AGENTS: [&str; 2] = ["engineer", "researcher"];

/// Makes one run finishing at `now`, with the given incident.
pub fn generate_run(rng: &mut impl Rng, now: DateTime<Utc>, seq: u64, incident: Incident) -> Run {
    let mode = MODES[rng.gen_range(0..MODES.len())];
    let agent = AGENTS[rng.gen_range(0..AGENTS.len())];
    let (model, base_latency) = if incident == Incident::SlowModel {
        MODELS[0]
    } else {
        MODELS[rng.gen_range(0..MODELS.len())]
    };
    let n_steps = rng.gen_range(2..=4);
    let mut steps = Vec::new();
    let mut durations = Vec::new();
    for _ in 0..n_steps {
        let calls: Vec<LlmCall> = (0..rng.gen_range(2..=4))
            .map(|_| {
                let mut seconds = base_latency * rng.gen_range(0.6..1.6);
                if incident == Incident::SlowModel {
                    seconds *= 10.0;
                }
                let prompt_tokens = rng.gen_range(800..4000);
                let completion_tokens = rng.gen_range(150..900);
                let mut cost_usd =
                    prompt_tokens as f64 * 2.5e-6 + completion_tokens as f64 * 1.0e-5;
                if incident == Incident::Expensive {
                    cost_usd *= 40.0;
                }
                LlmCall {
                    agent: agent.to_owned(),
                    model: model.to_owned(),
                    seconds,
                    prompt_tokens,
                    completion_tokens,
                    cost_usd,
                }
            })
            .collect();
        let mut d: f64 = calls.iter().map(|c| c.seconds).sum::<f64>() + rng.gen_range(2.0..15.0);
        if incident == Incident::SlowWorkflow {
            d *= 12.0;
        }
        durations.push(d);
        steps.push((calls, d));
    }
    let total: f64 = durations.iter().sum();
    let started_at = now - Duration::milliseconds((total * 1000.0) as i64);
    let mut t = started_at;
    let failed_step = (incident == Incident::Failure).then(|| rng.gen_range(0..n_steps));
    let mut out_steps = Vec::new();
    for (i, (calls, d)) in steps.into_iter().enumerate() {
        let end = t + Duration::milliseconds((d * 1000.0) as i64);
        let failed = failed_step == Some(i);
        out_steps.push(Step {
            status: if failed { "failed" } else { "completed" }.to_owned(),
            started_at: t,
            completed_at: Some(end),
            calls,
        });
        t = end;
        if failed {
            break;
        }
    }
    let mut run = Run {
        id: format!("run-{seq:08}"),
        session_id: format!("sess-{}", seq / 5),
        mode: mode.to_owned(),
        agent: agent.to_owned(),
        model: model.to_owned(),
        status: if failed_step.is_some() {
            "failed"
        } else {
            "completed"
        }
        .to_owned(),
        started_at,
        completed_at: Some(now),
        steps: out_steps,
    };
    if incident == Incident::HungStep {
        // Still executing: its last step started 6 minutes ago and never finished.
        run.status = "executing".to_owned();
        run.completed_at = None;
        run.started_at = now - Duration::minutes(8);
        let last = run.steps.len() - 1;
        run.steps[last].status = "running".to_owned();
        run.steps[last].started_at = now - Duration::minutes(6);
        run.steps[last].completed_at = None;
        run.steps[last].calls.clear();
    }
    run
}
