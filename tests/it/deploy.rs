//! The files in deploy/ are usable as shipped: promtool accepts the alert rules, the
//! dashboard is valid JSON, and every driftwatch metric they name is one driftwatch exports.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn deploy(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(name),
    )
    .unwrap()
}

/// `driftwatch_*` names in a text, with histogram suffixes removed.
fn metric_names(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"driftwatch_[a-z_]+").unwrap();
    re.find_iter(text)
        .map(|m| {
            let n = m.as_str();
            n.strip_suffix("_bucket")
                .or_else(|| n.strip_suffix("_count"))
                .or_else(|| n.strip_suffix("_sum"))
                .unwrap_or(n)
                .to_owned()
        })
        .collect()
}

#[test]
fn promtool_accepts_the_alert_rules() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus-alerts.yml");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .expect("promtool (apt-get install prometheus)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn deploy_files_name_only_metrics_driftwatch_exports() {
    let defined = metric_names(include_str!("../../src/telemetry/metrics.rs"));
    let dashboard = deploy("grafana-dashboard.json");
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    assert!(parsed["panels"].as_array().unwrap().len() >= 10);
    let mut used = metric_names(&dashboard);
    used.extend(metric_names(&deploy("prometheus-alerts.yml")));
    let unknown: Vec<_> = used.difference(&defined).collect();
    assert!(
        unknown.is_empty(),
        "not exported by driftwatch: {unknown:?}"
    );
    for alert in [
        "ReloadFailed",
        "OutboxBackingUp",
        "NotEvaluating",
        "SourceDown",
    ] {
        assert!(deploy("prometheus-alerts.yml").contains(alert), "{alert}");
    }
    let unit = deploy("driftwatch.service");
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
}
