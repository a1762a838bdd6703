//! Wiring: builds the store, sources, evaluator, dispatcher and HTTP server from the
//! validated configuration, starts their tasks, and stops them on shutdown.

pub mod budget;
pub mod evaluator;
pub mod examples;
pub mod last_week;
pub mod leases;
pub mod reload;
pub mod scheduler;
pub mod supervisor;
pub mod takeover;
mod tasks;
pub mod watchdog;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::config::validated::{ServiceConfig, SourceConfig};
use crate::engine::evaluate::RuleRuntime;
use crate::engine::source_health::SOURCE_DOWN_RULE;
use crate::notify::deliver::sender::Sender;
use crate::notify::pipeline::group_flusher::GroupFlusher;
use crate::notify::pipeline::intake::Intake;
use crate::notify::Dispatcher;
use crate::rule::RuleSet;
use crate::sources::prometheus_query::PrometheusSource;
use crate::sources::scrape::ScrapeSource;
use crate::sources::sql::SqlSource;
use crate::sources::Source;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::{Error, Result};

pub use evaluator::{EvalResult, Evaluator, RuleTask};
pub use reload::Reloader;
pub use supervisor::Supervisor;
use tasks::NamedTasks;

/// Stored baselines: by rule, then by fingerprint (the store's layout).
type StoredBaselines = HashMap<String, HashMap<String, serde_json::Value>>;

/// What a start resumes each rule from: its alerts, learnt baselines and flap records.
struct StoredState {
    alerts_by_rule: HashMap<String, Vec<crate::engine::Alert>>,
    baselines: StoredBaselines,
    journals: HashMap<String, crate::model::journal::BaselineJournal>,
    flaps: budget::StoredFlaps,
}

/// How often the rules directory is checked for changes.
const RULES_WATCH_EVERY: Duration = Duration::from_secs(1);

/// A running driftwatch.
pub struct Running {
    /// Where the HTTP server listens.
    pub addr: SocketAddr,
    /// Own metrics.
    pub metrics: Metrics,
    /// The store.
    pub store: Store,
    /// The evaluator (for tests that look at state).
    pub evaluator: Arc<Evaluator>,
    /// Reloads the rules (SIGHUP, API, directory changes).
    pub reloader: Arc<Reloader>,
    /// The budgets' task state (for tests that drive or look at it).
    pub budgets: Arc<budget::Budgets>,
    shutdown: CancellationToken,
    tasks: NamedTasks,
    /// An sqlite store's single-process lock, held until the service stops.
    _process_lock: Option<crate::store::ProcessLock>,
}

impl Running {
    /// Signals every task to stop: rules finish the evaluation in flight, the dispatcher
    /// finishes the batch it claimed (settling its claims) and claims no more. One
    /// deadline, `grace` from now, bounds it all: what is still running then is abandoned
    /// with a log line (a delivery in flight stays in the outbox and is retried), and the
    /// store is closed within what is left.
    pub async fn stop(self, grace: Duration) {
        self.stop_by(tokio::time::Instant::now() + grace).await;
    }

    /// [`Running::stop`] with the deadline given.
    pub async fn stop_by(mut self, deadline: tokio::time::Instant) {
        self.shutdown.cancel();
        self.reloader.stop(deadline).await;
        self.tasks.join_until(deadline).await;
        if tokio::time::timeout_at(deadline, self.store.close())
            .await
            .is_err()
        {
            tracing::warn!("the store did not close within the shutdown grace; abandoned");
        }
    }

    /// The token that stops everything.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Builds the sources a configuration names (scrape sources are built but not started:
/// they answer from what they scraped, which here is nothing).
pub fn build_sources(config: &ServiceConfig) -> Result<HashMap<String, Arc<dyn Source>>> {
    Ok(build_all_sources(config, Arc::new(crate::clock::SystemClock), None)?.sources)
}

/// Every source, and again by type the ones that need more than fetching.
struct AllSources {
    sources: HashMap<String, Arc<dyn Source>>,
    /// For the performance summary.
    sql: HashMap<String, Arc<SqlSource>>,
    /// Their scrape loops run beside the rules.
    scrapers: Vec<Arc<ScrapeSource>>,
}

fn build_all_sources(
    config: &ServiceConfig,
    clock: SharedClock,
    metrics: Option<Metrics>,
) -> Result<AllSources> {
    let mut all = AllSources {
        sources: HashMap::new(),
        sql: HashMap::new(),
        scrapers: Vec::new(),
    };
    for (name, cfg) in &config.sources {
        match cfg {
            SourceConfig::Sql { url, timeout } => {
                let source = Arc::new(SqlSource::new(name, url, *timeout)?);
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let (checked, url) = (Arc::clone(&source), url.clone());
                    runtime.spawn(async move { checked.warn_if_writable(&url).await });
                }
                all.sql.insert(name.clone(), Arc::clone(&source));
                all.sources.insert(name.clone(), source);
            }
            SourceConfig::Prometheus { url, timeout } => {
                all.sources.insert(
                    name.clone(),
                    Arc::new(PrometheusSource::new(name, url.clone(), *timeout)?),
                );
            }
            SourceConfig::Scrape(settings) => {
                let source = Arc::new(
                    ScrapeSource::new(name, settings.clone(), Arc::clone(&clock), metrics.clone())
                        .map_err(Error::Other)?,
                );
                all.scrapers.push(Arc::clone(&source));
                all.sources.insert(name.clone(), source);
            }
        }
    }
    Ok(all)
}

/// Builds the senders for every receiver.
pub fn build_senders(config: &ServiceConfig) -> Result<HashMap<String, Sender>> {
    crate::notify::deliver::sender::build_senders(&config.receivers, &config.delivery.allow_private)
        .map_err(Error::Other)
}

/// Puts firing alerts that belong to no notification group (they fired before groups
/// existed, or under another route) into their groups as already notified, so their
/// resolves reach the receivers that saw them fire and nothing is sent twice.
async fn adopt_ungrouped_alerts(
    store: &Store,
    evaluator: &Evaluator,
    config: &ServiceConfig,
    rules: &RuleSet,
    alerts_by_rule: &HashMap<String, Vec<crate::engine::Alert>>,
) -> Result<()> {
    let grouped = store.grouped_fingerprints().await?;
    let mut entries = Vec::new();
    for (rule_name, alerts) in alerts_by_rule {
        let rule = rules.rules.iter().find(|r| &r.name == rule_name);
        let (receivers, annotations) = match rule {
            Some(r) => (&r.receivers, r.annotations.clone()),
            None => (&config.default_receivers, Default::default()),
        };
        for a in alerts {
            // A firing alert a silence held back under the old scheme was never sent.
            if a.state != crate::model::AlertState::Firing
                || a.muted
                || grouped.contains(a.fingerprint.as_str())
            {
                continue;
            }
            let payload = crate::notify::render::payload::alert_payload(a, &annotations);
            entries.extend(evaluator.policy.route(a, &payload, receivers));
        }
    }
    if !entries.is_empty() {
        tracing::info!(
            groups = entries.len(),
            "firing alerts adopted into notification groups"
        );
        store
            .adopt_into_groups(&entries, evaluator.clock.now().timestamp_millis())
            .await?;
    }
    Ok(())
}

/// Starts the service: restores state, then runs rules, budgets (read from the rules
/// directory), dispatcher and server.
pub async fn start(config: ServiceConfig, rules: RuleSet, clock: SharedClock) -> Result<Running> {
    let budgets = crate::budget::load_budgets(&config.rules_dir, &config.rule_context())?;
    start_with_budgets(config, rules, budgets, clock).await
}

/// [`start`] with the budgets given instead of read from the rules directory.
pub async fn start_with_budgets(
    config: ServiceConfig,
    rules: RuleSet,
    budgets: Vec<Arc<crate::budget::Budget>>,
    clock: SharedClock,
) -> Result<Running> {
    let metrics = Metrics::new();
    let process_lock = crate::store::lock_single_process(&config.store_url)?;
    let store = Store::connect(&config.store_url).await?;
    let shutdown = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let AllSources {
        sources,
        sql: sql_sources,
        scrapers,
    } = build_all_sources(&config, Arc::clone(&clock), Some(metrics.clone()))?;
    let mut tasks = NamedTasks::default();
    let leases = Arc::new(match &config.leases {
        Some(settings) => leases::Leases::on(settings.clone()),
        None => leases::Leases::off(),
    });
    // Scrapes start first, so the first evaluations and warm-ups find data; replicas
    // sharing rules scrape a source only while they evaluate a rule that reads it.
    for scraper in scrapers {
        let name = scraper.name().to_owned();
        let needs = Arc::clone(&leases);
        tasks.spawn(
            format!("scrape {name}"),
            scraper.run_while_needed(shutdown.clone(), move || needs.needs_source(&name)),
        );
    }
    let mut evaluator = Evaluator::new(
        store.clone(),
        sources,
        metrics.clone(),
        Arc::clone(&clock),
        config.default_receivers.clone(),
    );
    evaluator.policy = Arc::new(config.notify_policy.clone());
    evaluator.leases = leases;
    let evaluator = Arc::new(evaluator);

    // Restore alert state and baselines so a restart neither re-notifies nor forgets.
    let mut stored = restore_state(&store, &evaluator, &config, &rules).await?;
    let budgets = Arc::new(
        budget::Budgets::restore(
            Arc::clone(&evaluator),
            &budgets,
            &mut stored.alerts_by_rule,
            &mut stored.flaps,
        )
        .await,
    );
    tasks.spawn("budgets", Arc::clone(&budgets).run(shutdown.clone()));
    start_lease_keeper(&mut tasks, &store, &evaluator, &rules, &shutdown).await;

    metrics.rules_loaded.set(rules.rules.len() as i64);
    let supervisor = start_rules(&evaluator, &rules, stored, &config, shutdown.clone()).await;
    let mut reloader = Reloader::new(
        config.rules_dir.clone(),
        config.rule_context(),
        supervisor,
        metrics.clone(),
        Arc::clone(&clock),
    );
    reloader.budgets = Some(Arc::clone(&budgets));
    let reloader = Arc::new(reloader);
    tasks.spawn(
        "rules directory watch",
        reload::watch_rules_dir(Arc::clone(&reloader), RULES_WATCH_EVERY, shutdown.clone()),
    );

    spawn_delivery(
        &mut tasks, &store, &evaluator, &config, &metrics, &wake, &shutdown,
    )?;

    let addr = serve_http(
        &mut tasks,
        &config,
        &evaluator,
        &reloader,
        sql_sources,
        Arc::clone(&budgets.statuses),
        &shutdown,
    )
    .await?;
    tracing::info!(%addr, rules = rules.rules.len(), "driftwatch started");
    Ok(Running {
        addr,
        metrics,
        store,
        evaluator,
        reloader,
        budgets,
        shutdown,
        tasks,
        _process_lock: process_lock,
    })
}

/// Stored state a start resumes from: each rule's alerts (the source-down alerts are
/// handed to the evaluator's source health), learnt baselines and flap records; released
/// claims of a stopped process, the silences, and firing alerts adopted into their groups.
async fn restore_state(
    store: &Store,
    evaluator: &Evaluator,
    config: &ServiceConfig,
    rules: &RuleSet,
) -> Result<StoredState> {
    let mut alerts_by_rule: HashMap<String, Vec<crate::engine::Alert>> = HashMap::new();
    for alert in store.load_alerts().await? {
        alerts_by_rule
            .entry(alert.rule.clone())
            .or_default()
            .push(alert);
    }
    let baselines = store.load_baselines().await?;
    let journals = store.load_journals().await?;
    let flaps = store.load_flap_records().await?;
    let released = store.release_orphaned_claims().await?;
    if released > 0 {
        tracing::warn!(
            released,
            "re-queued notifications claimed by a process that stopped mid-delivery"
        );
    }
    evaluator.silences.replace(store.silences().await?);
    adopt_ungrouped_alerts(store, evaluator, config, rules, &alerts_by_rule).await?;
    if let Some(down) = alerts_by_rule.remove(SOURCE_DOWN_RULE) {
        evaluator.health.lock().expect("health lock").restore(down);
    }
    Ok(StoredState {
        alerts_by_rule,
        baselines,
        journals,
        flaps,
    })
}

/// Starts one task per rule with its restored alerts and baselines (warming up a rule
/// that has none), and resolves the alerts of rules no longer configured.
async fn start_rules(
    evaluator: &Arc<Evaluator>,
    rules: &RuleSet,
    stored: StoredState,
    config: &ServiceConfig,
    shutdown: CancellationToken,
) -> Supervisor {
    let StoredState {
        mut alerts_by_rule,
        mut baselines,
        mut journals,
        mut flaps,
    } = stored;
    let mut supervisor = Supervisor::new(Arc::clone(evaluator), shutdown);
    for rule in &rules.rules {
        let mut runtime = RuleRuntime::new(Arc::clone(rule));
        let learnt = baselines.remove(&rule.name).unwrap_or_default();
        let fresh = learnt.is_empty();
        runtime.restore(
            alerts_by_rule.remove(&rule.name).unwrap_or_default(),
            learnt,
        );
        runtime.apply_journal(journals.remove(&rule.name).unwrap_or_default());
        if fresh {
            if let Some(source) = evaluator.sources.get(&rule.source) {
                warm_up(&mut runtime, source.as_ref(), evaluator.clock.now()).await;
            }
        }
        let intake = Intake::new(flaps.remove(&rule.name).unwrap_or_default());
        supervisor.spawn(RuleTask::resumed(runtime, intake));
    }
    // Alerts of rules no longer configured (removed while driftwatch was down, or a
    // retirement that did not commit) resolve now rather than linger.
    for (rule, alerts) in alerts_by_rule {
        evaluator
            .retire(
                &rule,
                alerts,
                &config.default_receivers,
                &Default::default(),
                None,
            )
            .await;
    }
    supervisor
}

/// With leases on, takes this replica's share of the rule leases before the rules start
/// (so a lone replica evaluates from its first tick), then keeps them in a task.
async fn start_lease_keeper(
    tasks: &mut NamedTasks,
    store: &Store,
    evaluator: &Arc<Evaluator>,
    rules: &RuleSet,
    shutdown: &CancellationToken,
) {
    if evaluator.leases.settings().is_none() {
        return;
    }
    evaluator.leases.set_rules(
        rules
            .rules
            .iter()
            .map(|r| (r.name.clone(), r.source.clone())),
    );
    let keeper = leases::Keeper {
        store: store.clone(),
        leases: Arc::clone(&evaluator.leases),
        clock: Arc::clone(&evaluator.clock),
        metrics: evaluator.metrics.clone(),
    };
    keeper.round().await;
    tasks.spawn("rule leases", keeper.run(shutdown.clone()));
}

/// Spawns the notification path's tasks: the group flusher, the dispatcher (woken by
/// `wake` when the flusher writes), store checkpoints and outbox housekeeping.
fn spawn_delivery(
    tasks: &mut NamedTasks,
    store: &Store,
    evaluator: &Evaluator,
    config: &ServiceConfig,
    metrics: &Metrics,
    wake: &Arc<Notify>,
    shutdown: &CancellationToken,
) -> Result<()> {
    let clock = &evaluator.clock;
    let flusher = Arc::new(GroupFlusher::new(
        store.clone(),
        Arc::clone(&evaluator.policy),
        Arc::clone(&evaluator.silences),
        Arc::clone(clock),
        metrics.clone(),
        Arc::clone(wake),
    ));
    tasks.spawn(
        "group flusher",
        flusher.run(Arc::clone(&evaluator.groups_wake), shutdown.clone()),
    );
    let dispatcher = Arc::new(Dispatcher::new(
        store.clone(),
        build_senders(config)?,
        config.delivery.clone(),
        Arc::clone(clock),
        metrics.clone(),
    ));
    tasks.spawn(
        "dispatcher",
        Arc::clone(&dispatcher).run(Arc::clone(wake), shutdown.clone()),
    );
    tasks.spawn(
        "store checkpoints",
        store_checkpoints(store.clone(), shutdown.clone()),
    );
    tasks.spawn(
        "outbox housekeeping",
        outbox_housekeeping(
            store.clone(),
            metrics.clone(),
            Arc::clone(clock),
            config.notify_policy.decision_log_retention,
            shutdown.clone(),
        ),
    );
    Ok(())
}

/// Binds the HTTP listener and serves the API on it; returns the bound address.
async fn serve_http(
    tasks: &mut NamedTasks,
    config: &ServiceConfig,
    evaluator: &Evaluator,
    reloader: &Arc<Reloader>,
    sql_sources: HashMap<String, Arc<SqlSource>>,
    budgets: Arc<crate::budget::BudgetStatuses>,
    shutdown: &CancellationToken,
) -> Result<SocketAddr> {
    let clock = &evaluator.clock;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| Error::Io {
            path: config.listen.clone(),
            source: e,
        })?;
    let addr = listener.local_addr().map_err(|e| Error::Io {
        path: config.listen.clone(),
        source: e,
    })?;
    let router = crate::server::router(crate::server::ServerState {
        metrics: evaluator.metrics.clone(),
        store: evaluator.store.clone(),
        clock: Arc::clone(clock),
        statuses: Arc::clone(&evaluator.statuses),
        silences: Arc::clone(&evaluator.silences),
        groups_wake: Arc::clone(&evaluator.groups_wake),
        rules: Arc::clone(reloader) as Arc<dyn crate::server::RulesHandle>,
        started_at: clock.now(),
        sql_sources: Arc::new(sql_sources),
        api_token: crate::server::auth::ApiToken::new(config.api_token.clone()),
        receivers: Arc::new(config.receivers.keys().cloned().collect()),
        budgets,
        console: Arc::new(console(config, evaluator, reloader, tasks, shutdown)),
    });
    tasks.spawn(
        "HTTP server",
        crate::server::serve::serve(listener, router, config.http, shutdown.clone()),
    );
    Ok(addr)
}

/// The web console's handles, and the task that keeps its last-week summaries.
fn console(
    config: &ServiceConfig,
    evaluator: &Evaluator,
    reloader: &Arc<Reloader>,
    tasks: &mut NamedTasks,
    shutdown: &CancellationToken,
) -> crate::server::console::Console {
    let mut console =
        crate::server::console::Console::new(config.console_read, evaluator.sources.clone());
    console.policy = Arc::clone(&evaluator.policy);
    let task = last_week::LastWeekTask {
        rules: Arc::clone(reloader) as Arc<dyn crate::server::RulesHandle>,
        sources: evaluator.sources.clone(),
        clock: Arc::clone(&evaluator.clock),
        cache: Arc::clone(&console.last_week),
    };
    tasks.spawn("last week's backtests", task.run(shutdown.clone()));
    console
}

/// Teaches a new rule's baselines from the source's recent history, so a first start
/// (or a new rule) is not days of blindness; restarts restore stored baselines instead.
pub(crate) async fn warm_up(
    runtime: &mut RuleRuntime,
    source: &dyn Source,
    now: chrono::DateTime<chrono::Utc>,
) {
    let rule = Arc::clone(&runtime.rule);
    let period = match &rule.schedule {
        crate::rule::Schedule::Every(d) => *d,
        crate::rule::Schedule::Cron(_) => Duration::from_secs(3600),
    };
    let Some(span) = rule.detector.warmup_span(period) else {
        return;
    };
    if source.is_snapshot(&rule.query) {
        return;
    }
    let lead = span.saturating_add(rule.window).saturating_add(rule.delay);
    let request = crate::sources::FetchRequest {
        query: &rule.query,
        after: crate::time_math::earlier(now, lead),
        until: now,
    };
    match source.fetch(request).await {
        Ok(mut history) => {
            history.sort_by_key(|o| o.sample.ts);
            let mut ticks = 0;
            runtime.collect_baselines = false;
            let from = crate::time_math::earlier(now, span);
            crate::engine::replay::replay(runtime, &history, from, now, |_, _| ticks += 1);
            runtime.collect_baselines = true;
            runtime.forget_alert_states();
            tracing::info!(rule = %rule.name, rows = history.len(), evaluations = ticks, "baselines warmed from history");
        }
        Err(e) => {
            tracing::warn!(rule = %rule.name, error = %e, "cannot warm baselines from history; learning live")
        }
    }
}

/// Sets the outbox gauges as of `now`: undelivered (pending) notifications, the age of
/// the oldest of them, and dead letters.
pub async fn record_outbox_gauges(
    store: &Store,
    metrics: &Metrics,
    now: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<(), crate::store::StoreError> {
    let stats = store.outbox_stats().await?;
    metrics.outbox_depth.set(stats.pending);
    metrics.outbox_dead.set(stats.dead);
    let age = stats
        .oldest_pending_ms
        .map(|t| (now.timestamp_millis() - t).max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    metrics.outbox_oldest_age_seconds.set(age);
    Ok(())
}

/// How often the service copies SQLite's write-ahead log into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// Checkpoints the store's write-ahead log every few seconds, so that no evaluation's
/// commit waits for one (see `store/checkpoint.rs`).
async fn store_checkpoints(store: Store, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
        if let Err(e) = store.checkpoint().await {
            tracing::warn!(error = %e, "cannot checkpoint the store's write-ahead log");
        }
    }
}

/// Keeps the outbox gauges current, drops delivered rows after a week and the decision
/// log after its retention.
async fn outbox_housekeeping(
    store: Store,
    metrics: Metrics,
    clock: SharedClock,
    decision_log_retention: Duration,
    shutdown: CancellationToken,
) {
    let mut last_purge = clock.now();
    loop {
        if let Err(e) = record_outbox_gauges(&store, &metrics, clock.now()).await {
            tracing::warn!(error = %e, "cannot read outbox stats");
        }
        if clock.now() - last_purge > chrono::Duration::hours(1) {
            last_purge = clock.now();
            let week = chrono::TimeDelta::days(7);
            let before = crate::time_math::earlier_by(clock.now(), week).timestamp_millis();
            if let Err(e) = store.purge_delivered(before).await {
                tracing::warn!(error = %e, "cannot purge delivered notifications");
            }
            let kept = chrono::TimeDelta::from_std(decision_log_retention)
                .unwrap_or(chrono::TimeDelta::MAX);
            let before = crate::time_math::earlier_by(clock.now(), kept).timestamp_millis();
            if let Err(e) = store.purge_decision_log(before).await {
                tracing::warn!(error = %e, "cannot purge the decision log");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}
