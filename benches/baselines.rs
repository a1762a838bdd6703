//! Baseline benchmarks: updates+verdicts per second for each detector kind, one
//! evaluation tick over 100,000 series (every kind the shipped pack uses), and bytes of
//! state per series.
// criterion_group! generates undocumented items; the bench functions say what they measure.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use driftwatch::detect::config::BaselineConfig;
use driftwatch::detect::threshold::ThresholdConfig;
use driftwatch::detect::{Detector, DetectorConfig, DetectorSpec};
use rand::{Rng, SeedableRng};

/// A threshold no value of the workloads below reaches.
fn threshold_above_100() -> DetectorConfig {
    DetectorConfig::Threshold(ThresholdConfig {
        above: Some(100.0),
        below: None,
        recover_below: None,
        recover_above: None,
    })
}

/// The detector a configuration validates into.
fn spec(config: &DetectorConfig) -> DetectorSpec {
    config.validate().expect("a valid detector")
}

fn kinds() -> Vec<(&'static str, DetectorSpec)> {
    let c = BaselineConfig::default;
    let configs = vec![
        ("threshold", threshold_above_100()),
        ("zscore", DetectorConfig::Zscore(c())),
        ("ewma", DetectorConfig::Ewma(c())),
        ("mad", DetectorConfig::Mad(c())),
        ("quantile", DetectorConfig::Quantile(c())),
        ("seasonal", DetectorConfig::Seasonal(c())),
        ("changepoint", DetectorConfig::Changepoint(c())),
        ("likelihood (default)", DetectorConfig::default_baseline()),
    ];
    configs
        .into_iter()
        .map(|(name, config)| (name, spec(&config)))
        .collect()
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

/// Every series' values: uniform noise of ±10 % around its own level, fresh every minute,
/// so that each baseline has a real spread to judge against and its rarity test sees
/// deviations of every size (not one repeated value, nor a few cycled ones).
struct Workload {
    levels: Vec<f64>,
    rng: rand::rngs::StdRng,
}

impl Workload {
    fn new(series: usize) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let levels = (0..series).map(|_| rng.gen_range(1.0..100.0)).collect();
        Self { levels, rng }
    }

    /// The next minute's value of every series.
    fn minute(&mut self) -> Vec<f64> {
        let rng = &mut self.rng;
        self.levels
            .iter()
            .map(|l| l * (1.0 + rng.gen_range(-0.1..0.1)))
            .collect()
    }
}

/// `series` detectors warmed with a day of minutes, their workload, and the minute.
fn warm(
    config: &DetectorSpec,
    series: usize,
    feed: Feed,
) -> (Vec<Box<dyn Detector>>, Workload, usize) {
    let mut detectors: Vec<Box<dyn Detector>> = (0..series).map(|_| config.build()).collect();
    let mut workload = Workload::new(series);
    // A day of minutes, so the tick judges instead of warming up and each baseline holds
    // what a day of history gives it (1,440 samples).
    let day = 1440;
    for t in 0..day {
        let column = workload.minute();
        for (i, d) in detectors.iter_mut().enumerate() {
            judge(
                d.as_mut(),
                t as i64 * 60_000,
                &column,
                &workload.levels,
                i,
                feed,
            );
        }
    }
    (detectors, workload, day)
}

/// How a kind is fed at a tick.
#[derive(Clone, Copy)]
enum Feed {
    /// One aggregated value.
    Value,
    /// The binomial (an error rate): the value's distance below 11 as failures among
    /// 15 runs (0 to 2, about 7 %).
    Counts,
    /// `exceedance`: the window's own values, here the series' value and its next four
    /// neighbours' scaled to its level (five values a minute, as a quiet model's calls).
    Window,
}

/// Five values around `column[i]`'s level, from the column itself (no allocation).
fn window_of(column: &[f64], levels: &[f64], i: usize) -> [f64; 5] {
    let mut w = [0.0; 5];
    for (k, v) in w.iter_mut().enumerate() {
        let j = (i + k) % column.len();
        *v = column[j] / levels[j] * levels[i];
    }
    w
}

/// One series' verdict at a tick.
fn judge(
    d: &mut dyn Detector,
    ts_ms: i64,
    column: &[f64],
    levels: &[f64],
    i: usize,
    feed: Feed,
) -> bool {
    let x = column[i];
    match feed {
        Feed::Counts => {
            d.observe_counts(ts_ms, (11.0 - x).floor().max(0.0), 15.0)
                .anomalous
        }
        Feed::Window => {
            d.observe_values(ts_ms, &window_of(column, levels, i), x)
                .anomalous
        }
        Feed::Value => d.observe(ts_ms, x).anomalous,
    }
}

/// `exceedance` with the shift test on, as the shipped `slow_steps` rule has it.
fn exceedance_with_shift_test() -> DetectorConfig {
    DetectorConfig::Exceedance(driftwatch::detect::exceedance::ExceedanceConfig {
        shift_p_value: Some(1e-5),
        ..Default::default()
    })
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
        ("drift", DetectorConfig::Drift(Default::default())),
        ("binomial", DetectorConfig::Binomial(Default::default())),
        ("exceedance", DetectorConfig::Exceedance(Default::default())),
        ("exceedance_shift", exceedance_with_shift_test()),
        ("threshold", threshold_above_100()),
    ] {
        let feed = match config {
            DetectorConfig::Binomial(_) => Feed::Counts,
            DetectorConfig::Exceedance(_) => Feed::Window,
            _ => Feed::Value,
        };
        let config = spec(&config);
        // Set up on the first call, which happens only when the filter selects this kind
        // (criterion calls the closure again for every sample).
        let mut state = None;
        group.bench_function(format!("100k_series_{name}"), |b| {
            let (detectors, workload, t) = state.get_or_insert_with(|| warm(&config, SERIES, feed));
            let levels = workload.levels.clone();
            // The minute's values are drawn outside the timing: a tick judges values
            // its source already fetched.
            b.iter_batched_ref(
                || workload.minute(),
                |column| {
                    *t += 1;
                    let mut anomalies = 0;
                    for (i, d) in detectors.iter_mut().enumerate() {
                        let ts = *t as i64 * 60_000;
                        anomalies += usize::from(judge(d.as_mut(), ts, column, &levels, i, feed));
                    }
                    black_box(anomalies)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, per_kind, tick_over_100k_series);
criterion_main!(benches);
