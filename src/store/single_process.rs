//! An sqlite store serves one process: while the service runs it holds an exclusive lock
//! on a file beside the database, and a second service started on the same file is told
//! so and refused, instead of both evaluating every rule and racing on the file.
//! (Replicas that share work use a PostgreSQL store and `[cluster] leases`.)

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use super::StoreError;

/// The lock; released when dropped (the service's stop), or by the OS if the process dies.
#[derive(Debug)]
pub struct ProcessLock {
    _file: File,
}

/// The database file of an sqlite store URL (`None`: not sqlite, or in memory).
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// Takes the store's single-process lock (`None` for a PostgreSQL or in-memory store).
pub fn lock_single_process(url: &str) -> Result<Option<ProcessLock>, StoreError> {
    let Some(db) = sqlite_path(url) else {
        return Ok(None);
    };
    let mut name = db.clone().into_os_string();
    name.push(".lock");
    let path = PathBuf::from(name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::InUse(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(ProcessLock { _file: file })),
        Err(TryLockError::WouldBlock) => Err(StoreError::InUse(format!(
            "the sqlite store {} is in use by another driftwatch process (it holds {}); an sqlite store serves one process — stop the other one, or share a PostgreSQL store with [cluster] leases = true",
            db.display(),
            path.display()
        ))),
        Err(TryLockError::Error(e)) => Err(StoreError::InUse(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_of_the_same_sqlite_store_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/store.db?mode=rwc", dir.path().display());
        let first = lock_single_process(&url).unwrap();
        assert!(first.is_some());
        let second = lock_single_process(&url).unwrap_err().to_string();
        assert!(
            second.contains("in use by another driftwatch process"),
            "{second}"
        );
        drop(first);
        assert!(lock_single_process(&url).unwrap().is_some());
        assert!(lock_single_process("postgres://x@127.0.0.1/db")
            .unwrap()
            .is_none());
        assert!(lock_single_process("sqlite::memory:").unwrap().is_none());
    }
}
