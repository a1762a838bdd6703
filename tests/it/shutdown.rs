//! SIGTERM to the real binary in the middle of delivery: it exits 0 within the grace
//! bound, leaves no claimed notification behind, and the next process delivers the rest
//! without a single duplicate (what was in flight was finished and recorded, not dropped).

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use driftwatch::demo::receiver::Receiver;
use sqlx::AnyPool;

use crate::helpers::{finished_run, Backend, TestDb, SECRET};

const ALERTS: usize = 400;

fn spawn_service(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["run", "--shutdown-grace", "3s", "--config"])
        .arg(config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_work_and_exits_in_time() {
    let db = TestDb::new(Backend::Sqlite).await;
    let writer = db.writer();
    for i in 0..ALERTS {
        let mut run = finished_run(&format!("run-{i:04}"), "one_shot", 900.0, "completed");
        run.session_id = format!("sess-{i:04}");
        writer.insert(&run).await.unwrap();
    }
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
concurrency = 8
"#,
            store = dir.path().display(),
            source = db.url,
            hook = receiver.url()
        ),
    )
    .unwrap();

    let mut child = spawn_service(&config);
    receiver
        .wait_for(Duration::from_secs(30), |d| d.len() >= 60)
        .await;
    let asked = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(6),
            "still running 6 s after SIGTERM with a 3 s grace"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = asked.elapsed();
    assert!(exit.success(), "graceful exit status: {exit:?}");
    let before = receiver.deliveries().len();
    assert!(before < ALERTS, "stopped mid-delivery ({before} sent)");

    sqlx::any::install_default_drivers();
    let store = AnyPool::connect(&format!("sqlite://{}/store.db", dir.path().display()))
        .await
        .unwrap();
    let (claimed,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND claimed_until IS NOT NULL",
    )
    .fetch_one(&store)
    .await
    .unwrap();
    store.close().await;
    assert_eq!(
        claimed, 0,
        "no notification left claimed by the stopped process"
    );

    let mut child = spawn_service(&config);
    let got = receiver
        .wait_for(Duration::from_secs(60), |d| d.len() >= ALERTS)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let got_all = receiver.deliveries();
    let ids: HashSet<&str> = got_all.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        got.len().max(got_all.len()),
        ALERTS,
        "every alert exactly once"
    );
    assert_eq!(
        ids.len(),
        got_all.len(),
        "no duplicate after a graceful stop"
    );
    println!("SIGTERM → exit in {took:?}; {before} delivered before, the rest after");
}
