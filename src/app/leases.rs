//! Rule leases for replicas sharing one PostgreSQL store (`[cluster] leases = true`):
//! each rule is evaluated by the one replica holding its lease, the live replicas hold
//! about the same number of rules, a stopped replica's rules move within the lease's
//! lifetime, and a commit made under a lease that has since moved is refused (fencing,
//! checked by the store inside the commit's transaction).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::store::{Fence, LeaseSettings, Store, StoreError};
use crate::telemetry::Metrics;

/// Whether an evaluation of a rule may run here, and under which fence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Leases are off: every rule is evaluated here, commits unfenced.
    Unfenced,
    /// This replica holds the rule's lease: evaluate, commit under this fence.
    Held(Fence),
    /// Another replica (or none yet) holds it: do not evaluate.
    NotHeld,
}

/// The leases this replica holds (rule → token), shared by the keeper and the rules.
#[derive(Debug, Default)]
pub struct Leases {
    settings: Option<LeaseSettings>,
    held: Mutex<HashMap<String, i64>>,
    /// The rules this replica runs (set at start and by each reload), with the source
    /// each reads.
    rules: Mutex<BTreeMap<String, String>>,
    /// The budgets, by lease name (`budget:<name>`), with the source each reads.
    budgets: Mutex<BTreeMap<String, String>>,
}

impl Leases {
    /// Leases off: this replica evaluates every rule.
    pub fn off() -> Self {
        Self::default()
    }

    /// Leases on, with this replica's name and the lease lifetime.
    pub fn on(settings: LeaseSettings) -> Self {
        Self {
            settings: Some(settings),
            held: Mutex::default(),
            rules: Mutex::default(),
            budgets: Mutex::default(),
        }
    }

    /// The settings, when leases are on.
    pub fn settings(&self) -> Option<&LeaseSettings> {
        self.settings.as_ref()
    }

    /// Whether (and how) an evaluation of `rule` runs here now.
    pub fn gate(&self, rule: &str) -> Gate {
        let Some(settings) = &self.settings else {
            return Gate::Unfenced;
        };
        match self.lock().get(rule) {
            Some(&token) => Gate::Held(Fence {
                rule: rule.to_owned(),
                owner: settings.replica_id.clone(),
                token,
            }),
            None => Gate::NotHeld,
        }
    }

    /// The rules this replica runs (name, source), whose leases it competes for.
    pub fn set_rules(&self, rules: impl IntoIterator<Item = (String, String)>) {
        *self.rules.lock().unwrap_or_else(PoisonError::into_inner) = rules.into_iter().collect();
    }

    /// The budgets this replica runs (lease name, source): leased like rules.
    pub fn set_budgets(&self, budgets: impl IntoIterator<Item = (String, String)>) {
        *self.budgets.lock().unwrap_or_else(PoisonError::into_inner) =
            budgets.into_iter().collect();
    }

    /// Everything leased: the rules and the budgets, with the source each reads.
    fn leased(&self) -> BTreeMap<String, String> {
        let mut all = self
            .rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        all.extend(
            self.budgets
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        );
        all
    }

    fn rules(&self) -> BTreeSet<String> {
        self.leased().into_keys().collect()
    }

    /// Whether a rule this replica evaluates reads `source` (always, with leases off).
    pub fn needs_source(&self, source: &str) -> bool {
        if self.settings.is_none() {
            return true;
        }
        let leased = self.leased();
        let held = self.lock();
        leased
            .iter()
            .any(|(rule, s)| s == source && held.contains_key(rule))
    }

    /// Forgets a lease a commit found moved.
    pub fn lost(&self, rule: &str) {
        self.lock().remove(rule);
    }

    /// The rules held now, with their tokens.
    pub fn held(&self) -> HashMap<String, i64> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How many of `rules` one of `live` replicas holds: an even share, rounded up.
pub fn fair_share(rules: usize, live: i64) -> usize {
    let live = usize::try_from(live.max(1)).unwrap_or(1);
    rules.div_ceil(live)
}

/// One round of upkeep at `now`: a heartbeat, the held leases renewed (those found taken
/// are lost), leases beyond the even share released, free or expired ones taken up to
/// it. `rules` are the rules this replica runs.
pub async fn upkeep(
    store: &Store,
    leases: &Leases,
    rules: &BTreeSet<String>,
    now: DateTime<Utc>,
    metrics: &Metrics,
) -> Result<(), StoreError> {
    let Some(settings) = leases.settings() else {
        return Ok(());
    };
    let me = settings.replica_id.as_str();
    let now_ms = now.timestamp_millis();
    let ttl_ms = i64::try_from(settings.ttl.as_millis()).unwrap_or(i64::MAX / 4);
    let until = now_ms.saturating_add(ttl_ms);
    let names: Vec<String> = rules.iter().cloned().collect();
    store.heartbeat(me, now_ms, &names).await?;
    let share = fair_share(rules.len(), store.live_replicas(now_ms - ttl_ms).await?);
    let mut held = leases.held();
    for (rule, token) in held.clone() {
        let kept = rules.contains(&rule) && store.renew_lease(&rule, me, token, until).await?;
        if !kept {
            held.remove(&rule);
            change(metrics, &rule, "lost", false);
        }
    }
    let extra: Vec<(String, i64)> = held
        .iter()
        .map(|(r, t)| (r.clone(), *t))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .rev()
        .take(held.len().saturating_sub(share))
        .collect();
    for (rule, token) in extra {
        store.release_lease(&rule, me, token).await?;
        held.remove(&rule);
        change(metrics, &rule, "released", false);
    }
    for rule in rules {
        if held.len() >= share {
            break;
        }
        if held.contains_key(rule) {
            continue;
        }
        if let Some(token) = store.acquire_lease(rule, me, now_ms, until).await? {
            held.insert(rule.clone(), token);
            change(metrics, rule, "acquired", true);
        }
    }
    *leases.lock() = held;
    Ok(())
}

fn change(metrics: &Metrics, rule: &str, what: &str, holds: bool) {
    tracing::info!(rule, change = what, "rule lease");
    metrics.lease_changes.with_label_values(&[what]).inc();
    metrics
        .rule_leased
        .with_label_values(&[rule])
        .set(i64::from(holds));
}

/// What the keeper needs.
pub struct Keeper {
    /// The store holding the lease table.
    pub store: Store,
    /// This replica's leases.
    pub leases: Arc<Leases>,
    /// The clock.
    pub clock: SharedClock,
    /// Own metrics.
    pub metrics: Metrics,
}

impl Keeper {
    /// Keeps the leases every third of their lifetime until `stop`, then gives every
    /// held lease up so the other replicas take the rules over at once.
    pub async fn run(self, stop: CancellationToken) {
        let Some(settings) = self.leases.settings().cloned() else {
            return;
        };
        loop {
            self.round().await;
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(settings.ttl / 3) => {}
            }
        }
        for (rule, token) in self.leases.held() {
            if let Err(e) = self
                .store
                .release_lease(&rule, &settings.replica_id, token)
                .await
            {
                tracing::warn!(rule, error = %e, "could not give the lease up at stop");
            }
        }
        self.leases.lock().clear();
    }

    /// One round of upkeep; a store error is logged and the leases kept as they were
    /// (they run out if the store stays unreachable, and another replica takes over).
    pub async fn round(&self) {
        let rules = self.leases.rules();
        let now = self.clock.now();
        if let Err(e) = upkeep(&self.store, &self.leases, &rules, now, &self.metrics).await {
            tracing::warn!(error = %e, "lease upkeep failed; retrying");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_share_the_rules_evenly_rounding_up() {
        assert_eq!(fair_share(10, 1), 10);
        assert_eq!(fair_share(10, 3), 4);
        assert_eq!(fair_share(10, 0), 10, "no heartbeat yet counts as one");
        assert_eq!(fair_share(0, 2), 0);
    }

    #[test]
    fn a_rule_runs_here_only_under_a_held_lease() {
        assert_eq!(Leases::off().gate("r"), Gate::Unfenced);
        let leases = Leases::on(LeaseSettings {
            replica_id: "a".into(),
            ttl: std::time::Duration::from_secs(15),
        });
        assert_eq!(leases.gate("r"), Gate::NotHeld);
        leases.lock().insert("r".into(), 7);
        assert_eq!(
            leases.gate("r"),
            Gate::Held(Fence {
                rule: "r".into(),
                owner: "a".into(),
                token: 7
            })
        );
        leases.lost("r");
        assert_eq!(leases.gate("r"), Gate::NotHeld);
    }

    #[test]
    fn a_source_is_scraped_only_for_a_rule_held_here() {
        assert!(Leases::off().needs_source("exporter"), "leases off: always");
        let leases = Leases::on(LeaseSettings {
            replica_id: "a".into(),
            ttl: std::time::Duration::from_secs(15),
        });
        leases.set_rules([
            ("p95".to_owned(), "exporter".to_owned()),
            ("errors".to_owned(), "db".to_owned()),
        ]);
        assert!(!leases.needs_source("exporter"));
        leases.lock().insert("errors".into(), 1);
        assert!(
            !leases.needs_source("exporter"),
            "held rules read another source"
        );
        leases.lock().insert("p95".into(), 1);
        assert!(leases.needs_source("exporter"));
    }
}
