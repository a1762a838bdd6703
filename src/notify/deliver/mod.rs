//! Sending: the dispatcher claims due outbox rows and hands each to its receiver's sender
//! (webhook, email, Alertmanager) under the address policy; a failed attempt's verdict
//! (retry after, dead, disable) is a value of its own, applied with receiver health.
//! Each receiver kind's section as written and its validation into settings sit beside
//! its sender (`webhook_section.rs`, `email_section.rs`, `alertmanager_section.rs`).

pub mod address_policy;
pub mod alertmanager_section;
pub mod allowlist;
pub mod dispatcher;
pub mod email;
pub mod email_section;
pub mod receiver_gate;
pub mod receiver_health;
pub mod receiver_site;
pub mod resolver;
pub mod retry;
pub mod sender;
pub mod settings;
pub mod signing;
pub mod smtp_transport;
pub mod verdict;
pub mod webhook;
pub mod webhook_section;
