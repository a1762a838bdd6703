//! Ticks one rule on its schedule; an evaluation never overlaps itself because one task
//! runs them one after another and skips ticks missed while it was busy.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::evaluator::{Evaluator, RuleTask};
use crate::config::validated::Schedule;

/// How long until the next evaluation of `schedule`, from now.
pub fn until_next(schedule: &Schedule, now: chrono::DateTime<chrono::Utc>) -> Duration {
    match schedule {
        Schedule::Every(d) => *d,
        Schedule::Cron(spec) => spec
            .schedule()
            .after(&now)
            .next()
            .and_then(|next| (next - now).to_std().ok())
            .unwrap_or(Duration::from_secs(3600)),
    }
}

/// Runs a rule's evaluations until `shutdown`; the evaluation in flight is finished.
pub async fn run_rule(evaluator: Arc<Evaluator>, mut task: RuleTask, shutdown: CancellationToken) {
    let schedule = task.runtime.rule.schedule.clone();
    // Interval rules evaluate at once, then every period; cron rules wait for their time.
    if matches!(schedule, Schedule::Every(_)) {
        evaluator.tick(&mut task).await;
    }
    loop {
        let wait = until_next(&schedule, evaluator.clock.now());
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
        evaluator.tick(&mut task).await;
    }
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
            Duration::from_secs(60)
        );
        let cron: CronSpec = "*/5 * * * *".parse().unwrap();
        assert_eq!(
            until_next(&Schedule::Cron(Box::new(cron)), now),
            Duration::from_secs(150),
            "next is 10:05:00"
        );
    }
}
