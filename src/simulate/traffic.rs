//! Normal CMBAgent traffic: who runs what, when, and how long, many tokens and how much
//! money each LLM call takes. Incidents only bend these draws (see [`Effect`]).

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use rand::Rng;

use crate::demo::workload::{LlmCall, Run, Step};
use crate::simulate::dist::{exponential, lognormal, weighted};

/// One model: its own latency, price and verbosity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelSpec {
    /// Its name (the `model` label).
    pub name: &'static str,
    /// Share of runs (before the new model arrives).
    pub share: f64,
    /// Median seconds per call.
    pub latency: f64,
    /// USD per prompt token.
    pub prompt_price: f64,
    /// USD per completion token.
    pub completion_price: f64,
    /// Multiplier on completion tokens (reasoning models write more).
    pub verbosity: f64,
}

/// The models of normal traffic.
pub const MODELS: [ModelSpec; 4] = [
    model("gpt-4o", 0.40, 6.0, 2.5e-6, 1.0e-5, 1.0),
    model("claude-3-5-sonnet", 0.30, 8.0, 3.0e-6, 1.5e-5, 1.0),
    model("gemini-1.5-pro", 0.20, 9.0, 1.25e-6, 5.0e-6, 1.1),
    model("gpt-4o-mini", 0.10, 3.0, 1.5e-7, 6.0e-7, 0.9),
];

/// The model introduced mid-month: slower and pricier by nature, not an incident.
pub const NEW_MODEL: ModelSpec = model("o1", 0.15, 22.0, 1.5e-5, 6.0e-5, 2.0);

const fn model(
    name: &'static str,
    share: f64,
    latency: f64,
    prompt_price: f64,
    completion_price: f64,
    verbosity: f64,
) -> ModelSpec {
    ModelSpec {
        name,
        share,
        latency,
        prompt_price,
        completion_price,
        verbosity,
    }
}

/// One agent: how much it reads and writes, and how long its tools run between calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgentSpec {
    /// Its name (the `agent` label).
    pub name: &'static str,
    /// Median prompt tokens per call.
    pub prompt_tokens: f64,
    /// Median completion tokens per call.
    pub completion_tokens: f64,
    /// Multiplier on a step's non-LLM time (code execution, retrieval).
    pub tool_time: f64,
}

/// The agents.
pub const AGENTS: [AgentSpec; 4] = [
    agent("engineer", 2500.0, 600.0, 1.0),
    agent("researcher", 3500.0, 500.0, 0.7),
    agent("planner", 1800.0, 350.0, 0.4),
    agent("executor", 1500.0, 300.0, 2.0),
];

const fn agent(name: &'static str, prompt: f64, completion: f64, tool_time: f64) -> AgentSpec {
    AgentSpec {
        name,
        prompt_tokens: prompt,
        completion_tokens: completion,
        tool_time,
    }
}

/// One workflow mode: its share of runs, shape and lead agents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModeSpec {
    /// Its name (the `mode` label).
    pub name: &'static str,
    /// Share of runs.
    pub share: f64,
    /// Steps per run (inclusive range).
    pub steps: (usize, usize),
    /// LLM calls per step (inclusive range).
    pub calls: (usize, usize),
    /// Median non-LLM seconds per step, and its log-space spread (the long tail).
    pub tool_seconds: (f64, f64),
    /// Spread of a per-run depth factor on tool time (1 = none).
    pub depth_sigma: f64,
    /// Lead agents by weight.
    pub agents: &'static [(&'static str, f64)],
}

/// The modes.
pub const MODES: [ModeSpec; 3] = [
    ModeSpec {
        name: "one_shot",
        share: 0.55,
        steps: (1, 2),
        calls: (2, 6),
        tool_seconds: (6.0, 0.6),
        depth_sigma: 0.0,
        agents: &[("engineer", 0.6), ("researcher", 0.4)],
    },
    ModeSpec {
        name: "planning_and_control",
        share: 0.35,
        steps: (3, 5),
        calls: (2, 4),
        tool_seconds: (10.0, 0.7),
        depth_sigma: 0.2,
        agents: &[("planner", 0.5), ("engineer", 0.3), ("executor", 0.2)],
    },
    ModeSpec {
        name: "deep_research",
        share: 0.10,
        steps: (4, 9),
        calls: (3, 6),
        tool_seconds: (25.0, 1.1),
        depth_sigma: 0.6,
        agents: &[("researcher", 0.7), ("planner", 0.3)],
    },
];

/// Share of runs that fail on a normal day.
pub const BASELINE_FAILURE: f64 = 0.02;

/// Relative traffic per UTC hour of a weekday (peak 1.0, nights 0.1).
pub const HOURLY: [f64; 24] = [
    0.10, 0.10, 0.10, 0.10, 0.10, 0.12, 0.20, 0.40, 0.70, 0.90, 1.00, 1.00, 0.95, 1.00, 1.00, 0.95,
    0.85, 0.70, 0.50, 0.35, 0.25, 0.18, 0.13, 0.10,
];

/// Weekend traffic relative to a weekday at the same hour.
pub const WEEKEND: f64 = 1.0 / 3.0;

/// Runs started per weekday (a 28-day month then has about 7,400).
pub const RUNS_PER_WEEKDAY: f64 = 326.0;

/// Relative traffic at `t` (1.0 at a weekday's peak hour).
pub fn intensity(t: DateTime<Utc>) -> f64 {
    let day = match t.weekday() {
        Weekday::Sat | Weekday::Sun => WEEKEND,
        _ => 1.0,
    };
    HOURLY[t.hour() as usize] * day
}

/// Runs per hour at a weekday's peak.
pub fn peak_per_hour() -> f64 {
    RUNS_PER_WEEKDAY / HOURLY.iter().sum::<f64>()
}

/// Who runs what: the labels of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// When it starts.
    pub at: DateTime<Utc>,
    /// Its mode.
    pub mode: &'static ModeSpec,
    /// Its lead agent.
    pub agent: &'static AgentSpec,
    /// Its model.
    pub model: &'static ModelSpec,
}

impl Arrival {
    /// The value of one slice label (`mode`, `agent`, `model`) of this run.
    pub fn label(&self, name: &str) -> Option<&'static str> {
        match name {
            "mode" => Some(self.mode.name),
            "agent" => Some(self.agent.name),
            "model" => Some(self.model.name),
            _ => None,
        }
    }
}

/// When the new model appears and how fast it takes its share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewModelRollout {
    /// Its first possible run.
    pub from: DateTime<Utc>,
    /// How long until it has its full share.
    pub ramp: Duration,
}

impl NewModelRollout {
    /// The new model's share of runs at `t`.
    pub fn share(&self, t: DateTime<Utc>) -> f64 {
        if t < self.from {
            return 0.0;
        }
        let f = (t - self.from).num_seconds() as f64 / self.ramp.num_seconds().max(1) as f64;
        NEW_MODEL.share * f.min(1.0)
    }
}

/// Run start times and labels over `[start, end)`: a Poisson process thinned by
/// [`intensity`], so it has the daily and weekly cycle.
pub fn arrivals(
    rng: &mut impl Rng,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    rollout: NewModelRollout,
) -> Vec<Arrival> {
    let mean_gap = 3600.0 / peak_per_hour();
    let mut out = Vec::new();
    let mut t = start;
    loop {
        t += Duration::milliseconds((exponential(rng, mean_gap) * 1000.0) as i64);
        if t >= end {
            return out;
        }
        if rng.gen_bool(intensity(t).clamp(0.0, 1.0)) {
            out.push(labels_for(rng, t, rollout));
        }
    }
}

fn labels_for(rng: &mut impl Rng, at: DateTime<Utc>, rollout: NewModelRollout) -> Arrival {
    let modes: Vec<(&'static ModeSpec, f64)> = MODES.iter().map(|m| (m, m.share)).collect();
    let mode = *weighted(rng, &modes);
    let name = *weighted(rng, mode.agents);
    let agent = AGENTS.iter().find(|a| a.name == name).unwrap_or(&AGENTS[0]);
    let model = if rng.gen_bool(rollout.share(at)) {
        &NEW_MODEL
    } else {
        let models: Vec<(&'static ModelSpec, f64)> = MODELS.iter().map(|m| (m, m.share)).collect();
        *weighted(rng, &models)
    };
    Arrival {
        at,
        mode,
        agent,
        model,
    }
}

/// How incidents bend one run's draws at one moment (all neutral by default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effect {
    /// Multiplier on call latency.
    pub latency: f64,
    /// Multiplier on call cost.
    pub cost: f64,
    /// Multiplier on call tokens (and so on cost).
    pub tokens: f64,
    /// Probability the run fails (at its first step), if raised above the baseline.
    pub failure: f64,
    /// Probability a step hangs, and the range of minutes it hangs.
    pub hang: (f64, f64, f64),
    /// Extra fraction of a step's time (a slow workflow).
    pub slowdown: f64,
}

impl Default for Effect {
    fn default() -> Self {
        Effect {
            latency: 1.0,
            cost: 1.0,
            tokens: 1.0,
            failure: 0.0,
            hang: (0.0, 0.0, 0.0),
            slowdown: 0.0,
        }
    }
}

/// What incidents are active for a run at a moment.
pub trait Effects {
    /// The combined effect on `run` at `t`.
    fn at(&self, t: DateTime<Utc>, run: &Arrival) -> Effect;
}

/// No incidents.
pub struct Normal;

impl Effects for Normal {
    fn at(&self, _t: DateTime<Utc>, _run: &Arrival) -> Effect {
        Effect::default()
    }
}

fn millis(seconds: f64) -> Duration {
    Duration::milliseconds((seconds * 1000.0).round() as i64)
}

/// Builds run number `seq` from its arrival: steps, calls, durations, tokens, costs and failure.
pub fn build_run(rng: &mut impl Rng, a: &Arrival, seq: u64, effects: &dyn Effects) -> Run {
    let mode = a.mode;
    let n_steps = rng.gen_range(mode.steps.0..=mode.steps.1);
    let depth = lognormal(rng, 1.0, mode.depth_sigma);
    let incident_failure = effects.at(a.at, a).failure;
    let failed_at = if rng.gen_bool(incident_failure.clamp(0.0, 1.0)) {
        Some(0)
    } else if rng.gen_bool(BASELINE_FAILURE) {
        Some(rng.gen_range(0..n_steps))
    } else {
        None
    };
    let mut steps = Vec::new();
    let mut t = a.at + millis(rng.gen_range(0.2..2.0));
    for i in 0..n_steps {
        let failed = failed_at == Some(i);
        let step = build_step(rng, a, t, depth, failed, effects);
        t = step.completed_at.unwrap_or(t) + millis(rng.gen_range(0.5..3.0));
        steps.push(step);
        if failed {
            break;
        }
    }
    let status = if failed_at.is_some() {
        "failed"
    } else {
        "completed"
    };
    Run {
        id: format!("run-{seq:06}"),
        // A session holds a few consecutive runs.
        session_id: format!("sess-{:05}", seq / 3),
        mode: mode.name.to_owned(),
        agent: a.agent.name.to_owned(),
        model: a.model.name.to_owned(),
        status: status.to_owned(),
        started_at: a.at,
        completed_at: Some(t),
        steps,
    }
}

fn build_step(
    rng: &mut impl Rng,
    a: &Arrival,
    start: DateTime<Utc>,
    depth: f64,
    failed: bool,
    effects: &dyn Effects,
) -> Step {
    let at_start = effects.at(start, a);
    let n_calls = rng.gen_range(a.mode.calls.0..=a.mode.calls.1);
    let n_calls = if failed {
        rng.gen_range(1..=n_calls)
    } else {
        n_calls
    };
    let mut calls = Vec::with_capacity(n_calls);
    let mut t = start;
    for _ in 0..n_calls {
        let call = build_call(rng, a, effects.at(t, a));
        t += millis(call.seconds);
        calls.push(call);
    }
    let (tool_median, tool_sigma) = a.mode.tool_seconds;
    let mut tool = lognormal(rng, tool_median * a.agent.tool_time * depth, tool_sigma);
    let llm: f64 = calls.iter().map(|c| c.seconds).sum();
    tool += (llm + tool) * at_start.slowdown;
    let (p, lo, hi) = at_start.hang;
    if p > 0.0 && rng.gen_bool(p.clamp(0.0, 1.0)) {
        tool += 60.0 * rng.gen_range(lo..=hi);
    }
    Step {
        status: if failed { "failed" } else { "completed" }.to_owned(),
        started_at: start,
        completed_at: Some(t + millis(tool)),
        calls,
    }
}

fn build_call(rng: &mut impl Rng, a: &Arrival, e: Effect) -> LlmCall {
    let m = a.model;
    let seconds = lognormal(rng, m.latency, 0.45) * e.latency;
    let prompt = lognormal(rng, a.agent.prompt_tokens, 0.5) * e.tokens;
    let completion = lognormal(rng, a.agent.completion_tokens * m.verbosity, 0.5) * e.tokens;
    let (prompt_tokens, completion_tokens) = (prompt.round() as i64, completion.round() as i64);
    let cost_usd = (prompt_tokens as f64 * m.prompt_price
        + completion_tokens as f64 * m.completion_price)
        * e.cost;
    LlmCall {
        agent: a.agent.name.to_owned(),
        model: m.name.to_owned(),
        seconds,
        prompt_tokens,
        completion_tokens,
        cost_usd,
    }
}

/// The run as a database would hold it at `end`: what finished by then is final, the rest
/// is still running (a run and step without an end, calls not yet made left out).
pub fn as_of(mut run: Run, end: DateTime<Utc>) -> Run {
    if run.completed_at.is_none_or(|c| c <= end) {
        return run;
    }
    run.status = "executing".to_owned();
    run.completed_at = None;
    run.steps.retain(|s| s.started_at < end);
    for step in &mut run.steps {
        if step.completed_at.is_some_and(|c| c > end) {
            step.status = "running".to_owned();
            step.completed_at = None;
            let mut t = step.started_at;
            step.calls.retain(|c| {
                t += millis(c.seconds);
                t <= end
            });
        }
    }
    run
}
