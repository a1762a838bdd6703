//! Scale: one rule's whole evaluation — window, groups, a 7-day z-score per series, the
//! alert state machine and the choice of baselines to write — over 10,000 and 100,000
//! scraped series, read as the service reads a scrape source (the rows after the last
//! read), from a week-old synthetic state (each baseline's window full); the same with
//! the evaluation's commit to a SQLite store (the baselines due, alerts, history); and
//! what a series costs in memory when a rule holds 1,000,000 (printed once, from the
//! process's resident set, after three young ticks).
// criterion_group! generates undocumented items; the bench functions say what they measure.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use driftwatch::detect::moments::WindowMoments;
use driftwatch::detect::sketch::DecayingSketch;
use driftwatch::engine::evaluate::{EvaluationOutcome, RuleRuntime};
use driftwatch::engine::journal;
use driftwatch::model::{fingerprint, Labels, Sample};
use driftwatch::rule::{parse_rules, RuleContext};
use driftwatch::sources::{Observation, SourceKind};
use driftwatch::store::{CommitBatch, JournalTick, Store};
use driftwatch::types::SourceFile;

/// The rule the issue measures against Prometheus: each series judged by a 7-day z-score,
/// every 10 s.
const RULE: &str = r#"
[[rule]]
name = "latency_z"
metric = "request_latency_seconds"
group_by = ["series"]
aggregate = "last"
window = "10s"
every = "10s"
max_series = 2000000
severity = "warning"
detector = { kind = "zscore", window = "7d", sigmas = 6 }
"#;

fn runtime() -> RuleRuntime {
    let ctx = RuleContext {
        sources: vec!["exporter".to_owned()],
        source_kinds: BTreeMap::from([("exporter".to_owned(), SourceKind::Scrape)]),
        receivers: vec![],
        default_receivers: vec![],
    };
    let text = RULE.replace("[[rule]]", "[[rule]]\nsource = \"exporter\"");
    let rules = parse_rules(&[SourceFile::new("scale.toml", &text)], &ctx)
        .unwrap_or_else(|e| panic!("{e}"));
    RuleRuntime::new(Arc::clone(&rules.rules[0]))
}

/// The series' label sets, shared as a scrape store hands them out.
fn labels(n: usize) -> Vec<Arc<Labels>> {
    (0..n)
        .map(|i| Arc::new(Labels::new().with("series", format!("s{i:07}"))))
        .collect()
}

/// One scrape's snapshot at `at`: every series with a value around 1 (deterministic).
fn snapshot(labels: &[Arc<Labels>], at: DateTime<Utc>, tick: u64) -> Vec<Observation> {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| Observation {
            labels: Arc::clone(l),
            sample: Sample {
                ts: at,
                value: 1.0 + (((i as u64).wrapping_mul(2_654_435_761) ^ tick) % 97) as f64 / 970.0,
            },
        })
        .collect()
}

/// A week-old baseline as the z-score detector stores it: 7 days of one value around 1
/// every 10 s in the window, and the rarity test's tail of as many deviations. The
/// same for every series (synthetic warm state instead of replaying a week per series).
fn week_old_state(now: DateTime<Utc>) -> serde_json::Value {
    let week_ms = 7 * 86_400_000;
    let mut window = WindowMoments::new(week_ms, 16);
    let mut tail = DecayingSketch::for_upper_tail(5000.0);
    let start = now.timestamp_millis() - week_ms + 10_000;
    for i in 0..60_000i64 {
        let x = 1.0 + ((i.wrapping_mul(2_654_435_761) % 97) as f64) / 970.0;
        window.add(start + i * 10_000, x);
        tail.rank_then_add(((x - 1.05) / 0.029).abs(), true);
    }
    serde_json::json!({
        "base": { "moments": window, "days": 7.0 },
        "streak": 0,
        "tail": tail,
        "accepted": false,
    })
}

/// A runtime that has judged `ticks` scrapes of `n` series, and the time of the next;
/// with `week_old`, each series' baseline starts from [`week_old_state`] (its window
/// full: the normal tail, not the Student-t one of a young window).
fn warm(
    n: usize,
    ticks: u64,
    week_old: bool,
) -> (RuleRuntime, Vec<Arc<Labels>>, DateTime<Utc>, u64) {
    let mut rt = runtime();
    let labels = labels(n);
    let mut at = DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
    if week_old {
        let state = week_old_state(at);
        let stored = labels
            .iter()
            .map(|l| (fingerprint(&rt.rule.name, l).to_string(), state.clone()))
            .collect();
        rt.restore(vec![], stored);
    }
    for tick in 0..ticks {
        let obs = snapshot(&labels, at, tick);
        rt.ingest(obs, at - chrono::Duration::seconds(10), at, false);
        rt.evaluate(at);
        at += chrono::Duration::seconds(10);
    }
    if week_old {
        let group = rt.groups.values().next().expect("a series");
        let n = group.detector.snapshot()["tail"]["n"].as_u64();
        assert!(n > Some(50_000), "the week-old state was restored: {n:?}");
    }
    (rt, labels, at, ticks)
}

/// Times one evaluation of the next scrape, the snapshot made outside the timing. The
/// warm state is made on the first call, so a filtered run warms only what it times.
fn bench_ticks(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    warm_state: impl FnOnce() -> (RuleRuntime, Vec<Arc<Labels>>, DateTime<Utc>, u64),
) {
    let mut warm_state = Some(warm_state);
    let mut state = None;
    group.bench_function(name, |b| {
        let (rt, labels, at, tick) =
            state.get_or_insert_with(|| (warm_state.take().expect("warmed once"))());
        b.iter_batched(
            || {
                *tick += 1;
                *at += chrono::Duration::seconds(10);
                (snapshot(labels, *at, *tick), *at)
            },
            |(obs, at)| {
                rt.ingest(obs, at - chrono::Duration::seconds(10), at, false);
                rt.evaluate(at).series
            },
            BatchSize::LargeInput,
        )
    });
}

/// The evaluation's writes as the service commits them: alerts that changed or are live,
/// their history, and the baselines due.
fn batch_of(rule: &str, outcome: EvaluationOutcome, at: DateTime<Utc>) -> CommitBatch {
    CommitBatch {
        at_ms: at.timestamp_millis(),
        alerts: outcome.alerts,
        transitions: outcome.transitions,
        baselines: outcome
            .baselines
            .into_iter()
            .map(|b| (rule.to_owned(), b.fingerprint, b.state))
            .collect(),
        journal: (!outcome.journal.is_empty()).then(|| JournalTick {
            rule: rule.to_owned(),
            deltas: outcome.journal,
            prune_before_ms: journal::prune_before(at).timestamp_millis(),
        }),
        forgotten: outcome.forgotten,
        ..Default::default()
    }
}

/// Times one evaluation of 10k and of 100k series and its commit to a SQLite store in a
/// temporary directory, a minute of ticks (six) an iteration so the minutely baseline
/// writes (deltas, and a tenth of the series whole) are in it once.
fn bench_commits(c: &mut Criterion) {
    let tokio = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut group = c.benchmark_group("scale");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for (name, n) in [("10k", 10_000), ("100k", 100_000)] {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/scale.db", dir.path().display());
        let mut state = None;
        let name = format!("evaluate_and_commit_{name}_series_zscore_7d_per_tick");
        group.bench_function(name, |b| {
            let (store, (rt, labels, at, tick)) = state.get_or_insert_with(|| {
                let store = tokio
                    .block_on(Store::connect(&url))
                    .unwrap_or_else(|e| panic!("{e}"));
                (store, warm(n, 40, true))
            });
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters * 6 {
                    *tick += 1;
                    *at += chrono::Duration::seconds(10);
                    let obs = snapshot(labels, *at, *tick);
                    let started = std::time::Instant::now();
                    rt.ingest(obs, *at - chrono::Duration::seconds(10), *at, false);
                    let outcome = rt.evaluate(*at);
                    let batch = batch_of(&rt.rule.name, outcome, *at);
                    tokio
                        .block_on(store.commit(&batch))
                        .unwrap_or_else(|e| panic!("{e}"));
                    spent += started.elapsed();
                }
                spent / 6
            })
        });
    }
    group.finish();
}

fn evaluate(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(15));
    for (name, n) in [("10k", 10_000), ("100k", 100_000)] {
        let name = format!("evaluate_{name}_series_zscore_7d");
        bench_ticks(&mut group, &name, move || warm(n, 40, true));
    }
    group.finish();
}

/// What counting alert states by visiting every group cost, per evaluation, before the
/// evaluation counted them as it judged (the `driftwatch_alerts` gauge's walk).
fn alert_state_walk(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    for (name, n) in [("10k", 10_000), ("100k", 100_000)] {
        let (rt, ..) = warm(n, 2, false);
        group.bench_function(format!("alert_state_walk_{name}_series"), |b| {
            b.iter(|| rt.alert_states_by_walk())
        });
    }
    group.finish();
}

/// Resident set size of this process, in bytes (Linux).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn one_million(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    bench_ticks(&mut group, "evaluate_1m_series_zscore_7d", || {
        let before = resident_bytes().unwrap_or(0);
        let warmed = warm(1_000_000, 3, false);
        let after = resident_bytes().unwrap_or(0);
        eprintln!(
            "scale/1m: resident set grew {:.2} GiB for 1,000,000 series ({} bytes a series, labels and one scrape's snapshot included)",
            after.saturating_sub(before) as f64 / (1u64 << 30) as f64,
            after.saturating_sub(before) / 1_000_000
        );
        warmed
    });
    group.finish();
}

criterion_group!(
    benches,
    evaluate,
    alert_state_walk,
    bench_commits,
    one_million
);
criterion_main!(benches);
