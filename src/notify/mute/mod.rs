//! Why a notification is held back: silences, inhibition by another firing alert, time
//! intervals that mute a route, and flap control. Each reason a group flush consults
//! is a [`Muter`], answering one question: hold? why? until when? (a [`Hold`]).

pub mod flap;
pub mod inhibit;
pub mod silence;
pub mod time_interval;

use chrono::{DateTime, Utc};

use crate::model::group::{GroupMember, GroupRecord, Hold};

/// One reason to hold notifications back, asked at each flush of a group.
pub trait Muter: Sync {
    /// Holds the whole group at `now` (nothing is sent, nothing leaves it), or `None`.
    fn hold_group(&self, _group: &GroupRecord, _now: DateTime<Utc>) -> Option<Hold> {
        None
    }

    /// Holds one firing alert of `group` back at `now`, or `None`.
    fn hold_alert(
        &self,
        _group: &GroupRecord,
        _member: &GroupMember,
        _now: DateTime<Utc>,
    ) -> Option<Hold> {
        None
    }
}

/// The first hold any of `muters` puts on the whole group.
pub fn group_hold(muters: &[&dyn Muter], group: &GroupRecord, now: DateTime<Utc>) -> Option<Hold> {
    muters.iter().find_map(|m| m.hold_group(group, now))
}

/// The first hold any of `muters` puts on one firing alert of the group.
pub fn alert_hold(
    muters: &[&dyn Muter],
    group: &GroupRecord,
    member: &GroupMember,
    now: DateTime<Utc>,
) -> Option<Hold> {
    muters.iter().find_map(|m| m.hold_alert(group, member, now))
}
