//! The path from an evaluation's alert changes to the outbox: intake routes each change
//! into its groups (with flap control), and the flusher decides each due group's
//! notification with the muters in force.

pub mod flush_log;
pub mod group;
pub mod group_flusher;
pub mod intake;
pub mod policy;
pub mod route;
