//! One rule's baseline journal as the store hands it back for a restore: when each
//! series' whole baseline was last written, and the journal records written since.

use std::collections::HashMap;

/// One rule's baseline journal (see `engine::journal`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BaselineJournal {
    /// When each series' whole baseline was last written (unix ms), by fingerprint.
    pub written_at: HashMap<String, i64>,
    /// The journal's records (unix ms, packed deltas), oldest first.
    pub ticks: Vec<(i64, Vec<u8>)>,
}
