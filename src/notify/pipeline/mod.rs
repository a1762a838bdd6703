//! The path from an evaluation's alert changes to the outbox: the policy routes each change
//! into its groups, and the flusher decides each due group's notification.

pub mod group;
pub mod group_flusher;
pub mod policy;
pub mod route;
