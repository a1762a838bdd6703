//! The group flusher: claims alert groups whose flush is due, decides each flush with
//! the silences, inhibit rules and time intervals in force, and writes the notifications
//! with the notification log in one transaction, then wakes the dispatcher.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::model::group::{Flush, GroupMember, GroupRecord, Hold};
use crate::model::AlertState;
use crate::notify::mute::inhibit::Inhibitor;
use crate::notify::mute::silence::SilenceSet;
use crate::notify::mute::time_interval::IntervalMuter;
use crate::notify::mute::Muter;
use crate::notify::pipeline::flush_log::flush_decisions;
use crate::notify::pipeline::group::flush;
use crate::notify::pipeline::policy::NotifyPolicy;
use crate::notify::render::payload::new_message_id;
use crate::store::{NewMessage, SettledGroup, Store, StoreError};
use crate::telemetry::Metrics;

/// Groups claimed per step.
const BATCH: i64 = 256;
/// How long a claim holds before another replica may flush the group.
const LEASE: Duration = Duration::from_secs(60);
/// Longest wait between looks at the groups (catches groups another replica changed).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Turns due alert groups into notifications.
pub struct GroupFlusher {
    store: Store,
    policy: Arc<NotifyPolicy>,
    silences: Arc<SilenceSet>,
    clock: SharedClock,
    metrics: Metrics,
    dispatcher: Arc<Notify>,
    /// (group, alert) pairs held at the last flush, so a hold is counted once.
    held: Mutex<HashSet<(String, String)>>,
    /// Groups a time interval held whole at the last flush, so a mute is logged once.
    muted_groups: Mutex<HashSet<String>>,
}

impl GroupFlusher {
    /// A flusher over `store` with the service's policy; `dispatcher` is woken when
    /// notifications are written.
    pub fn new(
        store: Store,
        policy: Arc<NotifyPolicy>,
        silences: Arc<SilenceSet>,
        clock: SharedClock,
        metrics: Metrics,
        dispatcher: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            policy,
            silences,
            clock,
            metrics,
            dispatcher,
            held: Mutex::new(HashSet::new()),
            muted_groups: Mutex::new(HashSet::new()),
        }
    }

    /// Flushes the groups due now; returns the notifications written.
    pub async fn step(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let now_ms = now.timestamp_millis();
        let claimed = self
            .store
            .claim_due_groups(now_ms, BATCH, LEASE.as_millis() as i64)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let expiring = self.silences.expiring_on_resolve(now);
        let firing = if self.policy.inhibit_rules.is_empty() && expiring.is_empty() {
            Vec::new()
        } else {
            self.store.firing_alert_labels().await?
        };
        let inhibitor = Inhibitor::new(&self.policy.inhibit_rules, &firing);
        let intervals = IntervalMuter {
            intervals: &self.policy.time_intervals,
        };
        // Asked in this order: a muted route first (it holds the whole group), then a
        // silence, then inhibition, so a hold names the reason an operator set last.
        let muters: [&dyn Muter; 3] = [&intervals, self.silences.as_ref(), &inhibitor];
        let claimed = self.refresh_firing(claimed).await?;
        let mut settled = Vec::with_capacity(claimed.len());
        let mut resolved_labels = Vec::new();
        for (group, members) in &claimed {
            let id = new_message_id();
            let decided = flush(group, members, &muters, now, &id);
            let newly_held = self.newly_held(&group.key, &decided, members);
            let decisions = flush_decisions(group, members, &decided, &newly_held, &id, now_ms);
            if decided.group_hold.is_some()
                && members
                    .iter()
                    .any(|m| !group.sent_firing.contains(&m.fingerprint))
            {
                self.metrics
                    .notifications_muted
                    .with_label_values(&[&group.receiver])
                    .inc();
            }
            if !expiring.is_empty() {
                let removed: HashSet<&str> =
                    decided.remove.iter().map(|(fp, _)| fp.as_str()).collect();
                resolved_labels.extend(
                    members
                        .iter()
                        .filter(|m| removed.contains(m.fingerprint.as_str()))
                        .map(|m| m.alert.labels.clone()),
                );
            }
            let message = message_of(group, &decided, &id, now_ms)?;
            if let Some(p) = &decided.notification {
                tracing::info!(group = %group.key, receiver = %group.receiver, alerts = p.alerts.len(), status = %p.status, "group notified");
            }
            settled.push(SettledGroup {
                key: group.key.clone(),
                version: group.version,
                flush: decided,
                message,
                decisions,
            });
        }
        self.store.settle_groups(now_ms, &settled).await?;
        let sent = settled.iter().filter(|s| s.message.is_some()).count();
        if sent > 0 {
            self.dispatcher.notify_one();
        }
        // A silence that asked to end with its alerts ends once an alert it matches has
        // resolved and none it matches still fires.
        for s in expiring {
            if resolved_labels.iter().any(|l| s.matches(l))
                && !firing.iter().any(|(_, l)| s.matches(l))
            {
                if self.store.expire_silence(&s.id, now).await? {
                    tracing::info!(id = %s.id, "silence expired: the alerts it muted resolved");
                }
                self.silences.replace(self.store.silences().await?);
            }
        }
        Ok(sent)
    }

    /// Brings the firing alerts of the claimed groups up to date (value, threshold,
    /// score, summary, reason as of their last evaluation), so a repeat or a batched
    /// notification shows where each alert stands now, not where it started.
    async fn refresh_firing(
        &self,
        mut claimed: Vec<(GroupRecord, Vec<GroupMember>)>,
    ) -> Result<Vec<(GroupRecord, Vec<GroupMember>)>, StoreError> {
        let firing: Vec<&str> = claimed
            .iter()
            .flat_map(|(_, members)| members)
            .filter(|m| m.alert.state == AlertState::Firing)
            .map(|m| m.fingerprint.as_str())
            .collect();
        if firing.is_empty() {
            return Ok(claimed);
        }
        let current = self.store.alerts_by_fingerprint(&firing).await?;
        for m in claimed
            .iter_mut()
            .flat_map(|(_, members)| members.iter_mut())
        {
            if let Some(a) = current
                .get(&m.fingerprint)
                .filter(|a| m.alert.state == AlertState::Firing && a.state == AlertState::Firing)
            {
                m.alert.value = a.value;
                m.alert.threshold = a.threshold;
                m.alert.score = a.score;
                m.alert
                    .annotations
                    .insert("summary".into(), a.summary.clone());
                m.alert
                    .annotations
                    .insert("reason".into(), a.reason.to_string());
            }
        }
        Ok(claimed)
    }

    /// The holds that began at this flush: the alerts `decided` holds back that were not
    /// held at the last flush (counted, if silenced or inhibited), and every member of a
    /// group whose route a time interval began to mute.
    fn newly_held(
        &self,
        group: &str,
        decided: &Flush,
        members: &[GroupMember],
    ) -> Vec<(String, Hold)> {
        let mut newly = self.newly_held_alerts(group, &decided.held, members);
        let mut muted = self
            .muted_groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &decided.group_hold {
            Some(hold) if muted.insert(group.to_owned()) => newly.extend(
                members
                    .iter()
                    .map(|m| (m.fingerprint.clone(), hold.clone())),
            ),
            Some(_) => {}
            None => {
                muted.remove(group);
            }
        }
        newly
    }

    fn newly_held_alerts(
        &self,
        group: &str,
        held: &[(String, Hold)],
        members: &[GroupMember],
    ) -> Vec<(String, Hold)> {
        let mut seen = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        for m in members {
            if !held.iter().any(|(fp, _)| *fp == m.fingerprint) {
                seen.remove(&(group.to_owned(), m.fingerprint.clone()));
            }
        }
        let mut newly = Vec::new();
        for (fp, why) in held {
            if !seen.insert((group.to_owned(), fp.clone())) {
                continue;
            }
            let rule = members
                .iter()
                .find(|m| &m.fingerprint == fp)
                .map_or("", |m| m.alert.rule.as_str());
            let counter = match why {
                Hold::Silenced { .. } => Some(&self.metrics.notifications_silenced),
                Hold::Inhibited(_) => Some(&self.metrics.notifications_inhibited),
                // Whole groups held by a time interval are counted per receiver.
                Hold::MuteInterval { .. } | Hold::OutsideActiveIntervals { .. } => None,
            };
            if let Some(counter) = counter {
                counter.with_label_values(&[rule]).inc();
            }
            newly.push((fp.clone(), why.clone()));
        }
        newly
    }

    /// Flushes groups as they fall due until `stop`; `wake` is notified when alert
    /// changes or silences may have made a flush due sooner.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, stop: CancellationToken) {
        loop {
            if let Err(e) = self.step().await {
                tracing::error!(error = %e, "group flush failed; retrying");
            }
            let wait = match self.store.next_group_flush().await {
                Ok(Some(t)) => {
                    let ms = t - self.clock.now().timestamp_millis();
                    // A backlog (or a group another replica holds) is looked at again
                    // shortly, not in a busy loop.
                    Duration::from_millis(ms.max(5) as u64).min(IDLE_POLL)
                }
                _ => IDLE_POLL,
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The outbox row of a flush's notification, if it sends one.
fn message_of(
    group: &GroupRecord,
    decided: &Flush,
    id: &str,
    now_ms: i64,
) -> Result<Option<NewMessage>, StoreError> {
    let Some(p) = &decided.notification else {
        return Ok(None);
    };
    Ok(Some(NewMessage {
        id: id.to_owned(),
        receiver: group.receiver.clone(),
        fingerprint: match p.alerts.as_slice() {
            [one] => one.fingerprint.clone(),
            _ => group.key.clone(),
        },
        event: p.status.clone(),
        payload: serde_json::to_string(p).map_err(|e| {
            StoreError::Corrupt(format!(
                "notification of group {} does not serialize: {e}",
                group.key
            ))
        })?,
        created_at_ms: now_ms,
        evaluation_ids: p.evaluation_ids(),
    }))
}
