//! The traffic's own weekly shape: how spend is spread over the 168 local hours of a
//! week, learnt from the ledger's history, so the even pace of a budget expects a busy
//! Monday morning and a quiet Sunday night. Without a week of history, flat.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::budget::spend::SpendLedger;

/// Hours in a week.
pub const HOURS_PER_WEEK: usize = 168;
/// How far back the shape is learnt from.
pub const LEARN_SPAN: Duration = Duration::days(28);
/// The least history a shape is learnt from: one whole week.
pub const MIN_HISTORY: Duration = Duration::days(7);
/// No hour weighs less than this fraction of the average hour, so a quiet hour's pace is
/// never zero (which would make any spend an infinite burn).
const FLOOR: f64 = 0.05;

/// How spend is expected to spread over the week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shape {
    /// Every hour alike: no week of history yet.
    Flat,
    /// Learnt: a weight per local hour of the week (Monday 00:00 first), averaging 1.
    Weekly {
        /// The 168 weights.
        weights: Vec<f64>,
        /// Whole weeks of history it was learnt from (1 to 4).
        weeks: u32,
    },
}

impl Shape {
    /// The weight of the local hour holding `at`.
    pub fn weight(&self, at: DateTime<Utc>, tz: Tz) -> f64 {
        match self {
            Shape::Flat => 1.0,
            Shape::Weekly { weights, .. } => {
                weights.get(hour_of_week(at, tz)).copied().unwrap_or(1.0)
            }
        }
    }

    /// The weight of local hour of the week `i` (Monday 00:00–01:00 being 0).
    pub fn weight_of(&self, i: usize) -> f64 {
        match self {
            Shape::Flat => 1.0,
            Shape::Weekly { weights, .. } => {
                weights.get(i % HOURS_PER_WEEK).copied().unwrap_or(1.0)
            }
        }
    }

    /// Whether this is the flat shape of a budget without history.
    pub fn is_flat(&self) -> bool {
        matches!(self, Shape::Flat)
    }

    /// Learns the shape from the ledger's spend (every group) in the `LEARN_SPAN` before
    /// `until`: for each local hour of the week, the median of its hourly spend over the
    /// weeks held, smoothed with its neighbours, floored and scaled to average 1.
    pub fn learn(ledger: &SpendLedger, until: DateTime<Utc>, tz: Tz) -> Shape {
        let Some(first) = ledger.first_spend() else {
            return Shape::Flat;
        };
        let held_from = ledger.range().map_or(first, |(from, _)| from.max(first));
        let from = (until - LEARN_SPAN).max(truncate_hour(held_from));
        if until - from < MIN_HISTORY {
            return Shape::Flat;
        }
        let hours = ((until - from).num_hours()).max(0) as usize;
        let spend = ledger.hourly(None, from, hours);
        let mut per_hour: Vec<Vec<f64>> = vec![Vec::new(); HOURS_PER_WEEK];
        for (i, v) in spend.iter().enumerate() {
            let at = from + Duration::hours(i as i64);
            if let Some(slot) = per_hour.get_mut(hour_of_week(at, tz)) {
                slot.push(*v);
            }
        }
        let medians: Vec<f64> = per_hour.iter_mut().map(|v| median(v)).collect();
        let n = medians.len();
        let smoothed: Vec<f64> = (0..n)
            .map(|i| {
                let at = |j: usize| medians.get(j % n).copied().unwrap_or(0.0);
                0.25 * at(i + n - 1) + 0.5 * at(i) + 0.25 * at(i + 1)
            })
            .collect();
        let mean = smoothed.iter().sum::<f64>() / n as f64;
        if mean <= 0.0 || !mean.is_finite() {
            return Shape::Flat;
        }
        let floored: Vec<f64> = smoothed.iter().map(|w| (w / mean).max(FLOOR)).collect();
        let scale = floored.iter().sum::<f64>() / n as f64;
        let weeks = ((until - from).num_days() / 7).clamp(1, 4) as u32;
        Shape::Weekly {
            weights: floored.iter().map(|w| w / scale).collect(),
            weeks,
        }
    }
}

/// The local hour of the week of `at` in `tz`, Monday 00:00–01:00 being 0.
pub fn hour_of_week(at: DateTime<Utc>, tz: Tz) -> usize {
    let local = at.with_timezone(&tz);
    local.weekday().num_days_from_monday() as usize * 24 + local.hour() as usize
}

/// `at` with minutes and seconds cut off.
fn truncate_hour(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp().div_euclid(3600) * 3600, 0).unwrap_or(at)
}

/// The median of `v` (sorted in place); 0 for none.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    match (v.get(mid), v.len() % 2) {
        (Some(m), 1) => *m,
        (Some(m), _) => (m + v.get(mid - 1).copied().unwrap_or(*m)) / 2.0,
        (None, _) => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Labels, Sample};
    use crate::sources::Observation;
    use std::sync::Arc;

    /// Two weeks of spend: $10 an hour on weekdays 09–17 UTC, $1 otherwise.
    fn office_hours(start: DateTime<Utc>, days: i64) -> SpendLedger {
        let rows: Vec<Observation> = (0..days * 24)
            .map(|h| {
                let at = start + Duration::hours(h) + Duration::minutes(30);
                let busy = at.weekday().num_days_from_monday() < 5 && (9..17).contains(&at.hour());
                Observation {
                    labels: Arc::new(Labels::new()),
                    sample: Sample {
                        ts: at,
                        value: if busy { 10.0 } else { 1.0 },
                    },
                }
            })
            .collect();
        let mut l = SpendLedger::new();
        l.replace(start, start + Duration::days(days), &rows, &[]);
        l
    }

    #[test]
    fn a_week_of_history_gives_the_office_hours_shape_and_less_gives_flat() {
        let start: DateTime<Utc> = "2026-11-02T00:00:00Z".parse().unwrap();
        let l = office_hours(start, 14);
        assert_eq!(
            Shape::learn(&l, start + Duration::days(6), Tz::UTC),
            Shape::Flat
        );
        let s = Shape::learn(&l, start + Duration::days(14), Tz::UTC);
        let monday_noon = start + Duration::hours(12);
        let sunday_noon = start + Duration::days(6) + Duration::hours(12);
        let ratio = s.weight(monday_noon, Tz::UTC) / s.weight(sunday_noon, Tz::UTC);
        assert!((9.0..=10.5).contains(&ratio), "{ratio}");
        let Shape::Weekly { weights, weeks } = &s else {
            panic!("flat")
        };
        assert_eq!(*weeks, 2);
        let mean = weights.iter().sum::<f64>() / weights.len() as f64;
        assert!((mean - 1.0).abs() < 1e-9);
        // In New York the busy hours are local 04–12.
        let ny = Shape::learn(&l, start + Duration::days(14), chrono_tz::America::New_York);
        assert!(ny.weight(monday_noon, chrono_tz::America::New_York) > 3.0);
    }
}
