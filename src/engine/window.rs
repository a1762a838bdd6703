//! The per-rule cache of observations inside the window, so each evaluation reads only
//! rows newer than the last one instead of the whole window again. Rows are kept
//! compact: labels are projected to the rule's `group_by` once, at ingest, and interned.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::engine::aggregate::Group;
use crate::model::Labels;
use crate::sources::Observation;
use crate::types::Fingerprint;

/// One cached row: its group, time and value.
#[derive(Debug, Clone, Copy)]
struct Entry {
    group: u32,
    ts_ms: i64,
    value: f64,
}

/// Observations inside a rule's window and how far the source has been read.
#[derive(Debug, Default)]
pub struct WindowBuffer {
    group_by: Vec<String>,
    entries: VecDeque<Entry>,
    labels: Vec<Labels>,
    /// Each interned label set's alert fingerprint, computed once.
    fingerprints: Vec<Option<Fingerprint>>,
    /// Interned ids in label order; rebuilt only when a label set is added.
    order: Vec<u32>,
    index: HashMap<Labels, u32>,
    cursor: Option<DateTime<Utc>>,
    /// True while entries are in time order (the usual case: sources return rows by
    /// time and fetches follow each other), so evaluations need not sort.
    ordered: bool,
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
        // When the row carries exactly the grouping labels, it is its own key: no copy.
        let exact = o.labels.0.len() == self.group_by.len()
            && self.group_by.iter().all(|g| o.labels.0.contains_key(g));
        let key = if exact {
            std::borrow::Cow::Borrowed(&*o.labels)
        } else {
            std::borrow::Cow::Owned(o.labels.project(&self.group_by))
        };
        let group = match self.index.get(&*key) {
            Some(g) => *g,
            None => {
                let key = key.into_owned();
                let g = self.labels.len() as u32;
                self.labels.push(key.clone());
                self.fingerprints.push(None);
                self.order.clear();
                self.index.insert(key, g);
                g
            }
        };
        if self.entries.back().is_some_and(|last| last.ts_ms > ts_ms) {
            self.ordered = false;
        }
        self.entries.push_back(Entry {
            group,
            ts_ms,
            value,
        });
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
            self.clear();
        }
        for o in fetched {
            self.push(o);
        }
        let start_ms = start.timestamp_millis();
        self.entries.retain(|e| e.ts_ms > start_ms);
        self.cursor = Some(until);
        if self.entries.is_empty() {
            self.ordered = true;
            // Nothing refers to the interned label sets any more: let them go, so a
            // label explosion that has passed does not hold memory.
            self.labels.clear();
            self.fingerprints.clear();
            self.order.clear();
            self.index.clear();
        }
    }

    /// Replaces the whole cache (snapshot metrics).
    pub fn replace(&mut self, fetched: Vec<Observation>) {
        self.clear();
        for o in fetched {
            self.push(o);
        }
        self.cursor = None;
    }

    fn clear(&mut self) {
        self.ordered = true;
        self.entries.clear();
        self.fingerprints.clear();
        self.order.clear();
        self.labels.clear();
        self.index.clear();
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

    /// The window's values by interned group id, in label order.
    pub fn group_values(&mut self) -> Vec<(u32, Vec<f64>)> {
        if self.order.len() != self.labels.len() {
            let labels = &self.labels;
            self.order = (0..labels.len() as u32).collect();
            self.order
                .sort_by(|a, b| labels[*a as usize].cmp(&labels[*b as usize]));
        }
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); self.labels.len()];
        if self.ordered {
            for e in &self.entries {
                values[e.group as usize].push(e.value);
            }
        } else {
            // Out-of-order rows: sort by time so `last` means the newest.
            let mut by_time: Vec<&Entry> = self.entries.iter().collect();
            by_time.sort_by_key(|e| e.ts_ms);
            for e in by_time {
                values[e.group as usize].push(e.value);
            }
        }
        self.order
            .iter()
            .filter_map(|id| {
                let v = std::mem::take(&mut values[*id as usize]);
                (!v.is_empty()).then_some((*id, v))
            })
            .collect()
    }

    /// The window's values grouped by label set, in label order.
    pub fn groups(&mut self) -> Vec<Group> {
        self.group_values()
            .into_iter()
            .map(|(id, values)| Group {
                labels: self.labels[id as usize].clone(),
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
}
