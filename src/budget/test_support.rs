//! Ledgers the budget unit tests build their spend from: one spend row in the middle
//! of every step, with nothing spent in the step before; or many calls an hour of
//! heavy-tailed costs; or one row of a model.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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

/// `hours` of rows, `per_hour` an hour, over two models whose log(cost) spreads by
/// 1.2 (a coefficient of variation near 2), each cost times `factor(hour)`.
pub fn calls(
    start: DateTime<Utc>,
    hours: i64,
    per_hour: usize,
    factor: impl Fn(i64) -> f64,
) -> SpendLedger {
    let mut rng = StdRng::seed_from_u64(7);
    let mut rows = Vec::new();
    for h in 0..hours {
        for i in 0..per_hour {
            let model = if i % 3 == 0 { "o1" } else { "gpt-4o" };
            let base = if model == "o1" { 0.2 } else { 0.02 };
            let normal: f64 = (0..12).map(|_| rng.gen::<f64>()).sum::<f64>() - 6.0;
            rows.push(Observation {
                labels: Arc::new(Labels::from([("model", model)])),
                sample: Sample {
                    ts: start + Duration::hours(h) + Duration::seconds(rng.gen_range(1..3600)),
                    value: base * (1.2 * normal).exp() * factor(h),
                },
            });
        }
    }
    let mut ledger = SpendLedger::new();
    ledger.replace(start, start + Duration::hours(hours), &rows, &[]);
    ledger
}

/// One spend row of `model` (agent "engineer") at `at` (RFC 3339).
pub fn row(model: &str, at: &str, value: f64) -> Observation {
    Observation {
        labels: Arc::new(Labels::from([("model", model), ("agent", "engineer")])),
        sample: Sample {
            ts: at.parse().expect("an RFC 3339 instant"),
            value,
        },
    }
}
