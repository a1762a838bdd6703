//! Flap control over budget alerts in the running service: a fast-burn alert that
//! fires, resolves and fires again is reported once as flapping, its next change is
//! held, and its state goes out once it has kept it for the quiet spell — the decision
//! log and the flapping metric telling it as they tell a rule alert's.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use driftwatch::clock::SystemClock;
use driftwatch::demo::receiver::Receiver;
use driftwatch::model::decision::DecisionKind;

use crate::budget_service::{budget, costly_run_at};
use crate::helpers::{rules, service_config, with_policy, Backend, TestDb, SECRET};

/// (kind, the changed state the text starts with) of every intake decision about one
/// alert, oldest first.
async fn intake_story(
    store: &driftwatch::store::Store,
    fingerprint: &str,
) -> Vec<(String, String)> {
    let intake = [
        DecisionKind::Grouped,
        DecisionKind::FlapStarted,
        DecisionKind::FlapHeld,
        DecisionKind::FlapSettled,
    ];
    store
        .decisions_of_alert(fingerprint, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| intake.contains(&d.kind))
        .map(|d| {
            let first = d.text.split_whitespace().next().unwrap_or("").to_owned();
            (d.kind.as_str().to_owned(), first)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_budget_alert_is_reported_once_then_held_until_it_settles() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    // Three changes within an hour make an alert flapping; it settles after 15 quiet
    // minutes.
    let config = with_policy(
        service_config(&db.url, &db.store_url(), &receiver),
        "[notify]\nflap_window = \"1h\"\nflap_threshold = 3\n",
    );
    let running = driftwatch::app::start_with_budgets(
        config,
        rules(""),
        vec![budget("amount = 100")],
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let t0 = Utc::now();
    let at = |minutes: i64| t0 + chrono::Duration::minutes(minutes);
    let tick = |now: DateTime<Utc>| running.budgets.tick_due(now, true);
    let w = db.writer();
    // $60 two minutes before t0: the fast burn (1 h and 5 m windows) fires (change 1),
    // and resolves once the 5-minute window has emptied (change 2).
    w.insert(&costly_run_at("first", at(-2), 60.0))
        .await
        .unwrap();
    tick(at(0)).await;
    tick(at(10)).await;
    // Another $60: it fires again (change 3, flapping), resolves again (held).
    w.insert(&costly_run_at("second", at(12), 60.0))
        .await
        .unwrap();
    tick(at(14)).await;
    tick(at(20)).await;
    // 14 quiet minutes are not enough; 16 are, and the resolve goes out.
    tick(at(34)).await;
    let fast_burn = running
        .store
        .load_alerts()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.rule == "budget:monthly" && a.labels.get("budget_alert") == Some("fast_burn"))
        .expect("a stored fast-burn alert");
    let fp = fast_burn.fingerprint.to_string();
    let story = |kinds: &[(&str, &str)]| -> Vec<(String, String)> {
        kinds
            .iter()
            .map(|(k, s)| ((*k).to_owned(), (*s).to_owned()))
            .collect()
    };
    let before_settling = story(&[
        ("grouped", "firing"),
        ("grouped", "resolved"),
        ("flap_started", "firing"),
        ("grouped", "firing"),
        ("flap_held", "resolved"),
    ]);
    assert_eq!(intake_story(&running.store, &fp).await, before_settling);
    tick(at(36)).await;
    let mut settled = before_settling.clone();
    settled.extend(story(&[
        ("flap_settled", "stopped"),
        ("grouped", "resolved"),
    ]));
    assert_eq!(intake_story(&running.store, &fp).await, settled);

    let metrics = running.metrics.render();
    assert!(
        metrics.contains(r#"driftwatch_alerts_flapping_total{rule="budget:monthly"} 1"#),
        "{metrics}"
    );
    let records = running.store.load_flap_records().await.unwrap();
    let record = &records["budget:monthly"][&fast_burn.fingerprint];
    assert!(!record.flapping, "settled: {record:?}");
    running.stop(Duration::from_secs(5)).await;
}
