//! Hot reload of the rules: from `POST /-/reload`, SIGHUP, or a change in the rules
//! directory. Everything is validated first; on any error the old rules keep running.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::app::supervisor::Supervisor;
use crate::clock::SharedClock;
use crate::rule::Rule;
use crate::rule::{load_rules, RuleContext};
use crate::server::status::{ReloadError, ReloadStatus, ReloadSummary};
use crate::telemetry::Metrics;

/// Reloads rules and reports how the last reload went.
pub struct Reloader {
    rules_dir: PathBuf,
    ctx: RuleContext,
    supervisor: tokio::sync::Mutex<Supervisor>,
    current: Mutex<Vec<Arc<Rule>>>,
    status: Mutex<ReloadStatus>,
    metrics: Metrics,
    clock: SharedClock,
}

impl Reloader {
    /// Wraps a supervisor whose rules were loaded from `rules_dir` at start-up.
    pub fn new(
        rules_dir: PathBuf,
        ctx: RuleContext,
        supervisor: Supervisor,
        metrics: Metrics,
        clock: SharedClock,
    ) -> Self {
        metrics.config_last_reload_successful.set(1);
        let status = ReloadStatus {
            at: clock.now(),
            trigger: "startup".to_owned(),
            success: true,
            errors: Vec::new(),
            summary: ReloadSummary {
                added: supervisor.rules().iter().map(|r| r.name.clone()).collect(),
                ..Default::default()
            },
        };
        Self {
            rules_dir,
            ctx,
            current: Mutex::new(supervisor.rules()),
            supervisor: tokio::sync::Mutex::new(supervisor),
            status: Mutex::new(status),
            metrics,
            clock,
        }
    }

    /// Reads and validates every rule file, then swaps the running rules; on any error
    /// nothing changes, every problem is logged with file:line:col, and the reload
    /// metric drops to 0. Reloads run one at a time.
    pub async fn reload(&self, trigger: &str) -> ReloadStatus {
        let mut supervisor = self.supervisor.lock().await;
        let at = self.clock.now();
        let status = match load_rules(&self.rules_dir, &self.ctx) {
            Ok(rules) => {
                let summary = supervisor.apply(&rules).await;
                *self.current.lock().expect("rules lock") = supervisor.rules();
                self.metrics.config_last_reload_successful.set(1);
                tracing::info!(
                    trigger,
                    added = summary.added.len(),
                    changed = summary.changed.len(),
                    removed = summary.removed.len(),
                    unchanged = summary.unchanged,
                    "rules reloaded"
                );
                ReloadStatus {
                    at,
                    trigger: trigger.to_owned(),
                    success: true,
                    errors: Vec::new(),
                    summary,
                }
            }
            Err(errors) => {
                self.metrics.config_last_reload_successful.set(0);
                for e in &errors.0 {
                    tracing::error!(trigger, location = %format!("{}:{}:{}", e.file, e.line, e.column), rule = e.rule.as_deref().unwrap_or(""), "{}", e.message);
                }
                tracing::error!(
                    trigger,
                    errors = errors.0.len(),
                    "reload failed; the previous rules keep running"
                );
                ReloadStatus {
                    at,
                    trigger: trigger.to_owned(),
                    success: false,
                    errors: errors.0.iter().map(ReloadError::from).collect(),
                    summary: ReloadSummary::default(),
                }
            }
        };
        *self.status.lock().expect("status lock") = status.clone();
        status
    }

    /// How the last reload went.
    pub fn status(&self) -> ReloadStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// The rules running now.
    pub fn rules(&self) -> Vec<Arc<Rule>> {
        self.current.lock().expect("rules lock").clone()
    }

    /// The directory rules are read from.
    pub fn rules_dir(&self) -> &Path {
        &self.rules_dir
    }

    /// Stops every rule task (after its evaluation in flight), waiting until `deadline`.
    pub async fn stop(&self, deadline: tokio::time::Instant) {
        match tokio::time::timeout_at(deadline, self.supervisor.lock()).await {
            Ok(mut supervisor) => supervisor.join_until(deadline).await,
            Err(_) => tracing::warn!("a reload still held the rules at the shutdown deadline"),
        }
    }
}

/// What identifies the state of the rules directory: each `*.toml` with its size and
/// modification time.
fn dir_fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((e.path(), meta.len(), meta.modified().ok()))
        })
        .collect();
    out.sort();
    out
}

/// Reloads whenever a rule file is added, removed or rewritten, checking every `every`
/// (a directory scan is a few stat calls; polling needs no platform watcher and sees
/// edits made through symlinked ConfigMaps and editors that replace files alike).
pub async fn watch_rules_dir(
    reloader: Arc<Reloader>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let dir = reloader.rules_dir().to_path_buf();
    let mut seen = dir_fingerprint(&dir);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
        let now = dir_fingerprint(&dir);
        if now != seen {
            seen = now;
            tracing::info!(dir = %dir.display(), "rules directory changed; reloading");
            reloader.reload("watch").await;
        }
    }
}

/// The API's handle on the rules: the reloader's own methods.
impl crate::server::RulesHandle for Reloader {
    fn rules(&self) -> Vec<Arc<Rule>> {
        Reloader::rules(self)
    }

    fn rules_dir(&self) -> &Path {
        Reloader::rules_dir(self)
    }

    fn status(&self) -> ReloadStatus {
        Reloader::status(self)
    }

    fn reload<'a>(&'a self, trigger: &'a str) -> futures::future::BoxFuture<'a, ReloadStatus> {
        Box::pin(Reloader::reload(self, trigger))
    }
}
