//! Alert state, history and baselines: loaded at start, written once per evaluation
//! together with the outbox rows, in one transaction.

use std::collections::HashMap;

use sqlx::Row;

use super::baseline_journal::{write_journal, JournalTick};
use super::baselines::write_baselines;
use super::decisions::write_decisions;
use super::flaps::write_flap_records;
use super::groups::{write_group_entries, GroupEntry};
use super::leases::{check_fence, Fence};
use super::outbox::{insert_messages, NewMessage};
use super::{Store, StoreError};
use crate::engine::{Alert, Transition};
use crate::model::decision::Decision;
use crate::model::flap::FlapRecord;
use crate::sources::dialect::Dialect;
use crate::types::Fingerprint;

/// Everything one evaluation writes, committed atomically.
#[derive(Debug, Default)]
pub struct CommitBatch {
    /// Alerts whose stored state must be replaced.
    pub alerts: Vec<Alert>,
    /// State changes for the history.
    pub transitions: Vec<Transition>,
    /// Notifications to deliver as they are (not grouped: operator notices).
    pub messages: Vec<NewMessage>,
    /// Alert changes joining their notification groups.
    pub group_entries: Vec<GroupEntry>,
    /// (rule, fingerprint, detector state) to persist.
    pub baselines: Vec<(String, Fingerprint, String)>,
    /// The evaluation's baseline journal record, if the rule journals.
    pub journal: Option<JournalTick>,
    /// (rule, fingerprint, flap-control record) to persist.
    pub flap_records: Vec<(String, Fingerprint, FlapRecord)>,
    /// Decisions intake made (flap holds), for the decision log; the group entries
    /// write their own.
    pub decisions: Vec<Decision>,
    /// Fingerprints whose alert, baseline and flap record are forgotten.
    pub forgotten: Vec<Fingerprint>,
    /// A rule that no longer exists: every alert, baseline and flap record stored for it
    /// is deleted.
    pub retired_rule: Option<String>,
    /// Commit time (unix ms).
    pub at_ms: i64,
    /// The rule lease the commit must still hold (replicas sharing rules), checked in
    /// its transaction.
    pub fence: Option<Fence>,
    /// The evaluation that produced the batch, recorded on each history row.
    pub evaluation_id: Option<String>,
}

/// One row of an alert's history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertChange {
    /// The state it left.
    pub from: String,
    /// The state it entered.
    pub to: String,
    /// When (unix ms).
    pub at_ms: i64,
    /// The value judged then.
    pub value: Option<f64>,
    /// The summary then.
    pub summary: String,
    /// The evaluation that made the change (absent for rows from before correlation ids).
    pub evaluation_id: Option<String>,
}

impl CommitBatch {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.transitions.is_empty()
            && self.messages.is_empty()
            && self.group_entries.is_empty()
            && self.baselines.is_empty()
            && self.journal.is_none()
            && self.flap_records.is_empty()
            && self.decisions.is_empty()
            && self.forgotten.is_empty()
            && self.retired_rule.is_none()
    }
}

impl Store {
    /// The stored alerts with these fingerprints (missing ones are left out).
    pub async fn alerts_by_fingerprint(
        &self,
        fingerprints: &[&str],
    ) -> Result<HashMap<String, Alert>, StoreError> {
        let mut out = HashMap::with_capacity(fingerprints.len());
        // Bounded IN lists: a statement has at most a few hundred parameters.
        for chunk in fingerprints.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT body FROM alerts WHERE fingerprint IN ({})",
                placeholders.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for fp in chunk {
                q = q.bind(fp.to_string());
            }
            for r in q.fetch_all(&self.pool).await? {
                let body: String = r.try_get("body")?;
                let alert: Alert =
                    serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                out.insert(alert.fingerprint.to_string(), alert);
            }
        }
        Ok(out)
    }

    /// Every stored alert.
    pub async fn load_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let rows = sqlx::query("SELECT body FROM alerts")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get("body")?;
                serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// Every stored baseline: by rule, then by fingerprint.
    pub async fn load_baselines(
        &self,
    ) -> Result<HashMap<String, HashMap<String, serde_json::Value>>, StoreError> {
        let rows = sqlx::query("SELECT rule, fingerprint, state FROM baselines")
            .fetch_all(&self.pool)
            .await?;
        let mut out: HashMap<String, HashMap<String, serde_json::Value>> = HashMap::new();
        for r in rows {
            let rule: String = r.try_get("rule")?;
            let fp: String = r.try_get("fingerprint")?;
            let state: String = r.try_get("state")?;
            let value =
                serde_json::from_str(&state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.entry(rule).or_default().insert(fp, value);
        }
        Ok(out)
    }

    /// The last `limit` history rows of one alert, newest first: (from, to, at_ms).
    pub async fn alert_history(
        &self,
        fingerprint: &str,
        limit: i64,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let changes = self.alert_changes(fingerprint, limit).await?;
        Ok(changes
            .into_iter()
            .map(|c| (c.from, c.to, c.at_ms))
            .collect())
    }

    /// The last `limit` state changes of one alert, newest first, with the value, the
    /// summary and the evaluation that made each.
    pub async fn alert_changes(
        &self,
        fingerprint: &str,
        limit: i64,
    ) -> Result<Vec<AlertChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT from_state, to_state, at, value, summary, evaluation_id FROM alert_history \
             WHERE fingerprint = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(fingerprint.to_owned())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let change = |r: &sqlx::any::AnyRow| -> Result<AlertChange, sqlx::Error> {
            Ok(AlertChange {
                from: r.try_get("from_state")?,
                to: r.try_get("to_state")?,
                at_ms: r.try_get("at")?,
                value: r.try_get("value")?,
                summary: r.try_get("summary")?,
                evaluation_id: r.try_get("evaluation_id")?,
            })
        };
        Ok(rows.iter().map(change).collect::<Result<_, _>>()?)
    }

    /// Writes one evaluation's state changes, history and outbox rows in ONE transaction.
    pub async fn commit(&self, batch: &CommitBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        if let Some(fence) = &batch.fence {
            let lock = match self.dialect {
                Dialect::Sqlite => "",
                Dialect::Postgres => " FOR UPDATE",
            };
            check_fence(&mut tx, fence, lock).await?;
        }
        for alert in &batch.alerts {
            let body =
                serde_json::to_string(alert).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT INTO alerts (fingerprint, rule, state, body, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (fingerprint) DO UPDATE SET rule = excluded.rule, state = excluded.state, \
                 body = excluded.body, updated_at = excluded.updated_at",
            )
            .bind(alert.fingerprint.to_string())
            .bind(alert.rule.clone())
            .bind(alert.state.as_str())
            .bind(body)
            .bind(batch.at_ms)
            .execute(&mut *tx)
            .await?;
        }
        for t in &batch.transitions {
            sqlx::query(
                "INSERT INTO alert_history (fingerprint, rule, from_state, to_state, at, value, summary, evaluation_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(t.alert.fingerprint.to_string())
            .bind(t.alert.rule.clone())
            .bind(t.from.as_str())
            .bind(t.alert.state.as_str())
            .bind(t.at.timestamp_millis())
            .bind(t.alert.value)
            .bind(t.alert.summary.clone())
            .bind(batch.evaluation_id.clone())
            .execute(&mut *tx)
            .await?;
        }
        write_baselines(&mut tx, self.dialect, &batch.baselines, batch.at_ms).await?;
        if let Some(tick) = &batch.journal {
            write_journal(&mut tx, tick, batch.at_ms).await?;
        }
        write_flap_records(&mut tx, &batch.flap_records, batch.at_ms).await?;
        write_decisions(&mut tx, &batch.decisions).await?;
        for fp in &batch.forgotten {
            for table in ["alerts", "baselines", "alert_flaps"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE fingerprint = $1"))
                    .bind(fp.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(rule) = &batch.retired_rule {
            for table in ["alerts", "baselines", "baseline_journal", "alert_flaps"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE rule = $1"))
                    .bind(rule.clone())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        insert_messages(&mut tx, &batch.messages).await?;
        write_group_entries(
            &mut tx,
            self.dialect,
            &batch.group_entries,
            batch.at_ms,
            false,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
