//! Test harness: real workflow databases (SQLite files, fresh PostgreSQL databases), the
//! service started in-process on port 0, and rule/config builders.

use std::sync::Arc;
use std::time::Duration;

use driftwatch::clock::SystemClock;
use driftwatch::config::validated::{ServiceConfig, SourceConfig};
use driftwatch::demo::receiver::Receiver;
use driftwatch::demo::schema::create_schema;
use driftwatch::demo::workload::{Run, Step, Writer};
use driftwatch::notify::deliver::settings::{DeliveryConfig, ReceiverConfig, WebhookConfig};
use driftwatch::rule::RuleSet;
use driftwatch::rule::{parse_rules, RuleContext};
use driftwatch::sources::dialect::Dialect;
use driftwatch::types::Secret;
use driftwatch::types::SourceFile;
use sqlx::AnyPool;

/// The signing secret tests use.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The API bearer token the test services require for mutating calls.
pub const API_TOKEN: &str = "test-token-0123456789abcdef";

/// The PostgreSQL server tests use (trust auth on loopback).
pub fn pg_admin_url() -> String {
    std::env::var("DRIFTWATCH_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Which database kind a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

/// A fresh database holding the CMBAgent tables (and, for the store, driftwatch's own).
pub struct TestDb {
    /// Its URL.
    pub url: String,
    /// A pool on it.
    pub pool: AnyPool,
    /// Its SQL flavour.
    pub dialect: Dialect,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    /// Creates a fresh database with the CMBAgent schema. PostgreSQL must be reachable:
    /// a missing server fails the test instead of skipping it.
    pub async fn new(backend: Backend) -> TestDb {
        sqlx::any::install_default_drivers();
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/cmbagent.db?mode=rwc", dir.path().display());
                let pool = AnyPool::connect(&url).await.unwrap();
                create_schema(&pool, Dialect::Sqlite).await.unwrap();
                TestDb {
                    url,
                    pool,
                    dialect: Dialect::Sqlite,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin = AnyPool::connect(&pg_admin_url()).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required at {} (set DRIFTWATCH_TEST_PG): {e}",
                        pg_admin_url()
                    )
                });
                let name = format!("dw_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                let url = pg_url(&name);
                let pool = AnyPool::connect(&url).await.unwrap();
                create_schema(&pool, Dialect::Postgres).await.unwrap();
                TestDb {
                    url,
                    pool,
                    dialect: Dialect::Postgres,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// A URL for driftwatch's own store beside this database.
    pub fn store_url(&self) -> String {
        match self.dialect {
            Dialect::Sqlite => self.url.replace("cmbagent.db?mode=rwc", "driftwatch.db"),
            Dialect::Postgres => self.url.clone(),
        }
    }

    /// A writer of CMBAgent rows.
    pub fn writer(&self) -> Writer {
        Writer::new(self.pool.clone(), self.dialect)
    }

    /// Drops a PostgreSQL database (SQLite files go with the temp dir).
    pub async fn drop_db(self) {
        self.pool.close().await;
        if let Some(name) = self.pg_name {
            let admin = AnyPool::connect(&pg_admin_url()).await.unwrap();
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&admin)
                .await;
            admin.close().await;
        }
    }
}

/// The URL of a database on the test PostgreSQL server.
pub fn pg_url(name: &str) -> String {
    let admin = pg_admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// A service configuration with one SQL source `cmbagent` and one webhook `hook`.
pub fn service_config(source_url: &str, store_url: &str, receiver: &Receiver) -> ServiceConfig {
    let mut config = ServiceConfig {
        listen: "127.0.0.1:0".to_owned(),
        api_token: Some(Secret::new(API_TOKEN)),
        http: Default::default(),
        console_read: Default::default(),
        store_url: store_url.to_owned(),
        leases: None,
        rules_dir: "rules".into(),
        sources: Default::default(),
        receivers: Default::default(),
        notify_policy: Default::default(),
        default_receivers: vec!["hook".to_owned()],
        delivery: DeliveryConfig {
            retry_schedule: vec![Duration::from_millis(100); 8],
            jitter: 0.0,
            concurrency: 16,
            // The test receivers listen on loopback, which webhooks may not reach
            // unless allowlisted.
            allow_private: vec!["127.0.0.1".parse().unwrap()],
            max_retry_after: Duration::from_secs(3600),
        },
        log_format: Default::default(),
        log_level: "info".to_owned(),
    };
    config.sources.insert(
        "cmbagent".to_owned(),
        SourceConfig::Sql {
            url: Secret::new(source_url),
            timeout: Duration::from_secs(2),
        },
    );
    config.receivers.insert(
        "hook".to_owned(),
        ReceiverConfig::Webhook(WebhookConfig {
            url: receiver.url().parse().unwrap(),
            secret: Some(Secret::new(SECRET)),
            previous_secrets: Vec::new(),
            timeout: Duration::from_secs(2),
            max_response_bytes: 4096,
            allow_private: false,
            disable_after: None,
            body: Default::default(),
        }),
    );
    config
}

/// Parses rules given as TOML text, against the test service's names.
pub fn rules(text: &str) -> RuleSet {
    let ctx = RuleContext {
        sources: vec!["cmbagent".to_owned()],
        source_kinds: Default::default(),
        receivers: vec!["hook".to_owned()],
        default_receivers: vec!["hook".to_owned()],
    };
    parse_rules(&[SourceFile::new("test.toml", text)], &ctx).unwrap_or_else(|e| panic!("{e}"))
}

/// Starts the service in-process.
pub async fn start(config: ServiceConfig, rules: RuleSet) -> driftwatch::app::Running {
    driftwatch::telemetry::init_logging(Default::default(), "warn");
    driftwatch::app::start(config, rules, Arc::new(SystemClock))
        .await
        .unwrap()
}

/// A finished run of one step that took `seconds`, finishing now.
pub fn finished_run(id: &str, mode: &str, seconds: f64, status: &str) -> Run {
    run_ending_at(id, mode, seconds, status, chrono::Utc::now())
}

/// A finished run of one step that took `seconds`, finishing at `now`.
pub fn run_ending_at(
    id: &str,
    mode: &str,
    seconds: f64,
    status: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Run {
    let start = now - chrono::Duration::milliseconds((seconds * 1000.0) as i64);
    Run {
        id: id.to_owned(),
        session_id: format!("sess-{id}"),
        mode: mode.to_owned(),
        agent: "engineer".to_owned(),
        model: "gpt-4o".to_owned(),
        status: status.to_owned(),
        started_at: start,
        completed_at: Some(now),
        steps: vec![Step {
            status: status.to_owned(),
            started_at: start,
            completed_at: Some(now),
            calls: vec![],
        }],
    }
}

/// A threshold rule on the slowest workflow per mode, evaluated every 250 ms: a run over
/// 600 s fires at once.
pub const SLOW_BY_MODE: &str = r#"
[[rule]]
name = "workflow_slow"
metric = "workflow.duration"
group_by = ["mode"]
aggregate = "max"
window = "1h"
every = "250ms"
for = "0s"
severity = "warning"
summary = "slowest {label.mode} workflow took {value}"
detector = { kind = "threshold", above = 600 }
"#;

/// The decision log of one rule's alerts as `driftwatch explain RULE` words it, one
/// sentence per line.
pub async fn rule_story(store: &driftwatch::store::Store, rule: &str) -> String {
    let lines = store.rule_log(rule, 1_000).await.unwrap();
    lines
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `config` with the notification policy of the `driftwatch.toml` text `policy`.
pub fn with_policy(mut config: ServiceConfig, policy: &str) -> ServiceConfig {
    let text = format!(
        "[receivers.hook]\nkind = \"webhook\"\nurl = \"https://hooks.example.com/x\"\n{policy}"
    );
    let parsed =
        driftwatch::config::parse_service_config(std::path::Path::new("driftwatch.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}"));
    config.notify_policy = parsed.notify_policy;
    config
}
