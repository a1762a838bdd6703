//! Replays a rule over recorded history exactly as the live engine evaluates it: the
//! same schedule ticks, the same windows, the same detectors and alert state machine.
//! Used to warm baselines at start-up, by `backtest`, and by rule unit tests.

use chrono::{DateTime, Utc};

use crate::engine::evaluate::{EvaluationOutcome, RuleRuntime};
use crate::rule::Schedule;
use crate::sources::running::{snapshot_at, RunningInterval};
use crate::sources::Observation;

/// The schedule's evaluation times in `(from, to]`.
///
/// Interval schedules tick at multiples of their period since the Unix epoch, live and in
/// replay alike, so a backtest and the running service evaluate at the same instants.
pub fn ticks(schedule: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut t = from;
    while let Some(next) = next_tick(schedule, t) {
        if next > to {
            break;
        }
        out.push(next);
        t = next;
    }
    out
}

/// The first evaluation time strictly after `after`.
pub fn next_tick(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match schedule {
        Schedule::Every(period) => {
            let p = (period.as_millis() as i64).max(1);
            let ms = after.timestamp_millis();
            DateTime::from_timestamp_millis((ms.div_euclid(p) + 1) * p)
        }
        Schedule::Cron(spec) => spec.schedule().after(&after).next(),
    }
}

/// Feeds `history` (sorted by time) through `runtime` at every tick in `(from, to]`,
/// calling `on_tick` with each evaluation's outcome. Rows become visible at their own
/// timestamp, as they would to the live engine reading a database in real time.
pub fn replay(
    runtime: &mut RuleRuntime,
    history: &[Observation],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut on_tick: impl FnMut(DateTime<Utc>, &EvaluationOutcome),
) {
    for tick in ticks(&runtime.rule.schedule, from, to) {
        let (start, end) = runtime.window_at(tick);
        let (after, until) = runtime.window.fetch_range(start, end);
        // Exactly the rows a fetch of (after, until] would return.
        let begin = history.partition_point(|o| o.sample.ts <= after);
        let stop = history.partition_point(|o| o.sample.ts <= until);
        runtime.ingest(
            history[begin..stop.max(begin)].to_vec(),
            after,
            until,
            false,
        );
        let outcome = runtime.evaluate(tick);
        on_tick(tick, &outcome);
    }
}

/// Like [`replay`] for a snapshot metric (running steps' and runs' ages): at every tick
/// the window holds what the live snapshot query would have returned then, rebuilt from
/// the rows' running intervals.
pub fn replay_running(
    runtime: &mut RuleRuntime,
    intervals: &[RunningInterval],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut on_tick: impl FnMut(DateTime<Utc>, &EvaluationOutcome),
) {
    for tick in ticks(&runtime.rule.schedule, from, to) {
        // Live, a snapshot is read "as of" the window's end.
        let (start, end) = runtime.window_at(tick);
        runtime.ingest(snapshot_at(intervals, end), start, end, true);
        let outcome = runtime.evaluate(tick);
        on_tick(tick, &outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn interval_ticks_are_aligned_to_the_epoch() {
        let from = DateTime::from_timestamp(1_000_030, 0).unwrap();
        let to = DateTime::from_timestamp(1_000_200, 0).unwrap();
        let t = ticks(&Schedule::Every(Duration::from_secs(60)), from, to);
        let secs: Vec<i64> = t.iter().map(|t| t.timestamp()).collect();
        assert_eq!(secs, vec![1_000_080, 1_000_140, 1_000_200]);
    }
}
