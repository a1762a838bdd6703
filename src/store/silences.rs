//! Silences in the store: created, listed, expired; loaded at start so a restart keeps
//! muting what was muted.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError};
use crate::model::silence::{Matcher, Silence};

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl Store {
    /// Saves a new silence.
    pub async fn create_silence(&self, s: &Silence) -> Result<(), StoreError> {
        let matchers: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
        let matchers =
            serde_json::to_string(&matchers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at, expire_on_resolve) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(s.id.clone())
        .bind(matchers)
        .bind(millis(s.starts_at))
        .bind(millis(s.ends_at))
        .bind(s.created_by.clone())
        .bind(s.comment.clone())
        .bind(millis(Utc::now()))
        .bind(i64::from(s.expire_on_resolve))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every silence, newest first.
    pub async fn silences(&self) -> Result<Vec<Silence>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, matchers, starts_at, ends_at, created_by, comment, expire_on_resolve FROM silences \
             ORDER BY created_at DESC, id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let texts: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("matchers")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let matchers = texts
                    .iter()
                    .map(|t| Matcher::parse(t))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(StoreError::Corrupt)?;
                Ok(Silence {
                    id: r.try_get("id")?,
                    matchers,
                    starts_at: at(r.try_get("starts_at")?),
                    ends_at: at(r.try_get("ends_at")?),
                    created_by: r.try_get("created_by")?,
                    comment: r.try_get("comment")?,
                    expire_on_resolve: r.try_get::<i64, _>("expire_on_resolve")? != 0,
                })
            })
            .collect()
    }

    /// Ends a silence now; false when there is no such silence or it had already ended.
    pub async fn expire_silence(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE silences SET ends_at = $1 WHERE id = $2 AND ends_at > $1")
            .bind(millis(now))
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(done > 0)
    }
}
