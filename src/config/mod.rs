//! Configuration: `driftwatch.toml`, its serde model, and validation into the typed
//! [`ServiceConfig`] the service runs on. Rule files are the [`crate::rule`] module's;
//! their loaders are re-exported here for the tools that load both.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod load;
pub mod receivers;
pub mod routing;
pub mod schema;
pub mod service;
pub mod sources;
pub mod validated;

pub use load::{load_service_config, parse_service_config};
pub use validated::ServiceConfig;
