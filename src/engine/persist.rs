//! When a series' baseline is written to the store: a delta into the evaluation's
//! journal record every minute (and at every alert change), the whole state every half
//! hour, each series at its own offset so the writes spread over the ticks.
//!
//! A 7-day window's whole state is ~0.8 KB and its minute's change one bucket of ~20
//! bytes: writing every series' whole state every minute made the store's writes half
//! of a tick over 10,000 series, and every ten minutes still a third of the service's
//! evaluation time (serializing and upserting 1,000 rows a minute). A restart still
//! loses at most a minute of learning: it reads each series' last whole state and
//! applies the deltas written since.

use chrono::{DateTime, Duration, Utc};

use crate::engine::evaluate::{BaselineSnapshot, EvaluationOutcome, GroupRuntime};
use crate::engine::journal;
use crate::types::Fingerprint;

/// How often a series' changed baseline is written (and on every alert transition).
const PERSIST_EVERY: Duration = Duration::minutes(1);

/// How often a series' whole baseline is written; deltas in between, for detectors
/// that have them. The journal keeps the deltas of one such period (and a minute).
pub const WHOLE_EVERY: Duration = Duration::minutes(30);

/// When a series' baseline is next written, and, for a detector that does not learn
/// from every value, a hash of the state last written.
#[derive(Debug, Default)]
pub(crate) struct Persist {
    /// The next write (None: never written by this process).
    due: Option<DateTime<Utc>>,
    /// The next write of the whole state (None: never written whole).
    whole_due: Option<DateTime<Utc>>,
    /// Deltas were written since the whole state: the journal holds what the store's
    /// whole state lacks.
    dirty: bool,
    written: Option<u64>,
}

/// Offers the series' baseline for writing when it is new, due (every minute, at an
/// offset of its own) or its alert changed: as a delta in the evaluation's journal
/// record, or whole when that is due or the detector has no delta form. Writing every
/// series' baseline on every evaluation would cost the store a row per series per tick;
/// a restart loses at most a minute of learning, and nothing of an alert's change.
pub(crate) fn persist_if_due(
    fp: &Fingerprint,
    runtime: &mut GroupRuntime,
    now: DateTime<Utc>,
    transitioned: bool,
    out: &mut EvaluationOutcome,
) {
    let persist = &mut runtime.persist;
    let first = persist.due.is_none();
    if !transitioned && persist.due.is_some_and(|due| now < due) {
        return;
    }
    persist.due = Some(
        now + if first {
            persist_offset(fp)
        } else {
            PERSIST_EVERY
        },
    );
    let whole = persist.whole_due.is_none_or(|due| now >= due);
    if !whole
        && runtime.detector.learns()
        && journal::append(&mut out.journal, fp, runtime.detector.as_mut())
    {
        runtime.persist.dirty = true;
        return;
    }
    write_whole(fp, runtime, now, out);
}

/// For a series without data this time: writes its whole state when the store's lacks
/// what the journal holds and that is due, or when this process has not yet written it
/// (a restored series brought up to date from the journal), so the journal can always
/// be pruned past [`journal::prune_before`].
pub(crate) fn persist_absent(
    fp: &Fingerprint,
    runtime: &mut GroupRuntime,
    now: DateTime<Utc>,
    out: &mut EvaluationOutcome,
) {
    let persist = &runtime.persist;
    let owed = persist.whole_due.is_none()
        || (persist.dirty && persist.whole_due.is_some_and(|due| now >= due));
    if owed {
        write_whole(fp, runtime, now, out);
    }
}

fn write_whole(
    fp: &Fingerprint,
    runtime: &mut GroupRuntime,
    now: DateTime<Utc>,
    out: &mut EvaluationOutcome,
) {
    let persist = &mut runtime.persist;
    let next = match persist.whole_due {
        None => offset_of(fp, WHOLE_EVERY),
        Some(_) => WHOLE_EVERY,
    };
    persist.whole_due = Some(now + next);
    persist.dirty = false;
    let state = runtime.detector.snapshot_text();
    if !runtime.detector.learns() {
        // Its state changes only now and then (a threshold's hysteresis): write it
        // only when it did.
        let hash = hash_of(&state);
        if persist.written == Some(hash) {
            return;
        }
        persist.written = Some(hash);
    }
    // A learning detector was fed a value since the last write: its state changed.
    out.baselines.push(BaselineSnapshot {
        fingerprint: fp.clone(),
        state,
    });
}

/// A series' own offset within [`WHOLE_EVERY`], from its fingerprint: its whole state
/// falls due then. It rises with the fingerprint, so the whole states a tick writes are
/// one range of fingerprints, which the store writes in order onto few pages.
fn offset_of(fp: &Fingerprint, period: Duration) -> Duration {
    let n = u64::from_str_radix(&fp.as_str()[..8], 16).unwrap_or(0);
    let period = period.num_milliseconds().max(1) as u64;
    Duration::milliseconds(((n * period) >> 32) as i64)
}

/// A series' offset within the minute of [`PERSIST_EVERY`]: its whole offset modulo the
/// minute, so the minute in which its whole state falls due is one of its own minutely
/// writes. Each minute then writes a thirtieth of the series whole, spread over that
/// minute's ticks (an offset of its own within the minute had put a minute's whole
/// writes, a ninth of the series when they were every ten minutes, into one tick).
fn persist_offset(fp: &Fingerprint) -> Duration {
    let whole = offset_of(fp, WHOLE_EVERY).num_milliseconds();
    Duration::milliseconds(whole % PERSIST_EVERY.num_milliseconds())
}

fn hash_of(state: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    state.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{fingerprint, Labels};

    /// A series' whole state falls due on one of its minutely writes, and a minute's
    /// whole writes spread over its ticks instead of falling on one.
    #[test]
    fn whole_writes_fall_on_minutely_writes_spread_over_the_ticks() {
        let tick_ms = 10_000;
        let mut per_tick = vec![0u32; (WHOLE_EVERY.num_milliseconds() / tick_ms) as usize];
        for i in 0..6_000 {
            let fp = fingerprint("r", &Labels::new().with("series", format!("s{i}")));
            let (whole, minutely) = (offset_of(&fp, WHOLE_EVERY), persist_offset(&fp));
            assert_eq!(
                whole.num_milliseconds() % PERSIST_EVERY.num_milliseconds(),
                minutely.num_milliseconds()
            );
            per_tick[(whole.num_milliseconds() / tick_ms) as usize] += 1;
        }
        let mean = 6_000 / per_tick.len() as u32;
        let busiest = *per_tick.iter().max().unwrap();
        assert!(
            busiest < 2 * mean,
            "{busiest} whole writes in one tick, {mean} on average"
        );
    }
}
