//! Alertmanager as a receiver, against a real Alertmanager (Debian package
//! `prometheus-alertmanager`) on loopback: a firing alert pushed to its `/api/v2/alerts`
//! shows there with its labels (`alertname` = the rule), and once it resolves the pushed
//! end time takes it out of the active alerts.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use driftwatch::config::parse_service_config;
use driftwatch::demo::receiver::Receiver;
use driftwatch::rule::parse_rules;
use driftwatch::types::SourceFile;

use crate::external::{free_port, wait_ready, Proc};
use crate::helpers::{finished_run, service_config, start, Backend, TestDb};

/// An Alertmanager on `port` with a do-nothing route, storing in `dir`, not clustering.
async fn start_alertmanager(port: u16, dir: &Path) -> Proc {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n",
    )
    .unwrap();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager on PATH (apt-get install prometheus-alertmanager)");
    let proc = Proc::new(child);
    wait_ready(
        &format!("http://127.0.0.1:{port}/-/ready"),
        Duration::from_secs(30),
    )
    .await;
    proc
}

/// The active alerts Alertmanager holds for rule `alertname`.
async fn active(port: u16, alertname: &str) -> Vec<serde_json::Value> {
    let all: Vec<serde_json::Value> = reqwest::get(format!(
        "http://127.0.0.1:{port}/api/v2/alerts?active=true&filter=alertname%3D%22{alertname}%22"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    all
}

async fn wait_active(port: u16, want: usize, within: Duration) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    loop {
        let got = active(port, "workflow_slow").await;
        if got.len() == want || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const RULE: &str = r#"
[[rule]]
name = "workflow_slow"
metric = "workflow.duration"
group_by = ["mode"]
aggregate = "max"
window = "3s"
every = "250ms"
severity = "warning"
summary = "slowest {label.mode} workflow took {value}"
detector = { kind = "threshold", above = 600 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_accepts_pushed_alerts_and_their_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _am = start_alertmanager(port, dir.path()).await;

    let toml = format!(
        "[receivers.am]\nkind = \"alertmanager\"\nurl = \"http://127.0.0.1:{port}/\"\n\
         allow_private = true\n"
    );
    let parsed = parse_service_config(&dir.path().join("driftwatch.toml"), &toml)
        .unwrap_or_else(|e| panic!("{e}"));
    let db = TestDb::new(Backend::Sqlite).await;
    let unused = Receiver::start(None, 0, false).await.unwrap();
    let mut config = service_config(&db.url, &db.store_url(), &unused);
    config.receivers = parsed.receivers;
    config.default_receivers = vec!["am".to_owned()];
    let rules = parse_rules(&[SourceFile::new("r.toml", RULE)], &config.rule_context())
        .unwrap_or_else(|e| panic!("{e}"));
    let running = start(config, rules).await;
    let writer = db.writer();
    writer
        .insert(&finished_run("slow-1", "one_shot", 900.0, "completed"))
        .await
        .unwrap();

    let got = wait_active(port, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "the firing alert is in Alertmanager: {got:?}");
    let alert = &got[0];
    assert_eq!(alert["labels"]["alertname"], "workflow_slow");
    assert_eq!(alert["labels"]["mode"], "one_shot");
    assert_eq!(alert["labels"]["severity"], "warning");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("900"),
        "{alert}"
    );
    assert_eq!(alert["status"]["state"], "active", "{alert}");

    // The slow run leaves the 3 s window and a normal one comes in: the alert resolves,
    // and the resolution pushed to Alertmanager ends it there.
    writer
        .insert(&finished_run("ok-1", "one_shot", 100.0, "completed"))
        .await
        .unwrap();
    let got = wait_active(port, 0, Duration::from_secs(20)).await;
    assert!(got.is_empty(), "resolved in Alertmanager too: {got:?}");
    let stats = running.store.outbox_stats().await.unwrap();
    assert_eq!((stats.dead, stats.delivered), (0, 2), "{stats:?}");
    let metrics = running.metrics.render();
    assert!(
        metrics.contains(r#"driftwatch_notifications_total{receiver="am",result="delivered"} 2"#),
        "{metrics}"
    );
    running.stop(Duration::from_secs(5)).await;
}
