//! Silences through the API of the running service: creating one needs the token and
//! valid matchers; it mutes the matching alert and only it; expiring it sends the held
//! alert that still fires; a second expiry is a 404; a silence ends on time.

use std::time::Duration;

use driftwatch::demo::receiver::{Delivery, Receiver};

use crate::helpers::{
    finished_run, rules, service_config, start, Backend, TestDb, API_TOKEN, SECRET,
    SLOW_BY_MODE as SLOW,
};

fn firing_modes(got: &[Delivery]) -> Vec<String> {
    got.iter()
        .filter_map(|d| d.payload.as_ref())
        .filter(|p| p.kind == "alert.firing")
        .flat_map(|p| {
            p.alerts
                .iter()
                .map(|a| a.labels.get("mode").unwrap_or("").to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_mutes_only_what_it_matches_and_expiring_it_sends_the_held_alert() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = service_config(&db.url, &db.store_url(), &receiver);
    let running = start(config, rules(SLOW)).await;
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/silences");
    let body = serde_json::json!({
        "matchers": ["mode=one_shot", "severity=~warning|info"],
        "duration": "1h",
        "created_by": "ops",
        "comment": "planned migration of the one-shot runner",
    });

    assert_eq!(
        client.post(&url).json(&body).send().await.unwrap().status(),
        401
    );
    let bad = client
        .post(&url)
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({"matchers": ["mode"], "duration": "1h", "created_by": "ops", "comment": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let error: serde_json::Value = bad.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("operator"),
        "{error}"
    );
    let created = client
        .post(&url)
        .bearer_auth(API_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Both modes breach; only the unsilenced one notifies.
    let w = db.writer();
    w.insert(&finished_run("slow-a", "one_shot", 900.0, "completed"))
        .await
        .unwrap();
    w.insert(&finished_run("slow-b", "planning", 900.0, "completed"))
        .await
        .unwrap();
    let got = receiver
        .wait_for(Duration::from_secs(10), |d| !d.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        firing_modes(&receiver.deliveries()),
        vec!["planning"],
        "{got:?}"
    );
    let listed: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["silences"][0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed["silences"][0]["active"], true, "{listed}");
    assert_eq!(
        listed["silences"][0]["matchers"][0], "mode=\"one_shot\"",
        "{listed}"
    );
    let metrics = running.metrics.render();
    assert!(
        metrics.contains(r#"driftwatch_notifications_silenced_total{rule="workflow_slow"} 1"#),
        "{metrics}"
    );

    // Expiring it: the held alert still fires, so it is sent now, once.
    let expire = format!("{url}/{id}");
    assert_eq!(client.delete(&expire).send().await.unwrap().status(), 401);
    let resp = client
        .delete(&expire)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    receiver
        .wait_for(Duration::from_secs(10), |d| firing_modes(d).len() >= 2)
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut modes = firing_modes(&receiver.deliveries());
    modes.sort();
    assert_eq!(modes, vec!["one_shot", "planning"]);
    let again = client
        .delete(&expire)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    running.stop(Duration::from_secs(5)).await;
}

/// Runs `driftwatch silence ARGS` against `base`; (success, stdout, stderr).
fn cli(base: &str, token: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_driftwatch"));
    cmd.arg("silence")
        .arg("--url")
        .arg(base)
        .env_remove("DRIFTWATCH_API_TOKEN");
    if let Some(t) = token {
        cmd.arg("--token").arg(t);
    }
    let out = cmd.args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_silence_cli_adds_lists_and_expires() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = service_config(&db.url, &db.store_url(), &receiver);
    let running = start(config, rules(SLOW)).await;
    let base = format!("http://{}", running.addr);
    let add = [
        "add",
        "mode=one_shot",
        "--duration",
        "2h",
        "--author",
        "ops",
        "--comment",
        "runner migration",
    ];

    let (ok, _, err) = tokio::task::block_in_place(|| cli(&base, None, &add));
    assert!(
        !ok && err.contains("401") && err.contains("--token"),
        "{err}"
    );
    let (ok, out, err) = tokio::task::block_in_place(|| cli(&base, Some(API_TOKEN), &add));
    assert!(ok, "{err}");
    let id = out.trim().to_owned();
    assert!(!id.is_empty());
    let (ok, out, _) = tokio::task::block_in_place(|| cli(&base, None, &["ls"]));
    assert!(ok && out.contains(&id) && out.contains("active"), "{out}");
    assert!(
        out.contains("mode=\"one_shot\"") && out.contains("# runner migration"),
        "{out}"
    );
    let (ok, out, err) =
        tokio::task::block_in_place(|| cli(&base, Some(API_TOKEN), &["expire", &id]));
    assert!(ok && out.contains("expired"), "{out}{err}");
    let (_, out, _) = tokio::task::block_in_place(|| cli(&base, None, &["ls"]));
    assert!(out.contains("expired") && !out.contains("active"), "{out}");
    let (ok, _, err) =
        tokio::task::block_in_place(|| cli(&base, Some(API_TOKEN), &["expire", &id]));
    assert!(!ok && err.contains("404"), "{err}");
    running.stop(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_expires_on_time_and_the_alert_it_held_is_sent_then() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = service_config(&db.url, &db.store_url(), &receiver);
    let running = start(config, rules(SLOW)).await;
    let created = reqwest::Client::new()
        .post(format!("http://{}/api/v1/silences", running.addr))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({
            "matchers": ["mode=one_shot"],
            "duration": "3s",
            "created_by": "ops",
            "comment": "a short hold",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let silenced_at = std::time::Instant::now();
    db.writer()
        .insert(&finished_run("slow-a", "one_shot", 900.0, "completed"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        receiver.deliveries().is_empty(),
        "held while the silence runs"
    );
    let got = receiver
        .wait_for(Duration::from_secs(10), |d| !firing_modes(d).is_empty())
        .await;
    let sent_after = silenced_at.elapsed();
    assert_eq!(firing_modes(&got), vec!["one_shot"]);
    assert!(
        sent_after >= Duration::from_millis(2900) && sent_after < Duration::from_secs(8),
        "sent when the silence ended, not before nor much later ({sent_after:?})"
    );
    running.stop(Duration::from_secs(5)).await;
}
