//! Budgets over history: the status at one instant (`driftwatch budget status`), and a
//! replay of a range, evaluation by evaluation through the same [`BudgetRuntime`] the
//! service runs, reporting when each alert would have fired and how far each day's
//! forecast was from what the period really spent (`driftwatch backtest`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::budget::period::{Bounds, Period};
use crate::budget::runtime::BudgetRuntime;
use crate::budget::settings::Budget;
use crate::budget::status::BudgetStatus;
use crate::model::{AlertState, Labels};
use crate::sources::{FetchRequest, Observation, Source, SourceError};
use crate::types::Fingerprint;

/// Reads everything a budget needs at `at` and judges it once.
pub async fn status_at(
    budget: std::sync::Arc<Budget>,
    source: &dyn Source,
    at: DateTime<Utc>,
) -> Result<Vec<BudgetStatus>, SourceError> {
    let mut runtime = BudgetRuntime::new(budget);
    let (after, until) = runtime.fetch_range(at);
    let rows = source
        .fetch(FetchRequest {
            query: &runtime.budget.query,
            after,
            until,
        })
        .await?;
    runtime.ingest(after, until, &rows);
    Ok(runtime.evaluate(at).statuses)
}

/// One budget alert that would have fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FiredAlert {
    /// `fast_burn`, `slow_burn`, `forecast`, `spent_50`, …
    pub kind: String,
    /// The group's labels.
    pub group: Labels,
    /// When it started firing.
    pub start: DateTime<Utc>,
    /// When it resolved (None: still firing at the end).
    pub end: Option<DateTime<Utc>>,
    /// Its summary when it fired.
    pub summary: String,
}

/// One day's forecast against what the period really spent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastCheck {
    /// The group.
    pub group: Labels,
    /// The period's first instant.
    pub period_start: DateTime<Utc>,
    /// The day of the period (1 = its first local day), judged at the day's start.
    pub day: u32,
    /// When the forecast was made.
    pub at: DateTime<Utc>,
    /// The forecast.
    pub expected: f64,
    /// Its 80 % interval.
    pub low: f64,
    /// Its 80 % interval.
    pub high: f64,
    /// What the period really spent (known only for periods that ended in the range).
    pub actual: f64,
    /// `(expected - actual) / actual`.
    pub error: f64,
}

/// What a budget would have done over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct BudgetReplay {
    /// The budget.
    pub budget: String,
    /// Evaluations replayed.
    pub evaluations: usize,
    /// Alerts that would have fired, in order.
    pub alerts: Vec<FiredAlert>,
    /// Each day's forecast, for periods that ended inside the range.
    pub forecasts: Vec<ForecastCheck>,
}

/// Replays `budget` over `(from, to]` at its own schedule, reading the source once.
pub async fn replay(
    budget: std::sync::Arc<Budget>,
    source: &dyn Source,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BudgetReplay, SourceError> {
    let mut runtime = BudgetRuntime::new(budget);
    let (horizon, _) = runtime.fetch_range(from);
    let mut rows = source
        .fetch(FetchRequest {
            query: &runtime.budget.query,
            after: horizon,
            until: to,
        })
        .await?;
    rows.sort_by_key(|r| r.sample.ts);
    Ok(replay_rows(&mut runtime, &rows, horizon, from, to))
}

/// Replays over rows already read (sorted by time, covering `(horizon, to]`).
pub fn replay_rows(
    runtime: &mut BudgetRuntime,
    rows: &[Observation],
    horizon: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BudgetReplay {
    let budget = std::sync::Arc::clone(&runtime.budget);
    let step = Duration::from_std(budget.every).unwrap_or(Duration::minutes(1));
    let mut out = BudgetReplay {
        budget: budget.name.clone(),
        ..Default::default()
    };
    let mut made: Vec<ForecastCheck> = Vec::new();
    let mut last_day = None;
    let (mut read_to, mut t) = (horizon, from);
    let mut open: BTreeMap<Fingerprint, usize> = BTreeMap::new();
    while t <= to {
        let end = rows.partition_point(|r| r.sample.ts <= t);
        let start = rows.partition_point(|r| r.sample.ts <= read_to);
        runtime.ingest(read_to, t, rows.get(start..end).unwrap_or_default());
        read_to = t;
        let outcome = runtime.evaluate(t);
        out.evaluations += 1;
        for tr in &outcome.transitions {
            let a = &tr.alert;
            if a.state == AlertState::Firing && tr.notifies() {
                let mut group = a.group.clone();
                let kind = group
                    .0
                    .remove(crate::budget::alert::KIND_LABEL)
                    .unwrap_or_default();
                open.insert(a.fingerprint.clone(), out.alerts.len());
                out.alerts.push(FiredAlert {
                    kind,
                    group,
                    start: t,
                    end: None,
                    summary: a.summary.clone(),
                });
            } else if a.state == AlertState::Resolved {
                if let Some(i) = open.remove(&a.fingerprint) {
                    if let Some(f) = out.alerts.get_mut(i) {
                        f.end = Some(t);
                    }
                }
            }
        }
        let day = Bounds::containing(Period::Day, budget.timezone, t);
        if last_day != Some(day.start) {
            last_day = Some(day.start);
            for s in &outcome.statuses {
                let first = Bounds::containing(Period::Day, budget.timezone, s.period_start);
                let n = (day.start - first.start).num_hours() as f64 / 24.0;
                made.push(ForecastCheck {
                    group: s.group.clone(),
                    period_start: s.period_start,
                    day: n.round() as u32 + 1,
                    at: t,
                    expected: s.forecast.expected,
                    low: s.forecast.low,
                    high: s.forecast.high,
                    actual: f64::NAN,
                    error: f64::NAN,
                });
            }
        }
        t += step;
    }
    out.forecasts = settle(&budget, rows, made, to);
    out
}

/// Fills in what each period really spent, keeping the forecasts of periods that ended
/// by `to`.
fn settle(
    b: &Budget,
    rows: &[Observation],
    made: Vec<ForecastCheck>,
    to: DateTime<Utc>,
) -> Vec<ForecastCheck> {
    let names = b.group_names();
    made.into_iter()
        .filter_map(|mut f| {
            let bounds = Bounds::containing(b.period, b.timezone, f.period_start);
            if bounds.end > to {
                return None;
            }
            f.actual = rows
                .iter()
                .filter(|r| r.sample.ts > bounds.start && r.sample.ts <= bounds.end)
                .filter(|r| r.labels.project(&names) == f.group)
                .map(|r| r.sample.value)
                .sum();
            f.error = if f.actual > 0.0 {
                (f.expected - f.actual) / f.actual
            } else {
                0.0
            };
            Some(f)
        })
        .collect()
}
