//! A rule with its own SQL (label columns, `ts`, `value`) alerts like a catalog rule, and
//! the service's /metrics endpoint reports the evaluations over HTTP.

use std::time::Duration;

use driftwatch::demo::receiver::Receiver;

use crate::helpers::{rules, service_config, start, Backend, TestDb, SECRET};

const RULE: &str = r#"
[[rule]]
name = "custom_metric_high"
query = """
SELECT (julianday(timestamp) - 2440587.5) * 86400.0 AS ts, metric_value AS value, metric_name AS name
FROM workflow_metrics
WHERE (julianday(timestamp) - 2440587.5) * 86400.0 > $1 AND (julianday(timestamp) - 2440587.5) * 86400.0 <= $2
"""
group_by = ["name"]
aggregate = "avg"
window = "1h"
every = "200ms"
severity = "warning"
summary = "{label.name} averages {value}"
detector = { kind = "threshold", above = 0.9 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_sql_rule_alerts_and_metrics_are_served() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let running = start(
        service_config(&db.url, &db.store_url(), &receiver),
        rules(RULE),
    )
    .await;
    let now = chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string();
    for (i, (name, v)) in [("gpu_util", 0.95), ("gpu_util", 0.97), ("queue_fill", 0.2)]
        .iter()
        .enumerate()
    {
        sqlx::query("INSERT INTO workflow_metrics (id, run_id, step_id, timestamp, metric_name, metric_value) VALUES ($1, 'r', 's', $2, $3, $4)")
            .bind(format!("m{i}"))
            .bind(now.clone())
            .bind(name.to_string())
            .bind(*v)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let got = receiver
        .wait_for(Duration::from_secs(10), |d| !d.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = receiver.deliveries();
    assert_eq!(got_after.len(), 1, "only gpu_util breaches: {got:?}");
    let alert = &got[0].payload.as_ref().unwrap().alerts[0];
    assert_eq!(alert.labels.get("name"), Some("gpu_util"));
    assert_eq!(alert.annotations["summary"], "gpu_util averages 0.96");

    let body = reqwest::get(format!("http://{}/metrics", running.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains(r#"driftwatch_evaluations_total{result="ok",rule="custom_metric_high"}"#),
        "{body}"
    );
    assert!(
        body.contains(r#"driftwatch_alerts{state="firing"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"driftwatch_rule_series{rule="custom_metric_high"} 2"#),
        "{body}"
    );
    let ready = reqwest::get(format!("http://{}/readyz", running.addr))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    running.stop(Duration::from_secs(5)).await;
}
