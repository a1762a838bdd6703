//! SIGHUP to the real binary reloads the rules: a broken file (rewritten with its size and
//! modification time kept, so the directory watcher cannot be what notices) fails the
//! reload visibly while the old rule keeps running; the API and the metric show it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::external::{free_port, wait_ready, Proc};
use crate::helpers::{Backend, TestDb};

const GOOD: &str = r#"[[rule]]
name = "workflow_slow"
metric = "workflow.duration"
window = "1h"
every = "500ms"
severity = "warning"
detector = { kind = "threshold", above = 600 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_a_broken_file_keeps_the_old_rules() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let rule_file = dir.path().join("rules/slow.toml");
    std::fs::write(&rule_file, GOOD).unwrap();
    let port = free_port();
    let config = dir.path().join("driftwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\napi_token = \"${{DW_TEST_TOKEN}}\"\n\
             [store]\nurl = \"sqlite://{}/store.db\"\n\
             [sources.cmbagent]\nkind = \"sql\"\nurl = \"{}\"\n",
            dir.path().display(),
            db.url
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["run", "--config"])
        .arg(&config)
        .env("DW_TEST_TOKEN", "sighup-test-token-123456")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let _child = Proc::new(child);
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/readyz"), Duration::from_secs(20)).await;
    let client = reqwest::Client::new();
    let status = || async {
        client
            .get(format!("{base}/api/v1/status"))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    assert_eq!(status().await["last_reload"]["trigger"], "startup");

    // Same size, same mtime: invisible to the watcher, so only SIGHUP can reload it.
    let mtime = std::fs::metadata(&rule_file).unwrap().modified().unwrap();
    let broken = GOOD.replace("severity = \"warning\"", "severity = \"warnin\" ");
    assert_eq!(broken.len(), GOOD.len());
    std::fs::write(&rule_file, &broken).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&rule_file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        status().await["last_reload"]["trigger"],
        "startup",
        "the watcher did not see the rewrite"
    );

    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let body = status().await;
        if body["last_reload"]["trigger"] == "sighup" {
            break body;
        }
        assert!(Instant::now() < deadline, "no reload after SIGHUP: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["last_reload"]["success"], false, "{body}");
    let location = body["last_reload"]["errors"][0]["location"]
        .as_str()
        .unwrap();
    assert!(location.ends_with("rules/slow.toml:6:12"), "{body}");
    assert_eq!(
        body["rules_loaded"], 1,
        "the old rule keeps running: {body}"
    );
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("driftwatch_config_last_reload_successful 0"));
}
