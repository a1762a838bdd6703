//! Budgets' saved state in the store (one JSON document per budget), so a restart
//! resumes with the shape it learnt instead of judging on a flat pace until it relearns.

use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// Saves (replacing) a budget's state, at `at_ms` (unix ms).
    pub async fn save_budget_state(
        &self,
        budget: &str,
        state: &serde_json::Value,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO budget_state (budget, state, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (budget) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(budget.to_owned())
        .bind(state.to_string())
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every budget's saved state, by name.
    pub async fn budget_states(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let rows = sqlx::query("SELECT budget, state FROM budget_state ORDER BY budget")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let state = serde_json::from_str(&r.try_get::<String, _>("state")?)
                    .map_err(|e| StoreError::Corrupt(format!("budget state: {e}")))?;
                Ok((r.try_get::<String, _>("budget")?, state))
            })
            .collect()
    }

    /// Forgets the state of a budget no longer configured.
    pub async fn delete_budget_state(&self, budget: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM budget_state WHERE budget = $1")
            .bind(budget.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
