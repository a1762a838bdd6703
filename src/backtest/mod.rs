//! Backtests: replay rules over a source's history, exactly as the live engine would
//! have evaluated them, without sending anything; then report what would have fired.
//! The replay itself is [`crate::backtest_core`], re-exported here.

pub mod budgets;
pub mod cli;
pub mod compare;
pub mod detection;
pub mod incidents;
pub mod plot;
pub mod report;

pub use crate::backtest_core::{
    backtest, replay_rule, AlertSpan, BacktestReport, RuleReport, TracePoint,
};
