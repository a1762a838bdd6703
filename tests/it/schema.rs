//! `driftwatch schema` describes exactly what `check` accepts: the shipped files validate
//! against it, and a typo or an unknown detector kind does not.

use std::process::Command;

fn schema(kind: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["schema", kind])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn toml_file(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::to_value(text.parse::<toml::Table>().unwrap()).unwrap()
}

#[test]
fn shipped_rules_and_config_validate_and_mistakes_do_not() {
    let rules = jsonschema::validator_for(&schema("rules")).unwrap();
    for file in ["rules/workflows.toml", "rules/steps.toml", "rules/llm.toml"] {
        let doc = toml_file(file);
        let errors: Vec<String> = rules.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
    }
    let config = jsonschema::validator_for(&schema("config")).unwrap();
    assert!(config.is_valid(&toml_file("driftwatch.toml")));

    let typo: serde_json::Value = serde_json::json!({ "rule": [{
        "name": "x", "metric": "workflow.duration", "window": "5m", "severty": "warning",
        "detector": { "kind": "threshold", "above": 1 }
    }]});
    assert!(!rules.is_valid(&typo), "an unknown key is refused");
    let kind: serde_json::Value = serde_json::json!({ "rule": [{
        "name": "x", "metric": "workflow.duration", "window": "5m", "severity": "warning",
        "detector": { "kind": "treshold", "above": 1 }
    }]});
    assert!(
        !rules.is_valid(&kind),
        "an unknown detector kind is refused"
    );
    let duration: serde_json::Value = serde_json::json!({ "rule": [{
        "name": "x", "metric": "workflow.duration", "window": "soon", "severity": "warning",
        "detector": { "kind": "threshold", "above": 1 }
    }]});
    assert!(
        !rules.is_valid(&duration),
        "a malformed duration is refused"
    );
}
