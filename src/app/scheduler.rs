//! Ticks one rule on its schedule; an evaluation never overlaps itself because one task
//! runs them one after another and skips ticks missed while it was busy.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::evaluator::{EvalResult, Evaluator, RuleTask};
use crate::engine::replay::next_tick;

/// Runs a rule's evaluations until `shutdown`; the evaluation in flight is finished, and
/// the task (with its alert state) is handed back so a reload can carry it over.
pub async fn run_rule(
    evaluator: Arc<Evaluator>,
    mut task: RuleTask,
    shutdown: CancellationToken,
) -> RuleTask {
    let schedule = task.runtime.rule.schedule.clone();
    let mut panics = 0u32;
    loop {
        let now = evaluator.clock.now();
        let Some(at) = next_tick(&schedule, now) else {
            tracing::error!(rule = %task.runtime.rule.name, "schedule has no next time; rule stopped");
            break;
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = evaluator.clock.sleep_until(at) => {}
        }
        // Evaluated as of the scheduled instant, the way a backtest replays it.
        if let EvalResult::Panicked(_) = evaluator.tick(&mut task, at).await {
            panics += 1;
            // What it held may be what broke it: after repeated panics, start afresh.
            let rule = Arc::clone(&task.runtime.rule);
            task = task.rebuilt(rule, panics < FRESH_AFTER_PANICS);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(restart_backoff(panics)) => {}
            }
        } else {
            panics = 0;
        }
    }
    task
}

/// Consecutive panics after which a rule restarts without its baselines (what it held
/// may be what broke it); before that it keeps its alert states, baselines and held commit.
const FRESH_AFTER_PANICS: u32 = 3;

/// The wait before a rule that panicked runs again: 1 s, doubling, at most 5 minutes.
pub fn restart_backoff(panics: u32) -> Duration {
    let doubled = 1u64 << panics.saturating_sub(1).min(9);
    Duration::from_secs(doubled.min(300))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Schedule;
    use crate::types::CronSpec;

    /// A source whose fetch panics, as a bug in a source or the engine would.
    struct PanickingSource;

    impl crate::sources::Source for PanickingSource {
        fn name(&self) -> &str {
            "s"
        }
        fn fetch<'a>(
            &'a self,
            _: crate::sources::FetchRequest<'a>,
        ) -> crate::sources::async_trait_free::BoxFuture<
            'a,
            Result<Vec<crate::sources::Observation>, crate::sources::SourceError>,
        > {
            Box::pin(async { panic!("a bug in the source") })
        }
        fn is_snapshot(&self, _: &crate::sources::RuleQuery) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn a_panicking_evaluation_is_reported_and_the_rule_keeps_its_task() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("store.db").display());
        let store = crate::store::Store::connect(&url).await.unwrap();
        let now = chrono::Utc::now();
        let clock: crate::clock::SharedClock = Arc::new(crate::clock::ManualClock::new(now));
        let source: Arc<dyn crate::sources::Source> = Arc::new(PanickingSource);
        let metrics = crate::telemetry::Metrics::new();
        let evaluator = Evaluator::new(
            store,
            [("s".to_owned(), source)].into(),
            metrics.clone(),
            clock,
            vec![],
        );
        let ctx = crate::rule::RuleContext {
            sources: vec!["s".into()],
            source_kinds: Default::default(),
            receivers: vec![],
            default_receivers: vec![],
        };
        let text = "[[rule]]\nname = \"r\"\nmetric = \"workflow.duration\"\nwindow = \"10m\"\n\
                    severity = \"warning\"\ndetector = { kind = \"threshold\", above = 10 }\n";
        let rules =
            crate::rule::parse_rules(&[crate::types::SourceFile::new("t.toml", text)], &ctx)
                .unwrap();
        let mut task = RuleTask::new(crate::engine::evaluate::RuleRuntime::new(Arc::clone(
            &rules.rules[0],
        )));

        let result = evaluator.tick(&mut task, now).await;
        assert!(
            matches!(&result, EvalResult::Panicked(m) if m.contains("a bug in the source")),
            "{result:?}"
        );
        let status = evaluator.statuses.get("r").expect("status recorded");
        assert_eq!(status.result, "panic");
        assert!(evaluator.statuses.panicked().contains_key("r"));
        let restarts = metrics.rule_task_restarts.with_label_values(&["r"]).get();
        assert_eq!(restarts, 1);
        let rule = Arc::clone(&task.runtime.rule);
        let task = task.rebuilt(rule, true);
        assert_eq!(task.runtime.rule.name, "r");
    }

    #[test]
    fn restart_backoff_doubles_up_to_five_minutes() {
        let waits: Vec<u64> = [1, 2, 3, 4, 9, 10, 40]
            .iter()
            .map(|n| restart_backoff(*n).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 256, 300, 300]);
    }

    fn wait(schedule: &Schedule, now: chrono::DateTime<chrono::Utc>) -> Duration {
        (next_tick(schedule, now).unwrap() - now).to_std().unwrap()
    }

    #[test]
    fn next_tick_for_interval_and_cron() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T10:02:30Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            wait(&Schedule::Every(Duration::from_secs(60)), now),
            Duration::from_secs(30),
            "interval ticks fall on whole minutes"
        );
        let cron: CronSpec = "*/5 * * * *".parse().unwrap();
        assert_eq!(
            wait(&Schedule::Cron(Box::new(cron)), now),
            Duration::from_secs(150),
            "next is 10:05:00"
        );
    }
}
