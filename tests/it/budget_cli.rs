//! Budgets from the command line: `check` validates them with the rules and names every
//! error's place, `schema rules` describes them, `budget status` reads a SQLite source,
//! and `backtest` reports when their alerts would have fired and each day's forecast
//! error.

use std::process::Command;

use driftwatch::simulate::default_start;
use driftwatch::simulate::writer::write_runs;

use crate::budget_sim::normal_runs;
use crate::helpers::{Backend, TestDb};

const BUDGETS: &str = r#"
[[budget]]
name = "platform_weekly"
metric = "llm.cost"
amount = 2000
period = "week"
timezone = "Europe/Berlin"
every = "10m"
"#;

fn driftwatch(args: &[&str], config: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_status_schema_and_backtest_know_budgets() {
    let db = TestDb::new(Backend::Sqlite).await;
    let start = default_start();
    write_runs(&db.pool, db.dialect, &normal_runs(4, start, 8))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("budgets.toml"), BUDGETS).unwrap();
    let config = dir.path().join("driftwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[rules]\ndir = \"{}\"\n[sources.cmbagent]\nkind = \"sql\"\nurl = \"{}\"\n",
            rules.display(),
            db.url
        ),
    )
    .unwrap();

    let (code, out, err) = driftwatch(&["check"], &config);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 rule(s), 1 budget(s)"), "{out}");

    let at = (start + chrono::Duration::days(3) + chrono::Duration::hours(12)).to_rfc3339();
    let (code, out, err) = driftwatch(&["budget", "status", "--json", "--at", &at], &config);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let s = &json["budgets"][0];
    assert_eq!(s["budget"], "platform_weekly");
    assert_eq!(s["timezone"], "Europe/Berlin");
    assert!(s["spent"].as_f64().unwrap() > 0.0, "{s}");
    assert!(s["forecast"]["low"].as_f64().unwrap() <= s["forecast"]["expected"].as_f64().unwrap());
    let (code, out, _) = driftwatch(&["budget", "status", "--at", &at], &config);
    assert_eq!(code, 0);
    assert!(
        out.contains("platform_weekly: $") && out.contains("forecast: $"),
        "{out}"
    );

    let (code, out, err) = driftwatch(
        &[
            "backtest",
            "--from",
            &start.to_rfc3339(),
            "--to",
            &(start + chrono::Duration::days(8)).to_rfc3339(),
        ],
        &config,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("budget platform_weekly ($2,000 per week, Europe/Berlin)"),
        "{out}"
    );
    assert!(
        out.contains("day  4"),
        "a forecast for each day of the week that ended: {out}"
    );

    // Every mistake at once, each at its place; the schema refuses a misspelt key too.
    std::fs::write(
        rules.join("budgets.toml"),
        format!("{BUDGETS}\n[[budget]]\nname = \"b\"\nmetric = \"llm.cost\"\namount = 0\nperiod = \"month\"\ntimezone = \"Europe/Berln\"\n"),
    )
    .unwrap();
    let (code, _, err) = driftwatch(&["check"], &config);
    assert_eq!(code, 1);
    assert!(
        err.contains("budgets.toml:13:10: budget \"b\": `amount` must be a number above 0"),
        "{err}"
    );
    assert!(
        err.contains("budgets.toml:15:12: budget \"b\": unknown time zone \"Europe/Berln\""),
        "{err}"
    );
    let schema = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["schema", "rules"])
        .output()
        .unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&schema.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let good = serde_json::to_value(BUDGETS.parse::<toml::Table>().unwrap()).unwrap();
    assert!(validator.is_valid(&good));
    let typo = serde_json::to_value(
        BUDGETS
            .replace("period", "perod")
            .parse::<toml::Table>()
            .unwrap(),
    )
    .unwrap();
    assert!(!validator.is_valid(&typo));
}
