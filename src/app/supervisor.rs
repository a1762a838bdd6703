//! Owns the per-rule tasks: starts them, and on reload stops, replaces or keeps each one,
//! handing alert state (and, when the detector is unchanged, baselines) to the new rule.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::evaluator::{Evaluator, RuleTask};
use crate::app::scheduler;
use crate::engine::evaluate::RuleRuntime;
use crate::rule::{Rule, RuleSet};
use crate::server::status::ReloadSummary;

/// One running rule.
struct RuleHandle {
    rule: Arc<Rule>,
    stop: CancellationToken,
    join: JoinHandle<RuleTask>,
}

/// The set of running rule tasks.
pub struct Supervisor {
    evaluator: Arc<Evaluator>,
    shutdown: CancellationToken,
    running: BTreeMap<String, RuleHandle>,
}

impl Supervisor {
    /// A supervisor whose tasks all stop when `shutdown` is cancelled.
    pub fn new(evaluator: Arc<Evaluator>, shutdown: CancellationToken) -> Self {
        Self {
            evaluator,
            shutdown,
            running: BTreeMap::new(),
        }
    }

    /// Starts a task for a rule (replacing nothing: the name must be free).
    pub fn spawn(&mut self, task: RuleTask) {
        let rule = Arc::clone(&task.runtime.rule);
        let stop = self.shutdown.child_token();
        let join = tokio::spawn(scheduler::run_rule(
            Arc::clone(&self.evaluator),
            task,
            stop.clone(),
        ));
        self.running
            .insert(rule.name.clone(), RuleHandle { rule, stop, join });
    }

    /// The rules running now, by name.
    pub fn rules(&self) -> Vec<Arc<Rule>> {
        self.running.values().map(|h| Arc::clone(&h.rule)).collect()
    }

    /// Makes the running rules those of `rules`: unchanged rules keep running untouched;
    /// a changed rule's task is stopped after its evaluation in flight and restarted with
    /// the old alert states; removed rules stop; new rules start (warmed from history).
    pub async fn apply(&mut self, rules: &RuleSet) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let wanted: HashMap<&str, &Arc<Rule>> =
            rules.rules.iter().map(|r| (r.name.as_str(), r)).collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|n| !wanted.contains_key(n.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(handle) = self.running.remove(&name) {
                handle.stop.cancel();
                let rule = Arc::clone(&handle.rule);
                match handle.join.await {
                    Ok(task) => {
                        let alerts = task
                            .runtime
                            .groups
                            .values()
                            .map(|g| g.alert.clone())
                            .collect();
                        self.evaluator
                            .retire(
                                &name,
                                alerts,
                                &rule.receivers,
                                &rule.annotations,
                                task.pending,
                            )
                            .await;
                    }
                    Err(e) => {
                        tracing::error!(rule = %name, error = %e, "removed rule's task failed")
                    }
                }
            }
            tracing::info!(rule = %name, "rule removed");
            summary.removed.push(name);
        }
        for rule in &rules.rules {
            match self.running.get(&rule.name) {
                Some(h) if h.rule == *rule => summary.unchanged += 1,
                Some(_) => {
                    let handle = self.running.remove(&rule.name).expect("present");
                    handle.stop.cancel();
                    let task = match handle.join.await {
                        Ok(old) => hand_over(old, Arc::clone(rule)),
                        Err(e) => {
                            tracing::error!(rule = %rule.name, error = %e, "rule task failed; restarting it fresh");
                            RuleTask::new(RuleRuntime::new(Arc::clone(rule)))
                        }
                    };
                    tracing::info!(rule = %rule.name, "rule changed; restarted with its alert state");
                    self.spawn(task);
                    summary.changed.push(rule.name.clone());
                }
                None => {
                    let mut runtime = RuleRuntime::new(Arc::clone(rule));
                    if let Some(source) = self.evaluator.sources.get(&rule.source) {
                        let now = self.evaluator.clock.now();
                        crate::app::warm_up(&mut runtime, source.as_ref(), now).await;
                    }
                    tracing::info!(rule = %rule.name, "rule added");
                    self.spawn(RuleTask::new(runtime));
                    summary.added.push(rule.name.clone());
                }
            }
        }
        self.evaluator
            .statuses
            .retain(|name| wanted.contains_key(name));
        self.evaluator.leases.set_rules(
            rules
                .rules
                .iter()
                .map(|r| (r.name.clone(), r.source.clone())),
        );
        self.evaluator
            .metrics
            .rules_loaded
            .set(self.running.len() as i64);
        summary
    }

    /// Waits until `deadline` for every task to finish (they stop when the shutdown token
    /// is cancelled, after the evaluation in flight), then aborts the rest.
    pub async fn join_until(&mut self, deadline: tokio::time::Instant) {
        for (name, handle) in std::mem::take(&mut self.running) {
            handle.stop.cancel();
            let abort = handle.join.abort_handle();
            if tokio::time::timeout_at(deadline, handle.join)
                .await
                .is_err()
            {
                tracing::warn!(rule = %name, "evaluation did not finish in time; aborted");
                abort.abort();
            }
        }
    }
}

/// Moves what a rule learnt into its new definition: alert states always (the
/// fingerprint depends only on the name and labels), baselines only when the detector is
/// the same, and a commit the store refused.
fn hand_over(old: RuleTask, rule: Arc<Rule>) -> RuleTask {
    let same_detector = old.runtime.rule.detector == rule.detector;
    old.rebuilt(rule, same_detector)
}
