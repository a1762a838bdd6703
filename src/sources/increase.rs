//! A counter's values into its increases: per series, the difference between successive
//! values. A drop is a reset (the process restarted and counted from zero again), so that
//! step's increase is the new value; read as each step's highest value (the last one
//! before a reset), the growth up to a reset is counted too. As with Prometheus's
//! `increase()`, a series' first value is where it starts, not an increase. Nothing is
//! extrapolated, and an increase over several minutes is spread evenly over them (when
//! in those minutes it was spent is not known), so the same values always give the same
//! spend per minute, however the range they were read in began or ended.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::{Labels, Sample};
use crate::sources::Observation;

/// The piece an increase is spread in.
const MINUTE_MS: i64 = 60_000;

/// The increases in `(after, until]` of the series whose `values` were read: each
/// series' growth from one value to the next, spread over whole minutes ending at the
/// later value; steps without growth are left out.
pub fn increases(
    values: Vec<Observation>,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<Observation> {
    let mut series: BTreeMap<Labels, (Arc<Labels>, Vec<Sample>)> = BTreeMap::new();
    for o in values.into_iter().filter(|o| o.sample.value.is_finite()) {
        series
            .entry((*o.labels).clone())
            .or_insert_with(|| (Arc::clone(&o.labels), Vec::new()))
            .1
            .push(o.sample);
    }
    let mut out = Vec::new();
    for (labels, mut samples) in series.into_values() {
        samples.sort_by_key(|s| s.ts);
        samples.dedup_by_key(|s| s.ts);
        for pair in samples.windows(2) {
            let [before, now] = pair else { continue };
            let grown = if now.value < before.value {
                now.value
            } else {
                now.value - before.value
            };
            if grown > 0.0 {
                let emit = |sample| {
                    out.push(Observation {
                        labels: Arc::clone(&labels),
                        sample,
                    })
                };
                spread(before.ts, now.ts, grown, after, until, emit);
            }
        }
    }
    out
}

/// `grown`, spent in `(from, to]`, as equal pieces at `to` and each whole minute before it
/// down to `from` (one piece when less than two minutes), those in `(after, until]` given
/// to `emit`.
fn spread(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    grown: f64,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    mut emit: impl FnMut(Sample),
) {
    let pieces = ((to - from).num_milliseconds() / MINUTE_MS).max(1);
    let value = grown / pieces as f64;
    for k in 0..pieces {
        let ts = to - TimeDelta::milliseconds(k * MINUTE_MS);
        if ts > after && ts <= until {
            emit(Sample { ts, value });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn values(model: &str, points: &[(i64, f64)]) -> Vec<Observation> {
        let labels = Arc::new(Labels::from([("model", model)]));
        points
            .iter()
            .map(|&(s, value)| Observation {
                labels: Arc::clone(&labels),
                sample: Sample { ts: at(s), value },
            })
            .collect()
    }

    fn listed(got: Vec<Observation>) -> Vec<(String, i64, f64)> {
        got.into_iter()
            .map(|o| {
                let model = o.labels.get("model").unwrap_or("").to_owned();
                let s = o.sample.ts.timestamp() - at(0).timestamp();
                (model, s, o.sample.value)
            })
            .collect()
    }

    #[test]
    fn differences_per_series_with_a_reset_counted_from_zero() {
        let mut read = values("gpt-4o", &[(0, 10.0), (30, 12.5), (60, 12.5), (90, 1.5)]);
        read.extend(values("o1", &[(30, 100.0), (60, 103.0), (90, f64::NAN)]));
        let got = listed(increases(read, at(-1000), at(1000)));
        assert_eq!(
            got,
            [
                ("gpt-4o".to_owned(), 30, 2.5),
                // Dropped from 12.5 to 1.5: restarted, 1.5 spent since.
                ("gpt-4o".to_owned(), 90, 1.5),
                ("o1".to_owned(), 60, 3.0),
            ]
        );
    }

    #[test]
    fn an_hour_of_growth_is_spread_over_its_minutes_and_cut_at_the_range() {
        let hourly = values("m", &[(0, 0.0), (3600, 60.0)]);
        let got = listed(increases(hourly.clone(), at(-1), at(3600)));
        assert_eq!(got.len(), 60);
        assert!(got
            .iter()
            .all(|(_, s, v)| s % 60 == 0 && *s > 0 && *v == 1.0));
        // Read again from minute 30 on: the same pieces, those of the range only.
        let tail = listed(increases(hourly, at(1800), at(3600)));
        assert_eq!(tail, got[..30].to_vec());
    }

    #[test]
    fn overlapping_reads_sum_to_the_growth_between_their_ends() {
        let counter: Vec<(i64, f64)> = (0..=10).map(|i| (i * 30, (i * i) as f64)).collect();
        let sum = |read: &[(i64, f64)]| -> f64 {
            increases(values("m", read), at(-1), at(1000))
                .iter()
                .map(|o| o.sample.value)
                .sum()
        };
        assert_eq!(sum(&counter), 100.0);
        assert_eq!(
            sum(&counter[4..]),
            100.0 - 16.0,
            "from the value at the read's start"
        );
    }
}
