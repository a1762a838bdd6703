//! What the web console asks of the store: the key its session cookies are signed with
//! (shared by every replica), one alert's baseline, and re-sending one dead letter.

use rand::RngCore;
use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// The console's signing key: read, or made now (32 random bytes, hex) if no replica
    /// has made it yet. Two replicas racing both read the one row that won.
    pub async fn console_key(&self, now_ms: i64) -> Result<String, StoreError> {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        sqlx::query(
            "INSERT INTO console_key (id, secret, created_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(fresh)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT secret FROM console_key WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("secret")?)
    }

    /// The stored baseline (detector state) of the alert `fingerprint`, if any.
    pub async fn baseline(
        &self,
        fingerprint: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let row = sqlx::query("SELECT state FROM baselines WHERE fingerprint = $1")
            .bind(fingerprint.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let state: String = r.try_get("state")?;
            serde_json::from_str(&state).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .transpose()
    }

    /// Puts one dead letter back in the outbox, due at `now_ms` with its attempts reset;
    /// false when `id` is no dead letter.
    pub async fn requeue_dead_letter(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, due_at = $1, \
             claimed_until = NULL WHERE id = $2 AND status = 'dead'",
        )
        .bind(now_ms)
        .bind(id.to_owned())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done > 0)
    }
}
