//! Notifications: payloads, signing, webhook delivery (with its address policy), retries,
//! and the dispatcher.
//! The only module that talks to receivers.

pub mod address_policy;
pub mod dispatcher;
pub mod payload;
pub mod receiver_gate;
pub mod receiver_health;
pub mod resolver;
pub mod retry;
pub mod signing;
pub mod silence;
pub mod silence_client;
pub mod webhook;

pub use dispatcher::{Dispatcher, StepOutcome};
