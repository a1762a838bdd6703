//! Time as a value passed in, so tests control it instead of sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::watch;

/// A wait handed out by [`Clock::sleep_until`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Waits until the clock reads `at` or later. The default sleeps in real time for
    /// the difference, which is right for clocks that move by themselves.
    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep {
        let wait = (at - self.now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; shared between clones. Its sleepers wake when
/// it is moved past their instant, and it counts them, so a test can step it and then
/// wait until every task has done what fell due and is asleep again.
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<watch::Sender<i64>>,
    /// The instants (ms) current sleepers wait for, one entry each.
    sleepers: Arc<watch::Sender<Vec<i64>>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            millis: Arc::new(watch::Sender::new(start.timestamp_millis())),
            sleepers: Arc::new(watch::Sender::new(Vec::new())),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        self.millis
            .send_modify(|ms| *ms = ms.saturating_add(by.as_millis() as i64));
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        self.millis.send_replace(to.timestamp_millis());
    }

    /// Waits until at least `n` sleepers wait for an instant after the clock's reading:
    /// everything that fell due has run and gone back to sleep.
    pub async fn sleeping(&self, n: usize) {
        let now = *self.millis.borrow();
        let mut sleepers = self.sleepers.subscribe();
        // The sender lives as long as `self`, so this wait cannot fail.
        let _ = sleepers
            .wait_for(|at| at.iter().filter(|t| **t > now).count() >= n)
            .await;
    }
}

/// One registered sleeper; unregisters when the wait ends or is dropped.
struct Sleeper {
    sleepers: Arc<watch::Sender<Vec<i64>>>,
    at: i64,
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        self.sleepers.send_modify(|all| {
            if let Some(i) = all.iter().position(|t| *t == self.at) {
                all.swap_remove(i);
            }
        });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(*self.millis.borrow())
            .single()
            .unwrap_or_default()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep {
        let at = at.timestamp_millis();
        let mut millis = self.millis.subscribe();
        self.sleepers.send_modify(|all| all.push(at));
        let sleeper = Sleeper {
            sleepers: Arc::clone(&self.sleepers),
            at,
        };
        Box::pin(async move {
            let _registered = sleeper;
            // The sender lives as long as the clock; if it is gone, nothing will wake us.
            if millis.wait_for(|ms| *ms >= at).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::sync::Notify;

    #[tokio::test]
    async fn a_manual_sleeper_wakes_when_the_clock_passes_its_instant() {
        let t0 = Utc.timestamp_opt(1_000_000, 0).unwrap();
        let clock = ManualClock::new(t0);
        let (at, woke) = (t0 + chrono::Duration::seconds(60), Arc::new(Notify::new()));
        let (sleeper, done) = (clock.sleep_until(at), Arc::clone(&woke));
        let task = tokio::spawn(async move {
            sleeper.await;
            done.notify_one();
        });
        clock.sleeping(1).await;
        clock.advance(Duration::from_secs(59));
        let early = tokio::time::timeout(Duration::from_millis(50), woke.notified()).await;
        assert!(early.is_err(), "woke a second before its instant");
        clock.advance(Duration::from_secs(1));
        task.await.unwrap();
        assert!(
            clock.sleepers.borrow().is_empty(),
            "the woken sleeper unregistered"
        );
    }
}
