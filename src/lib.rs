//! driftwatch: watches LLM-agent workflow metrics and alerts on thresholds and baselines.
//!
//! The data flow (see `DESIGN.md` in the shared folder): rules are loaded and validated
//! ([`config`]), a scheduler ticks each rule, the evaluation fetches samples from a
//! [`sources`] backend, the pure [`engine`] aggregates and judges them with [`detect`]ors and
//! advances alert state, the [`store`] commits transitions and outbox rows in one
//! transaction, and the [`notify`] dispatcher delivers them.
#![forbid(unsafe_code)]

pub mod app;
pub mod backtest;
pub mod backtest_core;
pub mod budget;
pub mod clock;
pub mod config;
pub mod demo;
pub mod detect;
pub mod engine;
pub mod error;
pub mod model;
pub mod notify;
pub mod rule;
pub mod ruletest;
pub mod score;
pub mod server;
pub mod simulate;
pub mod sources;
pub mod store;
pub mod telemetry;
pub mod time_math;
pub mod types;

pub use error::{Error, Result};
