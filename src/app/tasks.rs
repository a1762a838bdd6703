//! The service's long-running tasks, by name, so that a shutdown can wait for them
//! against one deadline and say which ones it abandoned.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::{Id, JoinSet};
use tokio::time::Instant;

/// Tasks that run until the shutdown token is cancelled.
#[derive(Default)]
pub(crate) struct NamedTasks {
    set: JoinSet<()>,
    names: HashMap<Id, String>,
}

impl NamedTasks {
    /// Starts `task` under `name` (used only in the log line of an abandoned task).
    pub(crate) fn spawn(
        &mut self,
        name: impl Into<String>,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let handle = self.set.spawn(task);
        self.names.insert(handle.id(), name.into());
    }

    /// Waits for every task to end, until `deadline`; then aborts those still running
    /// and logs their names. Returns how many were abandoned.
    pub(crate) async fn join_until(&mut self, deadline: Instant) -> usize {
        loop {
            match tokio::time::timeout_at(deadline, self.set.join_next_with_id()).await {
                Ok(Some(Ok((id, ())))) => self.forget(id),
                Ok(Some(Err(e))) => self.forget(e.id()),
                Ok(None) => return 0,
                Err(_) => break,
            }
        }
        let mut left: Vec<&str> = self.names.values().map(String::as_str).collect();
        left.sort_unstable();
        tracing::warn!(
            tasks = ?left,
            "shutdown grace over: abandoning tasks still running \
             (deliveries in flight stay in the outbox and are retried)"
        );
        self.set.abort_all();
        left.len()
    }

    fn forget(&mut self, id: Id) {
        self.names.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn tasks_past_the_deadline_are_abandoned_and_counted() {
        let mut tasks = NamedTasks::default();
        tasks.spawn("quick", async {});
        tasks.spawn("stuck", std::future::pending());
        let deadline = Instant::now() + Duration::from_millis(100);
        assert_eq!(tasks.join_until(deadline).await, 1);
        let late = Instant::now() - deadline;
        assert!(
            late < Duration::from_millis(50),
            "waited until the deadline only"
        );
        assert_eq!(tasks.names.values().collect::<Vec<_>>(), ["stuck"]);
    }
}
