//! LLM spend budgets: an amount (USD or tokens) per day, week or calendar month in a time
//! zone, over a label set, with burn-rate alerts against an even pace that follows the
//! traffic's weekly shape, a period-end forecast with an 80 % interval, and alerts at
//! 50/80/100 % spent — all of them ordinary engine alerts.
//!
//! Pure: the live task (`app/budget.rs`), `driftwatch budget status` and backtests read
//! the source and the store and hand the rows to a [`runtime::BudgetRuntime`].

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod alert;
pub mod burn;
pub mod cost_shift;
pub mod counter_spend;
pub mod forecast;
pub mod level;
pub mod load;
pub mod pace;
pub mod period;
pub mod replay;
pub mod row_cost;
pub mod runtime;
pub mod settings;
pub mod shape;
pub mod spend;
pub mod status;
#[cfg(test)]
mod test_support;
pub mod variation;

pub use load::{load_budgets, parse_budgets};
pub use runtime::{BudgetOutcome, BudgetRuntime, SavedState};
pub use settings::{Budget, BudgetConfig, Unit};
pub use status::{BudgetStatus, BudgetStatuses};
