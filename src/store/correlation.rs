//! Finding the notifications an evaluation caused, by its correlation id.

use serde::Serialize;
use sqlx::Row;

use super::outbox::ids_of;
use super::{Store, StoreError};

/// One notification as the outbox holds it: where it stands after its attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationRecord {
    /// Message id (the `webhook-id`).
    pub id: String,
    /// Receiver name.
    pub receiver: String,
    /// Alert (or group) fingerprint.
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub event: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was created (unix ms).
    pub created_at_ms: i64,
    /// When it was delivered (unix ms).
    pub delivered_at_ms: Option<i64>,
    /// The evaluations whose alert changes it reports.
    pub evaluation_ids: Vec<String>,
}

/// True for the text of an id we make (a UUID), so it can be matched inside the stored
/// JSON list without any pattern character of its own.
pub fn is_evaluation_id(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl Store {
    /// The notifications that report a change made by evaluation `evaluation_id`,
    /// newest first, at most `limit`. An id that is not one of ours matches nothing.
    pub async fn notifications_of_evaluation(
        &self,
        evaluation_id: &str,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        if !is_evaluation_id(evaluation_id) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT id, receiver, fingerprint, event, status, attempts, last_error, created_at, \
             delivered_at, evaluation_ids FROM outbox WHERE evaluation_ids LIKE $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(format!("%\"{evaluation_id}\"%"))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let record = |r: &sqlx::any::AnyRow| -> Result<NotificationRecord, sqlx::Error> {
            Ok(NotificationRecord {
                id: r.try_get("id")?,
                receiver: r.try_get("receiver")?,
                fingerprint: r.try_get("fingerprint")?,
                event: r.try_get("event")?,
                status: r.try_get("status")?,
                attempts: r.try_get("attempts")?,
                last_error: r.try_get("last_error")?,
                created_at_ms: r.try_get("created_at")?,
                delivered_at_ms: r.try_get("delivered_at")?,
                evaluation_ids: ids_of(r.try_get("evaluation_ids")?),
            })
        };
        Ok(rows.iter().map(record).collect::<Result<_, _>>()?)
    }
}
