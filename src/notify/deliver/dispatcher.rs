//! The dispatcher: claims due outbox rows, delivers them concurrently, records each
//! result and what it says about the receiver. One [`Dispatcher::step`] returns an
//! outcome, so tests drive it without sleeps.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::notify::deliver::receiver_gate::{Health, ReceiverGate};
use crate::notify::deliver::sender::Sender;
use crate::notify::deliver::settings::DeliveryConfig;
use crate::notify::deliver::verdict::{verdict, DeadReason, Verdict};
use crate::notify::deliver::webhook::{DeliveryError, FailureKind};
use crate::store::{DeliveryResult, OutboxMessage, Store, StoreError};
use crate::telemetry::Metrics;

/// How long a claim holds before another step may take the row again.
const LEASE: Duration = Duration::from_secs(60);
/// Rows claimed per step.
const BATCH: i64 = 512;
/// Longest idle wait between looks at the outbox (catches rows another replica wrote).
const IDLE_POLL: Duration = Duration::from_secs(2);

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// Nothing was due.
    Empty,
    /// Some rows were attempted.
    Processed {
        /// Accepted by their receivers.
        delivered: usize,
        /// Failed, scheduled again.
        retried: usize,
        /// Failed for the last time.
        dead: usize,
    },
}

/// Delivers outbox rows to receivers.
pub struct Dispatcher {
    store: Store,
    senders: HashMap<String, Sender>,
    gate: ReceiverGate,
    config: DeliveryConfig,
    clock: SharedClock,
    metrics: Metrics,
}

/// One delivery's result, and what it says about the receiver.
struct Attempted {
    result: DeliveryResult,
    receiver: String,
    health: Health,
}

impl Dispatcher {
    /// A dispatcher for the given receivers (webhook, email or Alertmanager senders).
    pub fn new<S: Into<Sender>>(
        store: Store,
        senders: HashMap<String, S>,
        config: DeliveryConfig,
        clock: SharedClock,
        metrics: Metrics,
    ) -> Self {
        let senders: HashMap<String, Sender> =
            senders.into_iter().map(|(n, s)| (n, s.into())).collect();
        let receivers = senders
            .iter()
            .map(|(name, s)| (name.clone(), s.disable_after()))
            .collect();
        Self {
            gate: ReceiverGate::new(store.clone(), metrics.clone(), receivers),
            store,
            senders,
            config,
            clock,
            metrics,
        }
    }

    /// Claims the due rows, delivers them, and records the results.
    pub async fn step(&self) -> Result<StepOutcome, StoreError> {
        self.step_until(&CancellationToken::new()).await
    }

    /// Like [`Dispatcher::step`], but once `stop` is cancelled no further delivery of
    /// the batch starts: those in flight finish and are recorded, and the claims on the
    /// rest are released so the next process sends them at once.
    pub async fn step_until(&self, stop: &CancellationToken) -> Result<StepOutcome, StoreError> {
        let now_ms = self.clock.now().timestamp_millis();
        self.gate.refresh().await?;
        let claimed = self
            .store
            .claim_due(now_ms, BATCH, LEASE.as_millis() as i64)
            .await?;
        if claimed.is_empty() {
            return Ok(StepOutcome::Empty);
        }
        // Results are recorded as they complete, in small batches, so a crash repeats
        // at most the deliveries still in flight, not the whole claim.
        let mut unsettled: std::collections::HashSet<String> =
            claimed.iter().map(|m| m.id.clone()).collect();
        let mut results = stream::iter(claimed)
            .take_until(Box::pin(stop.cancelled()))
            .map(|m| self.deliver(m))
            .buffer_unordered(self.config.concurrency)
            .ready_chunks(self.config.concurrency.max(16));
        let mut outcome = (0, 0, 0);
        while let Some(chunk) = results.next().await {
            let done = self.clock.now();
            let chunk_results: Vec<DeliveryResult> =
                chunk.iter().map(|a| a.result.clone()).collect();
            self.store
                .record_results(done.timestamp_millis(), &chunk_results)
                .await?;
            self.gate
                .settle(done, chunk.iter().map(|a| (a.receiver.as_str(), &a.health)))
                .await?;
            for r in &chunk_results {
                unsettled.remove(r.id());
                match r {
                    DeliveryResult::Delivered { .. } => outcome.0 += 1,
                    DeliveryResult::Retry { .. } | DeliveryResult::Postponed { .. } => {
                        outcome.1 += 1
                    }
                    DeliveryResult::Dead { .. } | DeliveryResult::NotSent { .. } => outcome.2 += 1,
                }
            }
        }
        drop(results);
        if !unsettled.is_empty() {
            let ids: Vec<String> = unsettled.into_iter().collect();
            self.store.release_claims(&ids).await?;
            tracing::info!(
                released = ids.len(),
                "stopping: notifications not yet started were released"
            );
        }
        Ok(StepOutcome::Processed {
            delivered: outcome.0,
            retried: outcome.1,
            dead: outcome.2,
        })
    }

    async fn deliver(&self, m: OutboxMessage) -> Attempted {
        let receiver = m.receiver.clone();
        let (result, health) = self.attempt(m).await;
        Attempted {
            result,
            receiver,
            health,
        }
    }

    async fn attempt(&self, m: OutboxMessage) -> (DeliveryResult, Health) {
        let span = tracing::info_span!(
            "delivery",
            id = %m.id,
            receiver = %m.receiver,
            fingerprint = %m.fingerprint,
            evaluation_ids = %m.evaluation_ids.join(","),
        );
        // Instrumented, not entered: an entered span held across an await shows on the
        // lines of whatever else runs on the thread meanwhile.
        self.attempt_in_span(m).instrument(span).await
    }

    async fn attempt_in_span(&self, m: OutboxMessage) -> (DeliveryResult, Health) {
        if let Some(held) = self.held_back(&m) {
            return held;
        }
        let result = match self.senders.get(&m.receiver) {
            Some(sender) => sender.send(&m.id, &m.payload).await,
            None => Err(DeliveryError {
                message: format!("receiver {:?} is not configured", m.receiver),
                kind: FailureKind::Transient,
                retry_after: None,
            }),
        };
        let attempts = m.attempts as usize + 1;
        match result {
            Ok(status) => self.delivered(m, status, attempts),
            Err(e) => self.failed(m, e, attempts),
        }
    }

    /// The verdict without an attempt: a disabled receiver's message is a dead letter at
    /// once, one for a receiver paused by its `Retry-After` waits; `None`: send it.
    fn held_back(&self, m: &OutboxMessage) -> Option<(DeliveryResult, Health)> {
        if let Some(reason) = self.gate.disabled_reason(&m.receiver) {
            self.metrics
                .notifications
                .with_label_values(&[&m.receiver, "disabled"])
                .inc();
            let error = format!("not sent: receiver {} was disabled: {reason}", m.receiver);
            tracing::warn!(%error, "kept as a dead letter");
            return Some((
                DeliveryResult::NotSent {
                    id: m.id.clone(),
                    error,
                },
                Health::NotTried,
            ));
        }
        let now_ms = self.clock.now().timestamp_millis();
        if let Some(until_ms) = self.gate.paused_until(&m.receiver, now_ms) {
            self.metrics
                .notifications
                .with_label_values(&[&m.receiver, "postponed"])
                .inc();
            return Some((
                DeliveryResult::Postponed {
                    id: m.id.clone(),
                    due_at_ms: until_ms,
                },
                Health::NotTried,
            ));
        }
        None
    }

    /// A delivered message: counted, and its latency since creation observed.
    fn delivered(
        &self,
        m: OutboxMessage,
        status: u16,
        attempts: usize,
    ) -> (DeliveryResult, Health) {
        let latency =
            (self.clock.now().timestamp_millis() - m.created_at_ms).max(0) as f64 / 1000.0;
        self.metrics
            .notifications
            .with_label_values(&[&m.receiver, "delivered"])
            .inc();
        self.metrics
            .delivery_latency_seconds
            .with_label_values(&[&m.receiver])
            .observe(latency);
        tracing::info!(status, attempts, latency_s = latency, event = %m.event, "notification delivered");
        (DeliveryResult::Delivered { id: m.id }, Health::Answered)
    }

    /// A failed attempt: its [`Verdict`] applied to the outbox row, the metrics and the
    /// receiver's health. A receiver's `Retry-After` pauses the rest of its batch too.
    fn failed(
        &self,
        m: OutboxMessage,
        e: DeliveryError,
        attempts: usize,
    ) -> (DeliveryResult, Health) {
        let verdict = verdict(&e, attempts, &self.config);
        if let (FailureKind::Transient, Some(asked)) = (e.kind, e.retry_after) {
            let pause = asked.min(self.config.max_retry_after);
            self.gate.pause(
                &m.receiver,
                self.clock.now().timestamp_millis() + pause.as_millis() as i64,
            );
        }
        let health = self.health_after(&m, &e);
        self.metrics
            .notifications
            .with_label_values(&[&m.receiver, verdict.outcome()])
            .inc();
        let error = e.message;
        let result = match verdict {
            Verdict::RetryAfter(delay) => {
                tracing::warn!(attempts, retry_in_ms = delay.as_millis() as u64, %error, "delivery failed; will retry");
                DeliveryResult::Retry {
                    id: m.id,
                    due_at_ms: self.clock.now().timestamp_millis() + delay.as_millis() as i64,
                    error,
                }
            }
            Verdict::Disable => {
                tracing::error!(attempts, %error, "the receiver's endpoint is gone; kept as a dead letter");
                DeliveryResult::Dead { id: m.id, error }
            }
            Verdict::Dead(reason) => {
                let why = match reason {
                    DeadReason::Refused => "receiver address refused",
                    DeadReason::Exhausted => "delivery failed for the last time",
                    DeadReason::Rejected | DeadReason::Unrenderable => "permanent failure",
                };
                tracing::error!(attempts, %error, "{why}; kept as a dead letter");
                DeliveryResult::Dead { id: m.id, error }
            }
        };
        (result, health)
    }

    /// What a failure says about its receiver: nothing when the message never reached
    /// it (unrenderable, or a receiver no longer configured), gone for HTTP 410, else
    /// a failure.
    fn health_after(&self, m: &OutboxMessage, e: &DeliveryError) -> Health {
        match e.kind {
            FailureKind::Gone => Health::Gone(e.message.clone()),
            FailureKind::Unrenderable => Health::NotTried,
            FailureKind::Transient if !self.senders.contains_key(&m.receiver) => Health::NotTried,
            _ => Health::Failed(e.message.clone()),
        }
    }

    /// Runs steps until `shutdown`: right away when `wake` is notified (an evaluation
    /// wrote rows), else when the next row falls due, polling at least every 2 s.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, shutdown: CancellationToken) {
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let wait = match self.step_until(&shutdown).await {
                Ok(StepOutcome::Processed { .. }) => continue,
                Ok(StepOutcome::Empty) => match self.store.next_due_ms().await {
                    Ok(Some(due)) => {
                        let ms = (due - self.clock.now().timestamp_millis())
                            .clamp(0, IDLE_POLL.as_millis() as i64);
                        Duration::from_millis(ms as u64)
                    }
                    _ => IDLE_POLL,
                },
                Err(e) => {
                    tracing::error!(error = %e, "dispatcher step failed; retrying");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => break,
            }
        }
    }
}
