//! The web console's sessions (migration 0012): a login adds one, a logout deletes it,
//! and a session cookie is accepted only while its row lives, so a logout (or a copied
//! cookie revoked by it) holds on every replica sharing the store.

use super::{Store, StoreError};

impl Store {
    /// Records the session `id`, valid until `expires_at_ms`; drops sessions expired
    /// by `now_ms` on the way, so the table holds live sessions only.
    pub async fn open_console_session(
        &self,
        id: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO console_sessions (id, expires_at) VALUES ($1, $2)")
            .bind(id.to_owned())
            .bind(expires_at_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// True while the session `id` is open and unexpired at `now_ms`.
    pub async fn console_session_live(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT id FROM console_sessions WHERE id = $1 AND expires_at > $2")
            .bind(id.to_owned())
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Ends the session `id`; false when it was not open.
    pub async fn revoke_console_session(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE id = $1")
            .bind(id.to_owned())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done > 0)
    }
}
