//! Files of the store: records written atomically, JSON records, unlinked temporary files,
//! tree removal and unique staging names.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{Result, StorageError};

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
        match std::fs::remove_file(&temp) {
            Err(cleanup) if cleanup.kind() != std::io::ErrorKind::NotFound => {
                log::warn!(
                    "write {} failed ({e}); removing {} failed too: {cleanup}",
                    path.display(),
                    temp.display()
                );
            }
            _ => {}
        }
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
    // The descriptor is what is used; a name left behind is only staging clutter, which
    // the next start clears.
    if let Err(e) = std::fs::remove_file(&path) {
        log::warn!("cannot unlink {}: {e}", path.display());
    }
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
