//! What goes wrong in storage.

use std::path::Path;

use super::archive::error::ArchiveError;
use crate::engine::id::digest::DigestError;

/// A storage operation that failed, with the path it concerned.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A filesystem call failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// The operation.
        what: &'static str,
        /// The path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A record does not parse.
    #[error("corrupt record {path}: {source}")]
    Corrupt {
        /// The record's path.
        path: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A tarball could not be read or extracted.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A digest or ID (from a record or an archive) is malformed.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

impl StorageError {
    /// An I/O error on `path`.
    pub fn io(what: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        StorageError::Io {
            what,
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// The result of a storage operation.
pub type Result<T> = std::result::Result<T, StorageError>;
