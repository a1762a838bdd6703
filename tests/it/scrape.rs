//! The scrape source against real exporters: the official Python client's histograms (a
//! p95 rule fires within the 21 s target after a ×4 latency jump, and resolves), and a
//! counter that resets and an exposition that turns malformed, served from this test.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftwatch::config::validated::SourceConfig;
use driftwatch::demo::receiver::{Delivery, Receiver};
use driftwatch::model::AlertState;
use driftwatch::rule::parse_rules;
use driftwatch::sources::scrape_settings::ScrapeSettings;
use driftwatch::types::SourceFile;

use crate::external::{free_port, start_exporter};
use crate::helpers::{service_config, start, Backend, TestDb, SECRET};

fn scrape_source(url: String, interval: Duration) -> SourceConfig {
    SourceConfig::Scrape(ScrapeSettings {
        url: url.parse().unwrap(),
        interval,
        timeout: interval,
        max_bytes: 1 << 20,
        retention: Duration::from_secs(120),
        max_series: driftwatch::sources::scrape_store::DEFAULT_MAX_SERIES,
    })
}

/// The service with a scrape source `exporter` on the loopback `port` and `rules`.
async fn start_scraping(
    port: u16,
    interval: Duration,
    rules: &str,
) -> (TestDb, Receiver, driftwatch::app::Running) {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let mut config = service_config(&db.url, &db.store_url(), &receiver);
    config.sources.insert(
        "exporter".to_owned(),
        scrape_source(format!("http://127.0.0.1:{port}/metrics"), interval),
    );
    let rules = parse_rules(
        &[SourceFile::new("scrape.toml", rules)],
        &config.rule_context(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let running = start(config, rules).await;
    (db, receiver, running)
}

fn kinds(got: &[Delivery]) -> Vec<(String, String)> {
    got.iter()
        .filter_map(|d| d.payload.as_ref())
        .flat_map(|p| p.alerts.iter().map(|a| (a.rule.clone(), p.kind.clone())))
        .collect()
}

const P95_RULE: &str = r#"
[[rule]]
name = "llm_p95_slow"
source = "exporter"
metric = "llm_call_duration_seconds"
group_by = ["model"]
aggregate = "p95"
window = "10s"
every = "1s"
for = "15s"
severity = "warning"
summary = "{label.model} p95 {value} s"
detector = { kind = "threshold", above = 6 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histogram_p95_rule_on_a_scraped_exporter_fires_within_21s_of_a_jump_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("factor");
    std::fs::write(&control, "1").unwrap();
    let port = free_port();
    let _exporter = start_exporter(port, &control).await;

    let (_db, receiver, running) = start_scraping(port, Duration::from_secs(5), P95_RULE).await;

    // Two scrapes at normal latency (p95 ≈ 2.4 s): nothing.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(
        receiver.deliveries().is_empty(),
        "no alert at normal latency"
    );

    std::fs::write(&control, "4").unwrap();
    let jumped = Instant::now();
    let got = receiver
        .wait_for(Duration::from_secs(40), |d| !d.is_empty())
        .await;
    let took = jumped.elapsed();
    let payload = got[0].payload.as_ref().expect("driftwatch payload");
    assert_eq!(payload.kind, "alert.firing");
    assert_eq!(payload.alerts.len(), 1, "only the slow model: {payload:?}");
    let alert = &payload.alerts[0];
    assert_eq!(alert.labels.get("model"), Some("gpt-4o"));
    assert_eq!(alert.state, AlertState::Firing);
    assert!(alert.value.unwrap() > 6.0, "{:?}", alert.value);
    eprintln!("jump to webhook: {took:?}");
    // Scrape every 5 s + `for` 15 s + one 1 s evaluation step bound it at 21 s.
    assert!(
        took < Duration::from_millis(21_500),
        "the jump reached the webhook after {took:?}"
    );

    std::fs::write(&control, "1").unwrap();
    let got = receiver
        .wait_for(Duration::from_secs(40), |d| {
            kinds(d).iter().any(|(_, k)| k == "alert.resolved")
        })
        .await;
    assert!(
        kinds(&got).contains(&("llm_p95_slow".to_owned(), "alert.resolved".to_owned())),
        "the alert resolves when latencies recover: {:?}",
        kinds(&got)
    );
    let metrics = running.metrics.render();
    assert!(
        metrics.contains(r#"driftwatch_scrapes_total{result="ok",source="exporter"}"#),
        "{metrics}"
    );
    running.stop(Duration::from_secs(5)).await;
}

/// An exporter whose text the test writes.
async fn serve_text(text: Arc<Mutex<String>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = text.lock().unwrap().clone();
            async move { text }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

const RATE_RULE: &str = r#"
[[rule]]
name = "jobs_rate_out_of_range"
source = "exporter"
metric = "jobs_total"
aggregate = "rate"
window = "5s"
every = "500ms"
severity = "warning"
summary = "job rate {value}/s"
# 10/s throughout; a reset read as a drop would make it negative.
detector = { kind = "threshold", below = 0, above = 20 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_reset_is_no_negative_rate_and_a_malformed_scrape_raises_source_down() {
    let text = Arc::new(Mutex::new(String::new()));
    let port = serve_text(Arc::clone(&text)).await;
    let started = Instant::now();
    // 10 jobs a second; the process "restarts" at 6 s and counts from zero again.
    let counter = {
        let text = Arc::clone(&text);
        tokio::spawn(async move {
            loop {
                let t = started.elapsed().as_secs_f64();
                let value = if t < 6.0 {
                    5000.0 + 10.0 * t
                } else {
                    10.0 * (t - 6.0)
                };
                *text.lock().unwrap() = format!(
                    "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{{queue=\"a\\\"b\"}} {value:.1}\n"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let (_db, receiver, running) =
        start_scraping(port, Duration::from_millis(500), RATE_RULE).await;

    // Across the reset and 6 s after it, the rate stays in range: no alert.
    while started.elapsed() < Duration::from_secs(12) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        receiver.deliveries().is_empty(),
        "a counter reset raised {:?}",
        kinds(&receiver.deliveries())
    );
    // The exporter starts writing garbage: a source_down alert names the line.
    counter.abort();
    *text.lock().unwrap() =
        "# TYPE jobs_total counter\njobs_total{queue=\"a\"} 1\njobs_total{queue=\"b} 2\n"
            .to_owned();
    let got = receiver
        .wait_for(Duration::from_secs(10), |d| !d.is_empty())
        .await;
    let alert = &got[0].payload.as_ref().unwrap().alerts[0];
    assert_eq!(alert.rule, "source_down", "{:?}", kinds(&got));
    assert_eq!(alert.labels.get("source"), Some("exporter"));
    let summary = &alert.annotations["summary"];
    assert!(summary.contains("line 3"), "{summary}");
    running.stop(Duration::from_secs(5)).await;
}
