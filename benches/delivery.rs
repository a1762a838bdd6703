//! Delivery benchmarks: durable throughput (SQLite store → loopback webhook) and the
//! latency from an evaluation's commit to the receiver, with the dispatcher woken.
// criterion_group! generates undocumented items; the bench functions say what they measure.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use driftwatch::clock::SystemClock;
use driftwatch::notify::deliver::settings::{DeliveryConfig, WebhookConfig};
use driftwatch::notify::deliver::webhook::WebhookSender;
use driftwatch::notify::{Dispatcher, StepOutcome};
use driftwatch::store::{CommitBatch, NewMessage, Store};
use driftwatch::telemetry::Metrics;
use driftwatch::types::Secret;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A receiver that only counts: the bench measures driftwatch, not the receiver.
async fn counting_receiver() -> (String, Arc<AtomicUsize>, Arc<Notify>) {
    let count = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(Notify::new());
    let (c, a) = (Arc::clone(&count), Arc::clone(&arrived));
    let app = Router::new().route(
        "/hook",
        post(move || {
            let (c, a) = (Arc::clone(&c), Arc::clone(&a));
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                a.notify_waiters();
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, count, arrived)
}

fn message(i: usize, now_ms: i64) -> NewMessage {
    NewMessage {
        id: format!("msg_bench_{now_ms}_{i}"),
        receiver: "hook".into(),
        fingerprint: format!("{i:016x}"),
        event: "firing".into(),
        payload: format!(
            r#"{{"version":"driftwatch.alert.v1","type":"alert.firing","id":"msg_bench_{i}","alerts":[{{"rule":"workflow_slow","value":{i}}}]}}"#
        ),
        created_at_ms: now_ms,
        evaluation_ids: Vec::new(),
    }
}

async fn setup(dir: &std::path::Path) -> (Store, Dispatcher, Arc<AtomicUsize>, Arc<Notify>) {
    let store = Store::connect(&format!("sqlite://{}/bench.db", dir.display()))
        .await
        .unwrap();
    let (url, count, arrived) = counting_receiver().await;
    let sender = WebhookSender::new(
        WebhookConfig {
            url: url.parse().unwrap(),
            secret: Some(Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
            previous_secrets: Vec::new(),
            timeout: Duration::from_secs(5),
            max_response_bytes: 4096,
            // The counting receiver listens on loopback.
            allow_private: true,
            disable_after: None,
            body: Default::default(),
        },
        &[],
    )
    .unwrap();
    let dispatcher = Dispatcher::new(
        store.clone(),
        HashMap::from([("hook".to_owned(), sender)]),
        DeliveryConfig::default(),
        Arc::new(SystemClock),
        Metrics::new(),
    );
    (store, dispatcher, count, arrived)
}

fn durable_throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, dispatcher, count, _) = rt.block_on(setup(dir.path()));
    const N: usize = 5_000;
    let mut group = c.benchmark_group("delivery");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("durable_sqlite_loopback_5000", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let now = chrono::Utc::now().timestamp_millis();
                    let batch = CommitBatch {
                        messages: (0..N).map(|i| message(i, now)).collect(),
                        at_ms: now,
                        ..Default::default()
                    };
                    store.commit(&batch).await.unwrap();
                    let before = count.load(Ordering::Relaxed);
                    let started = Instant::now();
                    while dispatcher.step().await.unwrap() != StepOutcome::Empty {}
                    total += started.elapsed();
                    assert_eq!(count.load(Ordering::Relaxed) - before, N);
                }
                total
            })
        })
    });
    group.finish();
}

fn commit_to_receiver_latency(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, dispatcher, count, arrived) = rt.block_on(setup(dir.path()));
    let wake = Arc::new(Notify::new());
    let shutdown = CancellationToken::new();
    rt.spawn(Arc::new(dispatcher).run(Arc::clone(&wake), shutdown.clone()));
    let mut group = c.benchmark_group("delivery");
    group.sample_size(50);
    group.bench_function("commit_to_receiver_latency", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let now = chrono::Utc::now().timestamp_millis();
                    let before = count.load(Ordering::Relaxed);
                    let started = Instant::now();
                    let notified = arrived.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    store
                        .commit(&CommitBatch {
                            messages: vec![message(i as usize, now)],
                            at_ms: now,
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                    wake.notify_one();
                    while count.load(Ordering::Relaxed) == before {
                        notified.as_mut().await;
                        notified.set(arrived.notified());
                        notified.as_mut().enable();
                    }
                    total += started.elapsed();
                }
                total
            })
        })
    });
    group.finish();
    shutdown.cancel();
}

criterion_group!(benches, durable_throughput, commit_to_receiver_latency);
criterion_main!(benches);
