//! An exporter that brings new label values on every scrape, served over HTTP from this
//! test: the scrape source forgets series gone stale, never holds more than its
//! `max_series` (counting what it drops), and its memory stays bounded over 300 scrapes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use driftwatch::clock::ManualClock;
use driftwatch::sources::scrape::ScrapeSource;
use driftwatch::sources::scrape_settings::ScrapeSettings;
use driftwatch::telemetry::Metrics;

/// New series each scrape brings (a gauge and a counter per id).
const IDS_PER_SCRAPE: u64 = 1_000;
const MAX_SERIES: usize = 15_000;
const SCRAPES: u64 = 300;

/// Serves, on each request, `IDS_PER_SCRAPE` ids never served before.
async fn churning_exporter() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let n = served.fetch_add(1, Ordering::Relaxed);
            async move { exposition(n) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

fn exposition(scrape: u64) -> String {
    let mut text = String::from("# TYPE agent_step_seconds gauge\n# TYPE agent_calls counter\n");
    for i in 0..IDS_PER_SCRAPE {
        let id = scrape * IDS_PER_SCRAPE + i;
        let labels =
            format!("session_id=\"sess-{id:012}\",run_id=\"run-{id:012}-planning-and-control\"");
        text.push_str(&format!("agent_step_seconds{{{labels}}} 1.5\n"));
        text.push_str(&format!("agent_calls_total{{{labels}}} {id}\n"));
    }
    text
}

/// This process's resident set in bytes, from /proc/self/status.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_churning_exporter_stays_under_max_series_and_256_mib_over_300_scrapes() {
    let port = churning_exporter().await;
    let clock = ManualClock::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
    let metrics = Metrics::new();
    let settings = ScrapeSettings {
        url: format!("http://127.0.0.1:{port}/metrics").parse().unwrap(),
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
        max_bytes: 16 << 20,
        retention: Duration::from_secs(10),
        max_series: MAX_SERIES,
    };
    let source = ScrapeSource::new(
        "churn",
        settings,
        Arc::new(clock.clone()),
        Some(metrics.clone()),
    )
    .unwrap();
    let series = metrics.scrape_series.with_label_values(&["churn"]);
    let before = rss_bytes();
    let mut peak_series = 0;
    for n in 0..SCRAPES {
        // Scrapes are driven one step of the manual clock apart, not on a real interval.
        clock.advance(Duration::from_secs(1));
        source.scrape_once().await.unwrap();
        let held = series.get() as usize;
        peak_series = peak_series.max(held);
        assert!(held <= MAX_SERIES, "scrape {n}: {held} series held");
    }
    let grown = rss_bytes().saturating_sub(before);
    let dropped = metrics
        .scrape_series_dropped
        .with_label_values(&["churn"])
        .get();
    eprintln!(
        "{SCRAPES} scrapes of {} new series: peak {peak_series} held, {dropped} dropped, RSS +{} KiB",
        2 * IDS_PER_SCRAPE,
        grown / 1024
    );
    assert!(
        grown <= 256 << 20,
        "RSS grew {} MiB over {SCRAPES} scrapes",
        grown >> 20
    );
    // Retention 10 s at one scrape a second would hold 22,000: the limit bit, and what it
    // dropped was counted.
    assert_eq!(peak_series, MAX_SERIES);
    assert!(dropped > 0);
    let rendered = metrics.render();
    assert!(
        rendered.contains("driftwatch_scrape_series_dropped_total{source=\"churn\"}"),
        "{rendered}"
    );
}
