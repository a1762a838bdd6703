//! Grouping: what one flush of an alert group sends, decided from the group's alerts,
//! what the muters (silences, inhibition, time intervals) hold back, and the
//! notification log (what was sent last and when). Pure: the store keeps groups and
//! logs, `group_flusher` runs flushes.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::model::payload::AlertPayload;
use crate::notify::mute::{alert_hold, group_hold, Muter};
use crate::notify::render::payload::group_payload;

use crate::model::group::{Flush, GroupMember, GroupRecord};

/// Shortest wait before a group holding muted alerts looks again.
const HELD_RECHECK_MS: i64 = 1_000;

/// Decides one flush of `group` at `now`, asking `muters` why a firing member (or the
/// whole group) is held back. A group held whole (a time interval mutes its route) sends
/// nothing and keeps its alerts, so the notification goes out after.
pub fn flush(
    group: &GroupRecord,
    members: &[GroupMember],
    muters: &[&dyn Muter],
    now: DateTime<Utc>,
    id: &str,
) -> Flush {
    let now_ms = now.timestamp_millis();
    if let Some(hold) = group_hold(muters, group, now) {
        let until = hold.until_ms().unwrap_or(now_ms);
        return Flush {
            notification: None,
            sent_firing: group.sent_firing.clone(),
            last_sent_at_ms: group.last_sent_at_ms,
            remove: Vec::new(),
            next_flush_at_ms: Some(until.max(now_ms + HELD_RECHECK_MS)),
            held: Vec::new(),
            group_hold: Some(hold),
            resolved_sent: Vec::new(),
        };
    }
    let settings = &group.settings;
    let mut visible: Vec<&GroupMember> = Vec::new();
    let mut held = Vec::new();
    let mut resolved: Vec<&GroupMember> = Vec::new();
    for m in members {
        if !m.firing() {
            resolved.push(m);
        } else if let Some(h) = alert_hold(muters, group, m, now) {
            held.push((m.fingerprint.clone(), h));
        } else {
            visible.push(m);
        }
    }
    let was_sent = |m: &&GroupMember| group.sent_firing.contains(&m.fingerprint);
    let new_firing = visible.iter().any(|m| !was_sent(m));
    let resolved_known: Vec<&GroupMember> = resolved.iter().copied().filter(was_sent).collect();
    let repeat_due = !visible.is_empty()
        && match (settings.repeat_interval_ms, group.last_sent_at_ms) {
            (Some(every), Some(last)) => now_ms - last >= every,
            _ => false,
        };
    let send = new_firing || repeat_due || (settings.send_resolved && !resolved_known.is_empty());

    // Alerts held now but sent before stay in the log: receivers still hold them as
    // firing, so neither a resolve nor a repeat of them is due when the hold ends.
    let held_sent: BTreeSet<String> = held
        .iter()
        .filter(|(fp, _)| group.sent_firing.contains(fp))
        .map(|(fp, _)| fp.clone())
        .collect();
    let (notification, sent_firing, last_sent_at_ms, resolved_sent) = if send {
        let mut alerts: Vec<AlertPayload> = visible.iter().map(|m| m.alert.clone()).collect();
        alerts.sort_by(|a, b| (&a.starts_at, &a.fingerprint).cmp(&(&b.starts_at, &b.fingerprint)));
        let mut resolved_sent = Vec::new();
        if settings.send_resolved {
            for m in &resolved_known {
                alerts.push(m.alert.clone());
                resolved_sent.push(m.fingerprint.clone());
            }
        }
        let mut log: BTreeSet<String> = visible.iter().map(|m| m.fingerprint.clone()).collect();
        log.extend(held_sent);
        (
            Some(group_payload(
                id,
                &group.receiver,
                &group.key,
                &group.group_labels,
                alerts,
                now,
            )),
            log,
            Some(now_ms),
            resolved_sent,
        )
    } else {
        let mut log = group.sent_firing.clone();
        for m in &resolved {
            log.remove(&m.fingerprint);
        }
        (None, log, group.last_sent_at_ms, Vec::new())
    };

    let mut next: Option<i64> = None;
    let mut sooner = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
    for (_, h) in &held {
        let recheck = now_ms + settings.group_interval_ms.max(HELD_RECHECK_MS);
        match h.until_ms() {
            Some(until_ms) => sooner(until_ms.clamp(now_ms + 1, recheck)),
            None => sooner(recheck),
        }
    }
    if let (false, Some(every), Some(last)) = (
        visible.is_empty(),
        settings.repeat_interval_ms,
        last_sent_at_ms,
    ) {
        sooner(last + every);
    }
    Flush {
        notification,
        sent_firing,
        last_sent_at_ms,
        remove: resolved
            .iter()
            .map(|m| (m.fingerprint.clone(), m.updated_at_ms))
            .collect(),
        next_flush_at_ms: next,
        held,
        group_hold: None,
        resolved_sent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::group::{next_flush_after_change, GroupSettings, Hold};
    use crate::model::{AlertState, Labels};

    fn settings() -> GroupSettings {
        GroupSettings {
            group_wait_ms: 30_000,
            group_interval_ms: 300_000,
            repeat_interval_ms: Some(4 * 3_600_000),
            send_resolved: true,
            mute_time_intervals: vec![],
            active_time_intervals: vec![],
        }
    }

    fn group(sent: &[&str], last: Option<i64>) -> GroupRecord {
        GroupRecord {
            key: "g".into(),
            receiver: "ops".into(),
            route: "root".into(),
            group_labels: Labels::from([("rule", "latency")]),
            settings: settings(),
            created_at_ms: 0,
            last_sent_at_ms: last,
            sent_firing: sent.iter().map(|s| s.to_string()).collect(),
            version: 1,
        }
    }

    fn member(fp: &str, state: AlertState) -> GroupMember {
        GroupMember {
            fingerprint: fp.into(),
            alert: AlertPayload {
                fingerprint: fp.into(),
                rule: "latency".into(),
                state,
                severity: "warning".into(),
                labels: Labels::from([("rule", "latency"), ("model", fp)]),
                annotations: Default::default(),
                value: Some(1.0),
                threshold: None,
                score: 1.0,
                starts_at: Some("2026-12-02T00:00:00.000Z".into()),
                ends_at: None,
                evaluation_id: None,
                slices: Vec::new(),
                examples: Vec::new(),
            },
            updated_at_ms: 5,
        }
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn a_new_group_sends_every_firing_alert_in_one_notification() {
        let members: Vec<_> = (0..50)
            .map(|i| member(&format!("a{i:02}"), AlertState::Firing))
            .collect();
        let f = flush(&group(&[], None), &members, &[], at(30_000), "m1");
        let n = f.notification.expect("sent");
        assert_eq!(n.alerts.len(), 50);
        assert_eq!(n.status, "firing");
        assert_eq!(n.common_labels, Labels::from([("rule", "latency")]));
        assert_eq!(f.sent_firing.len(), 50);
        assert_eq!(
            f.next_flush_at_ms,
            Some(30_000 + 4 * 3_600_000),
            "repeat planned"
        );
    }

    #[test]
    fn nothing_new_sends_nothing_until_the_repeat_interval() {
        let members = [member("a", AlertState::Firing)];
        let g = group(&["a"], Some(0));
        assert!(flush(&g, &members, &[], at(60_000), "m")
            .notification
            .is_none());
        let f = flush(&g, &members, &[], at(4 * 3_600_000), "m");
        assert_eq!(f.notification.unwrap().alerts.len(), 1, "repeated");
    }

    #[test]
    fn resolves_are_sent_for_notified_alerts_only_and_leave_the_group() {
        let members = [
            member("a", AlertState::Firing),
            member("b", AlertState::Resolved),
            member("c", AlertState::Resolved),
        ];
        let f = flush(&group(&["a", "b"], Some(0)), &members, &[], at(1), "m");
        let n = f.notification.unwrap();
        let states: Vec<_> = n
            .alerts
            .iter()
            .map(|a| (a.fingerprint.as_str(), a.state))
            .collect();
        assert_eq!(
            states,
            [("a", AlertState::Firing), ("b", AlertState::Resolved)]
        );
        assert_eq!(f.resolved_sent, ["b"]);
        assert_eq!(f.remove.len(), 2, "b and c leave");
        assert_eq!(f.sent_firing, BTreeSet::from(["a".to_owned()]));

        let mut quiet = group(&["a", "b"], Some(0));
        quiet.settings.send_resolved = false;
        let f = flush(&quiet, &members, &[], at(1), "m");
        assert!(f.notification.is_none(), "send_resolved = false");
        assert_eq!(f.sent_firing, BTreeSet::from(["a".to_owned()]));
    }

    #[test]
    fn held_alerts_wait_and_come_out_when_the_hold_ends() {
        let members = [
            member("a", AlertState::Firing),
            member("b", AlertState::Firing),
        ];
        struct SilencesB;
        impl Muter for SilencesB {
            fn hold_alert(
                &self,
                _: &GroupRecord,
                m: &GroupMember,
                _: DateTime<Utc>,
            ) -> Option<Hold> {
                (m.fingerprint == "b").then(|| Hold::Silenced {
                    id: "s".into(),
                    until_ms: 10_000,
                })
            }
        }
        let f = flush(&group(&[], None), &members, &[&SilencesB], at(1_000), "m");
        assert_eq!(f.notification.unwrap().alerts.len(), 1, "only a");
        assert_eq!(
            f.next_flush_at_ms,
            Some(10_000),
            "looks again when the silence ends"
        );
        let g = GroupRecord {
            sent_firing: f.sent_firing,
            last_sent_at_ms: f.last_sent_at_ms,
            ..group(&[], None)
        };
        let f = flush(&g, &members, &[], at(10_000), "m");
        assert_eq!(
            f.notification.unwrap().alerts.len(),
            2,
            "b is new to the receiver"
        );
    }

    #[test]
    fn a_muted_route_sends_nothing_and_keeps_its_alerts() {
        let members = [member("a", AlertState::Resolved)];
        struct Night;
        impl Muter for Night {
            fn hold_group(&self, _: &GroupRecord, _: DateTime<Utc>) -> Option<Hold> {
                Some(Hold::MuteInterval {
                    name: "night".into(),
                    until_ms: 120_000,
                })
            }
        }
        let f = flush(&group(&["a"], Some(0)), &members, &[&Night], at(1), "m");
        assert!(f.notification.is_none());
        assert!(f.remove.is_empty(), "the resolve goes out after the mute");
        assert_eq!(f.next_flush_at_ms, Some(120_000));
    }

    #[test]
    fn changes_flush_after_group_wait_then_group_interval() {
        let s = settings();
        assert_eq!(next_flush_after_change(&s, None, 1_000), 31_000);
        assert_eq!(
            next_flush_after_change(&s, Some((Some(31_000), None)), 5_000),
            31_000
        );
        assert_eq!(
            next_flush_after_change(&s, Some((None, Some(40_000))), 60_000),
            340_000,
            "batched until group_interval after the last notification"
        );
        assert_eq!(
            next_flush_after_change(&s, Some((None, Some(0))), 900_000),
            900_000
        );
    }
}
