//! The baseline journal: every delta one evaluation writes, packed into one record (one
//! store row a tick instead of a row a series), and, at a restore, the records applied
//! to each series' last whole state in the order written.
//!
//! A record is a format byte, then entries of: the fingerprint's length (one byte) and
//! text, the delta's length (4 bytes, little-endian) and bytes
//! ([`Detector::journal_delta`]).

use chrono::{DateTime, Utc};

use crate::detect::Detector;
use crate::engine::evaluate::{BaselineSnapshot, RuleRuntime};
use crate::engine::persist::WHOLE_EVERY;
use crate::model::journal::BaselineJournal;
use crate::types::Fingerprint;

/// The record layout written today.
const FORMAT: u8 = 1;

/// Appends `detector`'s delta for `fp` to the record `out`; false (nothing appended)
/// when the detector has no delta form.
pub(crate) fn append(out: &mut Vec<u8>, fp: &Fingerprint, detector: &mut dyn Detector) -> bool {
    let start = out.len();
    if out.is_empty() {
        out.push(FORMAT);
    }
    let fp = fp.as_str().as_bytes();
    out.push(fp.len() as u8);
    out.extend_from_slice(fp);
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    if !detector.journal_delta(out) {
        out.truncate(start);
        return false;
    }
    let len = (out.len() - len_at - 4) as u32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    true
}

/// The entries of a record: (fingerprint, delta); None when it is not one this
/// version wrote or is cut short.
pub fn entries(record: &[u8]) -> Option<Vec<(&str, &[u8])>> {
    let (&format, mut rest) = record.split_first()?;
    if format != FORMAT {
        return None;
    }
    let mut out = Vec::new();
    while let Some((&fp_len, tail)) = rest.split_first() {
        let (fp, tail) = tail.split_at_checked(usize::from(fp_len))?;
        let (len, tail) = tail.split_at_checked(4)?;
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let (delta, tail) = tail.split_at_checked(len)?;
        out.push((std::str::from_utf8(fp).ok()?, delta));
        rest = tail;
    }
    Some(out)
}

/// Journal records older than this are no longer needed once an evaluation at `now`
/// commits: every series with a delta before it has had its whole state written
/// since (whole states fall due every [`WHOLE_EVERY`], and an evaluation writes the
/// due ones of series without data too).
pub fn prune_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - WHOLE_EVERY - chrono::Duration::minutes(1)
}

impl RuleRuntime {
    /// Brings the restored baselines up to date with the journal written after their
    /// whole states, after [`RuleRuntime::restore`]. Series not yet seen are written
    /// whole at the next evaluation, so the records applied can be pruned. A record or
    /// delta that cannot be read is skipped with a warning: that series resumes from
    /// its last whole state.
    pub fn apply_journal(&mut self, journal: BaselineJournal) {
        let mut rebuilt: std::collections::HashMap<String, Box<dyn Detector>> =
            std::collections::HashMap::new();
        for (at, record) in &journal.ticks {
            let Some(entries) = entries(record) else {
                tracing::warn!(rule = %self.rule.name, at, "baseline journal record unreadable; skipped");
                continue;
            };
            for (fp, delta) in entries {
                // A delta counts only after its series' whole state (none: forgotten).
                if journal.written_at.get(fp).is_none_or(|w| *w >= *at) {
                    continue;
                }
                let Some(detector) = self.detector_to_update(fp, &mut rebuilt) else {
                    continue;
                };
                if let Err(e) = detector.apply_delta(delta) {
                    tracing::warn!(rule = %self.rule.name, fingerprint = fp, error = %e, "baseline delta not applied");
                }
            }
        }
        for (fp, detector) in rebuilt {
            let state = detector.snapshot();
            if let Ok(fingerprint) = Fingerprint::parse(&fp) {
                self.pending_baselines.push(BaselineSnapshot {
                    fingerprint,
                    state: state.to_string(),
                });
            }
            self.stored.insert(fp, state);
        }
    }

    /// The detector a delta for `fp` updates: its group's, or one rebuilt from the
    /// stored state of a series not yet seen.
    fn detector_to_update<'a>(
        &'a mut self,
        fp: &str,
        rebuilt: &'a mut std::collections::HashMap<String, Box<dyn Detector>>,
    ) -> Option<&'a mut Box<dyn Detector>> {
        let grouped = Fingerprint::parse(fp)
            .ok()
            .filter(|f| self.groups.contains_key(f));
        if let Some(f) = grouped {
            return self.groups.get_mut(&f).map(|g| &mut g.detector);
        }
        if !rebuilt.contains_key(fp) {
            let state = self.stored.get(fp)?;
            let mut detector = self.rule.detector.build();
            detector.restore(state).ok()?;
            rebuilt.insert(fp.to_owned(), detector);
        }
        rebuilt.get_mut(fp)
    }
}
