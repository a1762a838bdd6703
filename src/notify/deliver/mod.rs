//! Sending: the dispatcher claims due outbox rows and hands each to its receiver's sender
//! (webhook, email, Alertmanager) under the address policy; a failed attempt's verdict
//! (retry after, dead, disable) is a value of its own, applied with receiver health.

pub mod address_policy;
pub mod allowlist;
pub mod dispatcher;
pub mod email;
pub mod receiver_gate;
pub mod receiver_health;
pub mod resolver;
pub mod retry;
pub mod sender;
pub mod settings;
pub mod signing;
pub mod smtp_transport;
pub mod verdict;
pub mod webhook;
