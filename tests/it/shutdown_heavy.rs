//! SIGTERM to the real binary while its scrape sources are heavy (one serves a body of
//! hundreds of thousands of series, one holds its response and never finishes it) and
//! rules read them: the process is gone within its grace and a small margin.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;

use crate::external::free_port;

const GRACE: Duration = Duration::from_secs(2);
/// What the process may take past its grace: exiting, not working.
const MARGIN: Duration = Duration::from_millis(1500);
const HEAVY_SERIES: usize = 300_000;

/// An exporter serving one large payload on `/heavy` (counting requests) and holding
/// every `/held` request open forever.
async fn heavy_exporter(served: Arc<AtomicUsize>) -> u16 {
    let mut text = String::from("# TYPE step_seconds gauge\n");
    for i in 0..HEAVY_SERIES {
        text.push_str(&format!(
            "step_seconds{{session_id=\"sess-{i:09}\",agent=\"engineer\"}} {}.5\n",
            i % 97
        ));
    }
    let body = Bytes::from(text);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .route(
            "/heavy",
            axum::routing::get(move || {
                served.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                async move { body }
            }),
        )
        .route(
            "/held",
            axum::routing::get(|| async {
                std::future::pending::<()>().await;
                ""
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

fn config(dir: &std::path::Path, listen: u16, exporter: u16) -> std::path::PathBuf {
    std::fs::create_dir(dir.join("rules")).unwrap();
    let rule = |name: &str, source: &str| {
        format!(
            "[[rule]]\nname = \"{name}\"\nsource = \"{source}\"\nmetric = \"step_seconds\"\n\
             group_by = [\"session_id\"]\naggregate = \"max\"\nwindow = \"30s\"\nevery = \"200ms\"\n\
             severity = \"warning\"\ndetector = {{ kind = \"threshold\", above = 1000 }}\n"
        )
    };
    let rules = rule("heavy_slow", "heavy") + &rule("held_slow", "held");
    std::fs::write(dir.join("rules/scraped.toml"), rules).unwrap();
    let path = dir.join("driftwatch.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
listen = "127.0.0.1:{listen}"
[store]
url = "sqlite://{store}/store.db"
[sources.heavy]
kind = "scrape"
url = "http://127.0.0.1:{exporter}/heavy"
interval = "1s"
[sources.held]
kind = "scrape"
url = "http://127.0.0.1:{exporter}/held"
interval = "10s"
"#,
            store = dir.display(),
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_heavy_scrapes_stops_within_the_grace() {
    let served = Arc::new(AtomicUsize::new(0));
    let exporter = heavy_exporter(Arc::clone(&served)).await;
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let config = config(dir.path(), listen, exporter);
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["run", "--shutdown-grace", &format!("{}s", GRACE.as_secs())])
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    // Two heavy bodies served: scrapes and evaluations of them are under way.
    let started = Instant::now();
    while served.load(Ordering::SeqCst) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the service never scraped"
        );
        assert!(child.try_wait().unwrap().is_none(), "the service exited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

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
        if asked.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("still running 30 s after SIGTERM with a {GRACE:?} grace");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = asked.elapsed();
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    let tail: Vec<&str> = log.lines().rev().take(6).collect();
    eprintln!("SIGTERM → exit in {took:?}; log ends:\n{}", tail.join("\n"));
    assert!(exit.success(), "exit status {exit:?}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        took <= GRACE + MARGIN,
        "stopped {took:?} after SIGTERM with a {GRACE:?} grace"
    );
}
