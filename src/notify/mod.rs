//! Notifications: routing, grouping, silences, inhibition, time intervals, payloads,
//! signing, body formats and templates, the address policy every outbound connection
//! goes through, webhook, email and Alertmanager delivery, retries, and the dispatcher.
//! The only module that talks to receivers.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod address_policy;
pub mod alertmanager;
pub mod allowlist;
pub mod body;
pub mod dispatcher;
pub mod email;
pub mod flap;
pub mod group;
pub mod group_flusher;
pub mod inhibit;
pub mod payload;
pub mod policy;
pub mod preview;
pub mod receiver_gate;
pub mod receiver_health;
pub mod resolver;
pub mod retry;
pub mod route;
pub mod sample;
pub mod sender;
pub mod settings;
pub mod signing;
pub mod silence;
pub mod slack;
pub mod smtp_transport;
pub mod template;
pub mod time_interval;
pub mod webhook;

pub use dispatcher::{Dispatcher, StepOutcome};
