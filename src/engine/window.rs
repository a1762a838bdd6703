//! The per-rule cache of observations inside the window, so each evaluation reads only
//! rows newer than the last one instead of the whole window again. Rows are kept
//! compact: labels are projected to the rule's `group_by` once per label set and
//! interned, and the interning outlives the rows, so a series seen at every tick is
//! found again by the address of the label set its source hands out, without hashing.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::engine::aggregate::Group;
use crate::model::Labels;
use crate::sources::Observation;
use crate::types::Fingerprint;

/// Hash maps of the evaluation's hot path: foldhash is several times cheaper than
/// SipHash on label sets and fingerprints and still seeded per map.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Interned label sets kept beyond those in use before they are dropped, so churn of
/// a few series does not rebuild the interning at every tick.
const SPARE_INTERNED: usize = 1024;

/// One cached row: its group, time and value.
#[derive(Debug, Clone, Copy)]
struct Entry {
    group: u32,
    ts_ms: i64,
    value: f64,
}

/// One group's run of values in [`Grouped::values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The interned group.
    pub id: u32,
    /// Where its values start.
    pub start: usize,
    /// Where they end (exclusive).
    pub end: usize,
}

/// The window's values by group, in one allocation reused from tick to tick: each
/// group's values are a contiguous run in time order, the groups in label order.
#[derive(Debug, Default)]
pub struct Grouped {
    /// Every value of the window.
    pub values: Vec<f64>,
    /// The groups with values, in label order.
    pub spans: Vec<Span>,
}

/// Observations inside a rule's window and how far the source has been read.
#[derive(Debug, Default)]
pub struct WindowBuffer {
    group_by: Vec<String>,
    entries: VecDeque<Entry>,
    /// Interned group label sets (shared with `index`).
    labels: Vec<Arc<Labels>>,
    /// Each interned label set's alert fingerprint, computed once.
    fingerprints: Vec<Option<Fingerprint>>,
    /// Interned ids in label order; rebuilt only when a label set is added.
    order: Vec<u32>,
    index: FastMap<Arc<Labels>, u32>,
    /// Label sets that a source shares between fetches (a scrape store's series), by
    /// address, with their group: a repeat series costs no hashing of its labels. The
    /// `Arc` held here keeps the address from being reused by another set.
    by_source: FastMap<usize, (Arc<Labels>, u32)>,
    cursor: Option<DateTime<Utc>>,
    /// True while entries are in time order (the usual case: sources return rows by
    /// time and fetches follow each other), so evaluations need not sort.
    ordered: bool,
    /// The last grouping's allocation, handed back for the next.
    spare: Grouped,
    /// Per interned group: its count, then its next write position, while grouping.
    positions: Vec<usize>,
}

impl WindowBuffer {
    /// An empty buffer grouping by `group_by`.
    pub fn new(group_by: Vec<String>) -> Self {
        Self {
            group_by,
            ordered: true,
            ..Default::default()
        }
    }

    /// The range to fetch for a window `(start, end]`: everything after the cursor when
    /// the cache covers the window start, else the whole window.
    pub fn fetch_range(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        match self.cursor {
            Some(c) if c >= start && c <= end => (c, end),
            _ => (start, end),
        }
    }

    fn push(&mut self, o: Observation) {
        let ts_ms = o.sample.ts.timestamp_millis();
        let value = o.sample.value;
        let group = self.intern(o.labels);
        if self.entries.back().is_some_and(|last| last.ts_ms > ts_ms) {
            self.ordered = false;
        }
        self.entries.push_back(Entry {
            group,
            ts_ms,
            value,
        });
    }

    /// The group of a row's label set.
    fn intern(&mut self, labels: Arc<Labels>) -> u32 {
        let address = Arc::as_ptr(&labels) as usize;
        if let Some((_, group)) = self.by_source.get(&address) {
            return *group;
        }
        // When the row carries exactly the grouping labels, it is its own key: no copy.
        let exact = labels.0.len() == self.group_by.len()
            && self.group_by.iter().all(|g| labels.0.contains_key(g));
        let group = if exact {
            self.group_of(&labels, || Arc::clone(&labels))
        } else {
            let key = labels.project(&self.group_by);
            self.group_of(&key, || Arc::new(key.clone()))
        };
        // Only a set someone else holds can come back at the same address; rows built
        // afresh for each fetch (SQL sources) are not worth remembering by address.
        if Arc::strong_count(&labels) > 1 {
            self.by_source.insert(address, (labels, group));
        }
        group
    }

    fn group_of(&mut self, key: &Labels, owned: impl FnOnce() -> Arc<Labels>) -> u32 {
        if let Some(group) = self.index.get(key) {
            return *group;
        }
        let key = owned();
        let group = self.labels.len() as u32;
        self.labels.push(Arc::clone(&key));
        self.fingerprints.push(None);
        self.order.clear();
        self.index.insert(key, group);
        group
    }

    /// Adds freshly fetched rows for `(after, until]`, then drops what fell out of the
    /// window `(start, …]`.
    pub fn extend(
        &mut self,
        fetched: Vec<Observation>,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        start: DateTime<Utc>,
    ) {
        if self.cursor != Some(after) {
            // A full re-read: the cache is replaced, not appended to.
            self.entries.clear();
            self.ordered = true;
        }
        for o in fetched {
            self.push(o);
        }
        let start_ms = start.timestamp_millis();
        self.entries.retain(|e| e.ts_ms > start_ms);
        self.cursor = Some(until);
        if self.entries.is_empty() {
            self.ordered = true;
        }
        self.compact_if_sparse();
    }

    /// Replaces the whole cache (snapshot metrics); the interning is kept.
    pub fn replace(&mut self, fetched: Vec<Observation>) {
        self.entries.clear();
        self.ordered = true;
        for o in fetched {
            self.push(o);
        }
        self.cursor = None;
        self.compact_if_sparse();
    }

    /// Drops interned label sets no row refers to once they far outnumber the rows, so
    /// a label explosion that has passed does not hold memory.
    fn compact_if_sparse(&mut self) {
        let bound = 2 * self.entries.len() + SPARE_INTERNED;
        if self.labels.len() > bound || self.by_source.len() > bound {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let mut renumbered = vec![u32::MAX; self.labels.len()];
        let mut labels = Vec::new();
        let mut fingerprints = Vec::new();
        for e in self.entries.iter_mut() {
            let old = e.group as usize;
            if renumbered[old] == u32::MAX {
                renumbered[old] = labels.len() as u32;
                labels.push(Arc::clone(&self.labels[old]));
                fingerprints.push(self.fingerprints[old].take());
            }
            e.group = renumbered[old];
        }
        self.index.clear();
        for (group, key) in labels.iter().enumerate() {
            self.index.insert(Arc::clone(key), group as u32);
        }
        self.by_source.retain(|_, (source, group)| {
            *group = renumbered[*group as usize];
            *group != u32::MAX && Arc::strong_count(source) > 1
        });
        self.labels = labels;
        self.fingerprints = fingerprints;
        self.order.clear();
    }

    /// The labels of interned group `id`.
    pub fn labels(&self, id: u32) -> &Labels {
        &self.labels[id as usize]
    }

    /// The fingerprint of interned group `id`, made by `make` the first time.
    pub fn fingerprint(
        &mut self,
        id: u32,
        make: impl FnOnce(&Labels) -> Fingerprint,
    ) -> &Fingerprint {
        let i = id as usize;
        if self.fingerprints[i].is_none() {
            self.fingerprints[i] = Some(make(&self.labels[i]));
        }
        self.fingerprints[i].as_ref().expect("set above")
    }

    /// The window's values by group; hand the result back with
    /// [`WindowBuffer::give_back`] so the next tick reuses its allocation.
    pub fn take_grouped(&mut self) -> Grouped {
        self.sort_groups();
        if !self.ordered {
            // Out-of-order rows: sort by time so `last` means the newest.
            self.entries.make_contiguous().sort_by_key(|e| e.ts_ms);
            self.ordered = true;
        }
        let mut grouped = std::mem::take(&mut self.spare);
        let positions = &mut self.positions;
        positions.clear();
        positions.resize(self.labels.len(), 0);
        for e in &self.entries {
            positions[e.group as usize] += 1;
        }
        grouped.spans.clear();
        let mut next = 0;
        for &id in &self.order {
            let count = positions[id as usize];
            if count > 0 {
                grouped.spans.push(Span {
                    id,
                    start: next,
                    end: next + count,
                });
            }
            positions[id as usize] = next;
            next += count;
        }
        grouped.values.clear();
        grouped.values.resize(self.entries.len(), 0.0);
        for e in &self.entries {
            let at = &mut positions[e.group as usize];
            grouped.values[*at] = e.value;
            *at += 1;
        }
        grouped
    }

    /// Returns a grouping's allocation for the next [`WindowBuffer::take_grouped`].
    pub fn give_back(&mut self, grouped: Grouped) {
        self.spare = grouped;
    }

    fn sort_groups(&mut self) {
        if self.order.len() != self.labels.len() {
            let labels = &self.labels;
            self.order = (0..labels.len() as u32).collect();
            self.order
                .sort_by(|a, b| labels[*a as usize].cmp(&labels[*b as usize]));
        }
    }

    /// The window's values by interned group id, in label order, each group's values
    /// in a vector of its own (sliced rules, which have few groups).
    pub fn group_values(&mut self) -> Vec<(u32, Vec<f64>)> {
        let grouped = self.take_grouped();
        let out = grouped
            .spans
            .iter()
            .map(|s| (s.id, grouped.values[s.start..s.end].to_vec()))
            .collect();
        self.give_back(grouped);
        out
    }

    /// The window's values grouped by label set, in label order.
    pub fn groups(&mut self) -> Vec<Group> {
        self.group_values()
            .into_iter()
            .map(|(id, values)| Group {
                labels: self.labels(id).clone(),
                values,
            })
            .collect()
    }

    /// Where reading has got to: the end of the last fetched range.
    pub fn cursor(&self) -> Option<DateTime<Utc>> {
        self.cursor
    }

    /// How many observations are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many label sets are interned (tests of the interning's bound).
    pub fn interned(&self) -> usize {
        self.labels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sample;

    fn obs(secs: i64, mode: &str) -> Observation {
        Observation {
            labels: Labels::from([("mode", mode), ("agent", "x")]).into(),
            sample: Sample {
                ts: DateTime::from_timestamp(secs, 0).unwrap(),
                value: secs as f64,
            },
        }
    }

    #[test]
    fn incremental_reads_grouping_and_eviction() {
        let t = |s| DateTime::from_timestamp(s, 0).unwrap();
        let mut w = WindowBuffer::new(vec!["mode".into()]);
        assert_eq!(w.fetch_range(t(0), t(100)), (t(0), t(100)));
        w.extend(vec![obs(10, "a"), obs(90, "b")], t(0), t(100), t(0));
        assert_eq!(w.fetch_range(t(50), t(150)), (t(100), t(150)));
        w.extend(vec![obs(120, "a")], t(100), t(150), t(50));
        let groups = w.groups();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].labels, Labels::from([("mode", "a")]));
        assert_eq!(
            groups[0].values,
            vec![120.0],
            "the row at 10 left the window"
        );
        assert_eq!(groups[1].values, vec![90.0]);
        // A gap longer than the window forces a full read.
        assert_eq!(w.fetch_range(t(500), t(600)), (t(500), t(600)));
    }

    fn shared(mode: &str) -> Arc<Labels> {
        Arc::new(Labels::from([("mode", mode)]))
    }

    fn row(labels: &Arc<Labels>, ms: i64, value: f64) -> Observation {
        Observation {
            labels: Arc::clone(labels),
            sample: Sample {
                ts: DateTime::from_timestamp_millis(ms).unwrap(),
                value,
            },
        }
    }

    #[test]
    fn snapshots_keep_the_interning_and_rows_out_of_order_group_by_time() {
        let (a, b) = (shared("a"), shared("b"));
        let mut w = WindowBuffer::new(vec!["mode".into()]);
        w.replace(vec![row(&b, 2, 1.0), row(&a, 3, 2.0), row(&b, 1, 3.0)]);
        let fp = w
            .fingerprint(0, |_| Fingerprint::parse("00000000000000aa").unwrap())
            .clone();
        let grouped = w.take_grouped();
        let runs: Vec<(&Labels, &[f64])> = grouped
            .spans
            .iter()
            .map(|s| (w.labels(s.id), &grouped.values[s.start..s.end]))
            .collect();
        assert_eq!(
            runs,
            vec![(&*a, &[2.0][..]), (&*b, &[3.0, 1.0][..])],
            "label order; each group's values by time"
        );
        w.give_back(grouped);
        w.replace(vec![row(&a, 4, 5.0), row(&b, 4, 6.0)]);
        assert_eq!(w.interned(), 2, "the next snapshot finds the same sets");
        assert_eq!(w.fingerprint(0, |_| unreachable!("cached")), &fp);
        // A row built afresh with the same labels joins the same group.
        w.replace(vec![row(&shared("a"), 5, 7.0)]);
        assert_eq!(w.interned(), 2);
        assert_eq!(
            w.group_values(),
            vec![(1, vec![7.0])],
            "a was interned second"
        );
    }

    #[test]
    fn interned_sets_no_row_uses_are_dropped_once_they_outnumber_the_rows() {
        let mut w = WindowBuffer::new(vec!["mode".into()]);
        for tick in 0..5 {
            let sets: Vec<Arc<Labels>> =
                (0..1000).map(|i| shared(&format!("{tick}-{i}"))).collect();
            w.replace(sets.iter().map(|l| row(l, tick, 1.0)).collect());
            assert!(
                w.interned() <= 2 * w.len() + SPARE_INTERNED,
                "tick {tick}: {} interned for {} rows",
                w.interned(),
                w.len()
            );
        }
        let groups = w.groups();
        assert_eq!(groups.len(), 1000);
        assert!(groups
            .iter()
            .all(|g| g.labels.get("mode").unwrap().starts_with("4-")));
    }
}
