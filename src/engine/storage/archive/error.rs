//! What goes wrong reading or extracting an archive.

use std::io;
use std::path::Path;

/// What went wrong with an archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The tarball tried to leave the layer.
    #[error("unsafe entry {path:?}: {why}")]
    Unsafe {
        /// The entry's path as written in the tarball.
        path: String,
        /// How it tried to escape.
        why: &'static str,
    },
    /// The tarball uses something podlink does not extract.
    #[error("unsupported entry {path:?}: {why}")]
    Unsupported {
        /// The entry's path.
        path: String,
        /// What is unsupported.
        why: String,
    },
    /// Reading the tarball or writing the layer failed.
    #[error("{what} {path:?}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The entry or file concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The import passed one of its limits (see `storage::budget`).
    #[error("{0}")]
    Limit(String),
}

impl ArchiveError {
    pub(super) fn io(
        what: &'static str,
        path: impl AsRef<Path>,
        source: impl Into<io::Error>,
    ) -> Self {
        ArchiveError::Io {
            what,
            path: path.as_ref().display().to_string(),
            source: source.into(),
        }
    }
}

pub(super) type Result<T> = std::result::Result<T, ArchiveError>;
