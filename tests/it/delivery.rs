//! A receiver that fails three times, then accepts: the alert arrives, and every
//! attempt carried the same webhook-id and a valid signature.

use std::time::Duration;

use driftwatch::demo::receiver::Receiver;

use crate::helpers::{finished_run, rules, service_config, start, Backend, TestDb, SECRET};

const RULE: &str = r#"
[[rule]]
name = "workflow_expensive"
metric = "workflow.cost"
window = "1h"
every = "200ms"
severity = "info"
detector = { kind = "threshold", above = 1.0 }

[[rule]]
name = "workflow_failed"
metric = "workflow.error_rate"
window = "1h"
every = "200ms"
severity = "warning"
detector = { kind = "threshold", above = 0.5 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_after_500s_keep_the_webhook_id() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 3, false).await.unwrap();
    let running = start(
        service_config(&db.url, &db.store_url(), &receiver),
        rules(RULE),
    )
    .await;

    db.writer()
        .insert(&finished_run("r1", "one_shot", 10.0, "failed"))
        .await
        .unwrap();
    let got = receiver
        .wait_for(Duration::from_secs(10), |d| {
            d.iter().any(|x| x.answered == 200)
        })
        .await;
    assert_eq!(got.len(), 4, "three 500s, then a 200: {got:?}");
    assert_eq!(
        got.iter().map(|d| d.answered).collect::<Vec<_>>(),
        vec![500, 500, 500, 200]
    );
    assert!(
        got.iter().all(|d| d.id == got[0].id),
        "same webhook-id on every attempt"
    );
    assert!(got.iter().all(|d| d.signature_ok));
    assert!(
        got.iter().all(|d| d.body == got[0].body),
        "the same bytes every time"
    );
    let payload = got[3].payload.as_ref().unwrap();
    assert_eq!(payload.alerts[0].rule, "workflow_failed");

    // Delivered rows leave the outbox; nothing is pending or dead.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = running.store.outbox_stats().await.unwrap();
    assert_eq!(
        (stats.pending, stats.dead, stats.delivered),
        (0, 0, 1),
        "{stats:?}"
    );
    let metrics = running.metrics.render();
    assert!(
        metrics.contains(r#"driftwatch_notifications_total{receiver="hook",result="retry"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"driftwatch_notifications_total{receiver="hook",result="delivered"} 1"#)
    );
    running.stop(Duration::from_secs(5)).await;
}
