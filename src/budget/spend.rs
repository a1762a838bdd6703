//! Spend per minute and per group, as read from the source: the one record every other
//! budget computation (spend so far, burn windows, the learnt shape) sums from.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::budget::row_cost::RowCosts;
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

/// Spend per group (the budget's `group_by` labels) per minute, with hourly totals kept
/// beside the minutes so a month's sums and hourly series cost hundreds of steps, not
/// tens of thousands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpendLedger {
    groups: HashMap<Labels, BTreeMap<i64, f64>>,
    hours: HashMap<Labels, BTreeMap<i64, f64>>,
    /// The range the ledger holds: `(from, until]`.
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    /// The first spend seen, for how much history there is.
    first: Option<DateTime<Utc>>,
    /// The cost level of single rows, when each row is one spend (None for a counter's
    /// increases, which are sums over a scrape interval).
    rows: Option<RowCosts>,
}

impl SpendLedger {
    /// An empty ledger of rows that are one spend each (a call's or a run's cost).
    pub fn new() -> Self {
        Self {
            rows: Some(RowCosts::default()),
            ..Self::default()
        }
    }

    /// An empty ledger of a counter's increases: rows are sums over a scrape interval,
    /// so no cost level of single spends is kept.
    pub fn of_counter() -> Self {
        Self::default()
    }

    /// The cost level of single rows, if the rows are single spends.
    pub fn row_costs(&self) -> Option<&RowCosts> {
        self.rows.as_ref()
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
        if let Some(costs) = &mut self.rows {
            let held = rows
                .iter()
                .filter(|r| r.sample.ts > after && r.sample.ts <= until);
            costs.replace(lo, hi, held, group_by);
        }
        self.from = Some(self.from.map_or(after, |f| f.min(after)));
        self.until = Some(self.until.map_or(until, |u| u.max(until)));
        self.rebuild_hours(lo.div_euclid(60), hi.div_euclid(60));
    }

    /// Recomputes the hourly totals of hours `first..=last` from the minutes.
    fn rebuild_hours(&mut self, first: i64, last: i64) {
        for (group, minutes) in &self.groups {
            let hours = self.hours.entry(group.clone()).or_default();
            for h in first..=last {
                let total: f64 = minutes.range(h * 60..(h + 1) * 60).map(|(_, v)| v).sum();
                if minutes.range(h * 60..(h + 1) * 60).next().is_some() {
                    hours.insert(h, total);
                } else {
                    hours.remove(&h);
                }
            }
        }
        self.hours
            .retain(|g, h| !h.is_empty() && self.groups.contains_key(g));
    }

    /// Forgets spend at or before `before`.
    pub fn trim(&mut self, before: DateTime<Utc>) {
        let cut = end_bucket(before);
        for buckets in self.groups.values_mut() {
            *buckets = buckets.split_off(&cut);
        }
        self.groups.retain(|_, b| !b.is_empty());
        for hours in self.hours.values_mut() {
            *hours = hours.split_off(&cut.div_euclid(60));
        }
        self.rebuild_hours(cut.div_euclid(60), cut.div_euclid(60));
        if let Some(costs) = &mut self.rows {
            costs.trim(cut);
        }
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
        // Whole hours from the hourly totals, the minutes at either end from the minutes.
        let (h_lo, h_hi) = ((lo + 59).div_euclid(60), hi.div_euclid(60));
        let empty = BTreeMap::new();
        let one = |g: &Labels| {
            let minutes = self.groups.get(g).unwrap_or(&empty);
            let m = |a: i64, b: i64| minutes.range(a..b).map(|(_, v)| v).sum::<f64>();
            if h_lo >= h_hi {
                return m(lo, hi);
            }
            let hours = self.hours.get(g).unwrap_or(&empty);
            m(lo, h_lo * 60)
                + hours.range(h_lo..h_hi).map(|(_, v)| v).sum::<f64>()
                + m(h_hi * 60, hi)
        };
        match group {
            Some(g) => one(g),
            None => self.groups.keys().map(one).sum(),
        }
    }

    /// Every group's spend per hour starting at `start` (hour `i` is `(start + i h,
    /// start + (i+1) h]`), for `hours` hours: the input of shape learning and forecasts.
    pub fn hourly(&self, group: Option<&Labels>, start: DateTime<Utc>, hours: usize) -> Vec<f64> {
        let mut out = vec![0.0; hours];
        let base = end_bucket(start);
        if base.rem_euclid(60) == 0 {
            let (h0, empty) = (base.div_euclid(60), BTreeMap::new());
            let mut add = |b: &BTreeMap<i64, f64>| {
                for (h, v) in b.range(h0..h0 + hours as i64) {
                    if let Some(slot) = out.get_mut((h - h0) as usize) {
                        *slot += v;
                    }
                }
            };
            match group {
                Some(g) => add(self.hours.get(g).unwrap_or(&empty)),
                None => self.hours.values().for_each(add),
            }
            return out;
        }
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
    use crate::budget::test_support::row;

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
