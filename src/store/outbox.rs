//! The notification outbox: rows written with the alert state, claimed and delivered by
//! the dispatcher, retried on a schedule, dead-lettered after the last attempt.

use sqlx::{Any, Row, Transaction};

use super::decisions::write_attempts;
use super::{Store, StoreError};
use crate::sources::dialect::Dialect;

/// A notification to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// The message id; also the `webhook-id`, stable across retries and restarts.
    pub id: String,
    /// The receiver's name.
    pub receiver: String,
    /// The alert it is about.
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub event: String,
    /// The exact body to send.
    pub payload: String,
    /// When it was created (unix ms); also the first due time.
    pub created_at_ms: i64,
    /// The evaluations whose alert changes it reports (correlation ids).
    pub evaluation_ids: Vec<String>,
}

/// A claimed notification.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// Message id.
    pub id: String,
    /// Receiver name.
    pub receiver: String,
    /// Alert fingerprint.
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub event: String,
    /// Body.
    pub payload: String,
    /// Creation time (unix ms).
    pub created_at_ms: i64,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The evaluations whose alert changes it reports (correlation ids).
    pub evaluation_ids: Vec<String>,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryResult {
    /// The receiver accepted it.
    Delivered {
        /// Message id.
        id: String,
    },
    /// Try again at `due_at_ms`.
    Retry {
        /// Message id.
        id: String,
        /// Next attempt time.
        due_at_ms: i64,
        /// Why this attempt failed.
        error: String,
    },
    /// No more attempts: kept as a dead letter.
    Dead {
        /// Message id.
        id: String,
        /// Why the last attempt failed.
        error: String,
    },
    /// Not attempted: its receiver asked (`Retry-After`) not to be sent anything before
    /// `due_at_ms`. The attempt count is unchanged.
    Postponed {
        /// Message id.
        id: String,
        /// When it may be attempted.
        due_at_ms: i64,
    },
    /// Not attempted (its receiver is disabled): kept as a dead letter, its attempt
    /// count unchanged.
    NotSent {
        /// Message id.
        id: String,
        /// Why it was not sent.
        error: String,
    },
}

impl DeliveryResult {
    /// The message this result is about.
    pub fn id(&self) -> &str {
        match self {
            DeliveryResult::Delivered { id }
            | DeliveryResult::Retry { id, .. }
            | DeliveryResult::Dead { id, .. }
            | DeliveryResult::Postponed { id, .. }
            | DeliveryResult::NotSent { id, .. } => id,
        }
    }
}

/// How the outbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OutboxStats {
    /// Messages not yet delivered or dead.
    pub pending: i64,
    /// Creation time of the oldest pending message (unix ms).
    pub oldest_pending_ms: Option<i64>,
    /// Dead letters.
    pub dead: i64,
    /// Delivered messages still kept.
    pub delivered: i64,
}

pub(super) async fn insert_messages(
    tx: &mut Transaction<'static, Any>,
    messages: &[NewMessage],
) -> Result<(), StoreError> {
    for m in messages {
        sqlx::query(
            "INSERT INTO outbox (id, receiver, fingerprint, event, payload, created_at, due_at, evaluation_ids) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        )
        .bind(m.id.clone())
        .bind(m.receiver.clone())
        .bind(m.fingerprint.clone())
        .bind(m.event.clone())
        .bind(m.payload.clone())
        .bind(m.created_at_ms)
        .bind(serde_json::to_string(&m.evaluation_ids).unwrap_or_else(|_| "[]".to_owned()))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The evaluation ids stored as a JSON list; a row that cannot be read lists none.
pub(crate) fn ids_of(stored: String) -> Vec<String> {
    serde_json::from_str(&stored).unwrap_or_default()
}

/// Ids per `UPDATE … WHERE id IN (…)` of delivered rows (well under SQLite's and
/// PostgreSQL's limits on bound parameters).
const DELIVERED_PER_STATEMENT: usize = 256;

impl Store {
    /// Enqueues messages on their own (the engine uses [`Store::commit`] instead).
    pub async fn enqueue(&self, messages: &[NewMessage]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_messages(&mut tx, messages).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` due messages for `lease_ms`; a claim that is not settled
    /// in time (the process died) is claimed again by the next step.
    pub async fn claim_due(
        &self,
        now_ms: i64,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let lock = match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE outbox SET claimed_until = $1 WHERE id IN (\
               SELECT id FROM outbox WHERE status = 'pending' AND due_at <= $2 \
               AND (claimed_until IS NULL OR claimed_until < $2) ORDER BY due_at LIMIT $3{lock}) \
             RETURNING id, receiver, fingerprint, event, payload, created_at, attempts, evaluation_ids"
        );
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&sql)
            .bind(now_ms + lease_ms)
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut out: Vec<OutboxMessage> = rows
            .iter()
            .map(|r| {
                Ok(OutboxMessage {
                    id: r.try_get("id")?,
                    receiver: r.try_get("receiver")?,
                    fingerprint: r.try_get("fingerprint")?,
                    event: r.try_get("event")?,
                    payload: r.try_get("payload")?,
                    created_at_ms: r.try_get("created_at")?,
                    attempts: r.try_get("attempts")?,
                    evaluation_ids: ids_of(r.try_get("evaluation_ids")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        out.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(out)
    }

    /// Records the results of a batch of attempts in one transaction.
    pub async fn record_results(
        &self,
        now_ms: i64,
        results: &[DeliveryResult],
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        // The common result, delivered, is one statement per batch of ids rather than one
        // per row: each statement is a round trip to the database's worker thread.
        let delivered: Vec<&String> = results
            .iter()
            .filter_map(|r| match r {
                DeliveryResult::Delivered { id } => Some(id),
                _ => None,
            })
            .collect();
        for ids in delivered.chunks(DELIVERED_PER_STATEMENT) {
            let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "UPDATE outbox SET status = 'delivered', delivered_at = $1, attempts = attempts + 1, \
                 claimed_until = NULL WHERE id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(now_ms);
            for id in ids {
                query = query.bind((*id).clone());
            }
            query.execute(&mut *tx).await?;
            write_attempts(&mut tx, ids, now_ms, "delivered", None, None).await?;
        }
        for r in results {
            match r {
                DeliveryResult::Delivered { .. } => {}
                DeliveryResult::Retry {
                    id,
                    due_at_ms,
                    error,
                } => {
                    sqlx::query(
                        "UPDATE outbox SET due_at = $1, last_error = $2, attempts = attempts + 1, \
                         claimed_until = NULL WHERE id = $3",
                    )
                    .bind(*due_at_ms)
                    .bind(error.clone())
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await?;
                    write_attempts(
                        &mut tx,
                        &[id],
                        now_ms,
                        "retry",
                        Some(error),
                        Some(*due_at_ms),
                    )
                    .await?;
                }
                DeliveryResult::Dead { id, error } => {
                    sqlx::query(
                        "UPDATE outbox SET status = 'dead', last_error = $1, attempts = attempts + 1, \
                         claimed_until = NULL WHERE id = $2",
                    )
                    .bind(error.clone())
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await?;
                    write_attempts(&mut tx, &[id], now_ms, "dead", Some(error), None).await?;
                }
                DeliveryResult::Postponed { id, due_at_ms } => {
                    sqlx::query(
                        "UPDATE outbox SET due_at = $1, claimed_until = NULL WHERE id = $2",
                    )
                    .bind(*due_at_ms)
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await?;
                    write_attempts(&mut tx, &[id], now_ms, "postponed", None, Some(*due_at_ms))
                        .await?;
                }
                DeliveryResult::NotSent { id, error } => {
                    sqlx::query(
                        "UPDATE outbox SET status = 'dead', last_error = $1, claimed_until = NULL \
                         WHERE id = $2",
                    )
                    .bind(error.clone())
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await?;
                    write_attempts(&mut tx, &[id], now_ms, "not_sent", Some(error), None).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The earliest time a pending message becomes due (or its claim expires).
    pub async fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(CASE WHEN claimed_until IS NOT NULL AND claimed_until > due_at \
             THEN claimed_until ELSE due_at END) AS next FROM outbox WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("next")?)
    }

    /// Counts for metrics and health.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let row = sqlx::query(
            "SELECT \
               SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending, \
               MIN(CASE WHEN status = 'pending' THEN created_at END) AS oldest, \
               SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS dead, \
               SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) AS delivered \
             FROM outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        let count = |name: &str| -> Result<i64, sqlx::Error> {
            Ok(row.try_get::<Option<i64>, _>(name)?.unwrap_or(0))
        };
        Ok(OutboxStats {
            pending: count("pending")?,
            oldest_pending_ms: row.try_get::<Option<i64>, _>("oldest")?,
            dead: count("dead")?,
            delivered: count("delivered")?,
        })
    }

    /// At start-up on SQLite, frees the claims a crashed process left behind, so its
    /// in-flight messages go out now instead of when their lease runs out. Only SQLite:
    /// its file is served by one process, while PostgreSQL replicas rely on the lease.
    pub async fn release_orphaned_claims(&self) -> Result<u64, StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("UPDATE outbox SET claimed_until = NULL WHERE status = 'pending' AND claimed_until IS NOT NULL")
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Frees the claims on messages this process claimed but will not deliver (it is
    /// stopping), so another process or the next start sends them without waiting for
    /// the lease to run out.
    pub async fn release_claims(&self, ids: &[String]) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut n = 0;
        for id in ids {
            n += sqlx::query(
                "UPDATE outbox SET claimed_until = NULL WHERE id = $1 AND status = 'pending'",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Deletes delivered messages older than `before_ms`; returns how many.
    pub async fn purge_delivered(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < $1")
                .bind(before_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(done)
    }
}
