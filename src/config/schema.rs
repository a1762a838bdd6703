//! JSON Schemas of the configuration files, generated from the same serde models that
//! parse them, so the schema cannot drift from what `check` accepts.

use crate::config::service::ServiceConfigFile;
use crate::rule::spec::RuleFileConfig;

/// The schema of a `rules/*.toml` file, pretty-printed: its `[[rule]]` tables and its
/// `[[budget]]` tables (whose model lives with the budgets).
pub fn rules_schema() -> String {
    let mut generator = schemars::SchemaGenerator::default();
    let budget = generator.subschema_for::<crate::budget::BudgetConfig>();
    let mut schema = generator.into_root_schema_for::<RuleFileConfig>();
    if let Some(items) = schema
        .as_object_mut()
        .and_then(|o| o.get_mut("properties"))
        .and_then(|p| p.get_mut("budget"))
        .and_then(|b| b.as_object_mut())
    {
        items.insert("items".to_owned(), budget.to_value());
    }
    // `{:#}` is serde_json's pretty printer, which cannot fail on a `Value`.
    format!("{:#}", schema.as_value())
}

/// The schema of `driftwatch.toml`, pretty-printed.
pub fn config_schema() -> String {
    let schema = schemars::schema_for!(ServiceConfigFile);
    // `{:#}` is serde_json's pretty printer, which cannot fail on a `Value`.
    format!("{:#}", schema.as_value())
}
