//! Notifications: payloads, signing, webhook delivery, retries, and the dispatcher.
//! The only module that talks to receivers.

pub mod dispatcher;
pub mod payload;
pub mod retry;
pub mod signing;
pub mod webhook;

pub use dispatcher::{Dispatcher, StepOutcome};
