//! The crate-wide error type: one enum that wraps each module's own error.

use crate::types::ConfigErrors;

/// Any error driftwatch's library code returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration or rule files are invalid (every problem found, with locations).
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A metric source failed.
    #[error(transparent)]
    Source(#[from] crate::sources::SourceError),
    /// driftwatch's own store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Anything else, with a message that says what went wrong.
    #[error("{0}")]
    Other(String),
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
