//! The few random distributions the simulator needs, drawn from any `rand::Rng`.

use rand::Rng;

/// A standard normal draw (Box–Muller).
pub fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal draw with the given median and log-space standard deviation.
pub fn lognormal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// An exponential draw with the given mean.
pub fn exponential(rng: &mut impl Rng, mean: f64) -> f64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    -mean * u.ln()
}

/// Picks one item by weight (weights need not sum to one; at least one must be > 0).
pub fn weighted<'a, T>(rng: &mut impl Rng, items: &'a [(T, f64)]) -> &'a T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0.0..total);
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

/// A well-mixed 64-bit seed from a seed and a stream number (SplitMix64), so each run
/// gets its own generator and changing one run's draws leaves the others alone.
pub fn substream(seed: u64, stream: u64) -> u64 {
    let mut z = seed
        .wrapping_add(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn lognormal_median_and_weighted_shares() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut xs: Vec<f64> = (0..20_001).map(|_| lognormal(&mut rng, 4.0, 0.5)).collect();
        xs.sort_by(f64::total_cmp);
        assert!((xs[10_000] - 4.0).abs() < 0.15, "median {}", xs[10_000]);
        let items = [("a", 3.0), ("b", 1.0)];
        let a = (0..10_000)
            .filter(|_| *weighted(&mut rng, &items) == "a")
            .count();
        assert!((7_200..7_800).contains(&a), "{a}");
        let mean = (0..10_000).map(|_| exponential(&mut rng, 2.0)).sum::<f64>() / 1e4;
        assert!((mean - 2.0).abs() < 0.1, "{mean}");
    }
}
