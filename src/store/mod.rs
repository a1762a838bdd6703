//! driftwatch's own database: alert state, history, baselines and the notification
//! outbox. The only module that speaks SQL to it. SQLite by default, PostgreSQL by URL.

mod alerts;
mod baseline_journal;
mod baselines;
mod budgets;
mod checkpoint;
mod console;
mod console_list;
mod console_sessions;
mod correlation;
mod dead_letters;
mod decisions;
mod flaps;
mod groups;
pub mod lease_settings;
mod leases;
mod outbox;
mod receivers;
mod resume;
mod silences;
mod single_process;

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Transaction};

pub use alerts::{AlertChange, CommitBatch};
pub use baseline_journal::JournalTick;
pub use console_list::ListedAlert;
pub use correlation::{is_evaluation_id, NotificationRecord};
pub use dead_letters::DeadLetter;
pub use groups::{GroupEntry, SettledGroup};
pub use leases::{Fence, LeaseRow, LeaseSettings, DEFAULT_LEASE_TTL};
pub use outbox::{DeliveryResult, NewMessage, OutboxMessage, OutboxStats};
pub use receivers::{ReceiverState, Reenabled};
pub use resume::RuleState;
pub use single_process::{lock_single_process, ProcessLock};

use crate::sources::dialect::Dialect;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or could not be reached.
    #[error("store database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be read back.
    #[error("store row is corrupt: {0}")]
    Corrupt(String),
    /// The evaluation's rule is no longer leased to this replica under its token: another
    /// replica took it over, and this commit would overwrite what that one wrote.
    #[error("commit refused (fenced): {0}")]
    Fenced(String),
    /// The sqlite store is in use by another process.
    #[error("{0}")]
    InUse(String),
    /// The URL names no supported database.
    #[error("store url must start with sqlite: or postgres:")]
    BadUrl,
}

/// A handle on the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

impl Store {
    /// Opens (creating if needed) and migrates the store at `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url).ok_or(StoreError::BadUrl)?;
        let url = match dialect {
            Dialect::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL lets the dispatcher read while an evaluation writes; NORMAL
                        // sync survives a process crash (kill -9), which is the promise.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        // The service checkpoints from a task of its own (checkpoint.rs).
                        sqlx::query(&format!(
                            "PRAGMA wal_autocheckpoint = {}",
                            checkpoint::AUTO_CHECKPOINT_PAGES
                        ))
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        match dialect {
            Dialect::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Dialect::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Self { pool, dialect })
    }

    /// Which database this store runs on.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Starts a write transaction; on SQLite it takes the write lock up front so that
    /// two writers wait on each other instead of failing to upgrade a read lock.
    async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        })
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
