//! Alert groups and the notification log in the store: alert changes join their groups
//! in the evaluation's transaction; flushes claim due groups, and write the notification
//! and the log in one transaction.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::{Any, Row, Transaction};

use super::decisions::write_decisions;
use super::outbox::{insert_messages, NewMessage};
use super::{Store, StoreError};
use crate::model::decision::{Decision, DecisionKind};
use crate::model::group::{
    next_flush_after_change, Flush, GroupMember, GroupRecord, GroupSettings,
};
use crate::model::payload::AlertPayload;
use crate::model::Labels;
use crate::sources::dialect::Dialect;

/// One alert change routed to one group (route × receiver × group labels).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupEntry {
    /// The group's key.
    pub key: String,
    /// Its receiver.
    pub receiver: String,
    /// Its route's id.
    pub route: String,
    /// The labels it is formed by.
    pub group_labels: Labels,
    /// Its timing.
    pub settings: GroupSettings,
    /// The alert as notifications list it.
    pub alert: AlertPayload,
}

/// A flush's result for one claimed group.
#[derive(Debug, Clone)]
pub struct SettledGroup {
    /// The group's key.
    pub key: String,
    /// The group's version when it was read.
    pub version: i64,
    /// What the flush decided.
    pub flush: Flush,
    /// The notification it sends, if any.
    pub message: Option<NewMessage>,
    /// What the flush decided about each alert, for the decision log.
    pub decisions: Vec<Decision>,
}

fn corrupt(e: impl ToString) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(corrupt)
}

/// Adds alert changes to their groups and plans each group's next flush. With `sent`,
/// the alerts count as already notified (adopting alerts that fired before groups
/// existed), so no notification is planned for them.
pub(super) async fn write_group_entries(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    entries: &[GroupEntry],
    now_ms: i64,
    sent: bool,
) -> Result<(), StoreError> {
    // On PostgreSQL the group row is locked while it is read and changed, so a flush
    // that is about to delete the group (it had emptied) either sees this change or is
    // seen to have deleted it; SQLite's write transactions are serial anyway.
    let lock = match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    };
    let select = format!(
        "SELECT next_flush_at, last_sent_at, sent_firing FROM notify_groups WHERE group_key = $1{lock}"
    );
    let mut decisions = Vec::with_capacity(entries.len());
    // Group rows are locked in key order here and in settle_groups, so an evaluation's
    // commit and a flush that both touch two groups cannot deadlock on PostgreSQL.
    let mut ordered: Vec<&GroupEntry> = entries.iter().collect();
    ordered.sort_by(|a, b| a.key.cmp(&b.key));
    for e in ordered {
        let settings = json(&e.settings)?;
        let mut due = None;
        // Twice at most: a group another writer created meanwhile is then updated.
        for _ in 0..2 {
            let row = sqlx::query(&select)
                .bind(e.key.clone())
                .fetch_optional(&mut **tx)
                .await?;
            match row {
                None => {
                    let (next, log, last) = if sent {
                        (None, json(&[&e.alert.fingerprint])?, Some(now_ms))
                    } else {
                        (
                            Some(next_flush_after_change(&e.settings, None, now_ms)),
                            "[]".to_owned(),
                            None,
                        )
                    };
                    let inserted = sqlx::query(
                    "INSERT INTO notify_groups (group_key, receiver, route, group_labels, settings, \
                     created_at, next_flush_at, last_sent_at, sent_firing, version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1) ON CONFLICT (group_key) DO NOTHING",
                )
                .bind(e.key.clone())
                .bind(e.receiver.clone())
                .bind(e.route.clone())
                .bind(json(&e.group_labels)?)
                .bind(settings.clone())
                .bind(now_ms)
                .bind(next)
                .bind(last)
                .bind(log)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                    if inserted == 0 {
                        continue;
                    }
                    due = next;
                }
                Some(r) => {
                    let planned: Option<i64> = r.try_get("next_flush_at")?;
                    let last_sent: Option<i64> = r.try_get("last_sent_at")?;
                    let mut log: BTreeSet<String> =
                        serde_json::from_str(&r.try_get::<String, _>("sent_firing")?)
                            .map_err(corrupt)?;
                    let next = if sent {
                        log.insert(e.alert.fingerprint.clone());
                        planned
                    } else {
                        Some(next_flush_after_change(
                            &e.settings,
                            Some((planned, last_sent)),
                            now_ms,
                        ))
                    };
                    sqlx::query(
                    "UPDATE notify_groups SET next_flush_at = $1, settings = $2, sent_firing = $3, \
                     version = version + 1 WHERE group_key = $4",
                )
                .bind(next)
                .bind(settings.clone())
                .bind(json(&log)?)
                .bind(e.key.clone())
                .execute(&mut **tx)
                .await?;
                    due = next;
                }
            }
            break;
        }
        sqlx::query(
            "INSERT INTO notify_group_alerts (group_key, fingerprint, body, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (group_key, fingerprint) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(e.key.clone())
        .bind(e.alert.fingerprint.clone())
        .bind(json(&e.alert)?)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
        decisions.push(grouped(e, now_ms, due, sent));
    }
    write_decisions(tx, &decisions).await
}

/// The decision log's entry for one alert change joining its group.
fn grouped(e: &GroupEntry, now_ms: i64, due: Option<i64>, sent: bool) -> Decision {
    let text = if sent {
        format!(
            "{} change routed by route {} to {}; joined group {} as already notified",
            e.alert.state, e.route, e.receiver, e.group_labels
        )
    } else {
        format!(
            "{} change routed by route {} to {}; joined group {}",
            e.alert.state, e.route, e.receiver, e.group_labels
        )
    };
    Decision {
        receiver: Some(e.receiver.clone()),
        group_key: Some(e.key.clone()),
        until_ms: due,
        ..Decision::new(
            &e.alert.fingerprint,
            &e.alert.rule,
            now_ms,
            DecisionKind::Grouped,
            text,
        )
    }
}

impl Store {
    /// Adds alerts that fired before they had groups (an upgrade, a changed route) to
    /// their groups as already notified, so their resolves are sent and nothing repeats.
    pub async fn adopt_into_groups(
        &self,
        entries: &[GroupEntry],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        write_group_entries(&mut tx, self.dialect, entries, now_ms, true).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The fingerprints of every alert that belongs to some group.
    pub async fn grouped_fingerprints(&self) -> Result<HashSet<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT fingerprint FROM notify_group_alerts")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("fingerprint")?)).collect()
    }

    /// Claims up to `limit` groups due at `now_ms` for `lease_ms`, with their alerts.
    pub async fn claim_due_groups(
        &self,
        now_ms: i64,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<(GroupRecord, Vec<GroupMember>)>, StoreError> {
        let lock = match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE notify_groups SET claimed_until = $1 WHERE group_key IN (\
               SELECT group_key FROM notify_groups WHERE next_flush_at <= $2 \
               AND (claimed_until IS NULL OR claimed_until < $2) ORDER BY next_flush_at LIMIT $3{lock}) \
             RETURNING group_key, receiver, route, group_labels, settings, created_at, last_sent_at, \
             sent_firing, version"
        );
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&sql)
            .bind(now_ms + lease_ms)
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut groups = Vec::with_capacity(rows.len());
        for r in &rows {
            groups.push(GroupRecord {
                key: r.try_get("group_key")?,
                receiver: r.try_get("receiver")?,
                route: r.try_get("route")?,
                group_labels: serde_json::from_str(&r.try_get::<String, _>("group_labels")?)
                    .map_err(corrupt)?,
                settings: serde_json::from_str(&r.try_get::<String, _>("settings")?)
                    .map_err(corrupt)?,
                created_at_ms: r.try_get("created_at")?,
                last_sent_at_ms: r.try_get("last_sent_at")?,
                sent_firing: serde_json::from_str(&r.try_get::<String, _>("sent_firing")?)
                    .map_err(corrupt)?,
                version: r.try_get("version")?,
            });
        }
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=groups.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT group_key, fingerprint, body, updated_at FROM notify_group_alerts \
             WHERE group_key IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for g in &groups {
            q = q.bind(g.key.clone());
        }
        let mut members: HashMap<String, Vec<GroupMember>> = HashMap::new();
        for r in q.fetch_all(&self.pool).await? {
            let alert: AlertPayload =
                serde_json::from_str(&r.try_get::<String, _>("body")?).map_err(corrupt)?;
            members
                .entry(r.try_get("group_key")?)
                .or_default()
                .push(GroupMember {
                    fingerprint: r.try_get("fingerprint")?,
                    alert,
                    updated_at_ms: r.try_get("updated_at")?,
                });
        }
        Ok(groups
            .into_iter()
            .map(|g| {
                let mut m = members.remove(&g.key).unwrap_or_default();
                m.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
                (g, m)
            })
            .collect())
    }

    /// Writes flush results in ONE transaction: the notifications, the notification log,
    /// the resolved alerts leaving their groups, and the next flush times. A group that
    /// changed since it was read keeps its alerts and is flushed again at once.
    pub async fn settle_groups(
        &self,
        now_ms: i64,
        settled: &[SettledGroup],
    ) -> Result<(), StoreError> {
        if settled.is_empty() {
            return Ok(());
        }
        let lock = match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        };
        let mut tx = self.begin_write().await?;
        let messages: Vec<NewMessage> = settled.iter().filter_map(|s| s.message.clone()).collect();
        insert_messages(&mut tx, &messages).await?;
        for s in settled {
            write_decisions(&mut tx, &s.decisions).await?;
        }
        // In key order, as write_group_entries locks them (no deadlock between the two).
        let mut ordered: Vec<&SettledGroup> = settled.iter().collect();
        ordered.sort_by(|a, b| a.key.cmp(&b.key));
        for s in ordered {
            let version: Option<i64> = sqlx::query(&format!(
                "SELECT version FROM notify_groups WHERE group_key = $1{lock}"
            ))
            .bind(s.key.clone())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("version"))
            .transpose()?;
            let Some(version) = version else { continue };
            let changed = version != s.version;
            if !changed {
                for (fp, updated_at) in &s.flush.remove {
                    sqlx::query(
                        "DELETE FROM notify_group_alerts WHERE group_key = $1 AND fingerprint = $2 \
                         AND updated_at = $3",
                    )
                    .bind(s.key.clone())
                    .bind(fp.clone())
                    .bind(*updated_at)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let remaining: i64 =
                sqlx::query("SELECT COUNT(*) AS n FROM notify_group_alerts WHERE group_key = $1")
                    .bind(s.key.clone())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
            if remaining == 0 && !changed {
                sqlx::query("DELETE FROM notify_groups WHERE group_key = $1")
                    .bind(s.key.clone())
                    .execute(&mut *tx)
                    .await?;
                continue;
            }
            let next = if changed {
                Some(now_ms)
            } else {
                s.flush.next_flush_at_ms
            };
            sqlx::query(
                "UPDATE notify_groups SET sent_firing = $1, last_sent_at = $2, next_flush_at = $3, \
                 holding = $5, claimed_until = NULL WHERE group_key = $4",
            )
            .bind(json(&s.flush.sent_firing)?)
            .bind(s.flush.last_sent_at_ms)
            .bind(next)
            .bind(s.key.clone())
            .bind(s.flush.held.len() as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The earliest planned flush of any group (unix ms).
    pub async fn next_group_flush(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT MIN(next_flush_at) AS t FROM notify_groups")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("t")?)
    }

    /// Plans every group holding alerts back to flush at `now_ms` (a silence ended, an
    /// inhibiting alert resolved), instead of at its next recheck.
    pub async fn flush_held_groups_now(&self, now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE notify_groups SET next_flush_at = $1 WHERE holding > 0 AND next_flush_at > $1",
        )
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The fingerprint and labels of every firing alert (what inhibit rules look at).
    pub async fn firing_alert_labels(&self) -> Result<Vec<(String, Labels)>, StoreError> {
        let rows = sqlx::query("SELECT fingerprint, body FROM alerts WHERE state = 'firing'")
            .fetch_all(&self.pool)
            .await?;
        #[derive(serde::Deserialize)]
        struct LabelsOnly {
            labels: Labels,
        }
        rows.iter()
            .map(|r| {
                let body: LabelsOnly =
                    serde_json::from_str(&r.try_get::<String, _>("body")?).map_err(corrupt)?;
                Ok((r.try_get("fingerprint")?, body.labels))
            })
            .collect()
    }
}
