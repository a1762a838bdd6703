//! The shift test: whether a window's values as a whole sit higher in the series' usual
//! distribution than chance allows. Each value becomes its normal score (its mid-rank
//! among the usual values, as a standard normal quantile, clipped at ±3), and the
//! window's sum of scores is judged against the spread such sums show in normal windows.
//! Twenty steps that each take +60 % are far stronger evidence together than the two or
//! three of them that pass a high quantile: for a shifted log-normal the scores are the
//! optimal statistic, and being ranks they are robust to any one odd value.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::detect::sketch::DecayingSketch;

/// Scores are clipped here, so no single value outweighs three ordinary high ones.
const CLIP: f64 = 3.0;
/// Fewest values for the test. The scores are normal by construction, so a sum of five
/// is nearly normal; fewer is too little evidence to alert on however high each is.
pub const MIN_VALUES: u64 = 5;
/// Normal windows learnt before the test judges: the spread of a series whose values
/// come in alike clusters (the steps of one deep-research run) must be known before five
/// of them can page. Minutely windows overlap, so this is about half a day of windows
/// that hold enough values, a dozen or more independent ones.
pub const MIN_WINDOWS: u64 = 720;
/// The spread is learnt over about a week of minutely windows, after a prior of ten
/// windows at the independent values' spread, so a few odd windows do not move it much.
const PRIOR: f64 = 10.0;
const MEMORY: f64 = 10_080.0;
/// The most one window's squared deviation counts for (in independent variances).
const STRAY_CAP: f64 = 30.0;

/// Steps of the table of normal scores over ranks: its interpolation is within 2e-3 of
/// the exact quantile inside the clipped range (1e-6 in the middle), far below what a
/// bucket's rank resolves.
const TABLE_STEPS: usize = 4096;

fn standard_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("valid parameters")
}

/// The standard normal quantile of ranks 0, 1/TABLE_STEPS, …, 1, clipped at ±[`CLIP`]:
/// a score per value by table instead of an inverse error function (a tick scores every
/// value of every series).
fn score_table() -> &'static [f64] {
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let normal = standard_normal();
        (0..=TABLE_STEPS)
            .map(|i| i as f64 / TABLE_STEPS as f64)
            .map(|u| normal.inverse_cdf(u).clamp(-CLIP, CLIP))
            .collect()
    })
}

/// The normal score of a rank in [0, 1], clipped at ±[`CLIP`].
pub fn normal_score(rank: f64) -> f64 {
    let table = score_table();
    let x = rank.clamp(0.0, 1.0) * TABLE_STEPS as f64;
    let i = (x as usize).min(TABLE_STEPS - 1);
    let f = x - i as f64;
    table[i] + f * (table[i + 1] - table[i])
}

/// The sum of the normal scores of `values` under `sketch` (their mid-ranks among its
/// weight): ascending values share one sweep over the buckets.
pub fn score_sum(sketch: &DecayingSketch, values: &[f64]) -> f64 {
    let mut sorted: smallvec::SmallVec<[f64; 32]> =
        values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let mut sum = 0.0;
    sketch.mid_ranks(&sorted, |rank| sum += normal_score(rank));
    sum
}

/// What the shift test has learnt of normal windows' sums.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShiftState {
    /// The mean score of a value in normal windows (a sketch that lags the series, or a
    /// coarse bucket, leaves one slightly off zero).
    pub mean: f64,
    /// How much more a normal window's sum varies than independent values' would.
    pub dispersion: f64,
    /// Normal windows that taught both.
    pub windows: u64,
}

/// One window's shift: its standardised sum and the chance of one as high.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    /// Values scored.
    pub n: u64,
    /// Their mean normal score.
    pub mean_score: f64,
    /// The upper tail probability of a sum as high among normal windows.
    pub tail: f64,
}

impl Shift {
    /// The percentile of the usual distribution the window's values sit at on average.
    pub fn typical_percentile(&self) -> f64 {
        100.0 * standard_normal().cdf(self.mean_score)
    }
}

impl ShiftState {
    /// The dispersion in use: never below the independent values' (ranks of coarse
    /// buckets vary a little less, which would only make the test bolder).
    fn phi(&self) -> f64 {
        self.dispersion.max(1.0)
    }

    /// Judges a window of `n` values whose normal scores sum to `sum`; None for fewer
    /// than [`MIN_VALUES`], or before [`MIN_WINDOWS`] normal windows were learnt.
    pub fn judge(&self, sum: f64, n: u64) -> Option<Shift> {
        if n < MIN_VALUES || self.windows < MIN_WINDOWS {
            return None;
        }
        let nf = n as f64;
        let z = (sum - nf * self.mean) / (nf * self.phi()).sqrt();
        Some(Shift {
            n,
            mean_score: sum / nf,
            tail: standard_normal().sf(z).max(1e-300),
        })
    }

    /// Learns from a normal window how far sums stray from independent values'.
    pub fn learn(&mut self, sum: f64, n: u64) {
        if n < MIN_VALUES {
            return;
        }
        let nf = n as f64;
        if self.windows == 0 {
            self.dispersion = 1.0;
        }
        self.windows += 1;
        let weight = (1.0 / (self.windows as f64 + PRIOR)).max(1.0 / MEMORY);
        self.mean += weight * (sum / nf - self.mean);
        let z = (sum - nf * self.mean) / nf.sqrt();
        self.dispersion += weight * (z * z).min(STRAY_CAP) - weight * self.dispersion;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::distributions::Distribution;
    use rand::SeedableRng;
    use statrs::distribution::LogNormal;

    /// The usual values: log-normal, median e², log-space spread 0.6.
    fn usual(rng: &mut impl rand::Rng) -> f64 {
        LogNormal::new(2.0, 0.6)
            .expect("valid parameters")
            .sample(rng)
    }

    fn learnt_sketch(rng: &mut impl rand::Rng) -> DecayingSketch {
        let mut s = DecayingSketch::new(1e6);
        for _ in 0..20_000 {
            s.add(usual(rng));
        }
        s
    }

    /// A state that has learnt the independent values' spread.
    fn learnt_state() -> ShiftState {
        ShiftState {
            mean: 0.0,
            dispersion: 1.0,
            windows: MIN_WINDOWS,
        }
    }

    #[test]
    fn usual_values_score_about_zero_and_a_window_of_shifted_ones_is_rare() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let sketch = learnt_sketch(&mut rng);
        let mut state = ShiftState::default();
        let mut worst: f64 = 1.0;
        for _ in 0..2_000 {
            let w: Vec<f64> = (0..30).map(|_| usual(&mut rng)).collect();
            let sum = score_sum(&sketch, &w);
            if let Some(shift) = state.judge(sum, 30) {
                worst = worst.min(shift.tail);
            }
            state.learn(sum, 30);
        }
        assert!(state.mean.abs() < 0.05, "{state:?}");
        assert!((0.8..1.2).contains(&state.dispersion), "{state:?}");
        assert!(worst > 1e-5, "a normal window this rare: {worst}");
        // Thirty values each 60 % slower: z ≈ ln 1.6 / 0.6 × √30 ≈ 4.3.
        let w: Vec<f64> = (0..30).map(|_| 1.6 * usual(&mut rng)).collect();
        let shift = state.judge(score_sum(&sketch, &w), 30).unwrap();
        assert!(shift.tail < 1e-3, "{shift:?}");
        assert!(shift.typical_percentile() > 70.0, "{shift:?}");
        // Fewer than the minimum are not judged, nor any before the spread is learnt.
        assert!(state.judge(5.0, MIN_VALUES - 1).is_none());
        assert!(ShiftState::default().judge(50.0, 30).is_none());
    }

    #[test]
    fn the_score_table_is_the_normal_quantile_clipped() {
        let normal = standard_normal();
        for i in 1..1000 {
            let u = i as f64 / 1000.0;
            let exact = normal.inverse_cdf(u).clamp(-CLIP, CLIP);
            assert!((normal_score(u) - exact).abs() < 1e-3, "{u}");
        }
        assert!((normal_score(0.0) + CLIP).abs() < 1e-12);
        assert!((normal_score(1.0) - CLIP).abs() < 1e-12);
        assert!(normal_score(0.5).abs() < 1e-9);
    }

    #[test]
    fn one_huge_value_is_one_clipped_score() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let sketch = learnt_sketch(&mut rng);
        let median = sketch.quantile(0.5).unwrap();
        let mut w = vec![median; 19];
        w.push(1e12);
        let sum = score_sum(&sketch, &w);
        assert!(sum <= CLIP + 19.0 * 0.05, "{sum}");
        assert!(learnt_state().judge(sum, 20).unwrap().tail > 0.1);
    }

    #[test]
    fn windows_of_alike_values_widen_the_spread() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let sketch = learnt_sketch(&mut rng);
        let mut state = ShiftState::default();
        for _ in 0..3_000 {
            // Ten runs of three alike steps each.
            let w: Vec<f64> = (0..10).flat_map(|_| [usual(&mut rng); 3]).collect();
            state.learn(score_sum(&sketch, &w), 30);
        }
        assert!(state.dispersion > 2.0, "{state:?}");
    }
}
