//! On-disk storage under the storage root: layers, image records, and the staging area.
//!
//! ```text
//! ROOT/layers/<diffid hex>/layer.json   the layer record (written last: the layer exists)
//!                          diff/        the unpacked layer, an overlay lower directory
//!                          tar-split    the tarball's bytes minus file contents
//! ROOT/images/<id hex>/config.json      the image config, byte for byte (its digest is the ID)
//!                      manifest.json    the manifest, byte for byte (its digest is Digest)
//!                      image.json       the image record (written last: the image exists)
//! ROOT/tmp/                             staging; emptied at every start
//! ROOT/trash/                           what a crash left, moved here at start-up and
//!                                       removed once the service answers
//! ```
//!
//! `layers/`, `images/`, `tmp/` and every directory in them have mode 0700 (fixed at every
//! start for stores made before): they hold image content, setuid files and device nodes
//! included, that no host user but root may reach.
//!
//! Format: one small JSON record per object, written through a temporary file, fsync and
//! rename ([`atomic_write`]). An embedded transactional store would add a dependency and a
//! format nobody can read with `cat`, and one file per object keeps the cost of a change
//! independent of how many objects exist. Crash safety comes from ordering: a layer directory
//! is complete before it is renamed out of `tmp/`, and an image is listed only once its record
//! exists, which is written after its layers and config. What a crash leaves behind (a staging
//! directory, an image directory without a record, a layer no image uses) is moved to the
//! trash by the next start, and removed after it answers ([`trash`]). Layer file contents are not fsynced: a SIGKILL cannot lose page-cache data, and
//! syncing every file of every layer would double the cost of an import; only the records,
//! which decide what exists, are made durable.
#![warn(missing_docs)]

pub mod archive;
pub mod budget;
pub mod compression;
pub mod digest;
pub mod dirchain;
pub mod dirs;
pub mod images;
pub mod layers;
pub mod overlay;
pub mod split;
pub mod trash;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Directory names under the storage root.
pub const LAYERS_DIR: &str = "layers";
/// Image records.
pub const IMAGES_DIR: &str = "images";
/// Staging area.
pub const TMP_DIR: &str = "tmp";

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
    Archive(#[from] archive::ArchiveError),
    /// A digest or ID (from a record or an archive) is malformed.
    #[error(transparent)]
    Digest(#[from] digest::DigestError),
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

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync,
/// rename over `path`, fsync of the directory. Readers see the old or the new content, never
/// a mix, and a crash leaves at most a stray temporary file (named `.tmp-*`).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_replacing(path, bytes, true)
}

/// [`atomic_write`] without the fsyncs: readers and a killed process still see the old or
/// the new content (the rename is atomic, and the page cache outlives the process); only a
/// power loss may lose the change. For state that does not outlive the machine anyway (a
/// container's run state, its monitor's files, the runtime spec rewritten at every start).
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_replacing(path, bytes, false)
}

fn write_replacing(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".tmp-{}-{}-{name}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        std::fs::rename(&temp, path)?;
        if durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        StorageError::io("write", path, e)
    })
}

/// A new file in `dir`, opened for reading and writing and unlinked at once: the open
/// descriptor keeps it while it is used, and nothing is left behind however the process
/// ends.
pub fn unlinked_temp_file(dir: &Path, prefix: &str) -> Result<File> {
    let path = dir.join(unique_name(prefix));
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| StorageError::io("create", &path, e))?;
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

/// Serializes `value` as JSON and writes it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| StorageError::Corrupt {
        path: path.display().to_string(),
        source: e,
    })?;
    atomic_write(path, &bytes)
}

/// Reads a JSON record.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| StorageError::io("read", path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| StorageError::Corrupt {
        path: path.display().to_string(),
        source: e,
    })
}

/// Removes a directory tree, tolerating its absence. Not `std::fs::remove_dir_all`: it
/// recurses once per level (a container's deep tree overflowed a connection thread's stack);
/// `tree::remove_all` does not.
pub fn remove_tree(path: &Path) -> Result<()> {
    crate::engine::tree::remove_all(path).map_err(|e| StorageError::io("remove", path, e))
}

/// A unique name for a staging directory.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.json");
        atomic_write(&path, b"one").unwrap();
        atomic_write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["rec.json"]);
    }
}
