//! An alert's flap-control record: the notify intake stage decides with it, the store
//! keeps it beside the alert.

use serde::{Deserialize, Serialize};

/// When an alert recently changed, and whether it is held as flapping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlapRecord {
    /// When it recently started firing or resolved (unix ms).
    #[serde(default)]
    pub changes: Vec<i64>,
    /// Held as flapping: its changes are not notified one by one until it settles.
    #[serde(default)]
    pub flapping: bool,
}
