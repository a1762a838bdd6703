//! A counter's increase read from a Prometheus server ([`RuleQuery::Increase`], a budget's
//! spend). The range `(after, until]` is cut by a fixed grid (multiples of a whole-second
//! step since the epoch, so that reading an overlapping range again sees the same steps),
//! from the last instant not after `after`; at each grid instant the counter's last value
//! in the step it ends (`max_over_time(counter[step])`, a range query), then the same for
//! the part after the grid's last instant (an instant query at `until`). Per series, the
//! difference between successive values is the increase, stamped at the later one. A
//! drop is a reset (the process restarted and counted from zero again), so that step's
//! increase is the new value; as the highest value of a step is the last one before a
//! reset, the growth up to the reset is counted too. As with Prometheus's `increase()`, a
//! series' first value is where it starts, not an increase. Nothing is extrapolated: the
//! increases stamped in a range sum to the counter's growth over the steps ending in it,
//! so reading overlapping ranges again and again counts nothing twice.
//!
//! [`RuleQuery::Increase`]: crate::sources::RuleQuery::Increase

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::model::{Labels, Sample};
use crate::sources::prometheus_query::{PrometheusSource, MAX_POINTS};
use crate::sources::{Observation, SourceError};

/// The finest grid step; every step is a whole number of these.
const STEP_UNIT_MS: i64 = 1000;

impl PrometheusSource {
    /// The increases of counter `metric` (series matching `filter`) in `(after, until]`.
    pub async fn increases(
        &self,
        metric: &str,
        filter: &Labels,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Observation>, SourceError> {
        let Some((first, last, step_ms)) = grid(after, until) else {
            return Ok(Vec::new());
        };
        let selector = selector(metric, filter);
        let last_in = |ms: i64| format!("max_over_time({selector}[{ms}ms])");
        let mut values = self.range(&last_in(step_ms), first, last, step_ms).await?;
        let tail_ms = (until - last).num_milliseconds();
        if tail_ms > 0 {
            values.extend(self.instant(&last_in(tail_ms), until).await?);
        }
        Ok(increases(values)
            .into_iter()
            .filter(|o| o.sample.ts > after && o.sample.ts <= until)
            .collect())
    }
}

/// The grid a read of `(after, until]` uses: its first instant (not after `after`), its
/// last (not after `until`), and its step: the fewest whole seconds that cross the
/// range in under [`MAX_POINTS`] steps. `None` for an empty range.
pub fn grid(
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>, i64)> {
    let (a, u) = (after.timestamp_millis(), until.timestamp_millis());
    if u <= a {
        return None;
    }
    let fine = ceil_div(u - a, MAX_POINTS - 1);
    let step = ceil_div(fine, STEP_UNIT_MS).max(1) * STEP_UNIT_MS;
    let first = a.div_euclid(step) * step;
    let last = u.div_euclid(step) * step;
    Some((
        DateTime::from_timestamp_millis(first)?,
        DateTime::from_timestamp_millis(last)?,
        step,
    ))
}

/// `n / d` rounded up, for `n >= 0` and `d > 0`.
fn ceil_div(n: i64, d: i64) -> i64 {
    (n + d - 1) / d
}

/// The PromQL selector `metric{k="v",…}` (a value `!x`: `k!="x"`), values escaped.
pub fn selector(metric: &str, filter: &Labels) -> String {
    let matchers: Vec<String> = filter
        .iter()
        .map(|(k, v)| {
            let (op, v) = match v.strip_prefix('!') {
                Some(rest) => ("!=", rest),
                None => ("=", v.as_str()),
            };
            let escaped = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}{op}\"{escaped}\"")
        })
        .collect();
    format!("{metric}{{{}}}", matchers.join(","))
}

/// Each series' increase between successive values (a drop: a reset), stamped at the
/// later value; steps without growth are left out.
pub fn increases(values: Vec<Observation>) -> Vec<Observation> {
    let mut series: BTreeMap<Labels, (std::sync::Arc<Labels>, Vec<Sample>)> = BTreeMap::new();
    for o in values.into_iter().filter(|o| o.sample.value.is_finite()) {
        series
            .entry((*o.labels).clone())
            .or_insert_with(|| (o.labels.clone(), Vec::new()))
            .1
            .push(o.sample);
    }
    let mut out = Vec::new();
    for (labels, mut samples) in series.into_values() {
        samples.sort_by_key(|s| s.ts);
        for pair in samples.windows(2) {
            let [before, now] = pair else { continue };
            let grown = if now.value < before.value {
                now.value
            } else {
                now.value - before.value
            };
            if grown > 0.0 {
                out.push(Observation {
                    labels: labels.clone(),
                    sample: Sample {
                        ts: now.ts,
                        value: grown,
                    },
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn values(model: &str, points: &[(i64, f64)]) -> Vec<Observation> {
        let labels = Arc::new(Labels::from([("model", model)]));
        points
            .iter()
            .map(|&(s, value)| Observation {
                labels: labels.clone(),
                sample: Sample { ts: at(s), value },
            })
            .collect()
    }

    #[test]
    fn differences_per_series_with_a_reset_counted_from_zero() {
        let mut read = values("gpt-4o", &[(0, 10.0), (60, 12.5), (120, 12.5), (180, 1.5)]);
        read.extend(values("o1", &[(60, 100.0), (120, 103.0), (180, f64::NAN)]));
        let got: Vec<(String, i64, f64)> = increases(read)
            .into_iter()
            .map(|o| {
                let model = o.labels.get("model").unwrap().to_owned();
                (
                    model,
                    o.sample.ts.timestamp() - at(0).timestamp(),
                    o.sample.value,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("gpt-4o".to_owned(), 60, 2.5),
                // Dropped from 12.5 to 1.5: restarted, 1.5 spent since.
                ("gpt-4o".to_owned(), 180, 1.5),
                ("o1".to_owned(), 120, 3.0),
            ]
        );
    }

    #[test]
    fn overlapping_reads_sum_to_the_growth_between_their_ends() {
        let counter: Vec<(i64, f64)> = (0..=10).map(|i| (i * 60, (i * i) as f64)).collect();
        let all: f64 = increases(values("m", &counter))
            .iter()
            .map(|o| o.sample.value)
            .sum();
        assert_eq!(all, 100.0);
        let tail: f64 = increases(values("m", &counter[4..]))
            .iter()
            .map(|o| o.sample.value)
            .sum();
        assert_eq!(tail, 100.0 - 16.0, "from the value at the read's start");
    }

    #[test]
    fn reads_of_overlapping_ranges_share_their_instants() {
        let (first, last, step) = grid(at(10), at(6 * 3600 + 10)).unwrap();
        assert_eq!(
            step, 22_000,
            "6 h in at most {MAX_POINTS} whole-second steps"
        );
        assert!(first <= at(10) && at(10) - first < chrono::Duration::milliseconds(step));
        assert!(last <= at(6 * 3600 + 10));
        let (later_first, ..) = grid(at(70), at(6 * 3600 + 70)).unwrap();
        assert_eq!(
            (later_first - first).num_milliseconds() % step,
            0,
            "a minute later, the same grid"
        );
        let points = (last - first).num_milliseconds() / step + 1;
        assert!(points <= MAX_POINTS, "{points}");
        assert_eq!(grid(at(5), at(5)), None);
    }

    #[test]
    fn selectors_quote_values_and_negate_with_a_bang() {
        let filter = Labels::from([("model", "gpt-4o"), ("agent", "!say \"hi\"")]);
        assert_eq!(
            selector("llm_cost_usd_total", &filter),
            r#"llm_cost_usd_total{agent!="say \"hi\"",model="gpt-4o"}"#
        );
        assert_eq!(selector("x_total", &Labels::new()), "x_total{}");
    }
}
