//! One rule evaluation with its side effects: fetch from the source, run the pure
//! engine, commit state + history + outbox in one transaction, wake the dispatcher.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::engine::evaluate::{EvaluationOutcome, RuleRuntime};
use crate::engine::journal;
use crate::engine::source_health::SourceHealth;
use crate::engine::{Alert, Transition};
use crate::model::AlertState;
use crate::notify::pipeline::intake::{self, Destination, Intake};
use crate::notify::pipeline::policy::NotifyPolicy;
use crate::rule::Rule;
use crate::sources::{FetchRequest, Source, SourceError};
use crate::store::{CommitBatch, JournalTick, Store};
use crate::telemetry::Metrics;

/// A rule's runtime, its notification intake, and a commit that could not be written yet.
pub struct RuleTask {
    /// The engine state.
    pub runtime: RuleRuntime,
    /// Where its alert changes join their groups (owns their flap records).
    pub intake: Intake,
    /// A batch the store refused; written before anything else next time, so a store
    /// outage delays notifications instead of losing them.
    pub(crate) pending: Option<CommitBatch>,
    /// The rule lease token its state was resumed under (replicas sharing rules).
    pub(crate) lease_token: Option<i64>,
}

impl RuleTask {
    /// Wraps a runtime (its alerts with no flap records).
    pub fn new(runtime: RuleRuntime) -> Self {
        Self::resumed(runtime, Intake::default())
    }

    /// Wraps a runtime with the intake it had (its stored flap records).
    pub fn resumed(runtime: RuleRuntime, intake: Intake) -> Self {
        Self {
            runtime,
            intake,
            pending: None,
            lease_token: None,
        }
    }

    /// A new task for `rule` that keeps what this one learnt: the alert states always
    /// (the fingerprint depends only on the name and labels), the baselines when
    /// `keep_baselines`, and a commit the store refused.
    pub(crate) fn rebuilt(self, rule: Arc<Rule>, keep_baselines: bool) -> RuleTask {
        let mut alerts = Vec::new();
        let mut baselines = HashMap::new();
        for (fingerprint, group) in &self.runtime.groups {
            alerts.push(group.alert.clone());
            if keep_baselines {
                baselines.insert(fingerprint.to_string(), group.detector.snapshot());
            }
        }
        let mut runtime = RuleRuntime::new(rule);
        runtime.restore(alerts, baselines);
        let mut task = RuleTask::resumed(runtime, self.intake);
        task.pending = self.pending;
        task.lease_token = self.lease_token;
        task
    }
}

/// One evaluation's alert changes on their way into intake.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Changes<'a> {
    /// The rule (or budget alert rule) that made them.
    pub rule: &'a str,
    /// Where they go.
    pub to: Destination<'a>,
    /// The changes.
    pub transitions: &'a [Transition],
    /// When the evaluation ran (flapping alerts that settled by then are notified).
    pub now: chrono::DateTime<chrono::Utc>,
}

/// How an evaluation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalResult {
    /// Evaluated and committed; the number of alert changes routed to notification groups.
    Ok {
        /// Group entries written (one per alert change, route and receiver).
        notifications: usize,
    },
    /// The source could not be reached (a `source_down` alert tracks it).
    SourceDown(String),
    /// The source answered but the rule's query failed.
    QueryError(String),
    /// The store refused the commit; it will be retried first next time.
    StoreError(String),
    /// The evaluation panicked (a bug): the rule's task restarts it after a backoff,
    /// from the alert states and baselines it had.
    Panicked(String),
    /// Not evaluated: another replica holds the rule's lease.
    NotHeld,
    /// Evaluated, but the commit was refused: the rule's lease had moved to another
    /// replica meanwhile (fencing); nothing of it was written.
    Fenced(String),
}

impl EvalResult {
    /// The error message, when the evaluation failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            EvalResult::Ok { .. } | EvalResult::NotHeld => None,
            EvalResult::Fenced(e)
            | EvalResult::SourceDown(e)
            | EvalResult::QueryError(e)
            | EvalResult::StoreError(e)
            | EvalResult::Panicked(e) => Some(e),
        }
    }

    fn label(&self) -> &'static str {
        match self {
            EvalResult::Ok { .. } => "ok",
            EvalResult::SourceDown(_) => "source_error",
            EvalResult::QueryError(_) => "query_error",
            EvalResult::StoreError(_) => "store_error",
            EvalResult::Panicked(_) => "panic",
            EvalResult::NotHeld => "not_held",
            EvalResult::Fenced(_) => "fenced",
        }
    }
}

/// Everything evaluations share.
pub struct Evaluator {
    /// The store.
    pub store: Store,
    /// Sources by name.
    pub sources: HashMap<String, Arc<dyn Source>>,
    /// Own metrics.
    pub metrics: Metrics,
    /// The clock.
    pub clock: SharedClock,
    /// `source_down` alerts.
    pub health: Mutex<SourceHealth>,
    /// Receivers for alerts not tied to a rule (`source_down`).
    pub default_receivers: Vec<String>,
    /// The last evaluation of each rule, for `GET /api/v1/rules`.
    pub statuses: Arc<crate::server::status::RuleStatuses>,
    /// Active and scheduled silences (kept in step with the store by the API), shared
    /// with the group flusher.
    pub silences: Arc<crate::notify::mute::silence::SilenceSet>,
    /// Routing, inhibition, time intervals and flap control.
    pub policy: Arc<NotifyPolicy>,
    /// Wakes the group flusher when alert changes join groups or silences change.
    pub groups_wake: Arc<Notify>,
    /// The rule leases this replica holds (off unless replicas share rules).
    pub leases: Arc<crate::app::leases::Leases>,
    /// Alert counts by rule and state, for the `driftwatch_alerts` gauge.
    counts: Mutex<HashMap<String, [i64; 4]>>,
}

impl Evaluator {
    /// Builds the shared evaluation context.
    pub fn new(
        store: Store,
        sources: HashMap<String, Arc<dyn Source>>,
        metrics: Metrics,
        clock: SharedClock,
        default_receivers: Vec<String>,
    ) -> Self {
        Self {
            store,
            sources,
            metrics,
            clock,
            health: Mutex::new(SourceHealth::default()),
            default_receivers,
            statuses: Default::default(),
            silences: Default::default(),
            policy: Default::default(),
            groups_wake: Arc::new(Notify::new()),
            leases: Default::default(),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Ends a rule that a reload removed (or that a restart no longer loads): its firing
    /// alerts resolve and notify — otherwise receivers would hold alerts nobody will ever
    /// resolve — and every alert and baseline stored for it is deleted, in one commit
    /// with whatever the task still held.
    pub async fn retire(
        &self,
        rule: &str,
        alerts: Vec<Alert>,
        receivers: &[String],
        annotations: &BTreeMap<String, String>,
        held: Option<CommitBatch>,
    ) {
        if let Some(held) = held {
            if let Err(e) = self.store.commit(&held).await {
                tracing::error!(rule, error = %e, "could not write the removed rule's held commit");
            }
        }
        let now = self.clock.now();
        let mut batch = CommitBatch {
            at_ms: now.timestamp_millis(),
            retired_rule: Some(rule.to_owned()),
            ..Default::default()
        };
        for mut alert in alerts {
            if alert.state != AlertState::Firing {
                continue;
            }
            alert.state = AlertState::Resolved;
            alert.resolved_at = Some(now);
            alert.active_since = None;
            alert.evaluated_at = now;
            alert.reason = "the rule was removed from the configuration".into();
            let t = Transition {
                alert,
                from: AlertState::Firing,
                at: now,
            };
            log_transition(&t);
            let to = Destination {
                receivers,
                annotations,
                evaluation_id: None,
            };
            batch
                .group_entries
                .extend(intake::route(&self.policy, &t.alert, to, None));
            batch.transitions.push(t);
        }
        let resolved = batch.transitions.len();
        match self.store.commit(&batch).await {
            Ok(()) => {
                if !batch.group_entries.is_empty() {
                    self.groups_wake.notify_one();
                }
                tracing::info!(rule, resolved, "removed rule retired");
            }
            // Its alerts stay stored, so the next start retires them again.
            Err(e) => tracing::error!(rule, error = %e, "could not retire the removed rule"),
        }
    }

    /// Evaluates one rule once, as of the scheduled instant `at`.
    pub async fn tick(&self, task: &mut RuleTask, at: chrono::DateTime<chrono::Utc>) -> EvalResult {
        // Not held here: another replica evaluates it, and nothing is counted.
        let fence = match crate::app::takeover::gate(self, task).await {
            Ok(fence) => fence,
            Err(EvalResult::NotHeld) => return EvalResult::NotHeld,
            Err(refused) => return refused,
        };
        let rule = Arc::clone(&task.runtime.rule);
        // One id links this evaluation's log lines, the alert changes it commits and
        // every delivery of the notifications they cause.
        let evaluation_id = uuid::Uuid::now_v7().to_string();
        let span =
            tracing::info_span!("evaluation", rule = %rule.name, evaluation_id = %evaluation_id);
        let started = Instant::now();
        let evaluation = std::panic::AssertUnwindSafe(
            self.tick_inner(task, at, evaluation_id, fence)
                .instrument(span),
        );
        let result = match futures::FutureExt::catch_unwind(evaluation).await {
            Ok(result) => result,
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                tracing::error!(rule = %rule.name, panic = %message, "evaluation panicked; the rule restarts after a backoff");
                self.metrics
                    .rule_task_restarts
                    .with_label_values(&[&rule.name])
                    .inc();
                EvalResult::Panicked(format!("evaluation panicked: {message}"))
            }
        };
        self.metrics
            .evaluations
            .with_label_values(&[&rule.name, result.label()])
            .inc();
        self.metrics
            .evaluation_seconds
            .with_label_values(&[&rule.name])
            .observe(started.elapsed().as_secs_f64());
        self.statuses.record(
            &rule.name,
            crate::server::status::RuleStatus {
                last_evaluation: self.clock.now(),
                duration_seconds: started.elapsed().as_secs_f64(),
                result: result.label(),
                error: result.error().map(str::to_owned),
                series: self.metrics.series.with_label_values(&[&rule.name]).get(),
            },
        );
        self.metrics
            .last_evaluation_timestamp
            .with_label_values(&[&rule.name])
            .set(self.clock.now().timestamp_millis() as f64 / 1000.0);
        result
    }

    async fn tick_inner(
        &self,
        task: &mut RuleTask,
        now: chrono::DateTime<chrono::Utc>,
        evaluation_id: String,
        fence: Option<crate::store::Fence>,
    ) -> EvalResult {
        if let Err(held) = self.commit_held(task).await {
            return held;
        }
        let rule = Arc::clone(&task.runtime.rule);
        let Some(source) = self.sources.get(&rule.source) else {
            return EvalResult::QueryError(SourceError::Unknown(rule.source.clone()).to_string());
        };
        let (start, end) = task.runtime.window_at(now);
        let snapshot = source.is_snapshot(&rule.query);
        let (after, until) = if snapshot {
            (start, end)
        } else {
            task.runtime.window.fetch_range(start, end)
        };
        let fetched = source
            .fetch(FetchRequest {
                query: &rule.query,
                after,
                until,
            })
            .await;
        let mut batch = CommitBatch {
            at_ms: now.timestamp_millis(),
            evaluation_id: Some(evaluation_id),
            fence,
            ..Default::default()
        };
        let result = match fetched {
            Ok(observations) => {
                let fetched = observations.len();
                task.runtime.ingest(observations, after, until, snapshot);
                let mut outcome = task.runtime.evaluate(now);
                crate::app::examples::attach_examples(
                    source.as_ref(),
                    &rule,
                    (start, end),
                    &mut outcome,
                    &mut task.runtime,
                )
                .await;
                tracing::debug!(
                    fetched,
                    series = outcome.series,
                    observations = outcome.observations,
                    after = %after,
                    until = %until,
                    "evaluated"
                );
                self.count_series(&rule, &outcome);
                self.count_alerts(&rule.name, outcome.alert_states);
                self.fill_batch(&mut batch, task, outcome, now);
                self.record_health(&mut batch, source.name(), None);
                EvalResult::Ok {
                    notifications: batch.group_entries.len(),
                }
            }
            Err(e) if e.is_unreachable() => {
                self.metrics
                    .source_errors
                    .with_label_values(&[source.name(), "unreachable"])
                    .inc();
                tracing::warn!(error = %e, "source unreachable; alert state held");
                self.record_health(&mut batch, source.name(), Some(&e.to_string()));
                EvalResult::SourceDown(e.to_string())
            }
            Err(e) => {
                self.metrics
                    .source_errors
                    .with_label_values(&[source.name(), "query"])
                    .inc();
                tracing::error!(error = %e, "rule query failed; alert state held");
                return EvalResult::QueryError(e.to_string());
            }
        };
        let messages = batch.group_entries.len();
        if let Err(e) = self.store.commit(&batch).await {
            if let Some(fenced) = self.fenced(task, &e) {
                return fenced;
            }
            tracing::error!(error = %e, "store refused the evaluation commit; holding it");
            task.pending = Some(batch);
            return EvalResult::StoreError(e.to_string());
        }
        if messages > 0 {
            self.groups_wake.notify_one();
        }
        result
    }

    /// Commits the batch a failed store commit left held, before anything new; while the
    /// store still refuses it, the evaluation waits.
    async fn commit_held(&self, task: &mut RuleTask) -> Result<(), EvalResult> {
        if let Some(batch) = task.pending.take() {
            if let Err(e) = self.store.commit(&batch).await {
                if let Some(fenced) = self.fenced(task, &e) {
                    return Err(fenced);
                }
                tracing::error!(error = %e, "store still refuses the held commit");
                task.pending = Some(batch);
                return Err(EvalResult::StoreError(e.to_string()));
            }
            if !batch.group_entries.is_empty() {
                self.groups_wake.notify_one();
            }
        }
        Ok(())
    }

    /// A commit refused because the rule's lease moved: the batch is dropped (the new
    /// holder evaluates from what was committed), the lease forgotten, and the task's
    /// state marked stale so a later takeover resumes from the store.
    fn fenced(&self, task: &mut RuleTask, error: &crate::store::StoreError) -> Option<EvalResult> {
        let crate::store::StoreError::Fenced(why) = error else {
            return None;
        };
        let rule = &task.runtime.rule.name;
        tracing::warn!(rule = %rule, reason = %why, "commit refused: the rule's lease moved to another replica");
        self.metrics.fenced_commits.with_label_values(&[rule]).inc();
        self.leases.lost(rule);
        task.lease_token = None;
        Some(EvalResult::Fenced(why.clone()))
    }

    /// The rule's series count, and the series its limit dropped.
    fn count_series(&self, rule: &Rule, outcome: &EvaluationOutcome) {
        self.metrics
            .series
            .with_label_values(&[&rule.name])
            .set(outcome.series as i64);
        if outcome.dropped_series > 0 {
            self.metrics
                .series_dropped
                .with_label_values(&[&rule.name])
                .inc_by(outcome.dropped_series as u64);
            tracing::warn!(
                series = outcome.series + outcome.dropped_series,
                limit = rule.max_series,
                dropped = outcome.dropped_series,
                "series limit reached; extra series dropped"
            );
        }
    }

    /// What the evaluation writes: the alerts that changed or are live, their
    /// transitions and the group entries intake made of them, flap records that changed,
    /// baselines and forgotten series.
    fn fill_batch(
        &self,
        batch: &mut CommitBatch,
        task: &mut RuleTask,
        outcome: EvaluationOutcome,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let rule = Arc::clone(&task.runtime.rule);
        let changed: std::collections::HashSet<&str> = outcome
            .transitions
            .iter()
            .map(|t| t.alert.fingerprint.as_str())
            .collect();
        batch.alerts = outcome
            .alerts
            .iter()
            .filter(|a| {
                changed.contains(a.fingerprint.as_str())
                    || matches!(a.state, AlertState::Pending | AlertState::Firing)
            })
            .cloned()
            .collect();
        outcome.transitions.iter().for_each(log_transition);
        let evaluation_id = batch.evaluation_id.clone();
        let to = Destination {
            receivers: &rule.receivers,
            annotations: &rule.annotations,
            evaluation_id: evaluation_id.as_deref(),
        };
        let groups = &task.runtime.groups;
        let changes = Changes {
            rule: &rule.name,
            to,
            transitions: &outcome.transitions,
            now,
        };
        self.take_in(&mut task.intake, changes, batch, |fp| {
            groups.get(fp).map(|g| &g.alert)
        });
        task.intake.forget(&outcome.forgotten);
        batch.transitions = outcome.transitions;
        batch.baselines = outcome
            .baselines
            .into_iter()
            .map(|b| (rule.name.clone(), b.fingerprint, b.state))
            .collect();
        if !outcome.journal.is_empty() {
            batch.journal = Some(JournalTick {
                rule: rule.name.clone(),
                deltas: outcome.journal,
                prune_before_ms: journal::prune_before(now).timestamp_millis(),
            });
        }
        batch.forgotten = outcome.forgotten;
    }

    /// Passes one evaluation's changes through `intake` (the rule's or budget's flap
    /// control) into `batch`: the group entries, the flap decisions for the decision
    /// log, the flap records that changed; counts the alerts that started flapping.
    /// `current` gives the evaluated alerts by fingerprint.
    pub(crate) fn take_in<'a>(
        &self,
        intake: &mut Intake,
        changes: Changes<'_>,
        batch: &mut CommitBatch,
        current: impl Fn(&str) -> Option<&'a Alert>,
    ) {
        let Changes {
            rule,
            to,
            transitions,
            now,
        } = changes;
        let taken = intake.take(&self.policy, to, transitions, current, now);
        for _ in &taken.started_flapping {
            self.metrics
                .alerts_flapping
                .with_label_values(&[rule])
                .inc();
        }
        batch.group_entries.extend(taken.entries);
        batch.decisions.extend(taken.decisions);
        batch.flap_records.extend(
            taken
                .flap_records
                .into_iter()
                .map(|(fp, record)| (rule.to_owned(), fp, record)),
        );
    }

    /// Records a read of `source` (`failure`: why it could not be reached) in its
    /// `source_down` alert, the change routed into `batch`. Rules and budgets both report.
    pub(crate) fn record_health(
        &self,
        batch: &mut CommitBatch,
        source: &str,
        failure: Option<&str>,
    ) {
        let now = self.clock.now();
        let transition = {
            let mut health = self.health.lock().expect("health lock");
            health.record(source, failure, now).1
        };
        if let Some(t) = transition {
            log_transition(&t);
            if t.notifies() {
                let to = Destination {
                    receivers: &self.default_receivers,
                    annotations: &BTreeMap::new(),
                    evaluation_id: batch.evaluation_id.as_deref(),
                };
                let entries = intake::route(&self.policy, &t.alert, to, None);
                batch.group_entries.extend(entries);
            }
            batch.alerts.push(t.alert.clone());
            batch.transitions.push(t);
        }
    }

    /// Publishes the rule's alerts by state (as its evaluation counted them) in the
    /// totals over every rule.
    fn count_alerts(&self, rule: &str, per_state: [i64; 4]) {
        let mut counts = self.counts.lock().expect("counts lock");
        counts.insert(rule.to_owned(), per_state);
        let mut totals = [0i64; 4];
        for c in counts.values() {
            for i in 0..4 {
                totals[i] += c[i];
            }
        }
        for state in AlertState::ALL {
            self.metrics
                .alerts
                .with_label_values(&[state.as_str()])
                .set(totals[state.index()]);
        }
    }
}

fn log_transition(t: &Transition) {
    tracing::info!(
        fingerprint = %t.alert.fingerprint,
        from = %t.from,
        to = %t.alert.state,
        value = t.alert.value,
        summary = %t.alert.summary,
        "alert state changed"
    );
}

/// The text a panic carried (`panic!("…")` gives a `&str` or a `String`).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
