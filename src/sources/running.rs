//! Running-set history: which runs and steps were running at a past instant, read from
//! their start and end times, so a backtest replays `*.running_duration` rules (hung
//! steps, stuck runs) as the live service would have judged them then.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::model::Labels;
use crate::sources::catalog::{
    with_filter, Bind, BoundSql, CatalogMetric, RUNS, RUN_LABELS, STEPS, STEP_LABELS,
};
use crate::sources::dialect::Dialect;
use crate::sources::Observation;

/// The end a still-running row is given in the query (unix s): far past any real time.
const OPEN_END: f64 = 1.0e12;

/// One row's running interval: from its start to its end (None: still running).
#[derive(Debug, Clone, PartialEq)]
pub struct RunningInterval {
    /// The row's labels, as the live snapshot query gives them.
    pub labels: Arc<Labels>,
    /// When it started.
    pub start: DateTime<Utc>,
    /// When it ended, if it has.
    pub end: Option<DateTime<Utc>>,
}

impl RunningInterval {
    /// True when the row was running at `at`.
    pub fn running_at(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && self.end.is_none_or(|end| end > at)
    }

    /// From an interval query's row: `ts` is the start, `value` the end.
    pub fn from_observation(o: Observation) -> Self {
        let end = (o.sample.value < OPEN_END / 10.0)
            .then(|| DateTime::from_timestamp_millis((o.sample.value * 1000.0) as i64))
            .flatten();
        RunningInterval {
            labels: o.labels,
            start: o.sample.ts,
            end,
        }
    }
}

/// What a running metric reads: its table, its time columns, the statuses a row with
/// no end must have to count as running, and the status a row that ended had while it ran.
struct IntervalSpec {
    from: &'static str,
    start: &'static str,
    end: &'static str,
    still_running: &'static str,
    running_status: &'static str,
    labels: &'static [(&'static str, &'static str)],
}

fn spec(metric: CatalogMetric) -> Option<IntervalSpec> {
    match metric {
        CatalogMetric::WorkflowRunningDuration => Some(IntervalSpec {
            from: RUNS,
            start: "r.started_at",
            end: "r.completed_at",
            still_running: "r.status IN ('planning', 'executing')",
            running_status: "executing",
            labels: RUN_LABELS,
        }),
        CatalogMetric::StepRunningDuration => Some(IntervalSpec {
            from: STEPS,
            start: "s.started_at",
            end: "s.completed_at",
            still_running: "s.status IN ('running', 'executing', 'in_progress')",
            running_status: "running",
            labels: STEP_LABELS,
        }),
        _ => None,
    }
}

/// The rows of a running metric that were running at some instant of `(after, until]`:
/// `ts` the start, `value` the end (unix s, or a far-future end while still running).
/// None for metrics that are not running sets.
pub fn intervals_query(
    metric: CatalogMetric,
    dialect: Dialect,
    filter: &Labels,
    after: f64,
    until: f64,
) -> Option<BoundSql> {
    let s = spec(metric)?;
    let mut sql = format!(
        "SELECT {} AS ts, {} AS value",
        dialect.epoch(s.start),
        dialect.float(&format!("COALESCE({}, {OPEN_END})", dialect.epoch(s.end)))
    );
    for (name, expr) in s.labels {
        // A row that has ended was running (not completed) at the instants that matter.
        let expr = if *name == "status" {
            format!(
                "CASE WHEN {} IS NULL THEN {expr} ELSE '{}' END",
                s.end, s.running_status
            )
        } else {
            (*expr).to_owned()
        };
        sql.push_str(&format!(", {} AS {name}", dialect.text(&expr)));
    }
    sql.push_str(&format!(
        " FROM {} WHERE {start} IS NOT NULL AND {starts_before} \
         AND (({end} IS NOT NULL AND {ends_after}) OR ({end} IS NULL AND {still}))",
        s.from,
        start = s.start,
        end = s.end,
        starts_before = dialect.until_param(s.start, 2),
        ends_after = dialect.after_param(s.end, 1),
        still = s.still_running,
    ));
    let binds = vec![Bind::Float(after), Bind::Float(until)];
    Some(with_filter(BoundSql { sql, binds }, filter))
}

/// What the live snapshot query would return at `at`: every row running then, with its
/// age in seconds, stamped `at`.
pub fn snapshot_at(intervals: &[RunningInterval], at: DateTime<Utc>) -> Vec<Observation> {
    intervals
        .iter()
        .filter(|i| i.running_at(at))
        .map(|i| Observation {
            labels: Arc::clone(&i.labels),
            sample: crate::model::Sample {
                ts: at,
                value: (at - i.start).num_milliseconds() as f64 / 1000.0,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn the_running_set_at_an_instant_holds_what_had_started_and_not_ended() {
        let labels: Arc<Labels> = Labels::from([("agent", "engineer")]).into();
        let rows =
            [(100, Some(200)), (150, None), (250, Some(300))].map(|(s, e)| RunningInterval {
                labels: Arc::clone(&labels),
                start: t(s),
                end: e.map(t),
            });
        let ages = |at| -> Vec<f64> {
            snapshot_at(&rows, t(at))
                .iter()
                .map(|o| o.sample.value)
                .collect()
        };
        assert_eq!(ages(120), [20.0]);
        assert_eq!(
            ages(200),
            [50.0],
            "a row that ended at 200 is not running at 200"
        );
        assert_eq!(ages(260), [110.0, 10.0]);
    }

    #[test]
    fn queries_exist_for_running_metrics_only() {
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let q = intervals_query(
                CatalogMetric::StepRunningDuration,
                d,
                &Labels::new(),
                1.0,
                2.0,
            );
            let q = q.expect("a running metric");
            assert!(!q.sql.contains("EPOCH("), "{}", q.sql);
            assert_eq!(q.binds.len(), 2);
            assert!(
                intervals_query(CatalogMetric::StepDuration, d, &Labels::new(), 1.0, 2.0).is_none()
            );
        }
    }
}
