//! Logs (tracing) and driftwatch's own metrics.

pub mod logging;
pub mod metrics;

pub use logging::{init_logging, LogFormat, LogSection};
pub use metrics::Metrics;
