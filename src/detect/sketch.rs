//! A decaying, log-bucketed quantile sketch (in the manner of DDSketch): medians, MADs
//! and quantiles of recent values with bounded relative error and bounded memory, without
//! keeping a sorted copy of the window. Older samples fade with a half-life.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// Buckets of an upper-tail sketch.
const TAIL_BUCKETS: usize = 24;

/// Relative accuracy of a bucket: values within 1 % share one.
const GAMMA: f64 = 1.02;
/// Keys of positive values start here, so every positive key exceeds every negative one.
const OFFSET: i32 = 10_000;
/// Values closer to zero than this share the zero bucket.
const ZERO: f64 = 1e-9;
/// At most this many buckets are kept (768 bytes); the lightest merge inward.
const MAX_BUCKETS: usize = 96;
/// The next sample's weight is kept below this, so that bucket weights fit an f32.
const RESCALE_ABOVE: f64 = 1e20;

/// The sketch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecayingSketch {
    /// (bucket key, weight), sorted by key: 8 bytes a bucket, at most `max_buckets`.
    /// Inline up to the upper-tail size, so the rarity test every baseline runs per
    /// sample touches no second allocation (a tick over 100k series is memory-bound).
    #[serde(with = "crate::detect::packed::sketch_buckets")]
    buckets: SmallVec<[(i32, f32); TAIL_BUCKETS + 1]>,
    total: f64,
    /// Weight of the next sample; grows instead of every bucket shrinking.
    weight: f64,
    growth: f64,
    /// Samples added.
    pub n: u64,
    /// Keep the upper tail exact when compacting (for "how rare is this" ranks) instead
    /// of the middle (for medians).
    #[serde(default)]
    upper_tail: bool,
    /// Most buckets kept.
    #[serde(default = "default_max")]
    max_buckets: usize,
}

fn default_max() -> usize {
    MAX_BUCKETS
}

fn key(x: f64) -> i32 {
    if x.abs() < ZERO {
        return 0;
    }
    let k = (x.abs().ln() / GAMMA.ln()).ceil() as i32;
    let k = k.clamp(-OFFSET + 1, OFFSET - 1) + OFFSET;
    if x > 0.0 {
        k
    } else {
        -k
    }
}

fn value(key: i32) -> f64 {
    if key == 0 {
        return 0.0;
    }
    let k = key.abs() - OFFSET;
    // The bucket's midpoint in relative terms.
    let v = 2.0 * GAMMA.powi(k) / (GAMMA + 1.0);
    if key > 0 {
        v
    } else {
        -v
    }
}

impl DecayingSketch {
    /// A sketch whose samples lose half their weight after `half_life` further samples.
    pub fn new(half_life: f64) -> Self {
        Self {
            buckets: SmallVec::new(),
            total: 0.0,
            weight: 1.0,
            growth: 2f64.powf(1.0 / half_life.max(1.0)),
            n: 0,
            upper_tail: false,
            max_buckets: MAX_BUCKETS,
        }
    }

    /// A sketch that keeps only its upper tail exact (24 buckets, 192 bytes): everything
    /// below folds into its lowest bucket. Enough to rank rare values, cheap to update.
    pub fn for_upper_tail(half_life: f64) -> Self {
        Self {
            upper_tail: true,
            max_buckets: TAIL_BUCKETS,
            ..Self::new(half_life)
        }
    }

    /// Adds a sample.
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        self.add_key(key(x));
    }

    /// [`DecayingSketch::cdf`] of `x` before it is added (when `rank` is set, else 0),
    /// then [`DecayingSketch::add`]: the bucket key, a logarithm, and its place among
    /// the buckets are found once.
    pub fn rank_then_add(&mut self, x: f64, rank: bool) -> f64 {
        if !x.is_finite() {
            return if rank { self.cdf(x) } else { 0.0 };
        }
        let k = key(x);
        let place = self.place(k);
        let r = if rank {
            // The buckets at or below the key: a prefix, summed in the order cdf sums it.
            let end = match place {
                Ok(i) => i + 1,
                Err(i) => i,
            };
            self.rank_of_prefix(end)
        } else {
            0.0
        };
        self.add_at(k, place);
        r
    }

    fn add_key(&mut self, k: i32) {
        self.add_at(k, self.place(k));
    }

    /// Where key `k` is or would go among the buckets (a binary search). Most deviations
    /// an upper-tail sketch sees fall below its lowest bucket: that is checked first.
    fn place(&self, k: i32) -> Result<usize, usize> {
        match self.buckets.first() {
            Some(&(lowest, _)) if k < lowest => Err(0),
            _ => self.buckets.binary_search_by_key(&k, |b| b.0),
        }
    }

    /// Adds one sample of key `k` at `place`, its binary search result.
    fn add_at(&mut self, k: i32, place: Result<usize, usize>) {
        self.n += 1;
        let fold_into_lowest = self.upper_tail
            && place == Err(0)
            && self.buckets.len() == self.max_buckets
            && self.weight * self.growth <= RESCALE_ABOVE;
        match place {
            Ok(i) => self.buckets[i].1 += self.weight as f32,
            // Below the lowest bucket of a full upper-tail sketch: inserting it and then
            // compacting would fold it into the lowest bucket; do that without shifting
            // every bucket twice. (Not when a rescale is due: that runs between the two.)
            Err(0) if fold_into_lowest => self.buckets[0].1 += self.weight as f32,
            Err(i) => self.buckets.insert(i, (k, self.weight as f32)),
        }
        self.total += self.weight;
        self.weight *= self.growth;
        if self.weight > RESCALE_ABOVE {
            // Rescale so weights stay finite in f32; relative weights are unchanged.
            let s = 1.0 / self.weight;
            self.buckets
                .iter_mut()
                .for_each(|b| b.1 = (b.1 as f64 * s) as f32);
            self.total *= s;
            self.weight = 1.0;
            self.buckets.retain(|b| b.1 > 1e-12);
            self.total = self.buckets.iter().map(|b| b.1 as f64).sum();
        }
        if self.buckets.len() > self.max_buckets {
            self.compact();
        }
    }

    /// Folds the lightest bucket into its neighbour on the median's side, so the tails
    /// coarsen and the middle, where medians and MADs are read, stays exact.
    fn compact(&mut self) {
        if self.upper_tail {
            let (_, w) = self.buckets.remove(0);
            self.buckets[0].1 += w;
            return;
        }
        let (i, _) = self
            .buckets
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .expect("not empty");
        let mut seen = 0.0;
        let median_ix = self
            .buckets
            .iter()
            .position(|b| {
                seen += b.1 as f64;
                seen >= 0.5 * self.total
            })
            .unwrap_or(0);
        let (_, w) = self.buckets.remove(i);
        let last = self.buckets.len().saturating_sub(1);
        let j = if i > median_ix { i - 1 } else { i.min(last) };
        if let Some(b) = self.buckets.get_mut(j) {
            b.1 += w;
        }
    }

    /// The q-quantile (None when empty).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total <= 0.0 {
            return None;
        }
        let target = q.clamp(0.0, 1.0) * self.total;
        let mut seen = 0.0;
        for (k, w) in &self.buckets {
            seen += *w as f64;
            if seen >= target {
                return Some(value(*k));
            }
        }
        self.buckets.last().map(|b| value(b.0))
    }

    /// Fraction of weight at or below `x`.
    pub fn cdf(&self, x: f64) -> f64 {
        self.cdf_key(key(x))
    }

    fn cdf_key(&self, k: i32) -> f64 {
        self.rank_of_prefix(self.buckets.partition_point(|b| b.0 <= k))
    }

    /// The weight of the first `end` buckets over the total (0.5 when empty).
    fn rank_of_prefix(&self, end: usize) -> f64 {
        if self.total <= 0.0 {
            return 0.5;
        }
        self.buckets[..end].iter().map(|b| b.1 as f64).sum::<f64>() / self.total
    }

    /// Median and median absolute deviation.
    pub fn median_mad(&self) -> Option<(f64, f64)> {
        let m = self.quantile(0.5)?;
        // The MAD is the radius r holding half the weight within [m - r, m + r]:
        // search it over the bucket edges' distances from the median.
        let mut radii: Vec<f64> = self
            .buckets
            .iter()
            .map(|b| (value(b.0) - m).abs())
            .collect();
        radii.sort_by(|a, b| a.total_cmp(b));
        let half = 0.5 * self.total;
        let mut lo_ix = 0;
        let mut hi_ix = radii.len().saturating_sub(1);
        while lo_ix < hi_ix {
            let mid = (lo_ix + hi_ix) / 2;
            let r = radii[mid];
            let (lo, hi) = (key(m - r), key(m + r));
            let inside: f64 = self
                .buckets
                .iter()
                .filter(|b| b.0 >= lo && b.0 <= hi)
                .map(|b| b.1 as f64)
                .sum();
            if inside >= half {
                hi_ix = mid;
            } else {
                lo_ix = mid + 1;
            }
        }
        Some((m, radii.get(lo_ix).copied().unwrap_or(0.0)))
    }

    /// Buckets in use (for memory accounting).
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True before any sample.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_relative_error() {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut values: Vec<f64> = (1..=1000).map(f64::from).collect();
        values.shuffle(&mut rand::rngs::StdRng::seed_from_u64(1));
        let mut s = DecayingSketch::new(1e9);
        for v in values {
            s.add(v);
        }
        let p50 = s.quantile(0.5).unwrap();
        let p99 = s.quantile(0.99).unwrap();
        assert!((p50 - 500.0).abs() / 500.0 < 0.03, "{p50}");
        assert!((p99 - 990.0).abs() / 990.0 < 0.03, "{p99}");
        assert!(s.len() <= MAX_BUCKETS);
        let (m, mad) = s.median_mad().unwrap();
        assert!((m - 500.0).abs() / 500.0 < 0.05, "{m}");
        assert!((mad - 250.0).abs() / 250.0 < 0.1, "{mad}");
    }

    /// The upper-tail sketch as it was before its shortcuts: a second search for the
    /// rank, and every new key inserted, then the lowest bucket folded upward.
    fn reference_rank_then_add(s: &mut DecayingSketch, x: f64) -> f64 {
        let k = key(x);
        let rank = if s.total <= 0.0 {
            0.5
        } else {
            s.buckets
                .iter()
                .take_while(|b| b.0 <= k)
                .map(|b| b.1 as f64)
                .sum::<f64>()
                / s.total
        };
        s.n += 1;
        match s.buckets.binary_search_by_key(&k, |b| b.0) {
            Ok(i) => s.buckets[i].1 += s.weight as f32,
            Err(i) => s.buckets.insert(i, (k, s.weight as f32)),
        }
        s.total += s.weight;
        s.weight *= s.growth;
        if s.weight > RESCALE_ABOVE {
            let f = 1.0 / s.weight;
            s.buckets
                .iter_mut()
                .for_each(|b| b.1 = (b.1 as f64 * f) as f32);
            s.weight = 1.0;
            s.buckets.retain(|b| b.1 > 1e-12);
            s.total = s.buckets.iter().map(|b| b.1 as f64).sum();
        }
        if s.buckets.len() > s.max_buckets {
            let (_, w) = s.buckets.remove(0);
            s.buckets[0].1 += w;
        }
        rank
    }

    #[test]
    fn upper_tail_shortcuts_give_the_same_bits() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // A short half-life rescales every ~130 samples, exercising that path too.
        for half_life in [2.0, 5000.0] {
            let (mut fast, mut slow) = (
                DecayingSketch::for_upper_tail(half_life),
                DecayingSketch::for_upper_tail(half_life),
            );
            for i in 0..20_000 {
                let x: f64 = if i % 50 == 0 {
                    rng.gen_range(0.0..8.0)
                } else {
                    rng.gen_range(0.0..2.0)
                };
                let a = fast.rank_then_add(x, true);
                let b = reference_rank_then_add(&mut slow, x);
                assert_eq!(a.to_bits(), b.to_bits(), "rank at sample {i}");
                assert_eq!(fast, slow, "sketch after sample {i}");
            }
        }
    }

    #[test]
    fn negative_values_and_decay() {
        let mut s = DecayingSketch::new(50.0);
        for _ in 0..500 {
            s.add(-5.0);
        }
        assert!((s.quantile(0.5).unwrap() + 5.0).abs() < 0.3);
        for _ in 0..500 {
            s.add(100.0);
        }
        assert!(
            (s.quantile(0.5).unwrap() - 100.0).abs() < 5.0,
            "old samples faded"
        );
        assert!(s.cdf(0.0) < 0.01);
    }
}
