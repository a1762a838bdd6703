//! Flap control: an alert that starts firing and resolves too often within a window is
//! reported once as flapping and then held, instead of paging at every flip; when it
//! has kept one state for a quiet spell, that state is notified and normal service
//! resumes.

use chrono::{DateTime, Utc};

use crate::model::flap::FlapRecord;
use crate::model::AlertState;
use crate::notify::pipeline::policy::FlapControl;

/// What to notify about one alert change, or one evaluation of a flapping alert.
#[derive(Debug, Clone, PartialEq)]
pub enum FlapVerdict {
    /// Notify the change as usual.
    Notify,
    /// It just started flapping: notify it once as firing, marked flapping.
    StartedFlapping,
    /// It flaps: notify nothing.
    Hold,
    /// It settled after flapping: notify its state as it is now.
    Settled,
}

/// Records a notifying change of an alert at `at` in its record.
pub fn on_change(
    record: &mut FlapRecord,
    flap: Option<FlapControl>,
    at: DateTime<Utc>,
) -> FlapVerdict {
    let Some(flap) = flap else {
        return FlapVerdict::Notify;
    };
    let at_ms = at.timestamp_millis();
    let from = at_ms - flap.window.as_millis() as i64;
    record.changes.retain(|&t| t > from);
    record.changes.push(at_ms);
    if record.flapping {
        FlapVerdict::Hold
    } else if record.changes.len() >= flap.threshold {
        record.flapping = true;
        FlapVerdict::StartedFlapping
    } else {
        FlapVerdict::Notify
    }
}

/// Looks at a flapping alert's record at an evaluation: it settles once no change
/// happened for the quiet spell.
pub fn on_evaluation(
    record: &mut FlapRecord,
    flap: Option<FlapControl>,
    now: DateTime<Utc>,
) -> FlapVerdict {
    let Some(flap) = flap else {
        if record.flapping {
            record.flapping = false;
            return FlapVerdict::Settled;
        }
        return FlapVerdict::Notify;
    };
    if !record.flapping {
        return FlapVerdict::Notify;
    }
    let last = record.changes.last().copied().unwrap_or(0);
    if now.timestamp_millis() - last >= flap.quiet().as_millis() as i64 {
        record.flapping = false;
        record.changes.clear();
        FlapVerdict::Settled
    } else {
        FlapVerdict::Hold
    }
}

/// The sentence a flapping alert (now in `state`) carries in its notification.
pub fn flapping_note(state: AlertState, record: &FlapRecord, flap: FlapControl) -> String {
    let state = match state {
        AlertState::Firing => "firing",
        _ => "not firing",
    };
    format!(
        "flapping: changed state {} times within {}; further changes are held until it keeps one state for {} (now {state})",
        record.changes.len(),
        humantime::format_duration(flap.window),
        humantime::format_duration(flap.quiet()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn flips_beyond_the_threshold_are_held_until_the_alert_settles() {
        let flap = Some(FlapControl {
            window: Duration::from_secs(3600),
            threshold: 4,
        });
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut a = FlapRecord::default();
        let at = |m: i64| t0 + chrono::Duration::minutes(m);
        let verdicts: Vec<_> = (0..6).map(|i| on_change(&mut a, flap, at(i * 5))).collect();
        use FlapVerdict::*;
        assert_eq!(
            verdicts,
            [Notify, Notify, Notify, StartedFlapping, Hold, Hold]
        );
        assert_eq!(
            on_evaluation(&mut a, flap, at(25 + 14)),
            Hold,
            "quiet for 14 of 15 minutes"
        );
        assert_eq!(on_evaluation(&mut a, flap, at(25 + 15)), Settled);
        assert!(!a.flapping && a.changes.is_empty());
        assert_eq!(on_change(&mut a, flap, at(41)), Notify, "a fresh start");
        // Changes spread out beyond the window never count as flapping.
        let mut b = FlapRecord::default();
        assert!((0..10).all(|i| on_change(&mut b, flap, at(i * 30)) == Notify));
        assert_eq!(on_change(&mut b, None, at(400)), Notify, "off");
    }
}
