//! Incidents: one of every kind per seed, placed at random non-overlapping times on
//! random slices where the slice has traffic enough to show it, and their effect on runs.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;

use crate::model::Labels;
use crate::simulate::labels::{Kind, LabelledIncident};
use crate::simulate::traffic::{Arrival, Effect, Effects, AGENTS, MODELS, MODES};

/// Time kept free between two incidents, so the alerts of one do not run into the next.
pub const GAP: Duration = Duration::hours(2);

/// What a drift moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftOn {
    /// Prompt and completion tokens per call (and so cost).
    Tokens,
    /// Cost per call (a price change).
    Cost,
}

/// How an incident bends the traffic of its slice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Physics {
    /// Call latency × factor.
    Latency(f64),
    /// This fraction of runs fails at their first step.
    Failure(f64),
    /// Call cost × factor.
    Cost(f64),
    /// This fraction of steps hangs between `lo` and `hi` minutes.
    Hang {
        /// Fraction of steps.
        fraction: f64,
        /// Shortest hang, minutes.
        lo: f64,
        /// Longest hang, minutes.
        hi: f64,
    },
    /// Steps take this fraction longer.
    Slow(f64),
    /// Tokens or cost rise linearly to +peak over `ramp`, then hold until the end.
    Drift {
        /// Added fraction at the peak.
        peak: f64,
        /// How long the rise takes.
        ramp: Duration,
        /// What rises.
        on: DriftOn,
    },
}

/// One incident placed in the month.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    /// Its slice (`{}`: all traffic).
    pub slice: Labels,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// What it does.
    pub physics: Physics,
    /// Runs of the slice that start while it lasts.
    pub affected_runs: usize,
}

impl Physics {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Physics::Latency(_) => Kind::LatencySpike,
            Physics::Failure(_) => Kind::FailureBurst,
            Physics::Cost(_) => Kind::CostJump,
            Physics::Hang { .. } => Kind::HungSteps,
            Physics::Slow(_) => Kind::SlowWorkflows,
            Physics::Drift { .. } => Kind::Drift,
        }
    }

    /// The catalog metrics it moves directly.
    pub fn metrics(&self) -> Vec<String> {
        let names: &[&str] = match self {
            Physics::Latency(_) => &["llm.call.duration"],
            Physics::Failure(_) => &["workflow.error_rate", "step.error_rate"],
            Physics::Cost(_) => &["workflow.cost", "llm.cost"],
            Physics::Hang { .. } => &["step.duration", "step.running_duration"],
            Physics::Slow(_) => &["workflow.duration", "step.duration"],
            Physics::Drift {
                on: DriftOn::Tokens,
                ..
            } => &["llm.tokens", "llm.tokens.prompt", "llm.tokens.completion"],
            Physics::Drift {
                on: DriftOn::Cost, ..
            } => &["llm.cost"],
        };
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Its size as one number, and in words.
    pub fn magnitude(&self) -> (f64, String) {
        match *self {
            Physics::Latency(f) => (f, format!("call latency ×{f:.2}")),
            Physics::Failure(p) => (p, format!("{:.0} % of runs fail", p * 100.0)),
            Physics::Cost(f) => (f, format!("cost per call ×{f:.2}")),
            Physics::Hang { fraction, lo, hi } => (
                fraction,
                format!(
                    "{:.1} % of steps hang {lo:.0}–{hi:.0} min",
                    fraction * 100.0
                ),
            ),
            Physics::Slow(f) => (f, format!("steps take +{:.0} %", f * 100.0)),
            Physics::Drift { peak, ramp, on } => (
                peak,
                format!(
                    "{} per call rise to +{:.0} % over {:.1} days",
                    if on == DriftOn::Tokens {
                        "tokens"
                    } else {
                        "cost"
                    },
                    peak * 100.0,
                    ramp.num_minutes() as f64 / 1440.0
                ),
            ),
        }
    }
}

impl Injected {
    /// True when `run` belongs to the slice.
    pub fn covers(&self, run: &Arrival) -> bool {
        self.slice
            .iter()
            .all(|(k, v)| run.label(k) == Some(v.as_str()))
    }

    /// When detection delay is measured from: the start, or when a drift reaches +25 %.
    pub fn delay_from(&self) -> DateTime<Utc> {
        match self.physics {
            Physics::Drift { peak, ramp, .. } => {
                let f = (0.25 / peak).min(1.0);
                self.start + Duration::milliseconds((ramp.num_milliseconds() as f64 * f) as i64)
            }
            _ => self.start,
        }
    }

    /// The labels-file entry.
    pub fn label(&self) -> LabelledIncident {
        let (magnitude, detail) = self.physics.magnitude();
        let kind = self.physics.kind();
        let slice = if self.slice.is_empty() {
            "all".to_owned()
        } else {
            self.slice.to_string()
        };
        LabelledIncident {
            name: format!("{} [{slice}] {detail}", kind.as_str()),
            kind,
            labels: self.slice.clone(),
            metrics: self.physics.metrics(),
            start: self.start,
            end: self.end,
            delay_from: self.delay_from(),
            magnitude,
            detail,
            affected_runs: self.affected_runs,
        }
    }

    fn apply(&self, t: DateTime<Utc>, e: &mut Effect) {
        match self.physics {
            Physics::Latency(f) => e.latency *= f,
            Physics::Failure(p) => e.failure = e.failure.max(p),
            Physics::Cost(f) => e.cost *= f,
            Physics::Hang { fraction, lo, hi } => e.hang = (fraction, lo, hi),
            Physics::Slow(f) => e.slowdown += f,
            Physics::Drift { peak, ramp, on } => {
                let done = (t - self.start).num_seconds() as f64 / ramp.num_seconds() as f64;
                let factor = 1.0 + peak * done.clamp(0.0, 1.0);
                match on {
                    DriftOn::Tokens => e.tokens *= factor,
                    DriftOn::Cost => e.cost *= factor,
                }
            }
        }
    }
}

impl Effects for Vec<Injected> {
    fn at(&self, t: DateTime<Utc>, run: &Arrival) -> Effect {
        let mut e = Effect::default();
        for i in self {
            if i.start <= t && t < i.end && i.covers(run) {
                i.apply(t, &mut e);
            }
        }
        e
    }
}

fn minutes(rng: &mut impl Rng, lo: f64, hi: f64) -> Duration {
    Duration::seconds((rng.gen_range(lo..=hi) * 60.0) as i64)
}

/// A random slice of the given label (`""`: all traffic). The new model is never an
/// incident's slice: it is there to be learned, not to be blamed.
fn slice(rng: &mut impl Rng, by: &str) -> Labels {
    let value = match by {
        "model" => MODELS[rng.gen_range(0..MODELS.len())].name,
        "agent" => AGENTS[rng.gen_range(0..AGENTS.len())].name,
        "mode" => MODES[rng.gen_range(0..MODES.len())].name,
        _ => return Labels::new(),
    };
    Labels::new().with(by, value)
}

/// Draws one incident of `kind`: its slice, length and size (its start is set later).
fn draw(rng: &mut impl Rng, kind: Kind) -> (Labels, Duration, Physics) {
    let pick = |rng: &mut _, options: &[(&'static str, f64)]| {
        *crate::simulate::dist::weighted(rng, options)
    };
    match kind {
        Kind::LatencySpike => {
            let by = pick(rng, &[("model", 0.8), ("", 0.2)]);
            let p = Physics::Latency(rng.gen_range(2.0..=5.0));
            (slice(rng, by), minutes(rng, 20.0, 120.0), p)
        }
        Kind::FailureBurst => {
            let by = pick(
                rng,
                &[("model", 0.3), ("mode", 0.3), ("agent", 0.2), ("", 0.2)],
            );
            let p = Physics::Failure(rng.gen_range(0.2..=0.6));
            (slice(rng, by), minutes(rng, 30.0, 90.0), p)
        }
        Kind::CostJump => {
            let by = pick(rng, &[("agent", 0.5), ("model", 0.25), ("mode", 0.25)]);
            let p = Physics::Cost(rng.gen_range(3.0..=10.0));
            (slice(rng, by), minutes(rng, 120.0, 360.0), p)
        }
        Kind::HungSteps => {
            let fraction = rng.gen_range(0.03..=0.15);
            let p = Physics::Hang {
                fraction,
                lo: 3.0,
                hi: 10.0,
            };
            (slice(rng, "agent"), minutes(rng, 60.0, 240.0), p)
        }
        Kind::SlowWorkflows => {
            let p = Physics::Slow(rng.gen_range(0.5..=1.5));
            (slice(rng, "mode"), minutes(rng, 60.0, 180.0), p)
        }
        Kind::Drift => drift(rng),
    }
}

fn drift(rng: &mut impl Rng) -> (Labels, Duration, Physics) {
    let ramp = minutes(rng, 3.0 * 1440.0, 7.0 * 1440.0);
    let on = if rng.gen_bool(0.5) {
        DriftOn::Tokens
    } else {
        DriftOn::Cost
    };
    let p = Physics::Drift {
        peak: rng.gen_range(0.25..=0.60),
        ramp,
        on,
    };
    // It holds at its peak for a day before it is fixed.
    (slice(rng, "model"), ramp + Duration::days(1), p)
}

/// Whether the runs of the slice in the window are enough to show the incident at all
/// (a failure burst on a mode at 3 a.m. on a Sunday may have no run in it).
fn visible(physics: &Physics, runs: &[&Arrival]) -> bool {
    let n = runs.len() as f64;
    match *physics {
        Physics::Failure(p) => n * p >= 5.0,
        Physics::Hang { fraction, .. } => {
            let steps: f64 = runs
                .iter()
                .map(|a| (a.mode.steps.0 + a.mode.steps.1) as f64 / 2.0)
                .sum();
            steps * fraction >= 3.0
        }
        Physics::Drift { .. } => n >= 50.0,
        _ => n >= 6.0,
    }
}

/// Places one incident of every kind in `[from, to)` (arrivals sorted by time), longest
/// first, none within [`GAP`] of another. Kinds that find no place are returned as
/// messages instead.
pub fn place(
    rng: &mut impl Rng,
    arrivals: &[Arrival],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (Vec<Injected>, Vec<String>) {
    let mut placed: Vec<Injected> = Vec::new();
    let mut skipped = Vec::new();
    let mut kinds = Kind::ALL.to_vec();
    kinds.rotate_right(1); // the drift, which needs days, goes first
    for kind in kinds {
        match place_one(rng, kind, arrivals, &placed, from, to) {
            Some(i) => placed.push(i),
            None => skipped.push(format!(
                "{}: no free window with traffic enough between {from} and {to}",
                kind.as_str()
            )),
        }
    }
    placed.sort_by_key(|i| i.start);
    (placed, skipped)
}

fn place_one(
    rng: &mut impl Rng,
    kind: Kind,
    arrivals: &[Arrival],
    placed: &[Injected],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<Injected> {
    for _ in 0..5_000 {
        let (slice, length, physics) = draw(rng, kind);
        let room = (to - from - length).num_seconds();
        if room <= 0 {
            continue;
        }
        let start = from + Duration::seconds(rng.gen_range(0..room));
        let end = start + length;
        if placed
            .iter()
            .any(|p| start < p.end + GAP && p.start < end + GAP)
        {
            continue;
        }
        let mut incident = Injected {
            slice,
            start,
            end,
            physics,
            affected_runs: 0,
        };
        let lo = arrivals.partition_point(|a| a.at < start);
        let hi = arrivals.partition_point(|a| a.at < end);
        let runs: Vec<&Arrival> = arrivals[lo..hi]
            .iter()
            .filter(|a| incident.covers(a))
            .collect();
        if visible(&incident.physics, &runs) {
            incident.affected_runs = runs.len();
            return Some(incident);
        }
    }
    None
}
