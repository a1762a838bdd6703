//! Rows inserted into the CMBAgent tables make an alert fire after `for`, survive a
//! restart without re-notifying, and resolve after recovery — on SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use driftwatch::demo::receiver::Receiver;
use driftwatch::model::AlertState;

use crate::helpers::{finished_run, rules, service_config, start, Backend, TestDb, SECRET};

const RULE: &str = r#"
[[rule]]
name = "workflow_slow"
metric = "workflow.duration"
group_by = ["mode"]
aggregate = "max"
window = "3s"
every = "250ms"
for = "1s"
severity = "warning"
summary = "slowest {label.mode} workflow took {value} (threshold {threshold} s)"
detector = { kind = "threshold", above = 600 }
"#;

async fn fires_after_for_survives_restart_and_resolves(backend: Backend) {
    let db = TestDb::new(backend).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = service_config(&db.url, &db.store_url(), &receiver);
    let running = start(config.clone(), rules(RULE)).await;
    let writer = db.writer();

    writer
        .insert(&finished_run("ok-1", "one_shot", 100.0, "completed"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        receiver.deliveries().is_empty(),
        "a normal run must not alert"
    );

    let breached = Instant::now();
    writer
        .insert(&finished_run("slow-1", "one_shot", 900.0, "completed"))
        .await
        .unwrap();
    let got = receiver
        .wait_for(Duration::from_secs(10), |d| !d.is_empty())
        .await;
    let waited = breached.elapsed();
    assert_eq!(got.len(), 1, "exactly one firing notification: {got:?}");
    let firing = &got[0];
    assert!(
        firing.signature_ok,
        "the Standard Webhooks signature verifies"
    );
    assert!(firing.id.starts_with("msg_"));
    let payload = firing.payload.as_ref().expect("a driftwatch payload");
    assert_eq!(payload.version, "driftwatch.alert.v1");
    assert_eq!(payload.kind, "alert.firing");
    assert_eq!(payload.id, firing.id);
    let alert = &payload.alerts[0];
    assert_eq!(alert.rule, "workflow_slow");
    assert_eq!(alert.state, AlertState::Firing);
    assert_eq!(alert.labels.get("mode"), Some("one_shot"));
    assert_eq!(alert.labels.get("severity"), Some("warning"));
    assert_eq!(alert.threshold, Some(600.0));
    assert!(
        (alert.value.unwrap() - 900.0).abs() < 1.0,
        "{:?}",
        alert.value
    );
    assert!(
        alert.annotations["summary"].contains("900"),
        "{:?}",
        alert.annotations
    );
    assert!(alert.starts_at.is_some() && alert.ends_at.is_none());
    assert!(
        waited >= Duration::from_secs(1),
        "fired after {waited:?}, before `for`"
    );

    // The history shows pending, then firing at least `for` later.
    let history = running
        .store
        .alert_history(&alert.fingerprint, 10)
        .await
        .unwrap();
    let at = |to: &str| history.iter().find(|h| h.1 == to).map(|h| h.2).unwrap();
    assert!(at("firing") - at("pending") >= 1000, "{history:?}");

    // Restart while firing: state is restored, nothing is notified again.
    running.stop(Duration::from_secs(5)).await;
    let running = start(config, rules(RULE)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        receiver.deliveries().len(),
        1,
        "a restart must not re-notify"
    );

    // Recovery: the slow run leaves the 3 s window, normal runs keep coming.
    for i in 0..6 {
        writer
            .insert(&finished_run(
                &format!("ok-{}", i + 2),
                "one_shot",
                120.0,
                "completed",
            ))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let got = receiver
        .wait_for(Duration::from_secs(10), |d| d.len() >= 2)
        .await;
    assert_eq!(got.len(), 2, "one resolve after the restart: {got:?}");
    let resolved = got[1].payload.as_ref().unwrap();
    assert_eq!(resolved.kind, "alert.resolved");
    assert_eq!(resolved.alerts[0].state, AlertState::Resolved);
    assert_eq!(resolved.alerts[0].fingerprint, alert.fingerprint);
    assert!(resolved.alerts[0].ends_at.is_some());
    assert!(got[1].signature_ok);
    assert_ne!(got[1].id, firing.id, "a resolve is a new notification");

    running.stop(Duration::from_secs(5)).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_alert_fires_survives_restart_and_resolves() {
    fires_after_for_survives_restart_and_resolves(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_alert_fires_survives_restart_and_resolves() {
    fires_after_for_survives_restart_and_resolves(Backend::Postgres).await;
}
