//! The cost level of single rows (one LLM call's cost, one run's cost): per group, per
//! stratum (the row's `model`, `agent` and `mode`) and per minute, the count and the
//! first two moments of log(cost). A row's cost varies far less in log than a day's
//! spend does, so a change in what every call costs shows in hours here where the sum
//! of heavy-tailed costs needs days ([`crate::budget::cost_shift`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::model::Labels;
use crate::sources::Observation;

/// The labels a row's stratum is made of: a row's cost depends mostly on its model (the
/// price) and agent and mode (how much it reads and writes), so comparing rows within
/// these keeps a change of mix from passing for a change of cost level.
pub const STRATA: [&str; 3] = ["model", "agent", "mode"];

/// Count and moments of log(cost) of some rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    /// Rows.
    pub n: f64,
    /// Sum of log(cost).
    pub sum: f64,
    /// Sum of log(cost)².
    pub sq: f64,
}

impl Moments {
    /// One row of cost `value` (positive).
    fn of(value: f64) -> Self {
        let l = value.ln();
        Moments {
            n: 1.0,
            sum: l,
            sq: l * l,
        }
    }

    /// These rows and `o`'s.
    pub fn plus(self, o: Moments) -> Moments {
        Moments {
            n: self.n + o.n,
            sum: self.sum + o.sum,
            sq: self.sq + o.sq,
        }
    }

    /// These rows without `o`'s (a sub-range of them).
    pub fn minus(self, o: Moments) -> Moments {
        Moments {
            n: self.n - o.n,
            sum: self.sum - o.sum,
            sq: self.sq - o.sq,
        }
    }

    /// Mean log(cost).
    pub fn mean(&self) -> f64 {
        self.sum / self.n
    }

    /// Sample variance of log(cost) (0 below two rows).
    pub fn variance(&self) -> f64 {
        if self.n < 2.0 {
            return 0.0;
        }
        ((self.sq - self.sum * self.sum / self.n) / (self.n - 1.0)).max(0.0)
    }
}

/// One stratum's moments per minute (bucket `k` covers `(k·60 s, (k+1)·60 s]`, as the
/// spend ledger's) and per hour.
#[derive(Debug, Clone, Default, PartialEq)]
struct Series {
    minutes: BTreeMap<i64, Moments>,
    hours: BTreeMap<i64, Moments>,
}

/// Moments of log(cost) per group, stratum and minute.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowCosts {
    groups: HashMap<Labels, HashMap<Labels, Series>>,
}

impl RowCosts {
    /// Replaces minute buckets `lo..hi` with `rows` (each already in range), grouped by
    /// `group_by`. Rows of no positive cost say nothing of a cost level.
    pub fn replace<'a>(
        &mut self,
        lo: i64,
        hi: i64,
        rows: impl IntoIterator<Item = &'a Observation>,
        group_by: &[String],
    ) {
        for strata in self.groups.values_mut() {
            for s in strata.values_mut() {
                let doomed: Vec<i64> = s.minutes.range(lo..hi).map(|(k, _)| *k).collect();
                for k in doomed {
                    s.minutes.remove(&k);
                }
            }
        }
        for row in rows {
            let v = row.sample.value;
            if !(v > 0.0 && v.is_finite()) {
                continue;
            }
            let group = row.labels.project(group_by);
            let stratum = row.labels.project(&STRATA.map(str::to_owned));
            let slot = self
                .groups
                .entry(group)
                .or_default()
                .entry(stratum)
                .or_default()
                .minutes
                .entry(minute(row.sample.ts))
                .or_default();
            *slot = slot.plus(Moments::of(v));
        }
        self.rebuild_hours(lo.div_euclid(60), hi.div_euclid(60));
    }

    /// Recomputes the hourly moments of hours `first..=last` from the minutes.
    fn rebuild_hours(&mut self, first: i64, last: i64) {
        for strata in self.groups.values_mut() {
            for s in strata.values_mut() {
                for h in first..=last {
                    let mut minutes = s.minutes.range(h * 60..(h + 1) * 60).peekable();
                    if minutes.peek().is_none() {
                        s.hours.remove(&h);
                        continue;
                    }
                    let total = minutes.fold(Moments::default(), |a, (_, m)| a.plus(*m));
                    s.hours.insert(h, total);
                }
            }
            strata.retain(|_, s| !s.minutes.is_empty());
        }
        self.groups.retain(|_, strata| !strata.is_empty());
    }

    /// Forgets minute buckets before `cut`.
    pub fn trim(&mut self, cut: i64) {
        for strata in self.groups.values_mut() {
            for s in strata.values_mut() {
                s.minutes = s.minutes.split_off(&cut);
                s.hours = s.hours.split_off(&cut.div_euclid(60));
            }
        }
        self.rebuild_hours(cut.div_euclid(60), cut.div_euclid(60));
    }

    /// Whether any row of `group` was kept.
    pub fn holds(&self, group: &Labels) -> bool {
        self.groups.contains_key(group)
    }

    /// `group`'s moments per stratum for the `hours` clock hours from hour `first`
    /// (hour `h` holding minute buckets `60h..60h+60`), strata in a stable order.
    pub fn hourly(&self, group: &Labels, first: i64, hours: usize) -> Vec<Vec<Moments>> {
        let Some(strata) = self.groups.get(group) else {
            return Vec::new();
        };
        let mut keys: Vec<&Labels> = strata.keys().collect();
        keys.sort();
        keys.into_iter()
            .filter_map(|k| strata.get(k))
            .map(|s| {
                let mut out = vec![Moments::default(); hours];
                for (h, m) in s.hours.range(first..first + hours as i64) {
                    if let Some(slot) = out.get_mut((h - first) as usize) {
                        *slot = *m;
                    }
                }
                out
            })
            .collect()
    }
}

/// The minute bucket holding an instant, as the spend ledger counts it.
fn minute(ts: DateTime<Utc>) -> i64 {
    (ts.timestamp_millis() - 1).div_euclid(60_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::test_support::row;

    #[test]
    fn keeps_log_moments_per_stratum_and_hour_and_replaces_a_range() {
        let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let h0 = minute(t0) / 60;
        let mut r = RowCosts::default();
        let rows = [
            row("a", "2026-01-01T00:10:00Z", 1.0),
            row("a", "2026-01-01T00:20:00Z", std::f64::consts::E),
            row("b", "2026-01-01T01:10:00Z", 2.0),
            row("b", "2026-01-01T01:20:00Z", 0.0),
        ];
        r.replace(minute(t0) + 1, minute(t0) + 121, &rows, &[]);
        let all = Labels::new();
        let hourly = r.hourly(&all, h0 + 1, 2);
        assert_eq!(hourly.len(), 2);
        let a = hourly[0][0];
        assert_eq!((a.n, a.mean()), (2.0, 0.5));
        assert!((a.variance() - 0.5).abs() < 1e-12);
        // The zero-cost row is not counted.
        assert_eq!(hourly[1][1].n, 1.0);
        // Read again without the first row.
        r.replace(minute(t0) + 1, minute(t0) + 15, &[], &[]);
        assert_eq!(r.hourly(&all, h0 + 1, 1)[0][0].n, 1.0);
        r.trim(minute(t0) + 61);
        assert_eq!(r.hourly(&all, h0 + 1, 2).len(), 1);
        assert!(r.holds(&all));
    }
}
