//! A counter's increase read from a Prometheus server ([`RuleQuery::Increase`], a budget's
//! spend). The range `(after, until]` is cut by fixed grids of instants (multiples of the
//! step since the epoch, so that reading an overlapping range again sees the same
//! instants): hourly up to the hour before the last 6 h, where budgets judge burn rates,
//! every 30 s from there; at each instant the counter's last value in the step it ends
//! (`max_over_time(counter[step])`, range queries of at most [`MAX_POINTS`] instants),
//! then the same for the part after the grid's last instant (an instant query at
//! `until`). [`increases`] turns the values into increases, spread over the minutes
//! they cover.
//!
//! [`RuleQuery::Increase`]: crate::sources::RuleQuery::Increase

use chrono::{DateTime, Utc};

use crate::model::Labels;
use crate::sources::increase::increases;
use crate::sources::prometheus_query::{PrometheusSource, MAX_POINTS};
use crate::sources::{Observation, Source, SourceError};

/// The recent span read in fine steps: the longest burn window of a budget.
const FINE_SPAN_MS: i64 = 6 * 3_600_000;
/// The step of the recent span.
const FINE_STEP_MS: i64 = 30_000;
/// The step before it: the resolution of a budget's shape and forecast.
const COARSE_STEP_MS: i64 = 3_600_000;

/// One range query: instants from `first` to `last` (unix ms, both on the grid) every
/// `step_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    /// The first instant.
    pub first: i64,
    /// The last instant.
    pub last: i64,
    /// The step.
    pub step_ms: i64,
}

impl PrometheusSource {
    /// The increases of counter `metric` (series matching `filter`) in `(after, until]`.
    pub async fn increases(
        &self,
        metric: &str,
        filter: &Labels,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Observation>, SourceError> {
        let (after_ms, until_ms) = (after.timestamp_millis(), until.timestamp_millis());
        let selector = selector(metric, filter);
        let last_in = |ms: i64| format!("max_over_time({selector}[{ms}ms])");
        let at = |ms: i64| {
            DateTime::from_timestamp_millis(ms).ok_or_else(|| SourceError::Query {
                source_name: self.name().to_owned(),
                message: format!("instant {ms} ms is out of range"),
            })
        };
        let mut values = Vec::new();
        let mut grid_end = until_ms;
        for s in plan(after_ms, until_ms) {
            let (first, last) = (at(s.first)?, at(s.last)?);
            values.extend(
                self.range(&last_in(s.step_ms), first, last, s.step_ms)
                    .await?,
            );
            grid_end = s.last;
        }
        if grid_end < until_ms {
            values.extend(self.instant(&last_in(until_ms - grid_end), until).await?);
        }
        Ok(increases(values, after, until))
    }
}

/// The range queries a read of `(after, until]` makes (unix ms): hourly instants from
/// the last hour not after `after` to the hour before the last 6 h, then 30-second
/// instants to the last one not after `until`; each query at most [`MAX_POINTS`]
/// instants. Empty for an empty range.
pub fn plan(after: i64, until: i64) -> Vec<Steps> {
    if until <= after {
        return Vec::new();
    }
    let floor = |t: i64, step: i64| t.div_euclid(step) * step;
    let fine_from = floor(until - FINE_SPAN_MS, COARSE_STEP_MS);
    let mut out = Vec::new();
    let fine_first = if fine_from > after {
        chunk(
            floor(after, COARSE_STEP_MS),
            fine_from,
            COARSE_STEP_MS,
            &mut out,
        );
        fine_from + FINE_STEP_MS
    } else {
        floor(after, FINE_STEP_MS)
    };
    chunk(
        fine_first,
        floor(until, FINE_STEP_MS),
        FINE_STEP_MS,
        &mut out,
    );
    out
}

/// Instants from `first` to `last` every `step_ms`, cut into queries of at most
/// [`MAX_POINTS`] instants.
fn chunk(first: i64, last: i64, step_ms: i64, out: &mut Vec<Steps>) {
    let mut from = first;
    while from <= last {
        let to = last.min(from + (MAX_POINTS - 1) * step_ms);
        out.push(Steps {
            first: from,
            last: to,
            step_ms,
        });
        from = to + step_ms;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn a_six_hour_read_steps_by_30_s_on_the_same_grid_a_minute_later() {
        let t0 = 1_800_000_000_000 + 10_000;
        let plan0 = plan(t0, t0 + 6 * H);
        assert_eq!(plan0.len(), 1, "{plan0:?}");
        let s = plan0[0];
        assert_eq!(s.step_ms, 30_000);
        assert!(s.first <= t0 && t0 - s.first < 30_000);
        assert!(s.last <= t0 + 6 * H && t0 + 6 * H - s.last < 30_000);
        let later = plan(t0 + 60_000, t0 + 60_000 + 6 * H)[0];
        assert_eq!((later.first - s.first) % 30_000, 0);
        assert_eq!(plan(t0, t0), []);
    }

    #[test]
    fn older_spend_is_read_hourly_and_long_reads_are_cut() {
        let t0 = 1_800_000_000_000;
        let until = t0 + 100 * 24 * H + 1_234;
        let p = plan(t0 + 5, until);
        let coarse: Vec<&Steps> = p.iter().filter(|s| s.step_ms == H).collect();
        let fine: Vec<&Steps> = p.iter().filter(|s| s.step_ms == 30_000).collect();
        assert_eq!(coarse.len(), 3, "2,394 hours in queries of 1,000: {p:?}");
        assert!(coarse.windows(2).all(|w| w[1].first == w[0].last + H));
        assert_eq!(coarse[0].first % H, 0);
        assert!(coarse[0].first <= t0 + 5);
        // The fine grid starts one step after the hourly one ends, 6 to 7 h before the end.
        assert_eq!(fine[0].first, coarse[2].last + 30_000);
        assert!((6 * H..7 * H).contains(&(until - coarse[2].last)));
        assert!(p
            .iter()
            .all(|s| (s.last - s.first) / s.step_ms < MAX_POINTS));
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
