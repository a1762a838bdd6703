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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// [`DecayingSketch::lowest_edge`] of the lowest bucket, NaN when not yet computed
    /// since that bucket changed: a cache, not state.
    #[serde(skip, default = "unknown_edge")]
    edge: f64,
}

fn default_max() -> usize {
    MAX_BUCKETS
}

fn unknown_edge() -> f64 {
    f64::NAN
}

/// Equal when the buckets and weights are; the edge is a cache, not state.
impl PartialEq for DecayingSketch {
    fn eq(&self, o: &Self) -> bool {
        self.buckets == o.buckets
            && self.total == o.total
            && self.weight == o.weight
            && self.growth == o.growth
            && self.n == o.n
            && self.upper_tail == o.upper_tail
            && self.max_buckets == o.max_buckets
    }
}

/// Where one sample goes among the buckets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// Into the bucket at this index.
    Existing(usize),
    /// Into a new bucket of this key, inserted at this index.
    New(usize, i32),
}

fn key(x: f64) -> i32 {
    if x.abs() < ZERO {
        return 0;
    }
    let k = ceil_to_i32(x.abs().ln() / GAMMA.ln());
    let k = k.clamp(-OFFSET + 1, OFFSET - 1) + OFFSET;
    if x > 0.0 {
        k
    } else {
        -k
    }
}

/// `q.ceil() as i32`, without a call: on baseline x86-64 `ceil` is a libm call, a tenth
/// of a rank's cost. Exact for every q, saturating as the cast does (NaN gives 0).
fn ceil_to_i32(q: f64) -> i32 {
    let truncated = q as i32;
    if f64::from(truncated) < q {
        truncated.saturating_add(1)
    } else {
        truncated
    }
}

/// A bound below which every value's key is below `lowest` (NEG_INFINITY when no
/// value's is): `GAMMA^(lowest - 1)`, less a margin of 1e-9 far wider than the rounding
/// of [`key`]'s logarithm and of `powi`, so that it never admits a value of key `lowest`.
fn edge_below(lowest: i32) -> f64 {
    // Keys 0 and 1 hold zero and the clamped smallest values: nothing sorts below them
    // by this bound, and negative keys never occur in an upper tail.
    if lowest <= 1 {
        return f64::NEG_INFINITY;
    }
    GAMMA.powi(lowest - OFFSET - 1) * (1.0 - 1e-9)
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
            edge: f64::NAN,
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
    /// the buckets are found once, and neither when `x` folds into the lowest bucket.
    pub fn rank_then_add(&mut self, x: f64, rank: bool) -> f64 {
        if !x.is_finite() {
            return if rank { self.cdf(x) } else { 0.0 };
        }
        // Most deviations an upper-tail sketch sees fall below its lowest bucket, and a
        // full one folds them into it: no key is needed to know that, and none to rank
        // them (no bucket is at or below them).
        if self.folds_below_lowest() && x < self.lowest_edge() {
            let r = if rank { self.rank_of_prefix(0) } else { 0.0 };
            self.add_to(Slot::Existing(0));
            return r;
        }
        let (slot, at_or_below) = self.locate(key(x));
        let r = if rank {
            self.rank_of_prefix(at_or_below)
        } else {
            0.0
        };
        self.add_to(slot);
        r
    }

    fn add_key(&mut self, k: i32) {
        self.add_to(self.locate(k).0);
    }

    /// True when a key below the lowest bucket is folded into it instead of inserted:
    /// inserting it and then compacting would fold it there, and this does so without
    /// shifting every bucket twice. (Not when a rescale is due: that runs between the
    /// two.)
    fn folds_below_lowest(&self) -> bool {
        self.upper_tail
            && self.buckets.len() == self.max_buckets
            && self.weight * self.growth <= RESCALE_ABOVE
    }

    /// [`edge_below`] the lowest bucket, computed once per lowest bucket.
    fn lowest_edge(&mut self) -> f64 {
        if self.edge.is_nan() {
            self.edge = self
                .buckets
                .first()
                .map_or(f64::NEG_INFINITY, |b| edge_below(b.0));
        }
        self.edge
    }

    /// Where a sample of key `k` goes, and how many buckets hold keys at or below `k`.
    /// An upper tail's keys are mostly consecutive, so the bucket `k - lowest` places up
    /// are checked before a binary search.
    fn locate(&self, k: i32) -> (Slot, usize) {
        let (Some(&(lowest, _)), Some(&(highest, _))) = (self.buckets.first(), self.buckets.last())
        else {
            return (Slot::New(0, k), 0);
        };
        if k < lowest {
            let slot = if self.folds_below_lowest() {
                Slot::Existing(0)
            } else {
                Slot::New(0, k)
            };
            return (slot, 0);
        }
        if k > highest {
            return (Slot::New(self.buckets.len(), k), self.buckets.len());
        }
        let guess = (i64::from(k) - i64::from(lowest)) as usize;
        if self.buckets.get(guess).is_some_and(|b| b.0 == k) {
            return (Slot::Existing(guess), guess + 1);
        }
        match self.buckets.binary_search_by_key(&k, |b| b.0) {
            Ok(i) => (Slot::Existing(i), i + 1),
            Err(i) => (Slot::New(i, k), i),
        }
    }

    /// Adds one sample at `slot`, as [`DecayingSketch::locate`] found it.
    #[inline]
    fn add_to(&mut self, slot: Slot) {
        self.n += 1;
        match slot {
            Slot::Existing(i) => self.buckets[i].1 += self.weight as f32,
            Slot::New(i, k) => {
                self.buckets.insert(i, (k, self.weight as f32));
                if i == 0 {
                    self.edge = f64::NAN;
                }
            }
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
            self.edge = f64::NAN;
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
            self.edge = f64::NAN;
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
        self.edge = f64::NAN;
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
    #[inline]
    fn rank_of_prefix(&self, end: usize) -> f64 {
        if self.total <= 0.0 {
            return 0.5;
        }
        self.buckets[..end].iter().map(|b| b.1 as f64).sum::<f64>() / self.total
    }

    /// Calls `each` with the mid-rank of every value of `sorted` (ascending): the weight
    /// below it plus half the weight at its key, over the total (0.5 when empty). One
    /// sweep over the buckets for the whole slice, allocating nothing. A bucket that
    /// absorbed lighter ones holds weight over a span of keys (see `span`), spread evenly
    /// over it here, so a merged tail bucket does not rank every value in it alike.
    pub fn mid_ranks(&self, sorted: &[f64], mut each: impl FnMut(f64)) {
        if self.total <= 0.0 {
            sorted.iter().for_each(|_| each(0.5));
            return;
        }
        let mut below = 0.0;
        let mut next = 0;
        for &x in sorted {
            let k = i64::from(key(x));
            while next < self.buckets.len() && self.span(next, below).1 < k {
                below += f64::from(self.buckets[next].1);
                next += 1;
            }
            let within = match self.buckets.get(next) {
                Some(&(_, w)) => {
                    let (lo, hi) = self.span(next, below);
                    let w = f64::from(w);
                    if lo <= k {
                        w * ((k - lo) as f64 + 0.5) / ((hi - lo) as f64 + 1.0)
                    } else {
                        0.0
                    }
                }
                None => 0.0,
            };
            each((below + within) / self.total);
        }
    }

    /// The keys bucket `i`'s weight lies over, inclusive, given the weight `below` it.
    /// Compaction folds a light bucket into its neighbour on the median's side, so a
    /// bucket above the median holds values from its key up to the next bucket's, one
    /// below it from the previous bucket's up to its own (an upper-tail sketch folds
    /// everything below into its lowest). The median's bucket, the first and the last
    /// are taken at their keys.
    fn span(&self, i: usize, below: f64) -> (i64, i64) {
        let at = |j: usize| i64::from(self.buckets[j].0);
        let half = 0.5 * self.total;
        if self.upper_tail {
            return if i == 0 {
                (i64::MIN / 2, at(0))
            } else {
                (at(i), at(i))
            };
        }
        let last = self.buckets.len() - 1;
        if below >= half && i < last {
            (at(i), at(i + 1) - 1)
        } else if below + f64::from(self.buckets[i].1) < half && i > 0 {
            (at(i - 1) + 1, at(i))
        } else {
            (at(i), at(i))
        }
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
    fn mid_ranks_of_sorted_values_agree_with_the_cdf() {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut values: Vec<f64> = (1..=1000).map(f64::from).collect();
        values.shuffle(&mut rand::rngs::StdRng::seed_from_u64(2));
        let mut s = DecayingSketch::new(1e9);
        for v in values {
            s.add(v);
        }
        let sorted = [0.5, 10.0, 250.0, 500.0, 700.0, 990.0, 5000.0];
        let mut ranks = Vec::new();
        s.mid_ranks(&sorted, |r| ranks.push(r));
        assert_eq!(ranks[0], 0.0);
        assert!((ranks[6] - 1.0).abs() < 1e-6, "{}", ranks[6]);
        // 1,000 values over 350 keys fill 96 buckets: the tails are merged, and their
        // weight is spread over the keys they span.
        assert!(s.len() < 100, "{}", s.len());
        for (x, r) in sorted.iter().zip(&ranks).skip(1).take(5) {
            assert!((r - x / 1000.0).abs() < 0.03, "{x}: {r}");
        }
        // Within the merged low tail, values still rank apart, about where they are.
        let low = [8.0, 12.0, 16.0, 24.0];
        let mut ranks = Vec::new();
        s.mid_ranks(&low, |r| ranks.push(r));
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
        for (x, r) in low.iter().zip(&ranks) {
            assert!((r * 1000.0 / x - 1.0).abs() < 0.5, "{x}: {r}");
        }
        let mut empty = Vec::new();
        DecayingSketch::new(10.0).mid_ranks(&[1.0, 2.0], |r| empty.push(r));
        assert_eq!(empty, [0.5, 0.5]);
    }

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
                let x: f64 = match i % 50 {
                    0 => rng.gen_range(0.0..8.0),
                    // Exactly on a bucket's edge, and one step either side of it: the
                    // shortcut's bound must not misplace them.
                    1..=3 => {
                        let edge = GAMMA.powi(rng.gen_range(-5..40));
                        [edge.next_down(), edge, edge.next_up()][i % 50 - 1]
                    }
                    _ => rng.gen_range(0.0..2.0),
                };
                let a = fast.rank_then_add(x, true);
                let b = reference_rank_then_add(&mut slow, x);
                assert_eq!(a.to_bits(), b.to_bits(), "rank at sample {i}");
                assert_eq!(fast, slow, "sketch after sample {i}");
            }
        }
    }

    #[test]
    fn ceil_without_a_call_is_the_cast_of_ceil() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut qs = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            2_147_483_646.5,
            2_147_483_647.0,
            2_147_483_647.5,
            -2_147_483_648.0,
            -2_147_483_648.5,
            1e300,
            -1e300,
            f64::MIN_POSITIVE,
        ];
        qs.extend((0..100_000).map(|_| rng.gen_range(-40_000.0..40_000.0)));
        qs.extend((0..1_000).map(|i| f64::from(i - 500)));
        for q in qs {
            assert_eq!(ceil_to_i32(q), q.ceil() as i32, "{q}");
        }
    }

    #[test]
    fn values_below_the_edge_have_keys_below_the_lowest_bucket() {
        for lowest in (2..=OFFSET + 400).chain([2 * OFFSET - 1]) {
            let edge = edge_below(lowest);
            // The largest values under the bound, and a spread below it.
            let mut x = edge.next_down();
            for _ in 0..50 {
                assert!(key(x) < lowest, "key({x}) >= {lowest}");
                x = x.next_down();
            }
            assert!(key(edge * 0.9) < lowest);
            // The bound is tight: the bucket just below `lowest` reaches it (above the
            // values that share the zero bucket).
            if edge > ZERO {
                assert_eq!(key(edge), lowest - 1, "lowest {lowest}");
            }
        }
        assert_eq!(edge_below(1), f64::NEG_INFINITY);
        assert_eq!(edge_below(0), f64::NEG_INFINITY);
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
