//! `driftwatch simulate` writes a labelled period to real SQLite and PostgreSQL databases
//! that the catalog reads back row for row, and `backtest --incidents` scores against
//! its labels file.

use std::time::Duration;

use driftwatch::model::Labels;
use driftwatch::simulate::{default_start, generate, write_month};
use driftwatch::sources::catalog::CatalogMetric;
use driftwatch::sources::sql::SqlSource;
use driftwatch::sources::RuleQuery;
use driftwatch::sources::{FetchRequest, Source};
use driftwatch::types::Secret;

use crate::helpers::{Backend, TestDb};

async fn count(source: &SqlSource, metric: CatalogMetric, filter: Labels) -> usize {
    let query = RuleQuery::Catalog { metric, filter };
    let start = default_start();
    source
        .fetch(FetchRequest {
            query: &query,
            after: start - chrono::Duration::hours(1),
            until: start + chrono::Duration::days(3),
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_period_reads_back_through_the_catalog_on_sqlite_and_postgres() {
    let month = generate(9, default_start(), 2);
    let gpt_calls = month
        .runs
        .iter()
        .flat_map(|r| &r.steps)
        .flat_map(|s| &s.calls)
        .filter(|c| c.model == "gpt-4o")
        .count();
    let finished = month
        .runs
        .iter()
        .filter(|r| r.completed_at.is_some())
        .count();
    assert!(gpt_calls > 500 && finished > 300, "{gpt_calls} {finished}");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDb::new(backend).await;
        write_month(&db.pool, db.dialect, &month.runs)
            .await
            .unwrap();
        let again = write_month(&db.pool, db.dialect, &month.runs).await;
        assert!(
            again.unwrap_err().to_string().contains("already holds"),
            "{backend:?}"
        );
        let source =
            SqlSource::new("s", &Secret::new(db.url.clone()), Duration::from_secs(30)).unwrap();
        let gpt = Labels::from([("model", "gpt-4o")]);
        assert_eq!(
            count(&source, CatalogMetric::LlmCallDuration, gpt).await,
            gpt_calls,
            "{backend:?}"
        );
        assert_eq!(
            count(&source, CatalogMetric::WorkflowCost, Labels::new()).await,
            finished,
            "{backend:?}"
        );
        db.drop_db().await;
    }
}

#[test]
fn simulate_then_backtest_scores_against_the_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (db, labels) = (dir.path().join("sim.db"), dir.path().join("labels.json"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["simulate", "--seed", "3", "--days", "2", "--out"])
        .arg(&db)
        .arg("--labels")
        .arg(&labels)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("LLM calls"));
    let config = dir.path().join("driftwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[rules]\ndir = \"{}/rules\"\n[sources.cmbagent]\nkind = \"sql\"\nurl = \"sqlite://{}?mode=ro\"\n",
            env!("CARGO_MANIFEST_DIR"),
            db.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args([
            "backtest",
            "--format",
            "json",
            "--rule",
            "llm_call_slow",
            "--config",
        ])
        .arg(&config)
        .args([
            "--from",
            "2026-11-02T00:00:00Z",
            "--to",
            "2026-11-04T00:00:00Z",
            "--incidents",
        ])
        .arg(&labels)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &json["detection"];
    assert!(d["kinds"].as_array().unwrap().len() >= 4, "{d}");
    assert!(d["false_alerts_per_week"].as_f64().is_some(), "{d}");
    assert_eq!(json["scores"], serde_json::Value::Null);
}
