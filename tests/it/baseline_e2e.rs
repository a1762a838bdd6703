//! A baseline rule through the real path: warmed from the database's history at start,
//! quiet while latency is normal, firing by webhook with a readable reason when a model's
//! latency jumps ×4, and neither relearning nor alerting after a restart mid-workload.

use std::time::Duration;

use chrono::Utc;
use driftwatch::demo::receiver::Receiver;

use crate::helpers::{rules, service_config, start, Backend, TestDb, SECRET};

const RULE: &str = r#"
[[rule]]
name = "llm_latency_drift"
metric = "llm.call.duration"
group_by = ["model"]
aggregate = "p95"
window = "1s"
every = "200ms"
severity = "warning"
summary = "{label.model} p95 latency {value} {reason}"
detector = { kind = "ewma", half_life = 50, warmup = 10, direction = "up", min_rel_deviation = 0.5 }
"#;

async fn call(db: &TestDb, id: usize, at: chrono::DateTime<Utc>, seconds: f64) {
    insert_call(&db.pool, id, at, seconds).await;
}

async fn insert_call<'e>(
    into: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: usize,
    at: chrono::DateTime<Utc>,
    seconds: f64,
) {
    let ts = at.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    sqlx::query(
        "INSERT INTO execution_events (id, run_id, step_id, event_type, agent_name, timestamp, duration_ms, status, meta) \
         VALUES ($1, 'r', 's', 'agent_call', 'engineer', $2, $3, 'completed', '{\"model\": \"gpt-4o\"}')",
    )
    .bind(format!("c{id}"))
    .bind(ts)
    .bind((seconds * 1000.0) as i64)
    .execute(into)
    .await
    .unwrap();
}

/// Writes normal calls (2-3 s) for `for_ms`, stamped 300 ms ahead of insertion so no
/// evaluation reads past a row that is not committed yet, even on a loaded machine.
async fn normal_traffic(db: &TestDb, first_id: usize, for_ms: u64) -> usize {
    let mut id = first_id;
    let until = std::time::Instant::now() + Duration::from_millis(for_ms);
    while std::time::Instant::now() < until {
        call(
            db,
            id,
            Utc::now() + chrono::Duration::milliseconds(300),
            2.0 + (id % 5) as f64 * 0.2,
        )
        .await;
        id += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_rule_warms_fires_on_a_jump_and_survives_a_restart() {
    let db = TestDb::new(Backend::Sqlite).await;
    // Two minutes of history before the service starts: enough to warm the baseline.
    // One transaction, so a loaded machine's fsyncs cannot age the history out of the
    // warm-up span before the service starts.
    let now = Utc::now();
    let mut tx = db.pool.begin().await.unwrap();
    for i in 0..1200 {
        let at = now - chrono::Duration::milliseconds(120_000 - i * 100);
        insert_call(
            &mut *tx,
            100_000 + i as usize,
            at,
            2.0 + (i % 5) as f64 * 0.2,
        )
        .await;
    }
    tx.commit().await.unwrap();
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = service_config(&db.url, &db.store_url(), &receiver);
    let running = start(config.clone(), rules(RULE)).await;
    let id = normal_traffic(&db, 0, 1500).await;
    assert!(
        receiver.deliveries().is_empty(),
        "a warmed baseline stays quiet on normal traffic"
    );
    let metrics = running.metrics.render();
    assert!(
        metrics.contains(r#"driftwatch_evaluations_total{result="ok",rule="llm_latency_drift"}"#)
    );

    // Restart mid-workload: baselines come back from the store, not from scratch.
    running.stop(Duration::from_secs(5)).await;
    let stored = {
        let store = driftwatch::store::Store::connect(&db.store_url())
            .await
            .unwrap();
        let b = store.load_baselines().await.unwrap();
        store.close().await;
        b
    };
    assert_eq!(
        stored["llm_latency_drift"].len(),
        1,
        "one baseline per model is persisted"
    );
    let running = start(config, rules(RULE)).await;
    let id = normal_traffic(&db, id, 1500).await;
    assert!(
        receiver.deliveries().is_empty(),
        "no alert from an empty or relearning baseline"
    );

    // The jump: gpt-4o calls take four times as long.
    for id in id..id + 20 {
        call(
            &db,
            id,
            Utc::now() + chrono::Duration::milliseconds(300),
            9.5,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = receiver
        .wait_for(Duration::from_secs(20), |d| !d.is_empty())
        .await;
    let alert = &got
        .first()
        .expect("the jump alerted")
        .payload
        .as_ref()
        .unwrap()
        .alerts[0];
    assert_eq!(alert.rule, "llm_latency_drift");
    assert_eq!(alert.labels.get("model"), Some("gpt-4o"));
    let summary = &alert.annotations["summary"];
    // The first window holding jumped calls may still hold normal ones too (under
    // load more of them): its p95 is then between the two levels.
    let value: f64 = summary
        .strip_prefix("gpt-4o p95 latency ")
        .and_then(|rest| rest.split(" s is ").next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!((4.0..=9.5).contains(&value), "{summary}");
    assert!(summary.contains("σ above the moving average"), "{summary}");
    assert!(alert.score > 0.99, "{}", alert.score);
    running.stop(Duration::from_secs(5)).await;
}
