//! Forgetting in the scrape store: points older than the retention go, and so does a
//! series that has none left and that no scrape within the retention mentioned, with
//! everything that refers to it (its slots, counter or histogram state, indexes), so an
//! exporter that brings new label values on every scrape cannot grow the store forever.

use std::collections::HashMap;
use std::hash::Hash;

use super::{ScrapeStore, Slot, StoredSeries};

/// What maps an old index to its new one after a compaction (`None`: dropped).
type Remap = Vec<Option<u32>>;

impl StoredSeries {
    /// No point left and not mentioned by a scrape since `oldest` (milliseconds).
    fn is_stale(&self, oldest: i64) -> bool {
        self.points.is_empty() && self.last_seen_ms < oldest
    }
}

impl ScrapeStore {
    /// Drops the points older than the retention as of `now_ms`, then the series that
    /// became stale.
    pub(super) fn expire(&mut self, now_ms: i64) {
        let oldest = now_ms.saturating_sub(self.retention_ms);
        let mut stale = 0usize;
        for s in &mut self.series {
            while s.points.front().is_some_and(|(ts, _)| *ts < oldest) {
                s.points.pop_front();
            }
            stale += usize::from(s.is_stale(oldest));
        }
        if stale > 0 {
            self.drop_stale(oldest);
        }
    }

    /// Removes every stale series and renumbers what is left, keeping the order.
    fn drop_stale(&mut self, oldest: i64) {
        let series = remap(self.series.iter().map(|s| !s.is_stale(oldest)));
        let new_series = |id: u32| series.get(id as usize).copied().flatten();
        retain_by(&mut self.series, &series);

        let counters = remap(self.counters.iter().map(|c| new_series(c.series).is_some()));
        retain_by(&mut self.counters, &counters);
        for c in &mut self.counters {
            c.series = new_series(c.series).unwrap_or(c.series);
        }
        let histograms = remap(
            self.histograms
                .iter()
                .map(|h| new_series(h.series).is_some()),
        );
        retain_by(&mut self.histograms, &histograms);
        for h in &mut self.histograms {
            h.series = new_series(h.series).unwrap_or(h.series);
        }
        self.histogram_by_series = (0u32..)
            .zip(&self.histograms)
            .map(|(i, h)| (h.series, i))
            .collect();

        self.series_by_identity
            .retain(|_, id| renumber(id, &series));
        self.by_metric.retain(|_, ids| {
            ids.retain_mut(|id| renumber(id, &series));
            !ids.is_empty()
        });
        self.slots.retain(|_, slot| match slot {
            Slot::Gauge(id) => renumber(id, &series),
            Slot::Counter(id) => renumber(id, &counters),
            Slot::Bucket { histogram, .. } => renumber(histogram, &histograms),
            Slot::Skip => false,
        });
        self.give_memory_back();
    }

    /// Shrinks what a burst of churn left oversized.
    fn give_memory_back(&mut self) {
        shrink_map(&mut self.slots);
        shrink_map(&mut self.series_by_identity);
        shrink_map(&mut self.by_metric);
        shrink_map(&mut self.histogram_by_series);
        if self.series.capacity() > 4 * self.series.len().max(1024) {
            self.series.shrink_to_fit();
            self.counters.shrink_to_fit();
            self.histograms.shrink_to_fit();
        }
    }
}

/// New indexes for the entries `keep` says stay, in order.
fn remap(keep: impl Iterator<Item = bool>) -> Remap {
    let mut next = 0u32;
    keep.map(|k| {
        k.then(|| {
            next += 1;
            next - 1
        })
    })
    .collect()
}

/// Keeps the entries of `items` that `map` gives a new index.
fn retain_by<T>(items: &mut Vec<T>, map: &Remap) {
    let mut kept = map.iter();
    items.retain(|_| kept.next().is_some_and(Option::is_some));
}

/// Moves `id` to its new index; false when it was dropped.
fn renumber(id: &mut u32, map: &Remap) -> bool {
    match map.get(*id as usize).copied().flatten() {
        Some(new) => {
            *id = new;
            true
        }
        None => false,
    }
}

/// Gives memory back when a map holds far fewer entries than it has room for.
fn shrink_map<K: Eq + Hash, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > 4 * map.len().max(1024) {
        map.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use chrono::{TimeZone, Utc};
    use std::time::Duration;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    /// One scrape of a gauge, a counter and a histogram whose `id` label is new each time.
    fn churning(id: u32) -> String {
        format!(
            "# TYPE g gauge\ng{{id=\"{id}\"}} 1\ng{{id=\"fixed\"}} 2\n\
             # TYPE c counter\nc_total{{id=\"{id}\"}} {id}\nc_created{{id=\"{id}\"}} 1\n\
             # TYPE h histogram\nh_bucket{{id=\"{id}\",le=\"1\"}} 1\nh_bucket{{id=\"{id}\",le=\"+Inf\"}} 2\n\
             h_count{{id=\"{id}\"}} 2\n"
        )
    }

    #[test]
    fn series_no_scrape_mentions_within_the_retention_are_forgotten() {
        let mut store = ScrapeStore::new(Duration::from_secs(60));
        for i in 0..100u32 {
            store
                .ingest(&churning(i), Format::Text, at(i64::from(i) * 10))
                .unwrap();
        }
        // Scrapes at t = 930..=990 are within 60 s of t = 990: 7 churning sets of 4
        // series (g, c_total, h, h_count), plus g{id="fixed"}.
        assert_eq!(store.series_count(), 7 * 4 + 1);
        assert_eq!(
            store.slots.len(),
            7 * 5 + 1,
            "slots of dropped series go too"
        );
        assert_eq!(store.by_metric["g"].len(), 8);
        // What is left still reads and counts correctly after the renumbering.
        let fixed = Labels::new().with("id", "fixed");
        let kept = store.observations("g", &fixed, at(900), at(990));
        assert_eq!(kept.len(), 7);
        store.ingest(&churning(99), Format::Text, at(1000)).unwrap();
        let latest = Labels::new().with("id", "99");
        let h = store.observations("h", &latest, at(990), at(1000));
        assert!(h.is_empty(), "unchanged buckets are no increase");
        let g = store.observations("g", &latest, at(0), at(1000));
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn beyond_max_series_new_series_are_dropped_and_counted_once_each() {
        let mut store = ScrapeStore::with_max_series(Duration::from_secs(60), 6);
        let stats = store.ingest(&churning(1), Format::Text, at(0)).unwrap();
        assert_eq!((stats.new_series, stats.dropped_series), (6, 0));
        assert_eq!(store.series_count(), 5);
        // g{id="fixed"} and four more fit; the histogram's buckets and its _count do not,
        // and the two lines of one histogram count as one series.
        let stats = store.ingest(&churning(2), Format::Text, at(10)).unwrap();
        assert_eq!(store.series_count(), 6);
        assert_eq!(stats.dropped_series, 3, "c_total, h and h_count of id 2");
        // The scrape after the old ones went stale finds room again.
        let stats = store.ingest(&churning(3), Format::Text, at(100)).unwrap();
        assert_eq!(stats.dropped_series, 4, "the store was still full");
        assert_eq!(store.series_count(), 1, "only g{{id=\"fixed\"}} was seen");
        let stats = store.ingest(&churning(4), Format::Text, at(110)).unwrap();
        assert_eq!(stats.dropped_series, 0);
        assert_eq!(store.series_count(), 5);
    }
}
