//! Incremental mean/variance: exact over a sliding time window (time-bucketed partial
//! moments), and exponentially weighted.
//!
//! The window is cut into a fixed number of time buckets, each holding (count, mean, M2);
//! whole buckets expire as time moves on and the rest are merged with Chan's formula.
//! That is exact for every sample in the live buckets, bounded in memory whatever the
//! sample rate (a ring of raw samples over seven days at one a minute would be 160 KB),
//! and slides in steps of one bucket.

use std::collections::VecDeque;

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
///
/// Only the newest bucket changes between samples, so it lives in the struct itself
/// together with the merged moments of the others and the oldest bucket's id: a sample
/// reads and writes this struct alone, and the older buckets (on the heap) are read only
/// when a bucket starts or expires. A tick over 100,000 series is memory-bound, and a
/// second cache miss per series was a third of its time.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "StoredWindow")]
pub struct WindowMoments {
    bucket_ms: i64,
    buckets: usize,
    /// The live buckets before the newest, oldest first.
    past: VecDeque<(i64, Moments)>,
    /// The newest live bucket (None: the window is empty, and so is `past`).
    newest: Option<(i64, Moments)>,
    /// The id of the oldest live bucket (`i64::MAX` when empty), so that checking for
    /// expiry does not read `past`.
    oldest_id: i64,
    /// `past` merged in order (None: not yet computed). A read merges this with the
    /// newest bucket: the same operations in the same order as merging every bucket,
    /// so the same bits.
    past_total: Option<Moments>,
    /// `past_total` merged with the newest bucket, as [`WindowMoments::get`] returns it
    /// (None: not yet computed). Computed when a sample is added, so that the next
    /// sample's judgement does not wait on the merge's divisions.
    current: Option<Moments>,
    /// The newest bucket's id at the last [`WindowMoments::delta`] (`i64::MIN`: none
    /// yet): buckets older than it have not changed since.
    journaled: i64,
}

/// How a window is stored: every live bucket, oldest first (the form snapshots have
/// always had). Written by [`WindowMoments`]'s own `Serialize`, which packs the live
/// buckets where they are instead of copying the window into this form.
#[derive(Deserialize)]
struct StoredWindow {
    bucket_ms: i64,
    buckets: usize,
    #[serde(with = "crate::detect::packed::window_buckets")]
    live: VecDeque<(i64, Moments)>,
}

impl From<StoredWindow> for WindowMoments {
    fn from(stored: StoredWindow) -> Self {
        let mut past = stored.live;
        let newest = past.pop_back();
        let mut w = Self {
            bucket_ms: stored.bucket_ms.max(1),
            buckets: stored.buckets.max(1),
            past,
            newest,
            oldest_id: i64::MAX,
            past_total: None,
            current: None,
            journaled: i64::MIN,
        };
        w.refresh_oldest();
        w
    }
}

impl Serialize for WindowMoments {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let live = self.past.iter().chain(self.newest.as_ref());
        let mut stored = s.serialize_struct("StoredWindow", 3)?;
        stored.serialize_field("bucket_ms", &self.bucket_ms)?;
        stored.serialize_field("buckets", &self.buckets)?;
        stored.serialize_field("live", &crate::detect::packed::window_buckets::packed(live))?;
        stored.end()
    }
}

/// Equal when the window and its buckets are; the cache is not state.
impl PartialEq for WindowMoments {
    fn eq(&self, o: &Self) -> bool {
        self.bucket_ms == o.bucket_ms
            && self.buckets == o.buckets
            && self.past == o.past
            && self.newest == o.newest
    }
}

impl WindowMoments {
    /// A window of `window_ms` cut into `buckets` buckets.
    pub fn new(window_ms: i64, buckets: usize) -> Self {
        let buckets = buckets.max(1);
        Self {
            bucket_ms: (window_ms / buckets as i64).max(1),
            buckets,
            past: VecDeque::new(),
            newest: None,
            oldest_id: i64::MAX,
            past_total: None,
            current: None,
            journaled: i64::MIN,
        }
    }

    fn refresh_oldest(&mut self) {
        self.oldest_id = self
            .past
            .front()
            .or(self.newest.as_ref())
            .map_or(i64::MAX, |(id, _)| *id);
    }

    /// `ts_ms.div_euclid(bucket_ms)`, the id of the bucket `ts_ms` falls in, without a
    /// 64-bit division when it falls in the newest bucket (as most samples do): a
    /// division costs tens of cycles, and a sample needed three.
    fn bucket_of(&self, ts_ms: i64) -> i64 {
        if let Some((id, _)) = self.newest {
            let in_newest = id
                .checked_mul(self.bucket_ms)
                .and_then(|start| ts_ms.checked_sub(start))
                .is_some_and(|offset| (0..self.bucket_ms).contains(&offset));
            if in_newest {
                return id;
            }
        }
        ts_ms.div_euclid(self.bucket_ms)
    }

    fn expire(&mut self, ts_ms: i64) {
        let oldest = self.bucket_of(ts_ms) - self.buckets as i64 + 1;
        if self.oldest_id >= oldest {
            return;
        }
        while self.past.front().is_some_and(|(id, _)| *id < oldest) {
            self.past.pop_front();
            self.past_total = None;
        }
        if self.past.is_empty() && self.newest.is_some_and(|(id, _)| id < oldest) {
            self.newest = None;
        }
        self.current = None;
        self.refresh_oldest();
    }

    /// Adds a sample at `ts_ms`.
    pub fn add(&mut self, ts_ms: i64, x: f64) {
        let id = self.bucket_of(ts_ms);
        self.expire(ts_ms);
        match &mut self.newest {
            Some((last, m)) if *last == id => m.add(x),
            newest => {
                // The bucket that was newest joins the past ones.
                match (newest.take(), &mut self.past_total) {
                    (None, total) => *total = Some(Moments::default()),
                    (Some(previous), total) => {
                        if let Some(total) = total {
                            total.merge(&previous.1);
                        }
                        self.past.push_back(previous);
                    }
                }
                let mut m = Moments::default();
                m.add(x);
                self.newest = Some((id, m));
                self.refresh_oldest();
            }
        }
        self.current = match (self.past_total, self.newest) {
            (Some(mut total), Some((_, newest))) => {
                total.merge(&newest);
                Some(total)
            }
            _ => None,
        };
    }

    /// Appends to `out` the buckets that may have changed since the last call (every
    /// live bucket the first time), packed: only the newest bucket takes samples, so
    /// these are the ones at or after the newest of the last call — one, as a rule.
    pub fn delta(&mut self, out: &mut Vec<u8>) {
        let from = self.journaled;
        let newest = self.newest.as_ref();
        if newest.is_some_and(|(id, _)| *id == from) {
            // The common case, without reading the older buckets on the heap.
            crate::detect::packed::window_buckets::put(out, newest.into_iter());
        } else {
            let changed = self.past.iter().filter(|(id, _)| *id >= from);
            crate::detect::packed::window_buckets::put(out, changed.chain(newest));
        }
        self.journaled = newest.map_or(i64::MIN, |(id, _)| *id);
    }

    /// Applies buckets written by [`WindowMoments::delta`] (a later state of this
    /// window): each replaces the bucket of its id, and a newer one expires the buckets
    /// that fell out of the window. None when the bytes are cut short.
    pub fn apply_delta(&mut self, bytes: &[u8]) -> Option<()> {
        for (id, m) in crate::detect::packed::window_buckets::get(bytes)? {
            self.put_bucket(id, m);
        }
        Some(())
    }

    fn put_bucket(&mut self, id: i64, m: Moments) {
        match &mut self.newest {
            Some((newest, moments)) if *newest == id => *moments = m,
            Some((newest, _)) if *newest > id => {
                match self.past.binary_search_by_key(&id, |(b, _)| *b) {
                    Ok(i) => self.past[i].1 = m,
                    Err(i) => self.past.insert(i, (id, m)),
                }
            }
            newest => {
                if let Some(previous) = newest.replace((id, m)) {
                    self.past.push_back(previous);
                }
                let oldest = id - self.buckets as i64 + 1;
                while self.past.front().is_some_and(|(b, _)| *b < oldest) {
                    self.past.pop_front();
                }
            }
        }
        self.past_total = None;
        self.current = None;
        self.refresh_oldest();
    }

    /// The moments of the window ending at `ts_ms`.
    pub fn get(&mut self, ts_ms: i64) -> Moments {
        self.expire(ts_ms);
        let Some((_, newest)) = self.newest else {
            return Moments::default();
        };
        if let Some(current) = self.current {
            return current;
        }
        let past = &self.past;
        let mut total = *self.past_total.get_or_insert_with(|| {
            let mut total = Moments::default();
            for (_, m) in past {
                total.merge(m);
            }
            total
        });
        total.merge(&newest);
        self.current = Some(total);
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

    /// A window restored from an early snapshot and then the deltas taken since, in
    /// order, equals the live one, across bucket changes and expiry.
    #[test]
    fn a_snapshot_and_the_deltas_since_rebuild_the_window() {
        let mut live = WindowMoments::new(100, 10);
        let mut deltas = Vec::new();
        let mut snapshot = None;
        for i in 0..400i64 {
            live.add(i * 3, (i % 7) as f64);
            if i == 20 {
                snapshot = Some(serde_json::to_string(&live).unwrap());
            }
            if i > 20 && i % 5 == 0 {
                let mut d = Vec::new();
                live.delta(&mut d);
                deltas.push(d);
            }
        }
        let mut d = Vec::new();
        live.delta(&mut d);
        deltas.push(d);
        let mut rebuilt: WindowMoments = serde_json::from_str(&snapshot.unwrap()).unwrap();
        for d in &deltas {
            rebuilt.apply_delta(d).unwrap();
        }
        assert_eq!(rebuilt, live);
        assert_eq!(rebuilt.get(1200), live.get(1200));
        // After the first (the whole window), a delta holds only the buckets that took
        // samples since the one before: here two or three of the ten.
        assert!(deltas[0].len() > 120, "{} bytes", deltas[0].len());
        assert!(deltas[5].len() < 60, "{} bytes", deltas[5].len());
    }

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
            for (_, m) in w.past.iter().chain(&w.newest) {
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
    fn bucket_ids_without_division_are_the_divisions() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for bucket_ms in [1, 7, 1_000, 37_800_000] {
            let mut w = WindowMoments::new(bucket_ms * 16, 16);
            let mut ts: i64 = rng.gen_range(-5 * bucket_ms..5 * bucket_ms);
            for _ in 0..2_000 {
                ts += rng.gen_range(0..2 * bucket_ms);
                // Probes in, before and after the newest bucket, at its edges, and far off.
                let id = ts.div_euclid(bucket_ms);
                for probe in [
                    ts,
                    id * bucket_ms,
                    id * bucket_ms - 1,
                    (id + 1) * bucket_ms - 1,
                    (id + 1) * bucket_ms,
                    i64::MIN,
                    i64::MAX,
                ] {
                    assert_eq!(w.bucket_of(probe), probe.div_euclid(bucket_ms), "{probe}");
                }
                w.add(ts, 1.0);
            }
        }
        // A stored id far out of range must not overflow.
        let mut w = WindowMoments::new(160, 16);
        w.newest = Some((i64::MAX / 2, Moments::default()));
        assert_eq!(w.bucket_of(5), 0);
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
