//! The decision log in the store: decisions written in the same transaction as what
//! they decided (an evaluation's group entries, a flush's notifications), delivery
//! attempts with the outbox update that records them, read back per alert or rule, and
//! dropped after their retention.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Store, StoreError};
use crate::model::decision::{timeline, Attempt, Decision, DecisionKind, LogLine};

/// Writes decision rows.
pub(super) async fn write_decisions(
    tx: &mut Transaction<'static, Any>,
    decisions: &[Decision],
) -> Result<(), StoreError> {
    for d in decisions {
        sqlx::query(
            "INSERT INTO decision_log (fingerprint, rule, at, kind, receiver, group_key, message_id, \
             cause, until_at, text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(d.fingerprint.clone())
        .bind(d.rule.clone())
        .bind(d.at_ms)
        .bind(d.kind.as_str())
        .bind(d.receiver.clone())
        .bind(d.group_key.clone())
        .bind(d.message_id.clone())
        .bind(d.cause.clone())
        .bind(d.until_ms)
        .bind(d.text.clone())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Records one attempt of each message in `ids` (their outbox rows already updated):
/// its number is the row's attempt count, its receiver the row's.
pub(super) async fn write_attempts(
    tx: &mut Transaction<'static, Any>,
    ids: &[&String],
    at_ms: i64,
    outcome: &str,
    error: Option<&str>,
    next_at_ms: Option<i64>,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 5)).collect();
    let sql = format!(
        "INSERT INTO delivery_attempts (message_id, receiver, attempt, at, outcome, error, next_at) \
         SELECT id, receiver, attempts, $1, $2, $3, $4 FROM outbox WHERE id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql)
        .bind(at_ms)
        .bind(outcome.to_owned())
        .bind(error.map(str::to_owned))
        .bind(next_at_ms);
    for id in ids {
        query = query.bind((*id).clone());
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// A stored decision; `None` for a kind written by a newer version (left out).
fn decision_of(r: &AnyRow) -> Result<Option<Decision>, sqlx::Error> {
    let Some(kind) = DecisionKind::parse(&r.try_get::<String, _>("kind")?) else {
        return Ok(None);
    };
    Ok(Some(Decision {
        fingerprint: r.try_get("fingerprint")?,
        rule: r.try_get("rule")?,
        at_ms: r.try_get("at")?,
        kind,
        receiver: r.try_get("receiver")?,
        group_key: r.try_get("group_key")?,
        message_id: r.try_get("message_id")?,
        cause: r.try_get("cause")?,
        until_ms: r.try_get("until_at")?,
        text: r.try_get("text")?,
    }))
}

const COLUMNS: &str =
    "fingerprint, rule, at, kind, receiver, group_key, message_id, cause, until_at, text";

impl Store {
    /// The newest `limit` decisions about one alert, oldest first.
    pub async fn decisions_of_alert(
        &self,
        fingerprint: &str,
        limit: i64,
    ) -> Result<Vec<Decision>, StoreError> {
        self.decisions_where("fingerprint", fingerprint, limit)
            .await
    }

    /// The newest `limit` decisions about the alerts of one rule, oldest first.
    pub async fn decisions_of_rule(
        &self,
        rule: &str,
        limit: i64,
    ) -> Result<Vec<Decision>, StoreError> {
        self.decisions_where("rule", rule, limit).await
    }

    async fn decisions_where(
        &self,
        column: &str,
        value: &str,
        limit: i64,
    ) -> Result<Vec<Decision>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM decision_log WHERE {column} = $1 ORDER BY at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(value.to_owned())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<Decision> = rows
            .iter()
            .map(decision_of)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        out.reverse();
        Ok(out)
    }

    /// One alert's story: its newest `limit` decisions and every attempt to deliver the
    /// notifications they sent, in time order.
    pub async fn alert_log(
        &self,
        fingerprint: &str,
        limit: i64,
    ) -> Result<Vec<LogLine>, StoreError> {
        let decisions = self.decisions_of_alert(fingerprint, limit).await?;
        self.with_attempts(decisions).await
    }

    /// The story of one rule's alerts, as [`Store::alert_log`] tells one alert's.
    pub async fn rule_log(&self, rule: &str, limit: i64) -> Result<Vec<LogLine>, StoreError> {
        let decisions = self.decisions_of_rule(rule, limit).await?;
        self.with_attempts(decisions).await
    }

    async fn with_attempts(&self, decisions: Vec<Decision>) -> Result<Vec<LogLine>, StoreError> {
        let mut ids: Vec<&str> = decisions
            .iter()
            .filter_map(|d| d.message_id.as_deref())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let attempts = self.attempts_of(&ids).await?;
        Ok(timeline(&decisions, &attempts))
    }

    /// Every recorded attempt of these notifications, oldest first.
    pub async fn attempts_of(&self, message_ids: &[&str]) -> Result<Vec<Attempt>, StoreError> {
        let mut out = Vec::new();
        for chunk in message_ids.chunks(256) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT message_id, receiver, attempt, at, outcome, error, next_at FROM delivery_attempts \
                 WHERE message_id IN ({}) ORDER BY at, id",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind((*id).to_owned());
            }
            for r in query.fetch_all(&self.pool).await? {
                out.push(Attempt {
                    message_id: r.try_get("message_id")?,
                    receiver: r.try_get("receiver")?,
                    attempt: r.try_get("attempt")?,
                    at_ms: r.try_get("at")?,
                    outcome: r.try_get("outcome")?,
                    error: r.try_get("error")?,
                    next_at_ms: r.try_get("next_at")?,
                });
            }
        }
        out.sort_by_key(|a| a.at_ms);
        Ok(out)
    }

    /// Drops decisions and attempts older than `before_ms`; returns the rows dropped.
    pub async fn purge_decision_log(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut dropped = 0;
        for table in ["decision_log", "delivery_attempts"] {
            dropped += sqlx::query(&format!("DELETE FROM {table} WHERE at < $1"))
                .bind(before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(dropped)
    }
}
