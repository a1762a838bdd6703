//! Baseline benchmarks: updates+verdicts per second for each detector kind, one
//! evaluation tick over 100,000 series, and bytes of state per series.
// criterion_group! generates undocumented items; the bench functions say what they measure.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use driftwatch::detect::config::BaselineConfig;
use driftwatch::detect::threshold::ThresholdConfig;
use driftwatch::detect::{Detector, DetectorConfig};
use rand::{Rng, SeedableRng};

fn kinds() -> Vec<(&'static str, DetectorConfig)> {
    let c = BaselineConfig::default;
    vec![
        (
            "threshold",
            DetectorConfig::Threshold(ThresholdConfig {
                above: Some(100.0),
                below: None,
                recover_below: None,
                recover_above: None,
            }),
        ),
        ("zscore", DetectorConfig::Zscore(c())),
        ("ewma", DetectorConfig::Ewma(c())),
        ("mad", DetectorConfig::Mad(c())),
        ("quantile", DetectorConfig::Quantile(c())),
        ("seasonal", DetectorConfig::Seasonal(c())),
        ("changepoint", DetectorConfig::Changepoint(c())),
        ("likelihood (default)", DetectorConfig::default_baseline()),
    ]
}

fn series(n: usize) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    (0..n).map(|_| 10.0 + rng.gen_range(-1.0..1.0)).collect()
}

fn per_kind(c: &mut Criterion) {
    let values = series(100_000);
    let mut group = c.benchmark_group("baseline_update");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.sample_size(10);
    for (name, config) in kinds() {
        group.bench_function(name, |b| {
            b.iter_batched(
                || config.build(),
                |mut d| {
                    for (i, x) in values.iter().enumerate() {
                        black_box(d.observe(i as i64 * 60_000, *x));
                    }
                    d
                },
                BatchSize::LargeInput,
            )
        });
        // State per series after a warm history: the persisted snapshot's size.
        let mut d = config.build();
        for (i, x) in values.iter().take(10_000).enumerate() {
            d.observe(i as i64 * 60_000, *x);
        }
        let bytes = serde_json::to_vec(&d.snapshot()).unwrap().len();
        println!("state per series, {name}: {bytes} bytes (JSON snapshot after 10,000 samples)");
    }
    group.finish();
}

/// Minutes of values per series the tick cycles through.
const COLUMNS: usize = 32;

/// `series` detectors warmed with a day of minutes, the value columns, and the minute.
fn warm(config: &DetectorConfig, series: usize) -> (Vec<Box<dyn Detector>>, Vec<Vec<f64>>, usize) {
    let mut detectors: Vec<Box<dyn Detector>> = (0..series).map(|_| config.build()).collect();
    // Each series is noise around its own level, different every minute (a column of
    // values per minute, reused every COLUMNS minutes), so the baselines have a real
    // spread to judge against instead of one repeated value.
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let levels: Vec<f64> = (0..series).map(|_| rng.gen_range(1.0..100.0)).collect();
    let columns: Vec<Vec<f64>> = (0..COLUMNS)
        .map(|_| {
            levels
                .iter()
                .map(|l| l * (1.0 + rng.gen_range(-0.1..0.1)))
                .collect()
        })
        .collect();
    // A day of minutes, so the tick judges instead of warming up and each baseline holds
    // what a day of history gives it (1,440 samples).
    let day = 1440;
    for t in 0..day {
        for (d, x) in detectors.iter_mut().zip(&columns[t % COLUMNS]) {
            d.observe(t as i64 * 60_000, *x);
        }
    }
    (detectors, columns, day)
}

fn tick_over_100k_series(c: &mut Criterion) {
    const SERIES: usize = 100_000;
    let mut group = c.benchmark_group("tick");
    group.sample_size(10);
    group.throughput(Throughput::Elements(SERIES as u64));
    for (name, config) in [
        ("ewma", DetectorConfig::Ewma(BaselineConfig::default())),
        ("zscore", DetectorConfig::Zscore(BaselineConfig::default())),
        ("likelihood", DetectorConfig::default_baseline()),
    ] {
        // Set up on the first call, which happens only when the filter selects this kind
        // (criterion calls the closure again for every sample).
        let mut state = None;
        group.bench_function(format!("100k_series_{name}"), |b| {
            let (detectors, columns, t) = state.get_or_insert_with(|| warm(&config, SERIES));
            b.iter(|| {
                *t += 1;
                let mut anomalies = 0;
                for (d, x) in detectors.iter_mut().zip(&columns[*t % COLUMNS]) {
                    anomalies += usize::from(d.observe(*t as i64 * 60_000, *x).anomalous);
                }
                black_box(anomalies)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, per_kind, tick_over_100k_series);
criterion_main!(benches);
