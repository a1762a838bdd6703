//! The backstop of a graceful shutdown: a plain thread that ends the process once the
//! grace (and a little slack for exiting) is over, whatever the runtime's workers are
//! still busy with (a long synchronous step cannot be cancelled, and dropping the
//! runtime waits for it).

use std::time::{Duration, Instant};

/// What the process may take past its grace to exit after the deadline has abandoned
/// the tasks still running.
pub const EXIT_SLACK: Duration = Duration::from_millis(500);

/// Ends the process with status 0 at `deadline` plus [`EXIT_SLACK`] unless it has ended
/// before. Deliveries in flight stay in the outbox (their claims expire), so nothing is
/// lost, only retried by the next process.
pub fn exit_at(deadline: Instant) {
    let spawned = std::thread::Builder::new()
        .name("shutdown-watchdog".to_owned())
        .spawn(move || {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()) + EXIT_SLACK);
            tracing::error!("still running past the shutdown grace; exiting with work abandoned");
            std::process::exit(0);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the shutdown watchdog");
    }
}
