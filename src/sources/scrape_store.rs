//! Turns successive scrapes of one endpoint into samples rules read like SQL rows: gauges
//! as they are, counters as their increase since the previous scrape (a drop is a reset,
//! never a negative increase), histograms as the increase of each bucket since the
//! previous scrape, which fetches expand into observations so that `p95` over a window
//! equals `histogram_quantile(0.95, rate(…[window]))`. Series no scrape has mentioned
//! within the retention are forgotten, and at most `max_series` are held at once.

mod expiry;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::model::{Labels, Sample};
use crate::sources::exposition::{Format, MetricType, ParseError, Reader, SampleLine};
use crate::sources::Observation;

/// Most observations one histogram point expands into; larger increases are scaled down
/// proportionally, which keeps quantiles and bounds memory (counts come from `_count`).
pub const MAX_OBSERVATIONS_PER_POINT: usize = 200;

/// Series one scrape source holds unless its settings say otherwise.
pub const DEFAULT_MAX_SERIES: usize = 1_000_000;

/// What a raw series line (`name{labels}` as the exporter prints it) stands for.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Stored as it is.
    Gauge(u32),
    /// Stored as the increase since the previous scrape (state in `counters`).
    Counter(u32),
    /// One cumulative bucket of a histogram.
    Bucket { histogram: u32, le: f64 },
    /// Read and dropped (`_created`); never cached, so churning labels cost nothing.
    Skip,
}

/// One stored point.
#[derive(Debug, Clone)]
enum PointValue {
    Value(f64),
    /// Upper bounds and the increase of each (non-cumulative) bucket.
    Buckets(Arc<[(f64, f64)]>),
}

#[derive(Debug)]
struct StoredSeries {
    labels: Arc<Labels>,
    points: VecDeque<(i64, PointValue)>,
    /// When a scrape last mentioned the series (milliseconds).
    last_seen_ms: i64,
}

#[derive(Debug)]
struct CounterState {
    series: u32,
    last: Option<f64>,
}

#[derive(Debug, Default)]
struct HistogramState {
    series: u32,
    previous: Vec<(f64, f64)>,
    current: Vec<(f64, f64)>,
    timestamp_ms: Option<i64>,
}

/// What one scrape brought.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Sample lines read.
    pub samples: usize,
    /// Series seen for the first time.
    pub new_series: usize,
    /// Counter or histogram resets detected.
    pub resets: usize,
    /// New series not stored because the store held `max_series` already.
    pub dropped_series: usize,
    /// Series held once the scrape was stored and old ones forgotten.
    pub series: usize,
}

/// The samples of one scrape target, kept for `retention`.
#[derive(Debug)]
pub struct ScrapeStore {
    retention_ms: i64,
    max_series: usize,
    reader: Reader,
    slots: HashMap<Box<str>, Slot>,
    series: Vec<StoredSeries>,
    by_metric: HashMap<Box<str>, Vec<u32>>,
    series_by_identity: HashMap<(Box<str>, Labels), u32>,
    counters: Vec<CounterState>,
    histograms: Vec<HistogramState>,
    histogram_by_series: HashMap<u32, u32>,
    /// The lines of the scrape being read, applied once all of it has parsed.
    pending: Vec<(Slot, f64, Option<i64>)>,
    /// The series of the scrape being read that did not fit under `max_series`.
    dropped: HashSet<(Box<str>, Labels)>,
    /// When the scrape being read was taken (milliseconds).
    scrape_ms: i64,
}

impl ScrapeStore {
    /// An empty store keeping points for `retention`, holding at most
    /// [`DEFAULT_MAX_SERIES`] series.
    pub fn new(retention: std::time::Duration) -> Self {
        Self::with_max_series(retention, DEFAULT_MAX_SERIES)
    }

    /// An empty store keeping points for `retention` and at most `max_series` series:
    /// beyond it, series seen for the first time are dropped (and counted) until old
    /// ones expire.
    pub fn with_max_series(retention: std::time::Duration, max_series: usize) -> Self {
        Self {
            retention_ms: i64::try_from(retention.as_millis()).unwrap_or(i64::MAX),
            max_series,
            reader: Reader::new(),
            slots: HashMap::new(),
            series: Vec::new(),
            by_metric: HashMap::new(),
            series_by_identity: HashMap::new(),
            counters: Vec::new(),
            histograms: Vec::new(),
            histogram_by_series: HashMap::new(),
            pending: Vec::new(),
            dropped: HashSet::new(),
            scrape_ms: 0,
        }
    }

    /// Series currently known (gauges, counters and histograms).
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Reads one scrape taken at `now`, then forgets what is older than the retention.
    /// A malformed payload changes nothing.
    pub fn ingest(
        &mut self,
        payload: &str,
        format: Format,
        now: DateTime<Utc>,
    ) -> Result<IngestStats, ParseError> {
        let mut stats = IngestStats::default();
        self.pending.clear();
        self.scrape_ms = now.timestamp_millis();
        // First pass: resolve every line to its slot; nothing is applied until the whole
        // payload has been read, so a bad line cannot leave half a scrape behind.
        let mut reader = std::mem::take(&mut self.reader);
        let result = reader.read(payload, format, |line| {
            stats.samples += 1;
            let slot = match self.slots.get(line.series) {
                Some(slot) => *slot,
                None => match self.new_slot(line)? {
                    Some(Slot::Skip) => Slot::Skip,
                    Some(slot) => {
                        stats.new_series += 1;
                        self.slots.insert(line.series.into(), slot);
                        slot
                    }
                    None => return Ok(()),
                },
            };
            self.pending.push((slot, line.value, line.timestamp_ms));
            Ok(())
        });
        self.reader = reader;
        stats.dropped_series = std::mem::take(&mut self.dropped).len();
        result?;

        let now_ms = self.scrape_ms;
        let pending = std::mem::take(&mut self.pending);
        for &(slot, value, ts) in &pending {
            let ts = ts.unwrap_or(now_ms);
            self.touch(slot, now_ms);
            match slot {
                Slot::Gauge(series) => self.push(series, ts, PointValue::Value(value)),
                Slot::Counter(counter) => {
                    if value.is_nan() {
                        continue;
                    }
                    let Some(c) = self.counters.get_mut(counter as usize) else {
                        continue;
                    };
                    let increase = c.last.map(|last| {
                        if value < last {
                            // A counter only drops when its process restarted: it
                            // counts from zero again.
                            stats.resets += 1;
                            value
                        } else {
                            value - last
                        }
                    });
                    c.last = Some(value);
                    let series = c.series;
                    if let Some(increase) = increase {
                        self.push(series, ts, PointValue::Value(increase));
                    }
                }
                Slot::Bucket { histogram, le } => {
                    let Some(h) = self.histograms.get_mut(histogram as usize) else {
                        continue;
                    };
                    h.current.push((le, value));
                    h.timestamp_ms.get_or_insert(ts);
                }
                Slot::Skip => {}
            }
        }
        self.pending = pending;

        for h in 0..self.histograms.len() {
            if let Some(reset) = self.close_histogram(h, now_ms) {
                stats.resets += usize::from(reset);
            }
        }
        // Series this scrape did not mention and gone stale make room from the next on.
        self.expire(now_ms);
        stats.series = self.series.len();
        Ok(stats)
    }

    /// Decides what a series line seen for the first time is; `None` when it would be a
    /// new series beyond `max_series`.
    fn new_slot(&mut self, line: &SampleLine<'_>) -> Result<Option<Slot>, String> {
        let suffix = line.suffix();
        Ok(Some(match (line.family_type, suffix) {
            (_, "_created") => Slot::Skip,
            (MetricType::Counter, _)
            | (MetricType::Histogram | MetricType::Summary, "_sum" | "_count") => {
                let Some(series) = self.series_id(line.name, line.labels().collect()) else {
                    return Ok(None);
                };
                self.counters.push(CounterState { series, last: None });
                Slot::Counter((self.counters.len() - 1) as u32)
            }
            (MetricType::Histogram, "_bucket") => {
                let le_text = line.label("le").ok_or_else(|| {
                    format!("histogram bucket {:?} has no `le` label", line.series)
                })?;
                let le = parse_le(le_text).ok_or_else(|| {
                    format!("invalid bucket bound le={le_text:?} in {:?}", line.series)
                })?;
                let labels: Labels = line.labels().filter(|(n, _)| *n != "le").collect();
                let Some(series) = self.series_id(line.family, labels) else {
                    return Ok(None);
                };
                let next = self.histograms.len() as u32;
                let histogram = *self.histogram_by_series.entry(series).or_insert(next);
                if histogram == next {
                    self.histograms.push(HistogramState {
                        series,
                        ..HistogramState::default()
                    });
                }
                Slot::Bucket { histogram, le }
            }
            _ => match self.series_id(line.name, line.labels().collect()) {
                Some(series) => Slot::Gauge(series),
                None => return Ok(None),
            },
        }))
    }

    /// The id of series `metric{labels}`, created if new; `None` (and counted as
    /// dropped) when it is new and the store is full.
    fn series_id(&mut self, metric: &str, labels: Labels) -> Option<u32> {
        let key = (Box::<str>::from(metric), labels);
        if let Some(id) = self.series_by_identity.get(&key) {
            return Some(*id);
        }
        if self.series.len() >= self.max_series {
            self.dropped.insert(key);
            return None;
        }
        let id = self.series.len() as u32;
        self.series.push(StoredSeries {
            labels: Arc::new(key.1.clone()),
            points: VecDeque::new(),
            last_seen_ms: self.scrape_ms,
        });
        self.by_metric.entry(key.0.clone()).or_default().push(id);
        self.series_by_identity.insert(key, id);
        Some(id)
    }

    /// Records that the scrape at `now_ms` mentioned the series behind `slot`.
    fn touch(&mut self, slot: Slot, now_ms: i64) {
        let series = match slot {
            Slot::Gauge(series) => Some(series),
            Slot::Counter(c) => self.counters.get(c as usize).map(|c| c.series),
            Slot::Bucket { histogram, .. } => {
                self.histograms.get(histogram as usize).map(|h| h.series)
            }
            Slot::Skip => None,
        };
        if let Some(s) = series.and_then(|s| self.series.get_mut(s as usize)) {
            s.last_seen_ms = now_ms;
        }
    }

    fn push(&mut self, series: u32, ts: i64, value: PointValue) {
        if let Some(s) = self.series.get_mut(series as usize) {
            s.points.push_back((ts, value));
        }
    }

    /// Turns a histogram's buckets of this scrape into one point of bucket increases.
    /// Returns whether a reset was detected, or None when the histogram was not scraped.
    fn close_histogram(&mut self, index: usize, now_ms: i64) -> Option<bool> {
        let h = self.histograms.get_mut(index)?;
        if h.current.is_empty() {
            return None;
        }
        h.current.sort_by(|a, b| a.0.total_cmp(&b.0));
        let ts = h.timestamp_ms.take().unwrap_or(now_ms);
        let same_bounds = h.previous.len() == h.current.len()
            && h.previous.iter().zip(&h.current).all(|(p, c)| p.0 == c.0);
        let mut reset = false;
        let mut point = None;
        if same_bounds {
            reset = h.previous.iter().zip(&h.current).any(|(p, c)| c.1 < p.1);
            // After a reset the buckets count from zero: their values are the increase.
            let mut below = 0.0;
            let mut buckets = Vec::with_capacity(h.current.len());
            let mut total = 0.0;
            for (p, c) in h.previous.iter().zip(&h.current) {
                let cumulative = if reset { c.1 } else { c.1 - p.1 };
                let increase = (cumulative - below).max(0.0);
                below = cumulative.max(below);
                total += increase;
                buckets.push((c.0, increase));
            }
            if total > 0.0 {
                point = Some(PointValue::Buckets(buckets.into()));
            }
        }
        let series = h.series;
        std::mem::swap(&mut h.previous, &mut h.current);
        h.current.clear();
        if let Some(p) = point {
            self.push(series, ts, p);
        }
        Some(reset)
    }

    /// The observations of `metric` whose labels include `filter`, stamped in
    /// `(after, until]` (milliseconds).
    pub fn observations(
        &self,
        metric: &str,
        filter: &Labels,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<Observation> {
        let (after, until) = (after.timestamp_millis(), until.timestamp_millis());
        let Some(ids) = self.by_metric.get(metric) else {
            return Vec::new();
        };
        // As a rule one value a series (a snapshot): sized once instead of regrown by
        // doubling (a dozen reallocations for 10,000, each copying what came before).
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(s) = self.series.get(id as usize) else {
                continue;
            };
            if !filter
                .0
                .iter()
                .all(|(k, v)| s.labels.0.get(k).is_some_and(|x| x == v))
            {
                continue;
            }
            // Points are in scrape order, so the window is a contiguous run.
            let start = s.points.partition_point(|(ts, _)| *ts <= after);
            for (ts, value) in s.points.range(start..) {
                if *ts > until {
                    break;
                }
                let Some(ts) = Utc.timestamp_millis_opt(*ts).single() else {
                    continue;
                };
                match value {
                    PointValue::Value(v) => out.push(Observation {
                        labels: Arc::clone(&s.labels),
                        sample: Sample { ts, value: *v },
                    }),
                    PointValue::Buckets(buckets) => {
                        expand_buckets(buckets, MAX_OBSERVATIONS_PER_POINT, |value| {
                            out.push(Observation {
                                labels: Arc::clone(&s.labels),
                                sample: Sample { ts, value },
                            })
                        })
                    }
                }
            }
        }
        out
    }
}

fn parse_le(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        _ => text.parse::<f64>().ok().filter(|v| !v.is_nan()),
    }
}

/// Spreads each bucket's increase evenly over its range, as `histogram_quantile` assumes:
/// bucket `(lo, hi]` with `n` observations yields `lo + (hi - lo)·k/n` for `k = 1..=n`.
/// The lowest bucket starts at 0 when its bound is positive; the `+Inf` bucket reports the
/// highest finite bound. More than `cap` observations are scaled down proportionally.
pub fn expand_buckets(buckets: &[(f64, f64)], cap: usize, mut emit: impl FnMut(f64)) {
    let total: f64 = buckets.iter().map(|b| b.1).sum();
    if total <= 0.0 {
        return;
    }
    let scale = if total > cap as f64 {
        cap as f64 / total
    } else {
        1.0
    };
    let highest_finite = buckets
        .iter()
        .rev()
        .map(|b| b.0)
        .find(|le| le.is_finite())
        .unwrap_or(0.0);
    let mut cumulative = 0.0;
    let mut emitted = 0u64;
    let mut lower = None::<f64>;
    for &(le, increase) in buckets {
        cumulative += increase;
        // Rounding the cumulative count keeps the total exact and the shares proportional.
        let target = (cumulative * scale).round() as u64;
        let n = target.saturating_sub(emitted);
        emitted = target.max(emitted);
        let lo = lower.unwrap_or(if le > 0.0 { 0.0 } else { le });
        lower = Some(le);
        for k in 1..=n {
            let value = if le.is_infinite() {
                highest_finite
            } else {
                lo + (le - lo) * k as f64 / n as f64
            };
            emit(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's quantile (linear between closest ranks, numpy's default), repeated
    /// here so that `sources` does not import `engine` for one test.
    fn quantile(values: &mut [f64], q: f64) -> f64 {
        values.sort_by(|a, b| a.total_cmp(b));
        let rank = q * (values.len() - 1) as f64;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        values[lo] + (values[hi] - values[lo]) * (rank - lo as f64)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn values(store: &ScrapeStore, metric: &str, from: i64, to: i64) -> Vec<f64> {
        store
            .observations(metric, &Labels::new(), at(from), at(to))
            .into_iter()
            .map(|o| o.sample.value)
            .collect()
    }

    #[test]
    fn counters_become_increases_and_a_reset_is_never_negative() {
        let mut store = ScrapeStore::new(std::time::Duration::from_secs(600));
        for (t, v) in [(0, 100.0), (5, 150.0), (10, 20.0), (15, 30.0)] {
            let text = format!("# TYPE calls_total counter\ncalls_total{{m=\"a\"}} {v}\n");
            store.ingest(&text, Format::Text, at(t)).unwrap();
        }
        // No increase for the first scrape; the restart counts from zero.
        assert_eq!(
            values(&store, "calls_total", -1, 20),
            vec![50.0, 20.0, 10.0]
        );
    }

    #[test]
    fn gauges_are_kept_as_they_are_and_filtered_by_labels() {
        let mut store = ScrapeStore::new(std::time::Duration::from_secs(600));
        store
            .ingest(
                "temp{room=\"a\"} 20.5\ntemp{room=\"b\"} 18\n",
                Format::Text,
                at(0),
            )
            .unwrap();
        let only_b = store.observations("temp", &Labels::new().with("room", "b"), at(-1), at(1));
        assert_eq!(only_b.len(), 1);
        assert_eq!(only_b[0].sample.value, 18.0);
        assert_eq!(only_b[0].sample.ts, at(0));
    }

    fn histogram(counts: [f64; 4]) -> String {
        format!(
            "# TYPE lat histogram\nlat_bucket{{m=\"a\",le=\"1\"}} {}\nlat_bucket{{m=\"a\",le=\"2\"}} {}\n\
             lat_bucket{{m=\"a\",le=\"4\"}} {}\nlat_bucket{{m=\"a\",le=\"+Inf\"}} {}\nlat_count{{m=\"a\"}} {}\n",
            counts[0], counts[1], counts[2], counts[3], counts[3]
        )
    }

    #[test]
    fn histogram_quantiles_come_from_bucket_increases_between_scrapes() {
        let mut store = ScrapeStore::new(std::time::Duration::from_secs(600));
        store
            .ingest(&histogram([10.0, 20.0, 20.0, 20.0]), Format::Text, at(0))
            .unwrap();
        // Between scrapes: 0 in (0,1], 80 in (1,2], 20 in (2,4].
        store
            .ingest(&histogram([10.0, 100.0, 120.0, 120.0]), Format::Text, at(5))
            .unwrap();
        let mut v = values(&store, "lat", 0, 5);
        assert_eq!(v.len(), 100);
        // histogram_quantile(0.5): rank 50 of 100 lies in (1,2] at 50/80 of its width.
        let p50 = quantile(&mut v, 0.5);
        assert!((p50 - 1.625).abs() < 0.02, "{p50}");
        let p95 = quantile(&mut v, 0.95);
        assert!((p95 - 3.5).abs() < 0.05, "{p95}");
        assert_eq!(values(&store, "lat_count", 0, 5), vec![100.0]);
        // The labels of the histogram series have no `le`.
        let obs = store.observations("lat", &Labels::new(), at(0), at(5));
        assert_eq!(*obs[0].labels, Labels::new().with("m", "a"));
    }

    #[test]
    fn a_histogram_reset_counts_from_zero() {
        let mut store = ScrapeStore::new(std::time::Duration::from_secs(600));
        store
            .ingest(&histogram([50.0, 90.0, 100.0, 100.0]), Format::Text, at(0))
            .unwrap();
        let stats = store
            .ingest(&histogram([0.0, 4.0, 4.0, 4.0]), Format::Text, at(5))
            .unwrap();
        assert_eq!(stats.resets, 2, "buckets and _count");
        let v = values(&store, "lat", 0, 5);
        assert_eq!(v.len(), 4);
        assert!(v.iter().all(|x| *x > 1.0 && *x <= 2.0), "{v:?}");
        assert_eq!(values(&store, "lat_count", 0, 5), vec![4.0]);
    }

    #[test]
    fn large_increases_are_scaled_to_the_cap_keeping_shares() {
        let mut got = Vec::new();
        expand_buckets(
            &[(1.0, 9000.0), (2.0, 1000.0), (f64::INFINITY, 0.0)],
            200,
            |v| got.push(v),
        );
        assert_eq!(got.len(), 200);
        assert_eq!(got.iter().filter(|v| **v > 1.0).count(), 20);
        let mut inf = Vec::new();
        expand_buckets(&[(1.0, 0.0), (f64::INFINITY, 3.0)], 200, |v| inf.push(v));
        assert_eq!(
            inf,
            vec![1.0, 1.0, 1.0],
            "+Inf reports the highest finite bound"
        );
    }

    #[test]
    fn a_malformed_scrape_changes_nothing_and_old_points_expire() {
        let mut store = ScrapeStore::new(std::time::Duration::from_secs(60));
        store
            .ingest("# TYPE c counter\nc_total 1\n", Format::Text, at(0))
            .unwrap();
        let err = store
            .ingest(
                "# TYPE c counter\nc_total 5\nbroken{\n",
                Format::Text,
                at(5),
            )
            .unwrap_err();
        assert_eq!(err.line, 3);
        store
            .ingest("# TYPE c counter\nc_total 2\n", Format::Text, at(10))
            .unwrap();
        assert_eq!(
            values(&store, "c_total", -1, 10),
            vec![1.0],
            "5 was never applied"
        );
        store
            .ingest("# TYPE c counter\nc_total 3\n", Format::Text, at(100))
            .unwrap();
        assert_eq!(
            values(&store, "c_total", -1, 100),
            vec![1.0],
            "t=10 expired"
        );
    }
}
