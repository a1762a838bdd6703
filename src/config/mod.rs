//! Configuration: `driftwatch.toml` and `rules/*.toml`, their serde models, and
//! validation into the typed values the service runs on.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod allowlist;
pub mod load;
pub mod location;
pub mod numbers;
pub mod receivers;
pub mod routing;
pub mod rule;
pub mod schema;
pub mod service;
pub mod validate;
pub mod validated;

pub use load::{load_rules, load_service_config, parse_rules, parse_service_config};
pub use location::{ConfigError, ConfigErrors, SourceFile};
pub use validate::RuleContext;
pub use validated::{Rule, RuleQuery, RuleSet, Schedule, ServiceConfig};
