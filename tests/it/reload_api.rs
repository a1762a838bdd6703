//! Hot reload and the HTTP API against the running service: a broken rule file keeps the
//! old rules evaluating, flips the reload metric to 0 and shows file:line:col in the API;
//! fixing it flips back; a firing alert survives reloads without re-notifying; mutating
//! calls without the bearer token get 401; removing a firing rule resolves its alert.

use std::time::{Duration, Instant};

use driftwatch::demo::receiver::Receiver;

use crate::helpers::{
    finished_run, service_config, start, Backend, TestDb, API_TOKEN, SECRET, SLOW_BY_MODE as SLOW,
};

/// Line 4 holds an unknown field.
const BROKEN: &str = r#"[[rule]]
name = "workflow_count"
metric = "workflow.count"
agregate = "count"
window = "1h"
every = "250ms"
severity = "info"
summary = "{value} runs"
detector = { kind = "threshold", above = 1000 }
"#;

const FIXED: &str = r#"[[rule]]
name = "workflow_count"
metric = "workflow.count"
aggregate = "count"
window = "1h"
every = "250ms"
severity = "info"
summary = "{value} runs"
detector = { kind = "threshold", above = 1000 }
"#;

async fn json(client: &reqwest::Client, url: String) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn metric(client: &reqwest::Client, base: &str, name: &str) -> String {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
        .to_owned()
}

async fn last_eval(client: &reqwest::Client, base: &str, rule: &str) -> Option<String> {
    let rules = json(client, format!("{base}/api/v1/rules")).await;
    rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == rule)
        .and_then(|r| {
            r["last_evaluation"]["last_evaluation"]
                .as_str()
                .map(str::to_owned)
        })
}

#[tokio::test]
async fn broken_rule_file_keeps_old_rules_and_fixing_it_recovers() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), SLOW).unwrap();
    let mut config = service_config(&db.url, &db.store_url(), &receiver);
    config.rules_dir = dir.path().to_path_buf();
    let rules = driftwatch::rule::load_rules(&config.rules_dir, &config.rule_context()).unwrap();
    let running = start(config, rules).await;
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();

    // A firing alert before any reload.
    db.writer()
        .insert(&finished_run("slow-1", "one_shot", 900.0, "completed"))
        .await
        .unwrap();
    let got = receiver
        .wait_for(Duration::from_secs(10), |d| !d.is_empty())
        .await;
    assert_eq!(got.len(), 1, "{got:?}");
    let firing = json(&client, format!("{base}/api/v1/alerts?state=firing")).await;
    assert_eq!(firing["alerts"][0]["rule"], "workflow_slow", "{firing}");
    let none = json(
        &client,
        format!("{base}/api/v1/alerts?state=firing&label=mode=planning"),
    )
    .await;
    assert_eq!(none["alerts"].as_array().unwrap().len(), 0, "{none}");
    let bad = client
        .get(format!("{base}/api/v1/alerts?state=burning"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("burning"),
        "{body}"
    );

    // Mutating calls need the token.
    let url = format!("{base}/-/reload");
    assert_eq!(client.post(&url).send().await.unwrap().status(), 401);
    let wrong = client
        .post(&url)
        .bearer_auth("not-the-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert!(body["error"].is_string(), "JSON error: {body}");

    // A broken file: the reload fails, located, and the old rule keeps evaluating.
    std::fs::write(dir.path().join("b.toml"), BROKEN).unwrap();
    let resp = client
        .post(&url)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let outcome: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(outcome["success"], false);
    let location = outcome["errors"][0]["location"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(location.ends_with("b.toml:4:1"), "{outcome}");
    assert!(
        metric(&client, &base, "driftwatch_config_last_reload_successful")
            .await
            .ends_with(" 0")
    );
    let status = json(&client, format!("{base}/api/v1/status")).await;
    assert_eq!(status["last_reload"]["success"], false, "{status}");
    assert!(
        status["last_reload"]["errors"][0]["location"]
            .as_str()
            .unwrap()
            .ends_with("b.toml:4:1"),
        "{status}"
    );
    let before = last_eval(&client, &base, "workflow_slow").await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = last_eval(&client, &base, "workflow_slow").await.unwrap();
    assert!(
        after > before,
        "the old rule keeps evaluating: {before} → {after}"
    );
    let rules = json(&client, format!("{base}/api/v1/rules")).await;
    assert_eq!(rules["rules"].as_array().unwrap().len(), 1, "{rules}");

    // Fixing the file: the directory watcher reloads on its own.
    std::fs::write(dir.path().join("b.toml"), FIXED).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = json(&client, format!("{base}/api/v1/status")).await;
        if status["last_reload"]["success"] == true {
            assert_eq!(status["last_reload"]["trigger"], "watch", "{status}");
            assert_eq!(status["rules_loaded"], 2, "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no reload after the fix: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        metric(&client, &base, "driftwatch_config_last_reload_successful")
            .await
            .ends_with(" 1")
    );
    assert!(
        last_eval(&client, &base, "workflow_count").await.is_some() || {
            tokio::time::sleep(Duration::from_millis(600)).await;
            last_eval(&client, &base, "workflow_count").await.is_some()
        }
    );

    // Changing the firing rule's text hands its alert state over: still firing, and
    // nothing is sent again.
    std::fs::write(
        dir.path().join("a.toml"),
        SLOW.replace("slowest {label.mode}", "slowest {label.mode} run"),
    )
    .unwrap();
    let resp = client
        .post(&url)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let firing = json(&client, format!("{base}/api/v1/alerts?state=firing")).await;
    assert_eq!(firing["alerts"].as_array().unwrap().len(), 1, "{firing}");
    assert_eq!(
        receiver.deliveries().len(),
        1,
        "a reload must not re-notify a firing alert"
    );

    // Removing the firing rule resolves its alert (once) and forgets it.
    std::fs::remove_file(dir.path().join("a.toml")).unwrap();
    let resp = client
        .post(&url)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = receiver
        .wait_for(Duration::from_secs(10), |d| d.len() >= 2)
        .await;
    let resolved = got[1].payload.as_ref().expect("driftwatch payload");
    assert_eq!(resolved.kind, "alert.resolved", "{got:?}");
    assert_eq!(resolved.alerts[0].rule, "workflow_slow");
    assert!(
        resolved.alerts[0].annotations["reason"].contains("removed"),
        "{:?}",
        resolved.alerts[0].annotations
    );
    let firing = json(&client, format!("{base}/api/v1/alerts?state=firing")).await;
    assert_eq!(firing["alerts"].as_array().unwrap().len(), 0, "{firing}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.deliveries().len(), 2, "resolved once");
    running.stop(Duration::from_secs(5)).await;
}
