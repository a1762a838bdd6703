//! Rule leases in the store, for replicas sharing one PostgreSQL store: which replica
//! evaluates which rule, until when, under which fencing token; and the heartbeats that
//! say which replicas are alive. The lease rules (how many to hold, when to renew) are
//! the caller's; this file only reads and writes rows, each change one statement.

use std::time::Duration;

use sqlx::{Any, Row, Transaction};

use super::{Store, StoreError};

/// How a replica takes part in sharing rules, from `[cluster]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseSettings {
    /// This replica's name in the lease table (unique among the replicas).
    pub replica_id: String,
    /// How long a lease lasts unless renewed; a stopped replica's rules move after it.
    pub ttl: Duration,
}

/// The lease an evaluation's commit must still hold (fencing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The rule.
    pub rule: String,
    /// The replica that holds it.
    pub owner: String,
    /// The token it was granted with.
    pub token: i64,
}

/// One row of the lease table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LeaseRow {
    /// The rule.
    pub rule: String,
    /// Its holder, if any.
    pub owner: Option<String>,
    /// The fencing token of the current (or last) holder.
    pub token: i64,
    /// When the lease ends unless renewed (unix ms).
    pub expires_at_ms: i64,
}

/// Checks, inside a commit's transaction, that `fence` is still the rule's lease; the row
/// is locked until the commit ends, so no new holder can be granted in between.
pub(super) async fn check_fence(
    tx: &mut Transaction<'static, Any>,
    fence: &Fence,
    lock: &str,
) -> Result<(), StoreError> {
    let row = sqlx::query(&format!(
        "SELECT owner, token FROM rule_leases WHERE rule = $1{lock}"
    ))
    .bind(fence.rule.clone())
    .fetch_optional(&mut **tx)
    .await?;
    let held = match row {
        Some(r) => {
            let owner: Option<String> = r.try_get("owner")?;
            let token: i64 = r.try_get("token")?;
            owner.as_deref() == Some(fence.owner.as_str()) && token == fence.token
        }
        None => false,
    };
    if held {
        Ok(())
    } else {
        Err(StoreError::Fenced(format!(
            "rule {} is no longer leased to {} with token {}",
            fence.rule, fence.owner, fence.token
        )))
    }
}

impl Store {
    /// Records that `replica` is alive at `now_ms`, and adds a lease row for each rule
    /// that has none.
    pub async fn heartbeat(
        &self,
        replica: &str,
        now_ms: i64,
        rules: &[String],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO replicas (id, seen_at) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(replica.to_owned())
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        for rule in rules {
            sqlx::query("INSERT INTO rule_leases (rule) VALUES ($1) ON CONFLICT (rule) DO NOTHING")
                .bind(rule.clone())
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// How many replicas have beaten since `since_ms`.
    pub async fn live_replicas(&self, since_ms: i64) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM replicas WHERE seen_at >= $1")
            .bind(since_ms)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Every lease row, by rule name.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        let rows =
            sqlx::query("SELECT rule, owner, token, expires_at FROM rule_leases ORDER BY rule")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(LeaseRow {
                    rule: r.try_get("rule")?,
                    owner: r.try_get("owner")?,
                    token: r.try_get("token")?,
                    expires_at_ms: r.try_get("expires_at")?,
                })
            })
            .collect()
    }

    /// Takes `rule`'s lease for `replica` until `until_ms` if nobody holds it (or its
    /// holder's lease ran out), with a new token; returns that token.
    pub async fn acquire_lease(
        &self,
        rule: &str,
        replica: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "UPDATE rule_leases SET owner = $1, token = token + 1, expires_at = $2 \
             WHERE rule = $3 AND (owner IS NULL OR expires_at < $4) RETURNING token",
        )
        .bind(replica.to_owned())
        .bind(until_ms)
        .bind(rule.to_owned())
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("token")).transpose()?)
    }

    /// Extends a lease `replica` holds with `token` to `until_ms`; false when it no
    /// longer holds it.
    pub async fn renew_lease(
        &self,
        rule: &str,
        replica: &str,
        token: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE rule_leases SET expires_at = $1 WHERE rule = $2 AND owner = $3 AND token = $4",
        )
        .bind(until_ms)
        .bind(rule.to_owned())
        .bind(replica.to_owned())
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a lease up (a rebalance, or a stop), so another replica may take it at once.
    pub async fn release_lease(
        &self,
        rule: &str,
        replica: &str,
        token: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rule_leases SET owner = NULL, expires_at = 0 WHERE rule = $1 AND owner = $2 AND token = $3",
        )
        .bind(rule.to_owned())
        .bind(replica.to_owned())
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A lease's default lifetime.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);
