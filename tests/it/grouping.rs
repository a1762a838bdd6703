//! The notification pipeline through the running service: a routing tree groups 50
//! alerts into one notification, batches a late one within `group_interval`, and a
//! restart within `repeat_interval` sends nothing new (SQLite); an inhibiting alert
//! mutes its target until it resolves, and a silence set to expire on resolve ends when
//! its alert resolves (PostgreSQL); a mute time interval holds everything back.

use std::time::{Duration, Instant};

use driftwatch::demo::receiver::{Delivery, Receiver};

use crate::helpers::{
    finished_run, rule_story, rules, service_config, start, with_policy, Backend, TestDb,
    API_TOKEN, SECRET, SLOW_BY_MODE as SLOW,
};

fn payloads(got: &[Delivery]) -> Vec<driftwatch::model::payload::WebhookPayload> {
    got.iter().filter_map(|d| d.payload.clone()).collect()
}

/// (rule, mode, status) of every alert in every notification, in order.
fn listed(got: &[Delivery]) -> Vec<(String, String, String)> {
    payloads(got)
        .iter()
        .flat_map(|p| {
            p.alerts.iter().map(|a| {
                (
                    a.rule.clone(),
                    a.labels.get("mode").unwrap_or("").to_owned(),
                    a.state.as_str().to_owned(),
                )
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_alerts_make_one_notification_a_late_one_is_batched_and_a_restart_repeats_nothing() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = with_policy(
        service_config(&db.url, &db.store_url(), &receiver),
        r#"
[route]
receiver = "hook"
group_by = ["rule"]
group_wait = "5s"
group_interval = "3s"
repeat_interval = "1h"
"#,
    );
    let running = start(config.clone(), rules(SLOW)).await;
    let w = db.writer();
    let inserting = Instant::now();
    for i in 0..50 {
        w.insert(&finished_run(
            &format!("slow-{i}"),
            &format!("mode-{i:02}"),
            900.0,
            "completed",
        ))
        .await
        .unwrap();
    }
    assert!(
        inserting.elapsed() < Duration::from_secs(4),
        "the test needs the 50 breaches to land within group_wait"
    );
    receiver
        .wait_for(Duration::from_secs(15), |d| !d.is_empty())
        .await;
    let first_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = payloads(&receiver.deliveries());
    assert_eq!(got.len(), 1, "one notification: {got:?}");
    assert_eq!(got[0].alerts.len(), 50, "listing all 50 alerts");
    assert_eq!(got[0].status, "firing");
    assert_eq!(got[0].group_labels.get("rule"), Some("workflow_slow"));
    assert_eq!(got[0].common_labels.get("mode"), None);

    // A new alert in the group within group_interval waits for it, then goes out with
    // the group (all 51 listed as firing).
    // Meanwhile mode-00 gets slower: the next notification shows its value now.
    w.insert(&finished_run("slower-00", "mode-00", 1000.0, "completed"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    w.insert(&finished_run("slow-late", "mode-late", 900.0, "completed"))
        .await
        .unwrap();
    let got = receiver
        .wait_for(Duration::from_secs(15), |d| d.len() >= 2)
        .await;
    let batched_after = first_at.elapsed();
    let second = payloads(&got)[1].clone();
    assert_eq!(second.alerts.len(), 51, "{second:?}");
    assert!(
        second
            .alerts
            .iter()
            .any(|a| a.labels.get("mode") == Some("mode-late")),
        "{second:?}"
    );
    let mode_00 = second
        .alerts
        .iter()
        .find(|a| a.labels.get("mode") == Some("mode-00"))
        .unwrap();
    assert!(
        (mode_00.value.unwrap() - 1000.0).abs() < 0.01,
        "the latest value, not the one it fired with: {mode_00:?}"
    );
    assert!(
        batched_after >= Duration::from_millis(2_000),
        "batched until group_interval after the first notification, not sent at once ({batched_after:?})"
    );

    // Restart within repeat_interval: nothing new is sent.
    running.stop(Duration::from_secs(5)).await;
    let running = start(config, rules(SLOW)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        receiver.deliveries().len(),
        2,
        "a restart neither repeats nor drops: {:?}",
        listed(&receiver.deliveries())
    );
    running.stop(Duration::from_secs(5)).await;
}

/// A slow run makes `workflow_slow` fire for its mode for an hour, and
/// `workflow_just_finished` for three seconds.
const SLOW_AND_RECENT: &str = r#"
[[rule]]
name = "workflow_slow"
metric = "workflow.duration"
group_by = ["mode"]
aggregate = "max"
window = "1h"
every = "250ms"
for = "0s"
severity = "warning"
summary = "slowest {label.mode} workflow took {value}"
detector = { kind = "threshold", above = 600 }

[[rule]]
name = "workflow_just_finished"
metric = "workflow.duration"
group_by = ["mode"]
aggregate = "max"
window = "3s"
every = "250ms"
for = "0s"
severity = "critical"
summary = "a {label.mode} workflow over 1200 s finished just now"
detector = { kind = "threshold", above = 1200 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inhibiting_alert_mutes_its_target_until_it_resolves() {
    let db = TestDb::new(Backend::Postgres).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = with_policy(
        service_config(&db.url, &db.store_url(), &receiver),
        r#"
[route]
receiver = "hook"
group_by = ["..."]
group_wait = "1s"
group_interval = "1s"

[[inhibit_rules]]
source_matchers = ['rule="workflow_just_finished"']
target_matchers = ['rule="workflow_slow"']
equal = ["mode"]
"#,
    );
    let running = start(config, rules(SLOW_AND_RECENT)).await;
    let w = db.writer();
    // `slow` only breaches workflow_slow; `worse` breaches both, so its workflow_slow
    // alert is inhibited while workflow_just_finished fires for the same mode.
    w.insert(&finished_run("a", "slow", 900.0, "completed"))
        .await
        .unwrap();
    w.insert(&finished_run("b", "worse", 1500.0, "completed"))
        .await
        .unwrap();
    let got = receiver
        .wait_for(Duration::from_secs(15), |d| listed(d).len() >= 2)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut first: Vec<_> = listed(&got);
    first.sort();
    assert_eq!(
        first,
        [
            (
                "workflow_just_finished".into(),
                "worse".into(),
                "firing".into()
            ),
            ("workflow_slow".into(), "slow".into(), "firing".into()),
        ],
        "the inhibited target is not notified"
    );
    let metrics = running.metrics.render();
    assert!(
        metrics.contains(r#"driftwatch_notifications_inhibited_total{rule="workflow_slow"} 1"#),
        "{metrics}"
    );

    // Three seconds on the inhibitor resolves; the target still fires and notifies now.
    let got = receiver
        .wait_for(Duration::from_secs(20), |d| {
            let l = listed(d);
            l.contains(&("workflow_slow".into(), "worse".into(), "firing".into()))
                && l.contains(&(
                    "workflow_just_finished".into(),
                    "worse".into(),
                    "resolved".into(),
                ))
        })
        .await;
    let all = payloads(&got);
    assert!(
        listed(&got).contains(&("workflow_slow".into(), "worse".into(), "firing".into())),
        "the target notifies once its inhibitor resolved: {:?}",
        listed(&got)
    );
    let ended = all
        .iter()
        .flat_map(|p| &p.alerts)
        .find(|a| a.rule == "workflow_just_finished" && a.ends_at.is_some())
        .and_then(|a| a.ends_at.clone())
        .expect("the inhibitor's resolve is sent");
    let target = all
        .iter()
        .find(|p| {
            p.alerts
                .iter()
                .any(|a| a.rule == "workflow_slow" && a.labels.get("mode") == Some("worse"))
        })
        .unwrap();
    assert!(
        target.created_at >= ended,
        "the target is notified once the inhibitor resolved ({} < {ended})",
        target.created_at
    );
    // The decision log names the inhibiting alert.
    let inhibitor = all
        .iter()
        .flat_map(|p| &p.alerts)
        .find(|a| a.rule == "workflow_just_finished")
        .unwrap();
    let story = rule_story(&running.store, "workflow_slow").await;
    assert!(
        story.contains(&format!(
            "held back from hook: inhibited by {}",
            inhibitor.fingerprint
        )),
        "{story}"
    );
    running.stop(Duration::from_secs(5)).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_set_to_expire_on_resolve_ends_when_its_alert_resolves() {
    let db = TestDb::new(Backend::Postgres).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = service_config(&db.url, &db.store_url(), &receiver);
    let running = start(config, rules(SLOW_AND_RECENT)).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/v1/silences", running.addr);
    let created: serde_json::Value = client
        .post(&url)
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({
            "matchers": ["rule=workflow_just_finished"],
            "duration": "2h",
            "created_by": "ops",
            "comment": "known slow batch; end the silence with it",
            "expire_on_resolve": true,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    db.writer()
        .insert(&finished_run("b", "worse", 1500.0, "completed"))
        .await
        .unwrap();
    let active = |v: &serde_json::Value| {
        v["silences"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id.as_str())
            .map(|s| s["active"] == true)
            .unwrap()
    };
    // It fires (held) then resolves after three seconds; the silence ends with it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        if !active(&list) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the silence outlived its alert: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !listed(&receiver.deliveries())
            .iter()
            .any(|(rule, _, _)| rule == "workflow_just_finished"),
        "the silenced alert was never sent, nor its resolve"
    );
    assert!(
        listed(&receiver.deliveries()).contains(&(
            "workflow_slow".into(),
            "worse".into(),
            "firing".into()
        )),
        "other alerts are not muted"
    );
    let story = rule_story(&running.store, "workflow_just_finished").await;
    assert!(
        story.contains(&format!("held back from hook: silenced by {id}")),
        "{story}"
    );
    running.stop(Duration::from_secs(5)).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mute_time_interval_holds_notifications_back() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = with_policy(
        service_config(&db.url, &db.store_url(), &receiver),
        r#"
[route]
receiver = "hook"
group_wait = "0s"
mute_time_intervals = ["always"]

[time_intervals.always]
spec = [{ times = [{ start_time = "00:00", end_time = "24:00" }], location = "Europe/Berlin" }]
"#,
    );
    let running = start(config, rules(SLOW)).await;
    db.writer()
        .insert(&finished_run("a", "slow", 900.0, "completed"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = running.metrics.render();
        if metrics.contains(r#"driftwatch_notifications_muted_total{receiver="hook"}"#) {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(receiver.deliveries().is_empty(), "muted all day");
    let story = rule_story(&running.store, "workflow_slow").await;
    assert!(
        story.contains("held back from hook: muted by time interval always"),
        "{story}"
    );
    running.stop(Duration::from_secs(5)).await;
}

/// Fires for two seconds after each slow run.
const SHORT_LIVED: &str = r#"
[[rule]]
name = "slow_just_now"
metric = "workflow.duration"
group_by = ["mode"]
aggregate = "max"
window = "2s"
every = "250ms"
for = "0s"
severity = "warning"
summary = "a {label.mode} workflow took {value}"
detector = { kind = "threshold", above = 600 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_alert_is_reported_once_then_held_until_it_settles() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = with_policy(
        service_config(&db.url, &db.store_url(), &receiver),
        "[notify]\nflap_window = \"8s\"\nflap_threshold = 3\n",
    );
    let running = start(config, rules(SHORT_LIVED)).await;
    let w = db.writer();
    w.insert(&finished_run("a", "batch", 900.0, "completed"))
        .await
        .unwrap();
    // Fires, resolves two seconds later (changes 1 and 2, notified as usual).
    receiver
        .wait_for(Duration::from_secs(10), |d| d.len() >= 2)
        .await;
    w.insert(&finished_run("b", "batch", 900.0, "completed"))
        .await
        .unwrap();
    // Change 3 makes it flapping: one firing notification saying so; change 4 (its
    // resolve two seconds later) is held; after two quiet seconds (a quarter of the
    // window) it has settled, and its resolve goes out.
    receiver
        .wait_for(Duration::from_secs(15), |d| d.len() >= 4)
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let got = payloads(&receiver.deliveries());
    let statuses: Vec<&str> = got.iter().map(|p| p.status.as_str()).collect();
    assert_eq!(
        statuses,
        ["firing", "resolved", "firing", "resolved"],
        "{got:?}"
    );
    assert!(
        got[2].alerts[0].annotations["flapping"].contains("changed state 3 times"),
        "{:?}",
        got[2].alerts[0].annotations
    );
    assert!(!got[1].alerts[0].annotations.contains_key("flapping"));
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    let ended = t(got[3].alerts[0].ends_at.as_deref().unwrap());
    let held_for = t(&got[3].created_at) - ended;
    assert!(
        held_for >= chrono::Duration::milliseconds(1800),
        "the resolve of a flapping alert waits until it settled (held {held_for:?})"
    );
    let metrics = running.metrics.render();
    assert!(
        metrics.contains(r#"driftwatch_alerts_flapping_total{rule="slow_just_now"} 1"#),
        "{metrics}"
    );
    let story = rule_story(&running.store, "slow_just_now").await;
    for said in [
        "firing change made it flapping: notified once as firing",
        "resolved change held: the alert is flapping",
        "stopped flapping: notified as resolved",
    ] {
        assert!(story.contains(said), "{said:?} in\n{story}");
    }
    running.stop(Duration::from_secs(5)).await;
}
