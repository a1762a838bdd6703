//! Notifications: routing, grouping, silences, inhibition, time intervals, payloads,
//! signing, webhook delivery (with its address policy), retries, and the dispatcher.
//! The only module that talks to receivers.

pub mod address_policy;
pub mod dispatcher;
pub mod flap;
pub mod group;
pub mod group_flusher;
pub mod inhibit;
pub mod payload;
pub mod policy;
pub mod receiver_gate;
pub mod receiver_health;
pub mod resolver;
pub mod retry;
pub mod route;
pub mod signing;
pub mod silence;
pub mod silence_client;
pub mod time_interval;
pub mod webhook;

pub use dispatcher::{Dispatcher, StepOutcome};
