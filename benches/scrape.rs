//! Scrape speed: the exposition reader's throughput on a realistic 100,000-series payload,
//! a scrape store taking in that payload, and one whole cycle as the service runs it —
//! HTTP scrape over loopback, parse, store, then three rules fetching, aggregating and
//! judging every series.
// criterion_group! generates undocumented items; the bench functions say what they measure.
#![allow(missing_docs)]

#[path = "support/exposition_payload.rs"]
mod exposition_payload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use driftwatch::clock::SystemClock;
use driftwatch::engine::evaluate::RuleRuntime;
use driftwatch::rule::{parse_rules, RuleContext};
use driftwatch::sources::exposition::{Format, Reader};
use driftwatch::sources::scrape::ScrapeSource;
use driftwatch::sources::scrape_settings::ScrapeSettings;
use driftwatch::sources::scrape_store::ScrapeStore;
use driftwatch::sources::SourceKind;
use driftwatch::sources::{FetchRequest, Source};
use driftwatch::types::SourceFile;

const SERIES: usize = 100_000;

fn read_100k_series(c: &mut Criterion) {
    let text = exposition_payload::payload(SERIES, 1);
    let mut group = c.benchmark_group("exposition");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("read_100k_series", |b| {
        let mut reader = Reader::new();
        b.iter(|| {
            let mut sum = 0.0;
            reader
                .read(&text, Format::Text, |s| {
                    sum += s.value;
                    // Touch the labels as a consumer would, escapes undone.
                    for (name, value) in s.labels() {
                        sum += (name.len() + value.len()) as f64;
                    }
                    Ok(())
                })
                .unwrap();
            sum
        })
    });
    group.finish();

    let mut group = c.benchmark_group("scrape_store");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("ingest_100k_series", |b| {
        let mut store = ScrapeStore::new(Duration::from_secs(60));
        let payloads = [
            exposition_payload::payload(SERIES, 1),
            exposition_payload::payload(SERIES, 2),
        ];
        let mut n = 0usize;
        let mut now = Utc::now();
        b.iter(|| {
            n += 1;
            now += chrono::Duration::seconds(5);
            store.ingest(&payloads[n % 2], Format::Text, now).unwrap()
        })
    });
    group.finish();
}

const RULES: &str = r#"
[[rule]]
name = "llm_p95_slow"
source = "exporter"
metric = "llm_call_duration_seconds"
group_by = ["model", "agent"]
aggregate = "p95"
window = "1m"
every = "5s"
severity = "warning"
detector = { kind = "threshold", above = 30 }

[[rule]]
name = "workflow_rate_drift"
source = "exporter"
metric = "workflow_count_total"
group_by = ["agent", "status"]
aggregate = "rate"
window = "1m"
every = "5s"
severity = "warning"
detector = { kind = "ewma" }

[[rule]]
name = "session_cost_high"
source = "exporter"
metric = "session_cost_dollars"
group_by = ["session_id"]
aggregate = "last"
window = "1m"
every = "5s"
severity = "warning"
max_series = 200000
detector = { kind = "threshold", above = 50 }
"#;

fn scrape_and_evaluate_100k_series(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let payloads = Arc::new([
        exposition_payload::payload(SERIES, 1),
        exposition_payload::payload(SERIES, 2),
    ]);
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let payloads = Arc::clone(&payloads);
                let n = served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async move { payloads[n % 2].clone() }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    });
    let source = ScrapeSource::new(
        "exporter",
        ScrapeSettings {
            url: format!("http://{addr}/metrics").parse().unwrap(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_bytes: 64 << 20,
            retention: Duration::from_secs(60),
            max_series: driftwatch::sources::scrape_store::DEFAULT_MAX_SERIES,
        },
        Arc::new(SystemClock),
        None,
    )
    .unwrap();
    let ctx = RuleContext {
        sources: vec!["exporter".to_owned()],
        source_kinds: BTreeMap::from([("exporter".to_owned(), SourceKind::Scrape)]),
        receivers: vec![],
        default_receivers: vec![],
    };
    let rules = parse_rules(&[SourceFile::new("bench.toml", RULES)], &ctx)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut runtimes: Vec<RuleRuntime> = rules
        .rules
        .iter()
        .map(|r| RuleRuntime::new(Arc::clone(r)))
        .collect();
    let mut after = Utc::now() - chrono::Duration::seconds(60);
    let mut group = c.benchmark_group("scrape");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("scrape_and_evaluate_100k_series", |b| {
        b.iter(|| {
            rt.block_on(async {
                source.scrape_once().await.unwrap();
                let until = Utc::now();
                let mut series = 0;
                for runtime in &mut runtimes {
                    let rule = Arc::clone(&runtime.rule);
                    let fetched = source
                        .fetch(FetchRequest {
                            query: &rule.query,
                            after,
                            until,
                        })
                        .await
                        .unwrap();
                    runtime.ingest(fetched, after, until, false);
                    series += runtime.evaluate(until).series;
                }
                after = until;
                series
            })
        })
    });
    group.finish();
}

criterion_group!(benches, read_100k_series, scrape_and_evaluate_100k_series);
criterion_main!(benches);
