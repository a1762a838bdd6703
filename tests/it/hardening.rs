//! What a careless rule author or a hostile client tried: a rule's SQL that writes, a
//! duration past the end of time, NaN limits, a file that is not UTF-8. Each gets a
//! clear error and changes nothing.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use driftwatch::demo::receiver::Receiver;
use driftwatch::sources::sql::SqlSource;
use driftwatch::sources::RuleQuery;
use driftwatch::sources::{FetchRequest, Source};
use driftwatch::types::Secret;
use sqlx::AnyPool;

use crate::helpers::{
    pg_admin_url, pg_url, rules, service_config, start, Backend, TestDb, API_TOKEN, SECRET,
    SLOW_BY_MODE,
};

/// A float both dialects read as one (PostgreSQL's `0.0` is NUMERIC, which the Any
/// driver does not decode).
const ZERO: &str = "CAST(0 AS DOUBLE PRECISION)";

async fn metric_rows(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM workflow_metrics")
        .fetch_one(pool)
        .await
}

async fn fetch(source: &SqlSource, sql: &str) -> Result<Vec<f64>, String> {
    let query = RuleQuery::Sql {
        sql: sql.to_owned(),
    };
    let now = chrono::Utc::now();
    let request = FetchRequest {
        query: &query,
        after: now - chrono::TimeDelta::days(1),
        until: now,
    };
    match source.fetch(request).await {
        Ok(rows) => Ok(rows.iter().map(|o| o.sample.value).collect()),
        Err(e) => Err(e.to_string()),
    }
}

/// Rule SQL that writes, run straight at the source (as if `check` had been skipped),
/// through a read-write URL: every form fails and the rows and the table stay.
async fn writing_queries_leave_the_source_untouched(backend: Backend) {
    let db = TestDb::new(backend).await;
    sqlx::query("INSERT INTO workflow_metrics (id, run_id, step_id, timestamp, metric_name, metric_value) VALUES ('m1', 'r', 's', '2026-01-01 00:00:00', 'x', 1.5)")
        .execute(&db.pool)
        .await
        .unwrap();
    let source =
        SqlSource::new("db", &Secret::new(db.url.clone()), Duration::from_secs(5)).unwrap();
    let mut writes = vec![
        format!("DELETE FROM workflow_metrics RETURNING {ZERO} AS ts, metric_value AS value"),
        format!("SELECT {ZERO} AS ts, {ZERO} AS value; DROP TABLE workflow_metrics"),
        format!("UPDATE workflow_metrics SET metric_value = 9 RETURNING {ZERO} AS ts, metric_value AS value"),
    ];
    if backend == Backend::Postgres {
        writes.push(format!("WITH d AS (DELETE FROM workflow_metrics RETURNING metric_value) SELECT {ZERO} AS ts, metric_value AS value FROM d"));
        writes.push(format!(
            "SELECT {ZERO} AS ts, {ZERO} AS value INTO copied FROM workflow_metrics"
        ));
    }
    for sql in &writes {
        assert!(fetch(&source, sql).await.is_err(), "{backend:?} ran {sql}");
        assert_eq!(
            metric_rows(&db.pool).await.unwrap(),
            1,
            "{backend:?}: {sql}"
        );
    }
    let kept: f64 = sqlx::query_scalar("SELECT metric_value FROM workflow_metrics")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(kept, 1.5);
    // Reading still works, read-only, and PostgreSQL's server enforces the timeout too.
    let read = format!("SELECT {ZERO} AS ts, metric_value AS value FROM workflow_metrics");
    let read = fetch(&source, &read);
    assert_eq!(read.await.unwrap(), [1.5]);
    if backend == Backend::Postgres {
        let settings = "SELECT 0.0::float8 AS ts, \
             CASE WHEN current_setting('transaction_read_only') = 'on' THEN 1.0 ELSE 0.0 END::float8 AS value \
             UNION ALL SELECT 1.0::float8, EXTRACT(EPOCH FROM current_setting('statement_timeout')::interval)::float8";
        assert_eq!(fetch(&source, settings).await.unwrap(), [1.0, 5.0]);
    }
    db.drop_db().await;
}

#[tokio::test]
async fn sqlite_source_refuses_writes_with_a_read_write_url() {
    writing_queries_leave_the_source_untouched(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_source_refuses_writes_with_a_read_write_role() {
    writing_queries_leave_the_source_untouched(Backend::Postgres).await;
}

#[tokio::test]
async fn a_source_role_that_can_write_is_told_apart_from_a_read_only_one() {
    let db = TestDb::new(Backend::Postgres).await;
    let superuser = SqlSource::new("db", &Secret::new(db.url.clone()), Duration::from_secs(5));
    let superuser = superuser.unwrap();
    let url = Secret::new(db.url.clone());
    assert!(superuser.credentials_can_write(&url).await.unwrap());

    let role = format!("dw_reader_{}", uuid::Uuid::new_v4().simple());
    let db_name = db.url.rsplit('/').next().unwrap().to_owned();
    for grant in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"),
    ] {
        sqlx::query(&grant).execute(&db.pool).await.unwrap();
    }
    let reader_url = pg_url(&db_name).replacen("postgres@", &format!("{role}@"), 1);
    let reader = Secret::new(reader_url);
    let source = SqlSource::new("db", &reader, Duration::from_secs(5)).unwrap();
    assert!(!source.credentials_can_write(&reader).await.unwrap());
    drop(source);
    db.drop_db().await;
    let admin = AnyPool::connect(&pg_admin_url()).await.unwrap();
    sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
        .execute(&admin)
        .await
        .unwrap();
}

const CONFIG: &str = "[sources.cmbagent]\nkind = \"sql\"\nurl = \"sqlite://cmbagent.db\"\n";

/// `driftwatch check` over one rule file; its stderr and exit code.
fn check(dir: &Path, rule_file: &[u8]) -> (Option<i32>, String) {
    std::fs::write(dir.join("driftwatch.toml"), CONFIG).unwrap();
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("r.toml"), rule_file).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .arg("check")
        .arg("--config")
        .arg(dir.join("driftwatch.toml"))
        .arg(&rules)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_error_at(stderr: &str, place: &str, says: &str) {
    let line = stderr
        .lines()
        .find(|l| l.contains(place))
        .unwrap_or_else(|| panic!("no error at {place} in:\n{stderr}"));
    assert!(line.contains(says), "{line}");
}

#[test]
fn check_refuses_writing_sql_overflowing_durations_and_non_finite_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"[[rule]]
name = "writes"
query = "SELECT ts, value FROM m; DROP TABLE m"
window = "1h"
severity = "info"
detector = { kind = "threshold", above = 1 }

[[rule]]
name = "overflows"
metric = "workflow.duration"
window = "300000y"
severity = "info"
detector = { kind = "threshold", above = nan, recover_below = inf }

[[rule]]
name = "nan_sigmas"
metric = "workflow.duration"
window = "1h"
severity = "info"
detector = { kind = "zscore", sigmas = nan, min_rel_deviation = -0.5 }

[[rule]]
name = "deletes"
query = "WITH d AS (DELETE FROM m RETURNING ts, value) SELECT ts, value FROM d"
window = "1h"
severity = "info"
detector = { kind = "threshold", above = 1 }

[[rule]]
name = "late"
metric = "workflow.duration"
window = "1h"
delay = "401d"
severity = "info"
detector = { kind = "threshold", above = 1 }
"#;
    let (code, stderr) = check(dir.path(), text.as_bytes());
    assert_eq!(code, Some(1), "{stderr}");
    let file = "r.toml";
    assert_error_at(&stderr, &format!("{file}:3:9:"), "2 statements");
    assert_error_at(&stderr, &format!("{file}:11:10:"), "at most 400d");
    assert_error_at(&stderr, &format!("{file}:13:42:"), "`above` is NaN");
    assert_error_at(&stderr, &format!("{file}:13:63:"), "`recover_below` is inf");
    assert_error_at(&stderr, &format!("{file}:20:40:"), "`sigmas` is NaN");
    assert!(stderr.contains("min_rel_deviation` -0.5"), "{stderr}");
    assert_error_at(&stderr, &format!("{file}:24:9:"), "contains \"DELETE\"");
    assert_error_at(&stderr, &format!("{file}:33:9:"), "at most 400d");
}

#[test]
fn a_non_utf8_rule_file_names_the_line_and_column_of_the_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = b"[[rule]]\nname = \"r\"\nsummary = \"caf".to_vec();
    text.push(0xe9); // Latin-1 'é'
    text.extend_from_slice(b"\"\n");
    let (code, stderr) = check(dir.path(), &text);
    assert_eq!(code, Some(1), "{stderr}");
    assert_error_at(&stderr, "r.toml:3:15:", "byte 0xe9 is not UTF-8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_past_the_end_of_time_is_a_clear_400() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = service_config(&db.url, &db.store_url(), &receiver);
    let running = start(config, rules(SLOW_BY_MODE)).await;
    let url = format!("http://{}/api/v1/silences", running.addr);
    let client = reqwest::Client::new();
    let post =
        |body: serde_json::Value| client.post(&url).bearer_auth(API_TOKEN).json(&body).send();
    let silence = |extra: serde_json::Value| {
        let mut body = serde_json::json!({
            "matchers": ["mode=one_shot"], "created_by": "ops", "comment": "test",
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    // A body that does not parse is a 422 (as every malformed body is), a silence that
    // parses but is too long a 400; neither panics the handler.
    for (extra, status, says) in [
        (
            serde_json::json!({"duration": "1000000y"}),
            422,
            "at most 400d",
        ),
        (serde_json::json!({"duration": "370d"}), 400, "at most 1y"),
        (
            serde_json::json!({"starts_at": "2026-01-01T00:00:00Z", "ends_at": "+262000-01-01T00:00:00Z"}),
            400,
            "at most 1y",
        ),
    ] {
        let answer = post(silence(extra.clone())).await.unwrap();
        assert_eq!(answer.status(), status, "{extra}");
        let body: serde_json::Value = answer.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{extra}: {body}");
    }
    let ok = post(silence(serde_json::json!({"duration": "1y"})))
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
    running.stop(Duration::from_secs(5)).await;
}

#[test]
fn the_cli_refuses_an_overflowing_silence_before_it_calls_the_api() {
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["silence", "add", "model=gpt-4o", "--duration", "1000000y"])
        .args(["--author", "ops", "--comment", "test"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("at most 400d"), "{stderr}");
}
