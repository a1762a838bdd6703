//! The baseline journal's rows: one packed record of deltas per rule evaluation, written
//! in the evaluation's transaction, pruned by the rule's later commits, and read back
//! with each series' last whole-state time for a restore (`engine::journal`).

use std::collections::HashMap;

use sqlx::{Any, Executor, Row, Transaction};

use super::{Store, StoreError};
use crate::model::journal::BaselineJournal;

/// One evaluation's journal record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalTick {
    /// The rule evaluated.
    pub rule: String,
    /// The packed deltas.
    pub deltas: Vec<u8>,
    /// The rule's records older than this (unix ms) are deleted: every series they
    /// cover has had its whole state written since.
    pub prune_before_ms: i64,
}

/// Writes `tick` stamped `at_ms` and prunes the rule's records it makes unneeded.
pub(super) async fn write_journal(
    tx: &mut Transaction<'static, Any>,
    tick: &JournalTick,
    at_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM baseline_journal WHERE rule = $1 AND at_ms < $2")
        .bind(tick.rule.as_str())
        .bind(tick.prune_before_ms)
        .execute(&mut **tx)
        .await?;
    if !tick.deltas.is_empty() {
        sqlx::query("INSERT INTO baseline_journal (rule, at_ms, deltas) VALUES ($1, $2, $3)")
            .bind(tick.rule.as_str())
            .bind(at_ms)
            .bind(tick.deltas.as_slice())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Reads the journal of `rule` (every rule's when None), by rule.
pub(super) async fn read_journals<'e, E>(
    executor: E,
    rule: Option<&str>,
) -> Result<HashMap<String, BaselineJournal>, StoreError>
where
    E: Executor<'e, Database = Any> + Copy,
{
    let mut out: HashMap<String, BaselineJournal> = HashMap::new();
    let written = sqlx::query(
        "SELECT rule, fingerprint, updated_at FROM baselines WHERE $1 IS NULL OR rule = $1",
    )
    .bind(rule)
    .fetch_all(executor)
    .await?;
    for r in written {
        let journal = out.entry(r.try_get("rule")?).or_default();
        journal
            .written_at
            .insert(r.try_get("fingerprint")?, r.try_get("updated_at")?);
    }
    let records = sqlx::query(
        "SELECT rule, at_ms, deltas FROM baseline_journal WHERE $1 IS NULL OR rule = $1 \
         ORDER BY rule, at_ms, id",
    )
    .bind(rule)
    .fetch_all(executor)
    .await?;
    for r in records {
        let journal = out.entry(r.try_get("rule")?).or_default();
        journal
            .ticks
            .push((r.try_get("at_ms")?, r.try_get("deltas")?));
    }
    Ok(out)
}

impl Store {
    /// Every rule's baseline journal, for a start.
    pub async fn load_journals(&self) -> Result<HashMap<String, BaselineJournal>, StoreError> {
        read_journals(&self.pool, None).await
    }
}
