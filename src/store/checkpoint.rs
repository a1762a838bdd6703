//! SQLite's write-ahead-log checkpoints, run by a background task rather than inside a
//! commit.
//!
//! SQLite copies the log back into the database file (and syncs it) when the log passes
//! `wal_autocheckpoint` pages, in whichever connection commits then: an evaluation's
//! commit of a few hundred baselines took 126 ms instead of 1–30 ms when it fell on one.
//! The service checkpoints every few seconds from its own task; the high automatic limit
//! stays as a backstop for processes that run no such task and for a checkpoint that
//! cannot keep up.

use crate::sources::dialect::Dialect;
use crate::store::{Store, StoreError};

/// Pages of log (4 KiB each) after which a commit still checkpoints by itself: 64 MiB,
/// far above what the service writes between two of its own checkpoints.
pub(super) const AUTO_CHECKPOINT_PAGES: u32 = 16_384;

impl Store {
    /// Copies the write-ahead log into the database file without waiting for, or
    /// blocking, readers and writers (SQLite's passive checkpoint). PostgreSQL
    /// checkpoints by itself: nothing to do there.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.dialect == Dialect::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use crate::model::{fingerprint, Labels};
    use crate::store::{CommitBatch, Store};

    /// Commits leave their pages in the log (no commit checkpoints at this size), and a
    /// checkpoint copies them into the database file.
    #[tokio::test]
    async fn a_checkpoint_copies_the_log_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let limit: i64 = sqlx::query("PRAGMA wal_autocheckpoint")
            .fetch_one(&store.pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(limit, i64::from(super::AUTO_CHECKPOINT_PAGES));
        let baselines = (0..300)
            .map(|i| {
                let labels = Labels::new().with("series", format!("s{i}"));
                ("r".to_owned(), fingerprint("r", &labels), "x".repeat(1000))
            })
            .collect();
        let batch = CommitBatch {
            at_ms: 1,
            baselines,
            ..Default::default()
        };
        store.commit(&batch).await.unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        store.checkpoint().await.unwrap();
        let after = std::fs::metadata(&path).unwrap().len();
        assert!(after >= before + 250_000, "{before} -> {after} bytes");
        store.close().await;
    }
}
