//! kill -9 of the service while 1,000 notifications are being delivered loses none:
//! after a restart every alert arrives, and any duplicate carries the same webhook-id.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use driftwatch::demo::receiver::Receiver;

use crate::helpers::{finished_run, Backend, TestDb, SECRET};

const ALERTS: usize = 1000;

fn spawn_service(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_during_delivery_loses_nothing() {
    let db = TestDb::new(Backend::Sqlite).await;
    let writer = db.writer();
    for i in 0..ALERTS {
        let mut run = finished_run(&format!("run-{i:04}"), "one_shot", 900.0, "completed");
        run.session_id = format!("sess-{i:04}");
        writer.insert(&run).await.unwrap();
    }
    // A slow receiver, so the kill lands in the middle of delivery.
    let receiver = Receiver::start_slow(Some(SECRET), 0, false, Duration::from_millis(20))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/slow.toml"),
        r#"
[[rule]]
name = "workflow_slow"
metric = "workflow.duration"
group_by = ["session_id"]
window = "1h"
every = "500ms"
severity = "warning"
detector = { kind = "threshold", above = 600 }
"#,
    )
    .unwrap();
    let config = dir.path().join("driftwatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
[store]
url = "sqlite://{store}/store.db"
[sources.cmbagent]
kind = "sql"
url = "{source}"
[receivers.hook]
kind = "webhook"
url = "{hook}"
secret = "{SECRET}"
[delivery]
allow_private = ["127.0.0.1"]
retry_schedule = ["100ms", "200ms", "500ms", "1s"]
concurrency = 8
"#,
            store = dir.path().display(),
            source = db.url,
            hook = receiver.url()
        ),
    )
    .unwrap();

    let mut child = spawn_service(&config);
    let before = receiver
        .wait_for(Duration::from_secs(30), |d| d.len() >= 150)
        .await
        .len();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        (150..ALERTS).contains(&before),
        "killed after {before} deliveries"
    );

    let mut child = spawn_service(&config);
    let fingerprints = |d: &[driftwatch::demo::receiver::Delivery]| -> HashSet<String> {
        d.iter()
            .filter_map(|x| x.payload.as_ref())
            .map(|p| p.alerts[0].fingerprint.clone())
            .collect()
    };
    let got = receiver
        .wait_for(Duration::from_secs(60), |d| fingerprints(d).len() >= ALERTS)
        .await;
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(
        fingerprints(&got).len(),
        ALERTS,
        "every alert arrived at least once"
    );
    let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
    for d in &got {
        let fp = d.payload.as_ref().unwrap().alerts[0].fingerprint.clone();
        ids.entry(fp).or_default().insert(d.id.clone());
        assert!(d.signature_ok);
    }
    assert!(
        ids.values().all(|set| set.len() == 1),
        "a duplicate carried a different webhook-id"
    );
    let duplicates = got.len() - ALERTS;
    println!(
        "{ALERTS} alerts, {} deliveries, {duplicates} duplicates after kill -9",
        got.len()
    );
}
