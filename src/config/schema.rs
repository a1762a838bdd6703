//! JSON Schemas of the configuration files, generated from the same serde models that
//! parse them, so the schema cannot drift from what `check` accepts.

use crate::config::service::ServiceConfigFile;
use crate::rule::spec::RuleFileConfig;

/// The schema of a `rules/*.toml` file, pretty-printed.
pub fn rules_schema() -> String {
    let schema = schemars::schema_for!(RuleFileConfig);
    // `{:#}` is serde_json's pretty printer, which cannot fail on a `Value`.
    format!("{:#}", schema.as_value())
}

/// The schema of `driftwatch.toml`, pretty-printed.
pub fn config_schema() -> String {
    let schema = schemars::schema_for!(ServiceConfigFile);
    // `{:#}` is serde_json's pretty printer, which cannot fail on a `Value`.
    format!("{:#}", schema.as_value())
}
