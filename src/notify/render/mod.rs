//! What a receiver is sent: the versioned payload, the body formats (driftwatch,
//! Alertmanager, Slack), user templates, and the sample and preview that show them.

pub mod alertmanager;
pub mod body;
pub mod payload;
pub mod preview;
pub mod sample;
pub mod slack;
pub mod template;
