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

pub use deliver::dispatcher::{Dispatcher, StepOutcome};
