//! The demo: a simulated CMBAgent workload in SQLite, the shipped rules (with time
//! compressed so a newcomer sees alerts within a minute), and a loopback receiver.

pub mod receiver;
pub mod schema;
pub mod workload;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;

use crate::clock::SystemClock;
use crate::config::validated::{ServiceConfig, SourceConfig};
use crate::notify::deliver::allowlist::AllowedDestination;
use crate::notify::deliver::settings::{DeliveryConfig, ReceiverConfig, WebhookConfig};
use crate::rule::{load_rules, RuleContext};
use crate::rule::{RuleSet, Schedule};
use crate::sources::dialect::Dialect;
use crate::types::Secret;
use crate::{Error, Result};
use workload::{generate_run, Incident, Writer};

/// How much faster than real time the demo runs its rules.
pub const TIME_COMPRESSION: u32 = 12;

/// Demo options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the demo databases go.
    pub data_dir: std::path::PathBuf,
    /// The rules directory (the shipped `rules/`).
    pub rules_dir: std::path::PathBuf,
    /// Address for driftwatch's own HTTP server.
    pub listen: String,
    /// Stop after this long (None: until Ctrl-C).
    pub duration: Option<Duration>,
}

/// Scales a rule's times down so the demo shows in a minute what takes ~12 in real life.
fn compress(rules: RuleSet) -> RuleSet {
    let f = TIME_COMPRESSION;
    RuleSet {
        rules: rules
            .rules
            .into_iter()
            .map(|r| {
                let mut r = (*r).clone();
                r.window /= f;
                r.for_duration /= f;
                r.keep_firing_for /= f;
                r.delay /= f;
                r.schedule = match r.schedule {
                    Schedule::Every(d) => Schedule::Every((d / f).max(Duration::from_secs(1))),
                    Schedule::Cron(_) => Schedule::Every(Duration::from_secs(5)),
                };
                Arc::new(r)
            })
            .collect(),
    }
}

/// Which incident the run generated at second `t` of the demo carries.
fn incident_at(t: u64, rng: &mut impl rand::Rng) -> Incident {
    match t % 150 {
        0..=30 if rng.gen_bool(0.6) => Incident::SlowModel,
        12 => Incident::Expensive,
        20 => Incident::HungStep,
        55..=80 if rng.gen_bool(0.5) => Incident::Failure,
        100 => Incident::SlowWorkflow,
        _ => Incident::None,
    }
}

/// Runs the demo until Ctrl-C or the duration passes.
pub async fn run_demo(options: DemoOptions) -> Result<()> {
    let (workflow_db, store_db) = fresh_databases(&options.data_dir)?;
    let workflow_url = format!("sqlite://{}?mode=rwc", workflow_db.display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&workflow_url)
        .await
        .map_err(|e| Error::Other(format!("cannot create the demo database: {e}")))?;
    schema::create_schema(&pool, Dialect::Sqlite)
        .await
        .map_err(|e| Error::Other(format!("cannot create the CMBAgent schema: {e}")))?;

    let secret = demo_secret();
    let receiver = receiver::Receiver::start(Some(&secret), 0, true)
        .await
        .map_err(|e| Error::Other(format!("cannot start the demo receiver: {e}")))?;

    let config = demo_config(&options, &workflow_db, &store_db, &receiver, secret);
    let ctx = RuleContext {
        sources: vec!["cmbagent".to_owned()],
        source_kinds: Default::default(),
        receivers: vec!["demo".to_owned()],
        default_receivers: vec!["demo".to_owned()],
    };
    let rules = compress(load_rules(&options.rules_dir, &ctx)?);
    let running = crate::app::start(config, rules.clone(), Arc::new(SystemClock)).await?;

    print_banner(
        &options,
        &workflow_db,
        &store_db,
        &running,
        &receiver,
        &rules,
    );
    let seq = write_workload(&pool, options.duration).await;
    let delivered = receiver.deliveries().len();
    running.stop(Duration::from_secs(5)).await;
    println!("\ndemo stopped: {seq} runs written, {delivered} webhook deliveries received");
    Ok(())
}

/// Creates the data directory and removes the databases of an earlier demo; returns the
/// workload database's and the store's paths.
fn fresh_databases(data_dir: &std::path::Path) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(data_dir).map_err(|e| Error::Io {
        path: data_dir.display().to_string(),
        source: e,
    })?;
    let workflow_db = data_dir.join("cmbagent.db");
    let store_db = data_dir.join("driftwatch.db");
    for f in [&workflow_db, &store_db] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
        }
    }
    Ok((workflow_db, store_db))
}

/// The service configuration the demo runs: one SQL source on the workload database,
/// one signed webhook receiver on loopback.
fn demo_config(
    options: &DemoOptions,
    workflow_db: &std::path::Path,
    store_db: &std::path::Path,
    receiver: &receiver::Receiver,
    secret: String,
) -> ServiceConfig {
    let mut config = ServiceConfig {
        listen: options.listen.clone(),
        api_token: None,
        http: Default::default(),
        console_read: Default::default(),
        store_url: format!("sqlite://{}", store_db.display()),
        leases: None,
        rules_dir: options.rules_dir.clone(),
        sources: Default::default(),
        receivers: Default::default(),
        notify_policy: Default::default(),
        default_receivers: vec!["demo".to_owned()],
        delivery: DeliveryConfig {
            // The demo receiver listens on loopback, which webhooks reach only when
            // allowlisted.
            allow_private: vec!["127.0.0.1"
                .parse::<AllowedDestination>()
                .expect("a valid address")],
            ..DeliveryConfig::default()
        },
        log_format: Default::default(),
        log_level: "warn".to_owned(),
    };
    config.sources.insert(
        "cmbagent".to_owned(),
        SourceConfig::Sql {
            url: Secret::new(format!("sqlite://{}?mode=ro", workflow_db.display())),
            timeout: Duration::from_secs(10),
        },
    );
    config.receivers.insert(
        "demo".to_owned(),
        ReceiverConfig::Webhook(WebhookConfig {
            url: receiver.url().parse().expect("loopback url"),
            secret: Some(Secret::new(secret)),
            previous_secrets: Vec::new(),
            timeout: Duration::from_secs(5),
            max_response_bytes: 64 * 1024,
            allow_private: false,
            disable_after: None,
            body: Default::default(),
        }),
    );
    config
}

/// Says what runs where.
fn print_banner(
    options: &DemoOptions,
    workflow_db: &std::path::Path,
    store_db: &std::path::Path,
    running: &crate::app::Running,
    receiver: &receiver::Receiver,
    rules: &RuleSet,
) {
    println!("driftwatch demo");
    println!("  workload database  {}", workflow_db.display());
    println!("  driftwatch store   {}", store_db.display());
    println!("  own metrics        http://{}/metrics", running.addr);
    println!("  webhook receiver   {}", receiver.url());
    println!(
        "  rules              {} from {} (times compressed {}x: windows, `every` and `for`)",
        rules.rules.len(),
        options.rules_dir.display(),
        TIME_COMPRESSION
    );
    println!("  incidents every 150 s: slow model, expensive run, hung step, failure burst, slow workflow");
    println!(
        "Writing workflow runs; alerts appear below as they reach the webhook. Ctrl-C stops.\n"
    );
}

/// Writes runs, steps and LLM calls as they happen, with an incident of each kind every
/// 150 s, until `duration` passes or Ctrl-C; returns how many runs it started.
async fn write_workload(pool: &sqlx::AnyPool, duration: Option<Duration>) -> u64 {
    let writer = Writer::new(pool.clone(), Dialect::Sqlite);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let started = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut seq = 0u64;
    // Writes wait here until their moment comes, as a live system would make them.
    let mut due: BinaryHeap<Reverse<(chrono::DateTime<chrono::Utc>, u64)>> = BinaryHeap::new();
    let mut actions: HashMap<u64, workload::Action> = HashMap::new();
    let mut next_action = 0u64;
    let mut last_run_at = 0u128;
    let mut hung: Vec<String> = Vec::new();
    let stop = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticker.tick() => {}
        }
        let t = started.elapsed().as_secs();
        let now = chrono::Utc::now();
        if started.elapsed().as_millis() / 500 != last_run_at {
            last_run_at = started.elapsed().as_millis() / 500;
            seq += 1;
            let incident = incident_at(t, &mut rng);
            let mut run = generate_run(&mut rng, now, seq, incident);
            if matches!(
                incident,
                Incident::None | Incident::SlowModel | Incident::Failure
            ) {
                // Ordinary runs start now and unfold in real time.
                let d = run.duration();
                run = run.shifted(d);
            }
            if incident == Incident::HungStep {
                hung.push(run.id.clone());
            }
            for (at, action) in workload::timeline(&run) {
                actions.insert(next_action, action);
                due.push(Reverse((at, next_action)));
                next_action += 1;
            }
        }
        while let Some(Reverse((at, id))) = due.peek().copied() {
            if at > now {
                break;
            }
            due.pop();
            if let Some(action) = actions.remove(&id) {
                if let Err(e) = writer.apply(&action).await {
                    eprintln!("demo: cannot write workflow rows: {e}");
                }
            }
        }
        if t % 150 >= 60 {
            fail_hung_runs(pool, &mut hung).await;
        }
    }
    seq
}

/// The hung steps finally give up (failed now), so their alerts resolve.
async fn fail_hung_runs(pool: &sqlx::AnyPool, hung: &mut Vec<String>) {
    for run_id in hung.drain(..) {
        let now = chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string();
        let _ = sqlx::query("UPDATE workflow_steps SET status = 'failed', completed_at = $1 WHERE run_id = $2 AND status = 'running'")
            .bind(now.clone())
            .bind(run_id.clone())
            .execute(pool)
            .await;
        let _ = sqlx::query(
            "UPDATE workflow_runs SET status = 'failed', completed_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(run_id)
        .execute(pool)
        .await;
    }
}

/// A fresh random signing secret for the demo receiver.
fn demo_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 24] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The default rules directory: `rules/` beside the current directory.
pub fn default_rules_dir() -> &'static Path {
    Path::new("rules")
}
