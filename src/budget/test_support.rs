//! Ledgers the budget unit tests build their spend from: one spend row in the middle
//! of every step, with nothing spent in the step before.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::budget::spend::SpendLedger;
use crate::model::{Labels, Sample};
use crate::sources::Observation;

/// A ledger (no groups) of `steps` steps of `step` from `start`, step `i` spending
/// `per_step(i)` at its half; the step before `start` is read and empty.
pub fn spread(
    start: DateTime<Utc>,
    step: Duration,
    steps: i64,
    per_step: impl Fn(i64) -> f64,
) -> SpendLedger {
    let rows: Vec<Observation> = (0..steps)
        .map(|i| Observation {
            labels: Arc::new(Labels::new()),
            sample: Sample {
                ts: start + step * i as i32 + step / 2,
                value: per_step(i),
            },
        })
        .collect();
    let mut ledger = SpendLedger::new();
    ledger.replace(start - step, start + step * steps as i32, &rows, &[]);
    ledger
}

/// [`spread`] over `hours` hours.
pub fn hourly(start: DateTime<Utc>, hours: i64, per_hour: impl Fn(i64) -> f64) -> SpendLedger {
    spread(start, Duration::hours(1), hours, per_hour)
}
