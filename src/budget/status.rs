//! Where one budget stands for one group at one instant: spend, pace, burn rates and the
//! forecast, judged from the ledger; what `budget status` and `GET /api/v1/budgets` show
//! and what the budget's alerts are raised from.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::budget::burn::{burn, Burn, FAST, SLOW};
use crate::budget::forecast::{forecast, Forecast};
use crate::budget::pace::Pace;
use crate::budget::period::Bounds;
use crate::budget::settings::{Budget, Unit};
use crate::budget::shape::Shape;
use crate::budget::spend::SpendLedger;
use crate::budget::variation::variation;
use crate::model::Labels;

/// A forecast this early in a period says too little to alert on: a day, or a quarter
/// of a shorter period.
pub fn forecast_settles(bounds: &Bounds, now: DateTime<Utc>) -> bool {
    let needed = chrono::Duration::days(1).min(bounds.length() / 4);
    now - bounds.start >= needed
}

/// One group of one budget, judged at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetStatus {
    /// The budget's name.
    pub budget: String,
    /// The group's labels (empty: the whole budget).
    pub group: Labels,
    /// When it was judged.
    pub at: DateTime<Utc>,
    /// `usd` or `tokens`.
    pub unit: Unit,
    /// The amount per period.
    pub amount: f64,
    /// `day`, `week` or `month`.
    pub period: &'static str,
    /// The time zone.
    pub timezone: String,
    /// The period's first instant.
    pub period_start: DateTime<Utc>,
    /// The next period's first instant.
    pub period_end: DateTime<Utc>,
    /// Spend so far this period.
    pub spent: f64,
    /// `spent / amount`.
    pub spent_fraction: f64,
    /// What the even pace would have spent by now.
    pub pace_expected: f64,
    /// The even pace's spend this hour.
    pub pace_per_hour: f64,
    /// True when the even pace is flat for want of a week of history.
    pub pace_flat: bool,
    /// The fast-burn windows (1 h, 5 m).
    pub fast_burn: Burn,
    /// The slow-burn windows (6 h, 30 m).
    pub slow_burn: Burn,
    /// The forecast at the period's end.
    pub forecast: Forecast,
    /// Whether the forecast rests on enough of the period to alert on.
    pub forecast_settled: bool,
}

impl BudgetStatus {
    /// Who spends, for sentences: the group's values, else the budget's name.
    pub fn who(&self) -> String {
        if self.group.is_empty() {
            self.budget.clone()
        } else {
            self.group
                .iter()
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        }
    }
}

/// The pace of a budget in the period holding `now`, following `shape`.
pub fn pace_at(budget: &Budget, shape: &Shape, now: DateTime<Utc>) -> Pace {
    let bounds = Bounds::containing(budget.period, budget.timezone, now);
    Pace::new(bounds, shape.clone(), budget.amount)
}

/// Judges every group of `budget` the ledger holds (and every one in `also`, so a group
/// whose spend stopped is still judged), as of `now`.
pub fn judge(
    budget: &Budget,
    ledger: &SpendLedger,
    shape: &Shape,
    now: DateTime<Utc>,
    also: &[Labels],
) -> Vec<BudgetStatus> {
    let pace = pace_at(budget, shape, now);
    let mut groups: Vec<Labels> = ledger.groups().cloned().collect();
    groups.extend(also.iter().cloned());
    if groups.is_empty() && budget.group_by.is_empty() {
        groups.push(Labels::new());
    }
    groups.sort();
    groups.dedup();
    groups
        .into_iter()
        .map(|group| {
            let v = variation(ledger, &group, &pace, now);
            let f = forecast(ledger, &group, &pace, now, &v);
            BudgetStatus {
                budget: budget.name.clone(),
                at: now,
                unit: budget.unit,
                amount: budget.amount,
                period: budget.period.as_str(),
                timezone: budget.timezone.name().to_owned(),
                period_start: pace.bounds.start,
                period_end: pace.bounds.end,
                spent: f.spent,
                spent_fraction: f.spent / budget.amount,
                pace_expected: pace.expected_by(now),
                pace_per_hour: pace.hourly_rate(now),
                pace_flat: shape.is_flat(),
                fast_burn: burn(FAST, ledger, &group, &pace, now),
                slow_burn: burn(SLOW, ledger, &group, &pace, now),
                forecast_settled: forecast_settles(&pace.bounds, now),
                forecast: f,
                group,
            }
        })
        .collect()
}

/// The latest statuses of every budget, shared between the budget task and the API.
#[derive(Debug, Default)]
pub struct BudgetStatuses {
    inner: Mutex<BTreeMap<String, Vec<BudgetStatus>>>,
}

impl BudgetStatuses {
    /// Records a budget's latest statuses.
    pub fn record(&self, budget: &str, statuses: Vec<BudgetStatus>) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.insert(budget.to_owned(), statuses);
        }
    }

    /// Keeps only the budgets named.
    pub fn retain(&self, names: &[String]) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.retain(|k, _| names.contains(k));
        }
    }

    /// Every budget's latest statuses, by name.
    pub fn all(&self) -> Vec<BudgetStatus> {
        self.inner
            .lock()
            .map(|i| i.values().flatten().cloned().collect())
            .unwrap_or_default()
    }
}
