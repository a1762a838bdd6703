//! The pure middle of driftwatch: grouping, aggregation, detection, alert state.

pub mod aggregate;
pub mod alert;
pub mod evaluate;
pub mod journal;
mod persist;
pub mod replay;
pub mod slices;
pub mod source_health;
pub mod summary;
pub mod window;

pub use alert::{Alert, Judgement, Transition};
pub use evaluate::{EvaluationOutcome, RuleRuntime};
