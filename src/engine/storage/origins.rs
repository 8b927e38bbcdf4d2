//! Where layers came from: for each layer (by DiffID), the compressed blobs that hold it in
//! registries (digest, media type, size, registry and repository). A push looks here to
//! skip compressing a layer a registry already has, and to mount it from another
//! repository of the same registry instead of uploading it again.
//!
//! One small JSON file per layer under `origins/`; a lost or stale entry only costs an
//! upload (the registry is asked before anything is skipped). The records of layers that are
//! gone are removed at start-up ([`OriginStore::retain`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::Result;
use super::fs::{read_json, write_json};
use crate::engine::id::digest::Digest;

/// The directory of origin records under the storage root.
pub const ORIGINS_DIR: &str = "origins";
/// The most origins kept per layer (the newest).
const MAX_ORIGINS: usize = 16;

/// One registry blob holding a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerOrigin {
    /// The registry (`host[:port]`).
    pub registry: String,
    /// The repository in that registry.
    pub repository: String,
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's media type.
    pub media_type: String,
    /// The blob's size.
    pub size: u64,
}

/// The origin records.
#[derive(Debug, Clone)]
pub struct OriginStore {
    dir: PathBuf,
}

impl OriginStore {
    /// The records under `root` (the directory is made on first write).
    pub fn open(root: &Path) -> Self {
        OriginStore {
            dir: root.join(ORIGINS_DIR),
        }
    }

    fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(format!("{}.json", diff_id.hex()))
    }

    /// The known origins of a layer, newest first; none when there is no readable record.
    pub fn list(&self, diff_id: &Digest) -> Vec<LayerOrigin> {
        let path = self.path(diff_id);
        if !path.exists() {
            return Vec::new();
        }
        read_json(&path).unwrap_or_else(|e| {
            log::warn!("ignoring unreadable layer origins: {e}");
            Vec::new()
        })
    }

    /// Adds an origin of a layer (moved to the front if known). Callers serialize writes.
    pub fn add(&self, diff_id: &Digest, origin: LayerOrigin) -> Result<()> {
        let mut list = self.list(diff_id);
        list.retain(|o| o != &origin);
        list.insert(0, origin);
        list.truncate(MAX_ORIGINS);
        if !self.dir.exists() {
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| super::StorageError::io("create", &self.dir, e))?;
        }
        write_json(&self.path(diff_id), &list)
    }
}

impl OriginStore {
    /// Removes the records of layers not in `keep` (layers that are gone); returns how many.
    /// Called at start-up, with the layers the images use.
    pub fn retain(&self, keep: &std::collections::HashSet<Digest>) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let kept = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|hex| Digest::from_hex(hex).ok())
                .is_some_and(|d| keep.contains(&d));
            if !kept && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let store = OriginStore::open(dir.path());
        let layer = Digest::of(b"layer");
        assert!(store.list(&layer).is_empty());
        let origin = |repo: &str| LayerOrigin {
            registry: "127.0.0.1:5000".into(),
            repository: repo.into(),
            digest: Digest::of(b"blob"),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            size: 4,
        };
        store.add(&layer, origin("a")).unwrap();
        store.add(&layer, origin("b")).unwrap();
        store.add(&layer, origin("a")).unwrap();
        let list = store.list(&layer);
        assert_eq!(list, vec![origin("a"), origin("b")]);
        // A layer that is gone loses its record at the next start; kept ones stay.
        let other = Digest::of(b"other");
        store.add(&other, origin("c")).unwrap();
        let keep = std::collections::HashSet::from([layer.clone()]);
        assert_eq!(store.retain(&keep), 1);
        assert!(store.list(&other).is_empty());
        assert_eq!(store.list(&layer).len(), 2);
    }
}
