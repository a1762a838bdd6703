//! Incremental mean/variance: exact over a sliding time window (time-bucketed partial
//! moments), and exponentially weighted.
//!
//! The window is cut into a fixed number of time buckets, each holding (count, mean, M2);
//! whole buckets expire as time moves on and the rest are merged with Chan's formula.
//! That is exact for every sample in the live buckets, bounded in memory whatever the
//! sample rate (a ring of raw samples over seven days at one a minute would be 160 KB),
//! and slides in steps of one bucket.

use serde::{Deserialize, Serialize};

/// Partial moments of a set of samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// How many samples.
    pub n: f64,
    /// Their mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    /// Adds one sample (Welford).
    pub fn add(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }

    /// Merges another set (Chan et al.).
    pub fn merge(&mut self, o: &Moments) {
        if o.n == 0.0 {
            return;
        }
        let n = self.n + o.n;
        let d = o.mean - self.mean;
        self.mean += d * o.n / n;
        self.m2 += o.m2 + d * d * self.n * o.n / n;
        self.n = n;
    }

    /// Sample standard deviation (0 with fewer than two samples).
    pub fn std(&self) -> f64 {
        if self.n > 1.0 {
            (self.m2 / (self.n - 1.0)).max(0.0).sqrt()
        } else {
            0.0
        }
    }
}

/// Exact moments over a sliding time window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowMoments {
    bucket_ms: i64,
    buckets: usize,
    #[serde(with = "crate::detect::packed::window_buckets")]
    live: std::collections::VecDeque<(i64, Moments)>,
    /// Every live bucket but the newest merged in order (None: not yet computed). Only the
    /// newest bucket changes between samples, so a read merges one bucket instead of all
    /// of them, with the same operations in the same order: the same bits.
    #[serde(skip)]
    older: Option<Moments>,
}

/// Equal when the window and its buckets are; the cache is not state.
impl PartialEq for WindowMoments {
    fn eq(&self, o: &Self) -> bool {
        self.bucket_ms == o.bucket_ms && self.buckets == o.buckets && self.live == o.live
    }
}

impl WindowMoments {
    /// A window of `window_ms` cut into `buckets` buckets.
    pub fn new(window_ms: i64, buckets: usize) -> Self {
        let buckets = buckets.max(1);
        Self {
            bucket_ms: (window_ms / buckets as i64).max(1),
            buckets,
            live: std::collections::VecDeque::with_capacity(buckets + 1),
            older: None,
        }
    }

    fn expire(&mut self, ts_ms: i64) {
        let oldest = ts_ms.div_euclid(self.bucket_ms) - self.buckets as i64 + 1;
        while self.live.front().is_some_and(|(id, _)| *id < oldest) {
            self.live.pop_front();
            self.older = None;
        }
    }

    /// Adds a sample at `ts_ms`.
    pub fn add(&mut self, ts_ms: i64, x: f64) {
        let id = ts_ms.div_euclid(self.bucket_ms);
        self.expire(ts_ms);
        match self.live.back_mut() {
            Some((last, m)) if *last == id => m.add(x),
            newest => {
                // The bucket that was newest joins the older ones.
                match (newest, &mut self.older) {
                    (None, older) => *older = Some(Moments::default()),
                    (Some((_, m)), Some(older)) => older.merge(m),
                    (Some(_), None) => {}
                }
                let mut m = Moments::default();
                m.add(x);
                self.live.push_back((id, m));
            }
        }
    }

    /// The moments of the window ending at `ts_ms`.
    pub fn get(&mut self, ts_ms: i64) -> Moments {
        self.expire(ts_ms);
        let Some((_, newest)) = self.live.back() else {
            return Moments::default();
        };
        let live = &self.live;
        let mut total = *self.older.get_or_insert_with(|| {
            let mut older = Moments::default();
            for (_, m) in live.range(..live.len() - 1) {
                older.merge(m);
            }
            older
        });
        total.merge(newest);
        total
    }
}

/// Exponentially weighted mean and variance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    /// Samples seen.
    pub n: u64,
    /// Weighted mean.
    pub mean: f64,
    /// Weighted variance.
    pub var: f64,
}

impl Ewma {
    /// Adds a sample with smoothing `alpha` (0..1); the first sample sets the mean.
    pub fn add(&mut self, x: f64, alpha: f64) {
        self.n += 1;
        if self.n == 1 {
            self.mean = x;
            self.var = 0.0;
            return;
        }
        // Early on, weigh samples equally so the start is not stuck on the first value.
        let a = alpha.max(1.0 / self.n as f64);
        let d = x - self.mean;
        let inc = a * d;
        self.mean += inc;
        self.var = (1.0 - a) * (self.var + d * inc);
    }

    /// Weighted standard deviation.
    pub fn std(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }
}

/// The smoothing factor for a half-life in samples.
pub fn alpha_for_half_life(half_life: f64) -> f64 {
    1.0 - 0.5f64.powf(1.0 / half_life.max(1e-9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_moments_are_exact_and_slide() {
        let mut w = WindowMoments::new(100, 10);
        for (i, x) in [1.0, 2.0, 3.0, 4.0].iter().enumerate() {
            w.add(i as i64 * 10, *x);
        }
        let m = w.get(40);
        assert_eq!(m.n, 4.0);
        assert!((m.mean - 2.5).abs() < 1e-12);
        assert!((m.std() - 1.2909944487358056).abs() < 1e-12);
        // 120 ms later the first three buckets have expired.
        let m = w.get(125);
        assert_eq!(m.n, 1.0, "only the sample at 30 ms is inside (25, 125]");
        assert_eq!(m.mean, 4.0);
    }

    #[test]
    fn cached_older_buckets_give_the_same_bits_as_merging_all() {
        let naive = |w: &WindowMoments| {
            let mut total = Moments::default();
            for (_, m) in &w.live {
                total.merge(m);
            }
            total
        };
        let mut w = WindowMoments::new(1_000, 8);
        let mut x = 0.3f64;
        for i in 0..5_000i64 {
            x = (x * 3.9 * (1.0 - x)).clamp(0.01, 0.99);
            let ts = i * 7 + (i / 13) * 50;
            w.add(ts, 100.0 * x);
            if i % 3 == 0 {
                let got = w.get(ts + 1);
                let want = naive(&w);
                assert_eq!(
                    (got.n.to_bits(), got.mean.to_bits(), got.m2.to_bits()),
                    (want.n.to_bits(), want.mean.to_bits(), want.m2.to_bits()),
                    "sample {i}"
                );
            }
        }
    }

    #[test]
    fn ewma_tracks_a_level() {
        let mut e = Ewma::default();
        for _ in 0..200 {
            e.add(10.0, 0.05);
        }
        assert!((e.mean - 10.0).abs() < 1e-9 && e.std() < 1e-9);
        for _ in 0..200 {
            e.add(20.0, 0.05);
        }
        assert!((e.mean - 20.0).abs() < 0.01);
        assert!((alpha_for_half_life(1.0) - 0.5).abs() < 1e-12);
    }
}
