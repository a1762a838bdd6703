//! The dispatcher's view of receiver health: which receivers are disabled (so their rows
//! are dead-lettered unsent), the failure runs that attempts extend or end, and the act
//! of disabling one (HTTP 410, or failing for longer than its `disable_after`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::notify::deliver::receiver_health::{failing_too_long, receiver_notices};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;

/// What one delivery says about its receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The receiver accepted a notification.
    Answered,
    /// An attempt failed with this error (refusals included).
    Failed(String),
    /// The receiver answered 410 Gone: the endpoint no longer exists.
    Gone(String),
    /// Nothing was attempted (the receiver is disabled or not configured).
    NotTried,
}

/// Disabled receivers and the rules for disabling more.
pub struct ReceiverGate {
    store: Store,
    metrics: Metrics,
    /// Every configured receiver with its `disable_after`.
    receivers: BTreeMap<String, Option<Duration>>,
    /// Disabled receivers and why, as of the last refresh or disable.
    disabled: Mutex<HashMap<String, String>>,
    /// Receivers in a failure run and since when (unix ms), as of the last refresh or
    /// settle; lets the common all-is-well batch settle without a store write.
    failing: Mutex<HashMap<String, i64>>,
    /// Receivers that asked, with `Retry-After`, to be sent nothing before a time (unix
    /// ms). Kept by this process only: another replica learns it from its own attempt.
    paused: Mutex<HashMap<String, i64>>,
}

impl ReceiverGate {
    /// A gate over the configured receivers and their `disable_after`.
    pub fn new(
        store: Store,
        metrics: Metrics,
        receivers: BTreeMap<String, Option<Duration>>,
    ) -> Self {
        Self {
            store,
            metrics,
            receivers,
            disabled: Mutex::new(HashMap::new()),
            failing: Mutex::new(HashMap::new()),
            paused: Mutex::new(HashMap::new()),
        }
    }

    /// Re-reads which receivers are disabled (another replica or the API may have
    /// changed it) and updates `driftwatch_receiver_disabled`.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let states = self.store.receiver_states().await?;
        *self.failing.lock().unwrap_or_else(PoisonError::into_inner) = states
            .iter()
            .filter_map(|s| Some((s.receiver.clone(), s.failing_since_ms?)))
            .collect();
        let disabled: HashMap<String, String> = states
            .into_iter()
            .filter(|s| s.disabled_at_ms.is_some())
            .map(|s| (s.receiver, s.disabled_reason.unwrap_or_default()))
            .collect();
        for name in self.receivers.keys() {
            self.metrics
                .receiver_disabled
                .with_label_values(&[name])
                .set(i64::from(disabled.contains_key(name)));
        }
        *self.disabled.lock().unwrap_or_else(PoisonError::into_inner) = disabled;
        Ok(())
    }

    /// Why `receiver` is disabled, if it is.
    pub fn disabled_reason(&self, receiver: &str) -> Option<String> {
        self.disabled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(receiver)
            .cloned()
    }

    /// Holds deliveries to `receiver` back until `until_ms` (never shortens a pause).
    pub fn pause(&self, receiver: &str, until_ms: i64) {
        let mut paused = self.paused.lock().unwrap_or_else(PoisonError::into_inner);
        let until = paused.entry(receiver.to_owned()).or_insert(until_ms);
        *until = (*until).max(until_ms);
    }

    /// Until when `receiver` is paused, if it is at `now_ms`.
    pub fn paused_until(&self, receiver: &str, now_ms: i64) -> Option<i64> {
        let mut paused = self.paused.lock().unwrap_or_else(PoisonError::into_inner);
        match paused.get(receiver) {
            Some(until) if *until > now_ms => Some(*until),
            Some(_) => {
                paused.remove(receiver);
                None
            }
            None => None,
        }
    }

    /// Records what a batch of deliveries said about their receivers at `now`, and
    /// disables those that answered 410 or have failed for longer than allowed.
    pub async fn settle<'a>(
        &self,
        now: DateTime<Utc>,
        outcomes: impl IntoIterator<Item = (&'a str, &'a Health)>,
    ) -> Result<(), StoreError> {
        let mut answered = BTreeSet::new();
        let mut failed: BTreeMap<String, String> = BTreeMap::new();
        let mut gone: BTreeMap<String, String> = BTreeMap::new();
        for (receiver, health) in outcomes {
            match health {
                Health::Answered => {
                    answered.insert(receiver.to_owned());
                }
                Health::Failed(e) => {
                    failed.insert(receiver.to_owned(), e.clone());
                }
                Health::Gone(e) => {
                    gone.insert(receiver.to_owned(), e.clone());
                }
                Health::NotTried => {}
            }
        }
        // One success in the batch means the receiver works: its failure run ends.
        failed.retain(|r, _| !answered.contains(r));
        let now_ms = now.timestamp_millis();
        // The store is written only when a run ends or begins, or to confirm (another
        // replica may have ended it) a run that looks long enough to disable.
        let (ended, extended) = {
            let failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
            let ended: Vec<String> = answered
                .into_iter()
                .filter(|r| failing.contains_key(r))
                .collect();
            let extended: Vec<String> = failed
                .iter()
                .filter(|(r, error)| match failing.get(*r) {
                    None => true,
                    Some(since) => failing_too_long(*since, now_ms, self.limit(r), error).is_some(),
                })
                .map(|(r, _)| r.clone())
                .collect();
            (ended, extended)
        };
        let runs = self
            .store
            .record_receiver_health(now_ms, &ended, &extended)
            .await?;
        {
            let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
            for r in &ended {
                failing.remove(r);
            }
            failing.extend(runs.iter().cloned());
        }
        for (receiver, since_ms) in runs {
            let limit = self.limit(&receiver);
            // Runs come back only for receivers in `extended`, all of them in `failed`.
            let Some(error) = failed.get(&receiver) else {
                continue;
            };
            if let Some(reason) = failing_too_long(since_ms, now_ms, limit, error) {
                self.disable(&receiver, &reason, now).await?;
            }
        }
        for (receiver, error) in gone {
            let reason = format!("the endpoint answered {error}");
            self.disable(&receiver, &reason, now).await?;
        }
        Ok(())
    }

    /// The receiver's `disable_after`.
    fn limit(&self, receiver: &str) -> Option<Duration> {
        self.receivers.get(receiver).copied().flatten()
    }

    /// Disables `receiver`: its pending notifications become dead letters and every
    /// other enabled receiver is told, once.
    async fn disable(
        &self,
        receiver: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let others: Vec<&str> = {
            let disabled = self.disabled.lock().unwrap_or_else(PoisonError::into_inner);
            self.receivers
                .keys()
                .map(String::as_str)
                .filter(|r| *r != receiver && !disabled.contains_key(*r))
                .collect()
        };
        let notices = receiver_notices(receiver, reason, false, others, now);
        let first = self
            .store
            .disable_receiver(receiver, reason, now.timestamp_millis(), &notices)
            .await?;
        if first {
            tracing::error!(receiver, reason, told = notices.len(), "receiver disabled");
            if notices.is_empty() {
                tracing::error!(
                    receiver,
                    "no other receiver to tell that this one was disabled"
                );
            }
        }
        self.metrics
            .receiver_disabled
            .with_label_values(&[receiver])
            .set(1);
        self.disabled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(receiver.to_owned(), reason.to_owned());
        Ok(())
    }
}
