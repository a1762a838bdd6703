//! The decision log through the running service and `driftwatch explain`: a notification
//! whose first attempt fails tells the route and group it joined, the notification it
//! went out in, the failed attempt with its retry, and the delivered one; the CLI prints
//! that story from the store, by fingerprint and by rule.

use std::process::Command;
use std::time::Duration;

use driftwatch::demo::receiver::Receiver;

use crate::helpers::{
    finished_run, rule_story, rules, service_config, start, Backend, TestDb, SECRET,
    SLOW_BY_MODE as SLOW,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_tells_the_route_the_notification_and_each_delivery_attempt() {
    let db = TestDb::new(Backend::Sqlite).await;
    // The first attempt is answered 500, the retry 200.
    let receiver = Receiver::start(Some(SECRET), 1, false).await.unwrap();
    let config = service_config(&db.url, &db.store_url(), &receiver);
    let running = start(config, rules(SLOW)).await;
    db.writer()
        .insert(&finished_run("a", "slow", 900.0, "completed"))
        .await
        .unwrap();
    let got = receiver
        .wait_for(Duration::from_secs(15), |d| {
            d.iter().any(|x| x.answered == 200)
        })
        .await;
    let delivered = got.iter().find(|d| d.answered == 200).unwrap();
    let alert = &delivered.payload.as_ref().unwrap().alerts[0];
    let id = &delivered.id;
    // The attempt is recorded in the transaction after the receiver answered.
    let mut story = String::new();
    for _ in 0..50 {
        story = rule_story(&running.store, "workflow_slow").await;
        if story.contains("delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expected = [
        "firing change routed by route root to hook; joined group".to_owned(),
        format!("sent as firing in notification {id} to hook"),
        format!("attempt 1 of notification {id} to hook failed (HTTP 500"),
        "retry scheduled for".to_owned(),
        format!("attempt 2 of notification {id} to hook: delivered"),
    ];
    let mut from = 0;
    for said in &expected {
        let at = story[from..]
            .find(said.as_str())
            .unwrap_or_else(|| panic!("{said:?} after byte {from} in\n{story}"));
        from += at;
    }
    // The API tells the same story of the alert, as entries with their kind.
    let url = format!(
        "http://{}/api/v1/alerts/{}/log",
        running.addr, alert.fingerprint
    );
    let log: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let kinds: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["grouped", "sent", "attempt", "attempt"], "{log}");
    let bad = reqwest::get(format!("{url}?limit=0")).await.unwrap();
    assert_eq!(bad.status(), 400);
    let not_a_fingerprint = format!("http://{}/api/v1/alerts/x'--/log", running.addr);
    assert_eq!(reqwest::get(not_a_fingerprint).await.unwrap().status(), 400);
    running.stop(Duration::from_secs(5)).await;

    // The CLI reads the same story from the store, by the alert's fingerprint.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("driftwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{}\"\n\n[receivers.hook]\nkind = \"webhook\"\nurl = \"https://hooks.example.com/x\"\n",
            db.store_url()
        ),
    )
    .unwrap();
    let explain = |target: &str| {
        Command::new(env!("CARGO_BIN_EXE_driftwatch"))
            .args(["explain", target, "--config"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = explain(&alert.fingerprint);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for said in &expected {
        assert!(printed.contains(said.as_str()), "{said:?} in\n{printed}");
    }
    let out = explain("no_such_rule");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no decisions recorded"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
