//! Notification groups as values: a group's timing settings and the rule for its next
//! flush after a change, the stored group and its members, and what a flush decided.
//! notify decides; the store keeps them; neither needs the other's code for that.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::payload::{AlertPayload, WebhookPayload};
use crate::model::{AlertState, Labels};

/// When a group's notifications go out; stored with each group so a flush uses the
/// settings the group was made with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSettings {
    /// Wait after a group's first alert, so alerts arriving together go out together.
    pub group_wait_ms: i64,
    /// Wait after a notification before one about changes to the same group.
    pub group_interval_ms: i64,
    /// Resend a group that still fires after this long; `None`: never.
    pub repeat_interval_ms: Option<i64>,
    /// Whether resolved alerts are notified (the receiver's `send_resolved`).
    pub send_resolved: bool,
    /// Time intervals during which the route sends nothing.
    pub mute_time_intervals: Vec<String>,
    /// Time intervals outside which the route sends nothing (empty: always active).
    pub active_time_intervals: Vec<String>,
}

/// A stored alert group and its notification log.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    /// Stable key (route, receiver, group labels).
    pub key: String,
    /// Receiver notified.
    pub receiver: String,
    /// Route id it was formed on.
    pub route: String,
    /// The labels the group was formed by.
    pub group_labels: Labels,
    /// Timing and resolve settings.
    pub settings: GroupSettings,
    /// When its first alert arrived (unix ms).
    pub created_at_ms: i64,
    /// Notification log: when the group was last notified.
    pub last_sent_at_ms: Option<i64>,
    /// Notification log: the alerts the last notification listed as firing.
    pub sent_firing: BTreeSet<String>,
    /// Bumped by every change to its alerts, so a flush notices changes made meanwhile.
    pub version: i64,
}

/// One alert in a group, as of its last transition.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMember {
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert as notifications list it.
    pub alert: AlertPayload,
    /// When it was written (unix ms).
    pub updated_at_ms: i64,
}

impl GroupMember {
    /// Whether the alert fires (anything but resolved).
    pub fn firing(&self) -> bool {
        self.alert.state != AlertState::Resolved
    }
}

/// Why a firing alert is held back from its receivers.
#[derive(Debug, Clone, PartialEq)]
pub enum Hold {
    /// A silence matches it (id, end).
    Silenced {
        /// The silence's id.
        id: String,
        /// When the silence ends (unix ms).
        until_ms: i64,
    },
    /// A firing alert explains it (that alert's fingerprint).
    Inhibited(String),
}

/// What one flush decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Flush {
    /// The notification to send, if any.
    pub notification: Option<WebhookPayload>,
    /// The notification log's new firing set.
    pub sent_firing: BTreeSet<String>,
    /// The notification log's new send time.
    pub last_sent_at_ms: Option<i64>,
    /// Resolved alerts leaving the group: (fingerprint, the `updated_at` read).
    pub remove: Vec<(String, i64)>,
    /// When to flush again (`None`: when its alerts change).
    pub next_flush_at_ms: Option<i64>,
    /// Firing alerts held back, and why.
    pub held: Vec<(String, Hold)>,
    /// Alerts notified as resolved by this flush.
    pub resolved_sent: Vec<String>,
}

/// When a group that just received an alert change should flush: a new group after
/// `group_wait`; one that has notified not before `group_interval` since; never later
/// than a flush already planned.
///
/// A rule of the settings, kept with them: the store applies it inside the transaction
/// that reads the group's planned flush and last send, so a concurrent flush cannot make
/// the plan stale; it is a pure function of those values.
pub fn next_flush_after_change(
    settings: &GroupSettings,
    existing: Option<(Option<i64>, Option<i64>)>,
    now_ms: i64,
) -> i64 {
    match existing {
        None => now_ms + settings.group_wait_ms,
        Some((planned, last_sent)) => {
            let due = match last_sent {
                Some(last) => now_ms.max(last + settings.group_interval_ms),
                // Created but not yet flushed: the group_wait flush is already planned.
                None => planned.unwrap_or(now_ms),
            };
            planned.map_or(due, |p| p.min(due))
        }
    }
}
