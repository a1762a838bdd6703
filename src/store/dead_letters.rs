//! Dead letters: notifications that will not be attempted again (attempts used up, the
//! address refused, the receiver gone or disabled), kept with the reason for operators.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError};

/// One dead-lettered notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Message id (the `webhook-id` it was sent with).
    pub id: String,
    /// Receiver name.
    pub receiver: String,
    /// Alert fingerprint.
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub event: String,
    /// When it was created (unix ms).
    pub created_at_ms: i64,
    /// Attempts made.
    pub attempts: i64,
    /// Why the last attempt failed, or why none was made.
    pub last_error: Option<String>,
    /// The body that was (or would have been) sent.
    pub payload: String,
    /// The evaluations whose alert changes it reports (correlation ids).
    pub evaluation_ids: Vec<String>,
}

impl Store {
    /// Dead letters, newest first, of one receiver or of all; at most `limit`.
    pub async fn dead_letters(
        &self,
        receiver: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, receiver, fingerprint, event, created_at, attempts, last_error, payload, evaluation_ids \
             FROM outbox WHERE status = 'dead' AND ($1 = '' OR receiver = $1) \
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(receiver.unwrap_or("").to_owned())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: r.try_get("id")?,
                    receiver: r.try_get("receiver")?,
                    fingerprint: r.try_get("fingerprint")?,
                    event: r.try_get("event")?,
                    created_at_ms: r.try_get("created_at")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                    payload: r.try_get("payload")?,
                    evaluation_ids: super::outbox::ids_of(r.try_get("evaluation_ids")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
