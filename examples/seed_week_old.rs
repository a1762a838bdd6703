//! Prints `fingerprint<TAB>state` lines: a week-old 7-day z-score baseline for each of N
//! scraped series of the `latency_z` rule (values ~ N(1, 0.1) every 10 s), to seed a
//! store before measuring the service in its steady state (benches/service/measure.sh).
//!
//!     cargo run --release --example seed_week_old -- N NOW_MS > seed.tsv
use driftwatch::detect::moments::WindowMoments;
use driftwatch::detect::sketch::DecayingSketch;
use driftwatch::model::{fingerprint, Labels};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let now_ms: i64 = args.next().and_then(|a| a.parse().ok()).expect("now_ms");
    let week_ms = 7 * 86_400_000;
    let mut window = WindowMoments::new(week_ms, 16);
    let mut tail = DecayingSketch::for_upper_tail(5000.0);
    let start = now_ms - week_ms + 10_000;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..60_000i64 {
        // Box-Muller: one normal value with mean 1 and sd 0.1, as the exporter serves.
        let (u1, u2) = (uniform().max(1e-12), uniform());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let x = (1.0 + 0.1 * z).abs();
        window.add(start + i * 10_000, x);
        tail.rank_then_add(((x - 1.0) / 0.1).abs(), true);
    }
    let state = serde_json::json!({
        "base": { "moments": window, "days": 7.0 },
        "streak": 0,
        "tail": tail,
        "accepted": false,
    })
    .to_string();
    for i in 0..n {
        let labels = Labels::new().with("series", format!("s{i:07}"));
        println!("{}\t{state}", fingerprint("latency_z", &labels));
    }
}
