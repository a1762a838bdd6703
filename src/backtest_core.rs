//! The core of a backtest: replays rules over a source's history, exactly as the live
//! engine would have evaluated them (the engine's own replay, fed in chunks), without
//! sending anything, and collects what would have fired. `backtest/` builds the command
//! and its reports on it; the service's console task (`app/last_week.rs`) uses it too,
//! which it could not through `backtest/` (that reaches `simulate` and `demo`, which
//! start the service).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::engine::evaluate::{EvaluationOutcome, RuleRuntime};
use crate::engine::replay::{replay, replay_running};
use crate::model::{AlertState, Labels};
use crate::rule::{Rule, RuleSet};
use crate::sources::{FetchRequest, Observation, Source, SourceError};
use crate::types::Fingerprint;

/// How much history is fetched at once: bounds memory on long replays.
const CHUNK: chrono::Duration = chrono::Duration::hours(6);

/// One alert that would have fired: from its firing to its resolve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertSpan {
    /// The rule.
    pub rule: String,
    /// The alert's fingerprint.
    pub fingerprint: Fingerprint,
    /// The group's labels.
    pub labels: Labels,
    /// When it started firing.
    pub start: DateTime<Utc>,
    /// When it resolved (None: still firing at the end of the range).
    pub end: Option<DateTime<Utc>>,
    /// The largest value seen while firing.
    pub peak: f64,
    /// The detector's reason when it fired.
    pub reason: String,
    /// The summary when it fired.
    pub summary: String,
    /// The slices a sliced rule's alert moved to while firing, with when (its
    /// fingerprint stays; `labels` is the slice it fired on). Empty when it never moved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<(DateTime<Utc>, Labels)>,
}

impl AlertSpan {
    /// The slices the alert named while firing, each with when it began naming it.
    pub fn homes(&self) -> impl Iterator<Item = (DateTime<Utc>, &Labels)> {
        std::iter::once((self.start, &self.labels)).chain(self.moves.iter().map(|(t, l)| (*t, l)))
    }

    /// The slice it names now.
    fn named(&self) -> &Labels {
        self.moves.last().map_or(&self.labels, |(_, l)| l)
    }
}

/// One judged value, for plots: (time, value, band).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TracePoint {
    /// Evaluation time.
    pub at: DateTime<Utc>,
    /// The aggregated value.
    pub value: f64,
    /// The normal band (threshold or baseline band), if any.
    pub band: Option<(f64, f64)>,
}

/// What one rule would have done.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RuleReport {
    /// The rule's name.
    pub rule: String,
    /// Evaluations replayed.
    pub evaluations: usize,
    /// Alerts that would have fired.
    pub alerts: Vec<AlertSpan>,
    /// Seconds spent firing, summed over alerts.
    pub firing_seconds: f64,
    /// Why the rule was not replayed, if it was not.
    pub skipped: Option<String>,
    /// Judged values per fingerprint (kept for plots).
    #[serde(skip)]
    pub traces: HashMap<Fingerprint, (Labels, Vec<TracePoint>)>,
}

/// What a backtest found.
#[derive(Debug, Clone, Serialize)]
pub struct BacktestReport {
    /// Start of the replayed range.
    pub from: DateTime<Utc>,
    /// End of the replayed range.
    pub to: DateTime<Utc>,
    /// One report per rule.
    pub rules: Vec<RuleReport>,
}

/// Collects alert spans and traces from replayed evaluations.
#[derive(Default)]
struct Collector {
    report: RuleReport,
    open: HashMap<Fingerprint, usize>,
    keep_traces: bool,
}

impl Collector {
    /// A collector and a runtime set up for replaying `rule`.
    fn start(rule: &Arc<Rule>, keep_traces: bool) -> (Collector, RuleRuntime) {
        let mut runtime = RuleRuntime::new(Arc::clone(rule));
        runtime.collect_points = keep_traces;
        runtime.collect_baselines = false;
        let collector = Collector {
            report: RuleReport {
                rule: rule.name.clone(),
                ..Default::default()
            },
            keep_traces,
            ..Default::default()
        };
        (collector, runtime)
    }

    fn on_tick(&mut self, at: DateTime<Utc>, outcome: &EvaluationOutcome) {
        self.report.evaluations += 1;
        for t in &outcome.transitions {
            let fp = &t.alert.fingerprint;
            match t.alert.state {
                AlertState::Firing => {
                    self.open.insert(fp.clone(), self.report.alerts.len());
                    self.report.alerts.push(AlertSpan {
                        rule: t.alert.rule.clone(),
                        fingerprint: fp.clone(),
                        labels: t.alert.group.clone(),
                        start: t.at,
                        end: None,
                        peak: t.alert.value.unwrap_or(f64::NAN),
                        reason: t.alert.reason.to_string(),
                        summary: t.alert.summary.clone(),
                        moves: Vec::new(),
                    });
                }
                AlertState::Resolved => {
                    if let Some(i) = self.open.remove(fp) {
                        self.report.alerts[i].end = Some(t.at);
                    }
                }
                _ => {}
            }
        }
        for a in &outcome.alerts {
            if let Some(i) = self.open.get(&a.fingerprint) {
                let span = &mut self.report.alerts[*i];
                if *span.named() != a.group {
                    span.moves.push((at, a.group.clone()));
                }
                // NaN (no value when it fired) is replaced by the first real value.
                if let Some(v) = a.value {
                    if span.peak.is_nan() || v > span.peak {
                        span.peak = v;
                    }
                }
            }
        }
        if self.keep_traces {
            for p in &outcome.points {
                self.report
                    .traces
                    .entry(p.fingerprint.clone())
                    .or_insert_with(|| (Labels::new(), Vec::new()))
                    .1
                    .push(TracePoint {
                        at,
                        value: p.value,
                        band: p.band,
                    });
            }
        }
    }

    fn finish(mut self, to: DateTime<Utc>, runtime: &RuleRuntime) -> RuleReport {
        for (fp, (labels, _)) in self.report.traces.iter_mut() {
            if let Some(g) = runtime.groups.get(fp) {
                *labels = g.alert.group.clone();
            }
        }
        self.report.firing_seconds = self
            .report
            .alerts
            .iter()
            .map(|a| (a.end.unwrap_or(to) - a.start).num_milliseconds() as f64 / 1000.0)
            .sum();
        self.report
    }
}

/// Replays one rule over observations already in memory (sorted by time).
pub fn replay_rule(
    rule: Arc<Rule>,
    history: &[Observation],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    keep_traces: bool,
) -> RuleReport {
    let (mut collector, mut runtime) = Collector::start(&rule, keep_traces);
    replay(&mut runtime, history, from, to, |at, o| {
        collector.on_tick(at, o)
    });
    collector.finish(to, &runtime)
}

/// Replays a rule on a running-set metric (hung steps, stuck runs): each chunk reads
/// the start and end of every row running in it, and each tick rebuilds the running set
/// as of then. A source that cannot give intervals has the rule reported as skipped.
async fn replay_running_rule(
    rule: &Arc<Rule>,
    source: &dyn Source,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    keep_traces: bool,
    progress: &mut (dyn FnMut(&str, f64) + Send),
) -> Result<RuleReport, SourceError> {
    let (mut collector, mut runtime) = Collector::start(rule, keep_traces);
    let lead = crate::time_math::delta(rule.window.saturating_add(rule.delay));
    let mut chunk_from = from;
    while chunk_from < to {
        let chunk_to = crate::time_math::later_by(chunk_from, CHUNK).min(to);
        let request = FetchRequest {
            query: &rule.query,
            after: crate::time_math::earlier_by(chunk_from, lead),
            until: chunk_to,
        };
        let intervals = match source.fetch_running(request).await {
            Ok(intervals) => intervals,
            Err(e) if !e.is_unreachable() => {
                return Ok(RuleReport {
                    rule: rule.name.clone(),
                    skipped: Some(format!("its running rows cannot be replayed: {e}")),
                    ..Default::default()
                })
            }
            Err(e) => return Err(e),
        };
        replay_running(&mut runtime, &intervals, chunk_from, chunk_to, |at, o| {
            collector.on_tick(at, o)
        });
        progress(
            &rule.name,
            (chunk_to - from).num_seconds() as f64 / (to - from).num_seconds().max(1) as f64,
        );
        chunk_from = chunk_to;
    }
    Ok(collector.finish(to, &runtime))
}

/// Replays every rule over `[from, to]`, reading history from the rules' sources in
/// chunks. `progress` gets (rule, fraction done).
pub async fn backtest(
    rules: &RuleSet,
    sources: &HashMap<String, Arc<dyn Source>>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    keep_traces: bool,
    progress: &mut (dyn FnMut(&str, f64) + Send),
) -> Result<BacktestReport, SourceError> {
    let mut reports = Vec::new();
    for rule in &rules.rules {
        let source = sources
            .get(&rule.source)
            .ok_or_else(|| SourceError::Unknown(rule.source.clone()))?;
        if source.is_snapshot(&rule.query) {
            reports.push(
                replay_running_rule(rule, source.as_ref(), from, to, keep_traces, progress).await?,
            );
            continue;
        }
        let (mut collector, mut runtime) = Collector::start(rule, keep_traces);
        let lead = crate::time_math::delta(rule.window.saturating_add(rule.delay));
        let mut chunk_from = from;
        // The first chunk also holds the rows of the first window.
        let mut fetch_from = crate::time_math::earlier_by(from, lead);
        while chunk_from < to {
            let chunk_to = crate::time_math::later_by(chunk_from, CHUNK).min(to);
            let fetch_to = crate::time_math::earlier(chunk_to, rule.delay);
            let mut rows = source
                .fetch(FetchRequest {
                    query: &rule.query,
                    after: fetch_from,
                    until: fetch_to,
                })
                .await?;
            rows.sort_by_key(|o| o.sample.ts);
            replay(&mut runtime, &rows, chunk_from, chunk_to, |at, o| {
                collector.on_tick(at, o)
            });
            progress(
                &rule.name,
                (chunk_to - from).num_seconds() as f64 / (to - from).num_seconds().max(1) as f64,
            );
            // The next chunk starts where the replay stopped reading, so rows between the
            // last tick and the chunk's end are not lost.
            fetch_from = runtime.window.cursor().unwrap_or(fetch_to);
            chunk_from = chunk_to;
        }
        reports.push(collector.finish(to, &runtime));
    }
    Ok(BacktestReport {
        from,
        to,
        rules: reports,
    })
}
