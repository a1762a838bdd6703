//! Rules: the `rules/*.toml` model (serde), its validation into a typed [`Rule`], and
//! loading a directory of rule files into a [`RuleSet`] with every error located.
//!
//! Below `config` and above `detect` and `sources`: the engine runs on a [`Rule`] and
//! needs nothing of the service configuration, so rules are their own module.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod load;
pub mod numbers;
pub mod spec;
pub mod toml_text;
pub mod validate;
pub mod validated;

pub use load::{load_rules, parse_rules, rule_files};
pub use spec::{Aggregate, NoDataPolicy, RuleConfig, RuleFileConfig};
pub use validate::{RuleContext, DEFAULT_MAX_SERIES};
pub use validated::{Rule, RuleSet, Schedule};
