//! The budgets' task: reads each budget's spend from its source on its schedule, judges
//! it with the pure [`BudgetRuntime`], and commits its alert changes with their group
//! entries in one store transaction, the same path a rule evaluation takes (intake with
//! flap control included), so budget alerts are routed, grouped, silenced, held while
//! flapping, templated and delivered like any other.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;

use crate::app::evaluator::{Changes, Evaluator};
use crate::app::leases::Gate;
use crate::budget::settings::alert_rule;
use crate::budget::{Budget, BudgetRuntime, BudgetStatuses, SavedState};
use crate::engine::Alert;
use crate::model::flap::FlapRecord;
use crate::notify::pipeline::intake::{Destination, Intake};
use crate::sources::FetchRequest;
use crate::store::{CommitBatch, Fence};
use crate::types::Fingerprint;

/// Stored flap records: by alert rule, then by fingerprint (the store's layout).
pub type StoredFlaps = HashMap<String, HashMap<Fingerprint, FlapRecord>>;

/// One budget's runtime, its intake (flap records), when it is next due, and a commit
/// the store refused.
struct Slot {
    runtime: BudgetRuntime,
    intake: Intake,
    next_at: DateTime<Utc>,
    pending: Option<CommitBatch>,
    /// The lease token its state was resumed under (replicas sharing rules).
    lease_token: Option<i64>,
}

/// How one budget evaluation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetResult {
    /// Judged and committed; the number of group entries written.
    Ok(usize),
    /// The source failed; nothing changed.
    SourceError(String),
    /// The store refused the commit; it is retried first next time.
    StoreError(String),
    /// Not judged: another replica holds the budget's lease.
    NotHeld,
    /// The commit was refused: the budget's lease had moved to another replica.
    Fenced(String),
}

/// Every configured budget, judged on its schedule.
pub struct Budgets {
    evaluator: Arc<Evaluator>,
    /// The latest status of every budget, for the API.
    pub statuses: Arc<BudgetStatuses>,
    slots: Mutex<BTreeMap<String, Slot>>,
    changed: Notify,
}

impl Budgets {
    /// The budgets' task state, resumed from the alerts the store held for them (taken
    /// out of `alerts_by_rule`, so they are not retired as a removed rule's), their flap
    /// records (taken out of `flaps`) and their saved state.
    pub async fn restore(
        evaluator: Arc<Evaluator>,
        budgets: &[Arc<Budget>],
        alerts_by_rule: &mut HashMap<String, Vec<Alert>>,
        flaps: &mut StoredFlaps,
    ) -> Self {
        let saved: HashMap<String, serde_json::Value> = match evaluator.store.budget_states().await
        {
            Ok(s) => s.into_iter().collect(),
            Err(e) => {
                tracing::error!(error = %e, "could not read the budgets' saved state; shapes are learnt again");
                HashMap::new()
            }
        };
        let now = evaluator.clock.now();
        set_leased(&evaluator, budgets);
        let mut slots = BTreeMap::new();
        for b in budgets {
            let mut runtime = BudgetRuntime::new(Arc::clone(b));
            let state = saved
                .get(&b.name)
                .and_then(|v| serde_json::from_value::<SavedState>(v.clone()).ok());
            runtime.restore(
                alerts_by_rule.remove(&b.alert_rule()).unwrap_or_default(),
                state,
            );
            let slot = Slot {
                runtime,
                intake: Intake::new(flaps.remove(&b.alert_rule()).unwrap_or_default()),
                next_at: now,
                pending: None,
                lease_token: None,
            };
            slots.insert(b.name.clone(), slot);
        }
        Self {
            evaluator,
            statuses: Arc::default(),
            slots: Mutex::new(slots),
            changed: Notify::new(),
        }
    }

    /// The budgets running now.
    pub async fn budgets(&self) -> Vec<Arc<Budget>> {
        self.slots
            .lock()
            .await
            .values()
            .map(|s| Arc::clone(&s.runtime.budget))
            .collect()
    }

    /// Swaps in reloaded budgets: a new one starts, an edited one keeps its alerts and
    /// reads its spend again (so it is re-judged on the spend so far), a removed one's
    /// firing alerts resolve and its stored alerts and state are deleted.
    pub async fn apply(&self, budgets: &[Arc<Budget>]) {
        set_leased(&self.evaluator, budgets);
        let mut slots = self.slots.lock().await;
        let now = self.evaluator.clock.now();
        let mut next = BTreeMap::new();
        for b in budgets {
            let slot = match slots.remove(&b.name) {
                Some(s) if *s.runtime.budget == **b => s,
                Some(s) => Slot {
                    runtime: s.runtime.edited(Arc::clone(b)),
                    intake: s.intake,
                    next_at: now,
                    pending: s.pending,
                    lease_token: s.lease_token,
                },
                None => Slot {
                    runtime: BudgetRuntime::new(Arc::clone(b)),
                    intake: Intake::default(),
                    next_at: now,
                    pending: None,
                    lease_token: None,
                },
            };
            next.insert(b.name.clone(), slot);
        }
        for (name, old) in std::mem::replace(&mut *slots, next) {
            let b = &old.runtime.budget;
            let alerts = old.runtime.alerts.alerts.into_values().collect();
            self.evaluator
                .retire(
                    &alert_rule(&name),
                    alerts,
                    &b.receivers,
                    &b.annotations,
                    old.pending,
                )
                .await;
            if let Err(e) = self.evaluator.store.delete_budget_state(&name).await {
                tracing::error!(budget = %name, error = %e, "could not delete a removed budget's state");
            }
        }
        self.statuses
            .retain(&slots.keys().cloned().collect::<Vec<_>>());
        self.changed.notify_one();
    }

    /// Judges every budget due at `now` (all of them when `all`).
    pub async fn tick_due(&self, now: DateTime<Utc>, all: bool) -> BTreeMap<String, BudgetResult> {
        let mut slots = self.slots.lock().await;
        let mut results = BTreeMap::new();
        for (name, slot) in slots.iter_mut().filter(|(_, s)| all || s.next_at <= now) {
            let result = self.tick(slot, now).await;
            slot.next_at = now
                + chrono::Duration::from_std(slot.runtime.budget.every)
                    .unwrap_or(chrono::Duration::minutes(1));
            // Not judged here: another replica's evaluation, not this one's.
            if result != BudgetResult::NotHeld {
                self.evaluator
                    .metrics
                    .evaluations
                    .with_label_values(&[&alert_rule(name), result_label(&result)])
                    .inc();
            }
            results.insert(name.clone(), result);
        }
        results
    }

    /// Runs until shutdown: sleeps until the next budget is due, judges it. Without
    /// budgets it waits for a reload only, and does not sleep on the clock (a test that
    /// counts the tasks asleep on a manual clock counts the rules').
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let next = self.slots.lock().await.values().map(|s| s.next_at).min();
            let Some(wake) = next else {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.changed.notified() => continue,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.changed.notified() => continue,
                _ = self.evaluator.clock.sleep_until(wake) => {}
            }
            self.tick_due(self.evaluator.clock.now(), false).await;
        }
    }

    /// Whether the budget is judged here, and under which fence (leases on): a budget
    /// whose lease this replica took over resumes its alerts and learnt shape from the
    /// store; one whose lease moved away drops what it held.
    async fn gate(&self, slot: &mut Slot) -> Result<Option<Fence>, BudgetResult> {
        let budget = Arc::clone(&slot.runtime.budget);
        match self.evaluator.leases.gate(&budget.alert_rule()) {
            Gate::Unfenced => Ok(None),
            Gate::NotHeld => {
                if slot.lease_token.take().is_some() {
                    slot.runtime = BudgetRuntime::new(budget);
                    slot.intake = Intake::default();
                    slot.pending = None;
                }
                Err(BudgetResult::NotHeld)
            }
            Gate::Held(fence) => {
                if slot.lease_token != Some(fence.token) {
                    (slot.runtime, slot.intake) = self.resumed(budget).await?;
                    slot.pending = None;
                    slot.lease_token = Some(fence.token);
                }
                Ok(Some(fence))
            }
        }
    }

    /// A budget's runtime and intake as the last holder of its lease committed them.
    async fn resumed(&self, budget: Arc<Budget>) -> Result<(BudgetRuntime, Intake), BudgetResult> {
        let store = &self.evaluator.store;
        let refused = |e: crate::store::StoreError| BudgetResult::StoreError(e.to_string());
        let stored = store
            .load_rule_state(&budget.alert_rule())
            .await
            .map_err(refused)?;
        let saved = store
            .budget_states()
            .await
            .map_err(refused)?
            .into_iter()
            .find(|(name, _)| *name == budget.name)
            .and_then(|(_, v)| serde_json::from_value::<SavedState>(v).ok());
        let mut runtime = BudgetRuntime::new(budget);
        runtime.restore(stored.alerts, saved);
        Ok((runtime, Intake::new(stored.flaps)))
    }

    /// A commit refused because the budget's lease moved: dropped, the lease forgotten.
    fn fenced(&self, slot: &mut Slot, error: &crate::store::StoreError) -> Option<BudgetResult> {
        let crate::store::StoreError::Fenced(why) = error else {
            return None;
        };
        let lease = slot.runtime.budget.alert_rule();
        tracing::warn!(budget = %slot.runtime.budget.name, reason = %why, "budget commit refused: its lease moved to another replica");
        self.evaluator
            .metrics
            .fenced_commits
            .with_label_values(&[&lease])
            .inc();
        self.evaluator.leases.lost(&lease);
        slot.lease_token = None;
        Some(BudgetResult::Fenced(why.clone()))
    }

    /// Reads, judges and commits one budget.
    async fn tick(&self, slot: &mut Slot, now: DateTime<Utc>) -> BudgetResult {
        let ev = &self.evaluator;
        let fence = match self.gate(slot).await {
            Ok(fence) => fence,
            Err(not_here) => return not_here,
        };
        if let Some(batch) = slot.pending.take() {
            if let Err(e) = ev.store.commit(&batch).await {
                if let Some(fenced) = self.fenced(slot, &e) {
                    return fenced;
                }
                slot.pending = Some(batch);
                return BudgetResult::StoreError(e.to_string());
            }
        }
        let budget = Arc::clone(&slot.runtime.budget);
        let Some(source) = ev.sources.get(&budget.source) else {
            return BudgetResult::SourceError(format!("no source named {:?}", budget.source));
        };
        let (after, until) = slot.runtime.fetch_range(now);
        let request = FetchRequest {
            query: &budget.query,
            after,
            until,
        };
        let mut batch = CommitBatch {
            at_ms: now.timestamp_millis(),
            evaluation_id: Some(uuid::Uuid::now_v7().to_string()),
            fence,
            ..Default::default()
        };
        let rows = match source.fetch(request).await {
            Ok(rows) => rows,
            Err(e) => return self.source_failed(slot, batch, &e).await,
        };
        ev.record_health(&mut batch, source.name(), None);
        slot.runtime.ingest(after, until, &rows);
        let outcome = slot.runtime.evaluate(now);
        self.take_in(slot, &outcome.transitions, &mut batch, now);
        batch.alerts.extend(outcome.alerts);
        batch.transitions.extend(outcome.transitions);
        let entries = batch.group_entries.len();
        self.statuses.record(&budget.name, outcome.statuses);
        if let Some(saved) = outcome.saved {
            self.save(&budget.name, &saved, now).await;
        }
        if let Err(e) = ev.store.commit(&batch).await {
            if let Some(fenced) = self.fenced(slot, &e) {
                return fenced;
            }
            tracing::error!(budget = %budget.name, error = %e, "store refused the budget commit; holding it");
            slot.pending = Some(batch);
            return BudgetResult::StoreError(e.to_string());
        }
        if entries > 0 {
            ev.groups_wake.notify_one();
        }
        BudgetResult::Ok(entries)
    }

    /// Passes the budget's alert changes through its intake (flap control, as a rule's)
    /// into `batch`; forgets the flap records of alerts the budget dropped.
    fn take_in(
        &self,
        slot: &mut Slot,
        transitions: &[crate::engine::Transition],
        batch: &mut CommitBatch,
        now: DateTime<Utc>,
    ) {
        let budget = Arc::clone(&slot.runtime.budget);
        for t in transitions.iter().filter(|t| t.notifies()) {
            tracing::info!(budget = %budget.name, fingerprint = %t.alert.fingerprint, from = %t.from, to = %t.alert.state, summary = %t.alert.summary, "budget alert state changed");
        }
        let evaluation_id = batch.evaluation_id.clone();
        let rule = budget.alert_rule();
        let changes = Changes {
            rule: &rule,
            to: Destination {
                receivers: &budget.receivers,
                annotations: &budget.annotations,
                evaluation_id: evaluation_id.as_deref(),
            },
            transitions,
            now,
        };
        let alerts = &slot.runtime.alerts.alerts;
        self.evaluator
            .take_in(&mut slot.intake, changes, batch, |fp| alerts.get(fp));
        let dropped: Vec<Fingerprint> = transitions
            .iter()
            .map(|t| t.alert.fingerprint.clone())
            .filter(|fp| !alerts.contains_key(fp))
            .collect();
        slot.intake.forget(&dropped);
    }

    /// A failed read: the budget's alerts are held, and a source that cannot be reached
    /// raises its `source_down` alert as a rule's read would (a query error does not).
    async fn source_failed(
        &self,
        slot: &mut Slot,
        mut batch: CommitBatch,
        e: &crate::sources::SourceError,
    ) -> BudgetResult {
        let budget = Arc::clone(&slot.runtime.budget);
        tracing::warn!(budget = %budget.name, error = %e, "budget source read failed; its alerts are held");
        if e.is_unreachable() {
            self.evaluator
                .record_health(&mut batch, &budget.source, Some(&e.to_string()));
        }
        if !batch.is_empty() {
            if let Err(err) = self.evaluator.store.commit(&batch).await {
                if let Some(fenced) = self.fenced(slot, &err) {
                    return fenced;
                }
                slot.pending = Some(batch);
                return BudgetResult::StoreError(err.to_string());
            }
            self.evaluator.groups_wake.notify_one();
        }
        BudgetResult::SourceError(e.to_string())
    }

    async fn save(&self, name: &str, saved: &SavedState, now: DateTime<Utc>) {
        let value = match serde_json::to_value(saved) {
            Ok(v) => v,
            Err(e) => {
                return tracing::error!(budget = %name, error = %e, "could not encode the budget's state")
            }
        };
        if let Err(e) = self
            .evaluator
            .store
            .save_budget_state(name, &value, now.timestamp_millis())
            .await
        {
            tracing::error!(budget = %name, error = %e, "could not save the budget's state");
        }
    }
}

fn result_label(r: &BudgetResult) -> &'static str {
    match r {
        BudgetResult::Ok(_) => "ok",
        BudgetResult::SourceError(_) => "source_error",
        BudgetResult::StoreError(_) => "store_error",
        BudgetResult::NotHeld => "not_held",
        BudgetResult::Fenced(_) => "fenced",
    }
}

/// Tells the leases which budgets this replica runs (lease name, source).
fn set_leased(evaluator: &Evaluator, budgets: &[Arc<Budget>]) {
    evaluator
        .leases
        .set_budgets(budgets.iter().map(|b| (b.alert_rule(), b.source.clone())));
}
