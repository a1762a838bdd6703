//! Notifications, the only module that talks to receivers, in four folders:
//! [`pipeline`] (alert changes into groups, and each due group's flush), [`mute`] (why a
//! notification is held back), [`render`] (payload, body formats, templates) and
//! [`deliver`] (the dispatcher, one sender per receiver kind, the address policy every
//! outbound connection goes through, retries and receiver health).

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod deliver;
pub mod mute;
pub mod pipeline;
pub mod render;

// Each file's old path, `notify::<file>`, stays valid: the folders say what a file is for;
// these keep the many callers (and the other modules' tests) unchanged.
pub use deliver::{
    address_policy, allowlist, dispatcher, email, receiver_gate, receiver_health, resolver, retry,
    sender, settings, signing, smtp_transport, webhook,
};
pub use mute::{flap, inhibit, silence, time_interval};
pub use pipeline::{group, group_flusher, intake, policy, route};
pub use render::{alertmanager, body, payload, preview, sample, slack, template};

pub use dispatcher::{Dispatcher, StepOutcome};
