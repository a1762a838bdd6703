//! Backtests replay running-set metrics (hung steps) from each step's start and end:
//! a step that hung for twelve minutes and then finished is an alert from its fifth
//! minute to its end, and one still running is an alert that has not ended.

use chrono::{DateTime, TimeZone, Utc};
use driftwatch::backtest::backtest;
use driftwatch::demo::receiver::Receiver;
use driftwatch::demo::workload::{Run, Step};

use crate::helpers::{rules, service_config, Backend, TestDb, SECRET};

const HUNG: &str = r#"
[[rule]]
name = "step_hung"
metric = "step.running_duration"
group_by = ["mode"]
aggregate = "max"
window = "1h"
every = "1m"
severity = "critical"
summary = "a {label.mode} step has been running for {value}"
detector = { kind = "threshold", above = 300 }
"#;

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 3, h, m, 0).unwrap()
}

fn run(id: &str, mode: &str, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Run {
    let status = if end.is_some() {
        "completed"
    } else {
        "executing"
    };
    let step_status = if end.is_some() {
        "completed"
    } else {
        "running"
    };
    Run {
        id: id.to_owned(),
        session_id: format!("sess-{id}"),
        mode: mode.to_owned(),
        agent: "engineer".to_owned(),
        model: "gpt-4o".to_owned(),
        status: status.to_owned(),
        started_at: start,
        completed_at: end,
        steps: vec![Step {
            status: step_status.to_owned(),
            started_at: start,
            completed_at: end,
            calls: vec![],
        }],
    }
}

async fn hung_steps_replay(backend: Backend) {
    let db = TestDb::new(backend).await;
    let writer = db.writer();
    // Hung for twelve minutes from 10:00, then done; a short one beside it; one that
    // started at 11:00 and is still running.
    writer
        .insert(&run("hung", "one_shot", at(10, 0), Some(at(10, 12))))
        .await
        .unwrap();
    writer
        .insert(&run("quick", "one_shot", at(10, 30), Some(at(10, 32))))
        .await
        .unwrap();
    writer
        .insert(&run("stuck", "deep_research", at(11, 0), None))
        .await
        .unwrap();
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = service_config(&db.url, &db.store_url(), &receiver);
    let sources = driftwatch::app::build_sources(&config).unwrap();
    let report = backtest(
        &rules(HUNG),
        &sources,
        at(9, 0),
        at(12, 0),
        false,
        &mut |_, _| {},
    )
    .await
    .unwrap();
    let rule = &report.rules[0];
    assert_eq!(rule.skipped, None, "{backend:?}");
    let spans: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> = rule
        .alerts
        .iter()
        .map(|a| {
            (
                a.labels.get("mode").unwrap_or("").to_owned(),
                a.start,
                a.end,
            )
        })
        .collect();
    assert_eq!(
        spans,
        [
            // Over 300 s first at the 10:06 tick (10:05 is exactly 300 s), ended with
            // the step: at 10:12 it is no longer running.
            ("one_shot".to_owned(), at(10, 6), Some(at(10, 12))),
            ("deep_research".to_owned(), at(11, 6), None),
        ],
        "{backend:?}"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn backtest_replays_hung_steps_on_sqlite() {
    hung_steps_replay(Backend::Sqlite).await;
}

#[tokio::test]
async fn backtest_replays_hung_steps_on_postgres() {
    hung_steps_replay(Backend::Postgres).await;
}
