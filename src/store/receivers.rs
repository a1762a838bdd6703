//! Receiver health in the store: failure streaks, disabling (with the pending rows kept
//! as dead letters and the operator's notices enqueued in the same transaction), and
//! re-enabling.

use sqlx::{Any, Row, Transaction};

use super::outbox::insert_messages;
use super::{NewMessage, Store, StoreError};

/// What the store knows about one receiver's health.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReceiverState {
    /// Receiver name.
    pub receiver: String,
    /// Start of the current run of failed attempts (unix ms); `None` after a success.
    pub failing_since_ms: Option<i64>,
    /// When it was disabled (unix ms); `None` while enabled.
    pub disabled_at_ms: Option<i64>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
}

/// The result of re-enabling a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Reenabled {
    /// False when it was not disabled.
    pub was_disabled: bool,
    /// Dead letters put back in the outbox.
    pub requeued: u64,
}

async fn ensure_row(tx: &mut Transaction<'static, Any>, receiver: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO receiver_state (receiver) VALUES ($1) ON CONFLICT (receiver) DO NOTHING",
    )
    .bind(receiver.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Every receiver the store has health for.
    pub async fn receiver_states(&self) -> Result<Vec<ReceiverState>, StoreError> {
        let rows = sqlx::query(
            "SELECT receiver, failing_since, disabled_at, disabled_reason FROM receiver_state \
             ORDER BY receiver",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReceiverState {
                    receiver: r.try_get("receiver")?,
                    failing_since_ms: r.try_get("failing_since")?,
                    disabled_at_ms: r.try_get("disabled_at")?,
                    disabled_reason: r.try_get("disabled_reason")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Records which receivers answered and which failed at `now_ms`: a success ends a
    /// failure run, a failure starts one unless one is running. Returns, for each failed
    /// receiver, when its run began.
    pub async fn record_receiver_health(
        &self,
        now_ms: i64,
        succeeded: &[String],
        failed: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if succeeded.is_empty() && failed.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        for receiver in succeeded {
            sqlx::query("UPDATE receiver_state SET failing_since = NULL WHERE receiver = $1")
                .bind(receiver.clone())
                .execute(&mut *tx)
                .await?;
        }
        let mut since = Vec::with_capacity(failed.len());
        for receiver in failed {
            ensure_row(&mut tx, receiver).await?;
            sqlx::query(
                "UPDATE receiver_state SET failing_since = $1 \
                 WHERE receiver = $2 AND failing_since IS NULL",
            )
            .bind(now_ms)
            .bind(receiver.clone())
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query("SELECT failing_since FROM receiver_state WHERE receiver = $1")
                .bind(receiver.clone())
                .fetch_one(&mut *tx)
                .await?;
            let start: Option<i64> = row.try_get("failing_since")?;
            since.push((receiver.clone(), start.unwrap_or(now_ms)));
        }
        tx.commit().await?;
        Ok(since)
    }

    /// Disables `receiver` for `reason`, unless it already is: its pending notifications
    /// become dead letters carrying the reason, and `notices` (telling the other
    /// receivers) are enqueued, all in one transaction. Returns false when another
    /// process or an earlier call had disabled it already (nothing is changed then, so
    /// the operator is told once).
    pub async fn disable_receiver(
        &self,
        receiver: &str,
        reason: &str,
        now_ms: i64,
        notices: &[NewMessage],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        ensure_row(&mut tx, receiver).await?;
        let changed = sqlx::query(
            "UPDATE receiver_state SET disabled_at = $1, disabled_reason = $2 \
             WHERE receiver = $3 AND disabled_at IS NULL",
        )
        .bind(now_ms)
        .bind(reason.to_owned())
        .bind(receiver.to_owned())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE outbox SET status = 'dead', last_error = $1, claimed_until = NULL \
             WHERE receiver = $2 AND status = 'pending'",
        )
        .bind(format!(
            "not sent: receiver {receiver} was disabled: {reason}"
        ))
        .bind(receiver.to_owned())
        .execute(&mut *tx)
        .await?;
        insert_messages(&mut tx, notices).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Enables `receiver` again with a clean failure record; with `requeue`, its dead
    /// letters go back to the outbox, due now, with their attempts reset. `notices`
    /// (telling the other receivers) are enqueued only if it was disabled.
    pub async fn enable_receiver(
        &self,
        receiver: &str,
        now_ms: i64,
        requeue: bool,
        notices: &[NewMessage],
    ) -> Result<Reenabled, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE receiver_state SET disabled_at = NULL, disabled_reason = NULL, \
             failing_since = NULL WHERE receiver = $1 AND disabled_at IS NOT NULL",
        )
        .bind(receiver.to_owned())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let requeued = if requeue {
            sqlx::query(
                "UPDATE outbox SET status = 'pending', attempts = 0, due_at = $1, \
                 claimed_until = NULL WHERE receiver = $2 AND status = 'dead'",
            )
            .bind(now_ms)
            .bind(receiver.to_owned())
            .execute(&mut *tx)
            .await?
            .rows_affected()
        } else {
            0
        };
        if changed > 0 {
            insert_messages(&mut tx, notices).await?;
        }
        tx.commit().await?;
        Ok(Reenabled {
            was_disabled: changed > 0,
            requeued,
        })
    }
}
