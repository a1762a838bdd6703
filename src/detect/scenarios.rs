//! Known anomalies injected into synthetic series: each detector fires where it should
//! and stays quiet where it should (spike, level shift, slow drift, variance burst, and a
//! daily pattern that must not alert).

use rand::{Rng, SeedableRng};

use crate::detect::config::{BaselineConfig, Season};
use crate::detect::{Detector, DetectorConfig};

const MIN: i64 = 60_000;

fn noise(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| 10.0 + rng.gen_range(-1.0..1.0)).collect()
}

/// Indices at which the detector calls a value anomalous (one sample a minute).
fn run(d: &mut dyn Detector, series: &[f64]) -> Vec<usize> {
    series
        .iter()
        .enumerate()
        .filter_map(|(i, x)| d.observe(i as i64 * MIN, *x).anomalous.then_some(i))
        .collect()
}

fn cfg() -> BaselineConfig {
    BaselineConfig {
        warmup: Some(100),
        ..Default::default()
    }
}

#[test]
fn a_spike_is_found_by_every_spread_based_kind() {
    let mut s = noise(1500, 1);
    s[1200] = 30.0;
    for kind in [
        DetectorConfig::Zscore(cfg()),
        DetectorConfig::Ewma(cfg()),
        DetectorConfig::Mad(cfg()),
        DetectorConfig::Quantile(BaselineConfig {
            quantile: Some(0.999),
            ..cfg()
        }),
    ] {
        let hits = run(kind.validate().unwrap().build().as_mut(), &s);
        assert!(hits.contains(&1200), "{kind:?} missed the spike: {hits:?}");
        assert!(hits.len() <= 3, "{kind:?} cried wolf: {hits:?}");
    }
}

#[test]
fn a_level_shift_is_reported_once_then_rebaselined() {
    let mut s = noise(2000, 2);
    for x in &mut s[1000..] {
        *x += 8.0;
    }
    let hits = run(
        DetectorConfig::Changepoint(cfg())
            .validate()
            .unwrap()
            .build()
            .as_mut(),
        &s,
    );
    assert!(
        !hits.is_empty() && hits[0] >= 1000 && hits[0] < 1010,
        "{hits:?}"
    );
    assert!(
        hits.len() <= 2,
        "it keeps alarming after the shift: {hits:?}"
    );
    // A spread-based kind also re-baselines after `relearn_after` samples instead of
    // alarming for the remaining thousand.
    let hits = run(
        DetectorConfig::Ewma(cfg())
            .validate()
            .unwrap()
            .build()
            .as_mut(),
        &s,
    );
    assert!(hits.first().is_some_and(|h| *h == 1000), "{hits:?}");
    assert!(hits.len() <= 40, "{} anomalies after a shift", hits.len());
}

#[test]
fn a_slow_drift_is_caught_by_changepoint() {
    let mut s = noise(3000, 3);
    for (i, x) in s[1500..].iter_mut().enumerate() {
        *x += i as f64 * 0.01;
    }
    let hits = run(
        DetectorConfig::Changepoint(cfg())
            .validate()
            .unwrap()
            .build()
            .as_mut(),
        &s,
    );
    assert!(hits.iter().any(|h| (1500..2400).contains(h)), "{hits:?}");
    assert!(
        !hits.iter().any(|h| *h < 1500),
        "false alarm before the drift: {hits:?}"
    );
}

#[test]
fn a_variance_burst_is_flagged() {
    let mut s = noise(2000, 4);
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for x in &mut s[1500..1560] {
        *x = 10.0 + rng.gen_range(-12.0..12.0);
    }
    let hits = run(
        DetectorConfig::Zscore(cfg())
            .validate()
            .unwrap()
            .build()
            .as_mut(),
        &s,
    );
    assert!(hits.iter().any(|h| (1500..1560).contains(h)), "{hits:?}");
    assert!(!hits.iter().any(|h| *h < 1500), "{hits:?}");
}

#[test]
fn a_daily_pattern_does_not_alert_with_the_seasonal_kind() {
    // Ten days at one sample a minute of a strong daily wave, plus noise.
    let days = 10;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let wave: Vec<f64> = (0..days * 1440)
        .map(|i| {
            let hour = (i % 1440) as f64 / 60.0;
            100.0 + 80.0 * (hour / 24.0 * std::f64::consts::TAU).sin() + rng.gen_range(-3.0..3.0)
        })
        .collect();
    let seasonal = DetectorConfig::Seasonal(BaselineConfig {
        season: Some(Season::Daily),
        min_seasons: Some(3),
        ..cfg()
    });
    let hits = run(seasonal.validate().unwrap().build().as_mut(), &wave);
    assert!(hits.is_empty(), "the daily pattern alerted at {hits:?}");
    // The same wave with one hour gone wrong on day 8 is found.
    let mut broken = wave.clone();
    for x in &mut broken[8 * 1440 + 600..8 * 1440 + 660] {
        *x += 150.0;
    }
    let hits = run(seasonal.validate().unwrap().build().as_mut(), &broken);
    assert!(
        hits.iter()
            .any(|h| (8 * 1440 + 600..8 * 1440 + 660).contains(h)),
        "{hits:?}"
    );
}

#[test]
fn snapshots_restore_identical_behaviour() {
    let s = noise(800, 6);
    for kind in [
        DetectorConfig::Zscore(cfg()),
        DetectorConfig::Ewma(cfg()),
        DetectorConfig::Mad(cfg()),
        DetectorConfig::Quantile(cfg()),
        DetectorConfig::Seasonal(cfg()),
        DetectorConfig::Changepoint(cfg()),
        DetectorConfig::default_baseline(),
    ] {
        let mut a = kind.validate().unwrap().build();
        for (i, x) in s[..500].iter().enumerate() {
            a.observe(i as i64 * MIN, *x);
        }
        let snap = serde_json::to_string(&a.snapshot()).unwrap();
        let mut b = kind.validate().unwrap().build();
        b.restore(&serde_json::from_str(&snap).unwrap()).unwrap();
        for (i, x) in s[500..].iter().enumerate() {
            let t = (500 + i) as i64 * MIN;
            let (va, vb) = (a.observe(t, *x), b.observe(t, *x));
            assert_eq!(
                (va.anomalous, va.score.to_bits()),
                (vb.anomalous, vb.score.to_bits()),
                "{kind:?}"
            );
        }
        assert!(
            snap.len() < 4096 || matches!(kind, DetectorConfig::Seasonal(_)),
            "{kind:?}: {} bytes",
            snap.len()
        );
    }
}

#[test]
fn small_deviations_under_the_floors_do_not_page() {
    // A calm 0.1 s latency that doubles is many σ, but under a 0.5 s absolute floor.
    let mut s: Vec<f64> = noise(600, 7).iter().map(|x| x / 100.0).collect();
    s[500] = 0.2;
    let loose = run(
        DetectorConfig::Ewma(cfg())
            .validate()
            .unwrap()
            .build()
            .as_mut(),
        &s,
    );
    assert!(loose.contains(&500), "{loose:?}");
    let floored = DetectorConfig::Ewma(BaselineConfig {
        min_abs_deviation: Some(0.5),
        ..cfg()
    });
    assert!(run(floored.validate().unwrap().build().as_mut(), &s).is_empty());
}
