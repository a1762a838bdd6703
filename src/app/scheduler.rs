//! Ticks one rule on its schedule; an evaluation never overlaps itself because one task
//! runs them one after another and skips ticks missed while it was busy.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::evaluator::{Evaluator, RuleTask};
use crate::config::validated::Schedule;
use crate::engine::replay::next_tick;

/// How long until the next evaluation of `schedule`, from now (interval schedules tick
/// at multiples of their period, as backtests replay them).
pub fn until_next(schedule: &Schedule, now: chrono::DateTime<chrono::Utc>) -> Duration {
    next_tick(schedule, now)
        .and_then(|next| (next - now).to_std().ok())
        .unwrap_or(Duration::from_secs(3600))
}

/// Runs a rule's evaluations until `shutdown`; the evaluation in flight is finished, and
/// the task (with its alert state) is handed back so a reload can carry it over.
pub async fn run_rule(
    evaluator: Arc<Evaluator>,
    mut task: RuleTask,
    shutdown: CancellationToken,
) -> RuleTask {
    let schedule = task.runtime.rule.schedule.clone();
    loop {
        let now = evaluator.clock.now();
        let Some(at) = next_tick(&schedule, now) else {
            tracing::error!(rule = %task.runtime.rule.name, "schedule has no next time; rule stopped");
            break;
        };
        let wait = (at - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
        // Evaluated as of the scheduled instant, the way a backtest replays it.
        evaluator.tick(&mut task, at).await;
    }
    task
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::CronSpec;

    #[test]
    fn next_tick_for_interval_and_cron() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T10:02:30Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            until_next(&Schedule::Every(Duration::from_secs(60)), now),
            Duration::from_secs(30),
            "interval ticks fall on whole minutes"
        );
        let cron: CronSpec = "*/5 * * * *".parse().unwrap();
        assert_eq!(
            until_next(&Schedule::Cron(Box::new(cron)), now),
            Duration::from_secs(150),
            "next is 10:05:00"
        );
    }
}
