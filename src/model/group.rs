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

/// Why a notification is held back, and until when: what every muting reason answers
/// (`notify::mute::Muter`), and what the decision log records.
#[derive(Debug, Clone, PartialEq)]
pub enum Hold {
    /// A silence matches the alert (id, end).
    Silenced {
        /// The silence's id.
        id: String,
        /// When the silence ends (unix ms).
        until_ms: i64,
    },
    /// A firing alert explains it (that alert's fingerprint).
    Inhibited(String),
    /// A time interval the group's route is muted in holds now.
    MuteInterval {
        /// The interval's name.
        name: String,
        /// When to look again (the next minute boundary; unix ms).
        until_ms: i64,
    },
    /// The group's route is active only within these time intervals, and none holds now.
    OutsideActiveIntervals {
        /// The intervals' names.
        names: Vec<String>,
        /// When to look again (the next minute boundary; unix ms).
        until_ms: i64,
    },
}

impl Hold {
    /// Until when the hold is known to last (unix ms); `None`: as long as its cause (an
    /// inhibiting alert) fires.
    pub fn until_ms(&self) -> Option<i64> {
        match self {
            Hold::Silenced { until_ms, .. }
            | Hold::MuteInterval { until_ms, .. }
            | Hold::OutsideActiveIntervals { until_ms, .. } => Some(*until_ms),
            Hold::Inhibited(_) => None,
        }
    }

    /// Whether it holds the whole group (a time interval mutes the route) rather than
    /// one alert.
    pub fn holds_group(&self) -> bool {
        matches!(
            self,
            Hold::MuteInterval { .. } | Hold::OutsideActiveIntervals { .. }
        )
    }

    /// The hold in words, as an explanation names it.
    pub fn describe(&self) -> String {
        match self {
            Hold::Silenced { id, .. } => format!("silenced by {id}"),
            Hold::Inhibited(by) => format!("inhibited by {by}"),
            Hold::MuteInterval { name, .. } => format!("muted by time interval {name}"),
            Hold::OutsideActiveIntervals { names, .. } => {
                format!("outside its active time intervals {}", names.join(", "))
            }
        }
    }
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
    /// The hold on the whole group (a time interval mutes its route), if any: then
    /// nothing is sent and nothing leaves it.
    pub group_hold: Option<Hold>,
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
