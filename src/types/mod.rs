//! The shared vocabulary: newtypes that can only hold valid values (durations, label
//! names, cron expressions, secrets, environment-expanded strings, http URLs, alert
//! fingerprints), the
//! problems a component's validator finds, and the located configuration error every
//! loader reports.
//!
//! A leaf: it imports no other module of the crate, so every module may use it without
//! tying itself to the one that parses the configuration.

pub mod cron;
pub mod duration;
pub mod env;
pub mod fingerprint;
pub mod label;
pub mod located;
pub mod secret;
pub mod url;

pub use cron::CronSpec;
pub use duration::DurationSpec;
pub use env::{expand_env, EnvString};
pub use fingerprint::Fingerprint;
pub use label::LabelName;
pub use located::{ConfigError, ConfigErrors, Place, Problem, SourceFile};
pub use secret::Secret;
pub use url::http_url;
