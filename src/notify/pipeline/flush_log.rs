//! What one group flush adds to the decision log: each alert newly held back and why,
//! each alert sent and in which notification, each resolve not sent and why.

use crate::model::decision::{Decision, DecisionKind};
use crate::model::group::{Flush, GroupMember, GroupRecord, Hold};

/// The decisions of one flush of `group`: `newly_held` are the holds that began at this
/// flush (a hold is logged once, not at every look), `message_id` the notification the
/// flush wrote, if any.
pub fn flush_decisions(
    group: &GroupRecord,
    members: &[GroupMember],
    decided: &Flush,
    newly_held: &[(String, Hold)],
    message_id: &str,
    now_ms: i64,
) -> Vec<Decision> {
    let rule_of = |fp: &str| {
        members
            .iter()
            .find(|m| m.fingerprint == fp)
            .map_or("", |m| m.alert.rule.as_str())
    };
    let mut out: Vec<Decision> = newly_held
        .iter()
        .map(|(fp, hold)| {
            Decision::held(fp, rule_of(fp), now_ms, hold, &group.receiver, &group.key)
        })
        .collect();
    if let Some(n) = &decided.notification {
        let repeat = n
            .alerts
            .iter()
            .all(|a| group.sent_firing.contains(&a.fingerprint));
        for a in &n.alerts {
            let text = format!(
                "sent as {} in notification {message_id} to {}{} ({} alert{} in group {})",
                a.state,
                group.receiver,
                if repeat { ", a repeat" } else { "" },
                n.alerts.len(),
                if n.alerts.len() == 1 { "" } else { "s" },
                group.group_labels,
            );
            out.push(Decision {
                receiver: Some(group.receiver.clone()),
                group_key: Some(group.key.clone()),
                message_id: Some(message_id.to_owned()),
                ..Decision::new(&a.fingerprint, &a.rule, now_ms, DecisionKind::Sent, text)
            });
        }
    }
    if !group.settings.send_resolved {
        for (fp, _) in decided
            .remove
            .iter()
            .filter(|(fp, _)| group.sent_firing.contains(fp))
        {
            let text = format!(
                "resolve not sent to {}: the receiver has send_resolved = false",
                group.receiver
            );
            out.push(Decision {
                receiver: Some(group.receiver.clone()),
                group_key: Some(group.key.clone()),
                ..Decision::new(fp, rule_of(fp), now_ms, DecisionKind::ResolveNotSent, text)
            });
        }
    }
    out
}
