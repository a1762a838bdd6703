//! Spend per minute and per group, as read from the source: the one record every other
//! budget computation (spend so far, burn windows, the learnt shape) sums from.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::model::Labels;
use crate::sources::Observation;

/// Milliseconds in one bucket.
const MINUTE_MS: i64 = 60_000;

/// The bucket holding an instant: bucket `k` covers `(k·60 s, (k+1)·60 s]`, matching a
/// fetch's `(after, until]`.
fn bucket(ts: DateTime<Utc>) -> i64 {
    (ts.timestamp_millis() - 1).div_euclid(MINUTE_MS)
}

/// The first bucket not before `at` when `at` ends a range: buckets up to `bucket(at)`.
fn end_bucket(at: DateTime<Utc>) -> i64 {
    bucket(at) + 1
}

/// Spend per group (the budget's `group_by` labels) per minute.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpendLedger {
    groups: HashMap<Labels, BTreeMap<i64, f64>>,
    /// The range the ledger holds: `(from, until]`.
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    /// The first spend seen, for how much history there is.
    first: Option<DateTime<Utc>>,
}

impl SpendLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces everything in `(after, until]` with `rows`, each counted in the group its
    /// `group_by` labels select. Rows outside the range are ignored.
    pub fn replace(
        &mut self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        rows: &[Observation],
        group_by: &[String],
    ) {
        let (lo, hi) = (end_bucket(after), end_bucket(until));
        for buckets in self.groups.values_mut() {
            let doomed: Vec<i64> = buckets.range(lo..hi).map(|(k, _)| *k).collect();
            for k in doomed {
                buckets.remove(&k);
            }
        }
        for row in rows {
            let ts = row.sample.ts;
            if ts <= after || ts > until || !row.sample.value.is_finite() {
                continue;
            }
            let group = row.labels.project(group_by);
            *self
                .groups
                .entry(group)
                .or_default()
                .entry(bucket(ts))
                .or_insert(0.0) += row.sample.value;
            self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
        }
        self.from = Some(self.from.map_or(after, |f| f.min(after)));
        self.until = Some(self.until.map_or(until, |u| u.max(until)));
    }

    /// Forgets spend at or before `before`.
    pub fn trim(&mut self, before: DateTime<Utc>) {
        let cut = end_bucket(before);
        for buckets in self.groups.values_mut() {
            *buckets = buckets.split_off(&cut);
        }
        self.groups.retain(|_, b| !b.is_empty());
        self.from = self.from.map(|f| f.max(before));
    }

    /// The groups seen.
    pub fn groups(&self) -> impl Iterator<Item = &Labels> {
        self.groups.keys()
    }

    /// The range held, `(from, until]`, if anything was read.
    pub fn range(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.from.zip(self.until)
    }

    /// The earliest spend held.
    pub fn first_spend(&self) -> Option<DateTime<Utc>> {
        self.first
    }

    /// Spend of `group` (None: every group) in `(after, until]`, to the minute.
    pub fn sum(&self, group: Option<&Labels>, after: DateTime<Utc>, until: DateTime<Utc>) -> f64 {
        let (lo, hi) = (end_bucket(after), end_bucket(until));
        if lo >= hi {
            return 0.0;
        }
        let one = |b: &BTreeMap<i64, f64>| b.range(lo..hi).map(|(_, v)| v).sum::<f64>();
        match group {
            Some(g) => self.groups.get(g).map_or(0.0, one),
            None => self.groups.values().map(one).sum(),
        }
    }

    /// Every group's spend per hour starting at `start` (hour `i` is `(start + i h,
    /// start + (i+1) h]`), for `hours` hours: the input of shape learning and forecasts.
    pub fn hourly(&self, group: Option<&Labels>, start: DateTime<Utc>, hours: usize) -> Vec<f64> {
        let mut out = vec![0.0; hours];
        let base = end_bucket(start);
        let hi = base + hours as i64 * 60;
        let mut add = |b: &BTreeMap<i64, f64>| {
            for (k, v) in b.range(base..hi) {
                let i = ((k - base) / 60) as usize;
                if let Some(slot) = out.get_mut(i) {
                    *slot += v;
                }
            }
        };
        match group {
            Some(g) => {
                if let Some(b) = self.groups.get(g) {
                    add(b);
                }
            }
            None => self.groups.values().for_each(add),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sample;
    use std::sync::Arc;

    fn row(model: &str, at: &str, value: f64) -> Observation {
        Observation {
            labels: Arc::new(Labels::from([("model", model), ("agent", "engineer")])),
            sample: Sample {
                ts: at.parse().unwrap(),
                value,
            },
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn sums_per_group_and_replaces_a_range_read_again() {
        let mut l = SpendLedger::new();
        let by = vec!["model".to_owned()];
        let rows = [
            row("gpt-4o", "2026-01-01T00:00:30Z", 1.0),
            row("gpt-4o", "2026-01-01T00:01:00Z", 2.0),
            row("o1", "2026-01-01T00:02:00Z", 4.0),
        ];
        l.replace(
            t("2026-01-01T00:00:00Z"),
            t("2026-01-01T01:00:00Z"),
            &rows,
            &by,
        );
        let gpt = Labels::from([("model", "gpt-4o")]);
        assert_eq!(
            l.sum(
                Some(&gpt),
                t("2026-01-01T00:00:00Z"),
                t("2026-01-01T00:01:00Z")
            ),
            3.0
        );
        assert_eq!(
            l.sum(None, t("2026-01-01T00:00:00Z"), t("2026-01-01T01:00:00Z")),
            7.0
        );
        // A late row appears when the last minutes are read again.
        let again = [
            row("o1", "2026-01-01T00:02:00Z", 4.0),
            row("o1", "2026-01-01T00:02:10Z", 1.0),
        ];
        l.replace(
            t("2026-01-01T00:01:00Z"),
            t("2026-01-01T01:00:00Z"),
            &again,
            &by,
        );
        assert_eq!(
            l.sum(None, t("2026-01-01T00:00:00Z"), t("2026-01-01T01:00:00Z")),
            8.0
        );
        assert_eq!(l.hourly(None, t("2026-01-01T00:00:00Z"), 2), vec![8.0, 0.0]);
        l.trim(t("2026-01-01T00:01:00Z"));
        assert_eq!(
            l.sum(None, t("2026-01-01T00:00:00Z"), t("2026-01-01T01:00:00Z")),
            5.0
        );
    }
}
