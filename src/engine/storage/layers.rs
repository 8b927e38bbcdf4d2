//! Layers: stored once by DiffID, unpacked into a directory that serves as an overlay lower
//! layer, with the split that rebuilds the original tarball.
//!
//! A layer is extracted into a staging directory under `tmp/` first ([`LayerStore::stage`]),
//! then renamed into `layers/` ([`LayerStore::adopt`]). The rename is the moment the layer
//! exists; a crash before it leaves only staging, which the next start moves to the trash.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::archive::extract::extract_layer;
use super::archive::split::SplitReader;
use super::dirs::{create_private_dir, make_private};
use super::error::{Result, StorageError};
use super::fs::{read_json, remove_tree, unique_name, write_json};
use super::layout::{LAYERS_DIR, TMP_DIR};
use crate::engine::id::digest::Digest;

/// The record file of a layer.
pub const LAYER_RECORD: &str = "layer.json";
/// The unpacked layer.
pub const DIFF_DIR: &str = "diff";
/// The tarball split.
pub const SPLIT_FILE: &str = "tar-split";
const RECORD_VERSION: u32 = 1;

/// What is recorded about a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Record format version.
    pub version: u32,
    /// `sha256:<hex>` of the uncompressed tarball.
    pub diff_id: Digest,
    /// Size of the uncompressed tarball.
    pub size: u64,
}

/// The layers under the storage root.
#[derive(Debug, Clone)]
pub struct LayerStore {
    layers: PathBuf,
    tmp: PathBuf,
}

/// A layer extracted into staging; removed again unless adopted.
#[derive(Debug)]
pub struct StagedLayer {
    dir: Option<PathBuf>,
    /// Its record.
    pub record: LayerRecord,
}

impl Drop for StagedLayer {
    fn drop(&mut self) {
        // Dropped after another failure, or after the staging was abandoned: a leftover is
        // moved to the trash by the next start, so a failure here is only logged.
        if let Some(dir) = self.dir.take()
            && let Err(e) = remove_tree(&dir)
        {
            log::warn!("cannot remove staged layer {}: {e}", dir.display());
        }
    }
}

impl LayerStore {
    /// The layer store under `root`, creating its directories. Layers hold image content
    /// (setuid files, device nodes), so `layers/`, every layer and the staging area are
    /// reachable only by root, as in containers/storage; a store made before that rule is
    /// fixed here. No container needs to pass through them: its overlay is mounted by the
    /// service, and overlayfs reaches lower layers with the mounter's credentials.
    pub fn open(root: &Path) -> Result<Self> {
        let store = LayerStore {
            layers: root.join(LAYERS_DIR),
            tmp: root.join(TMP_DIR),
        };
        for dir in [&store.layers, &store.tmp] {
            create_private_dir(dir)?;
            make_private(dir)?;
        }
        for layer in read_dir(&store.layers)? {
            if layer.is_dir() && !layer.is_symlink() {
                make_private(&layer)?;
            }
        }
        Ok(store)
    }

    /// The directory of a layer.
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.layers.join(diff_id.hex())
    }

    /// The unpacked files of a layer (its overlay lower directory).
    pub fn diff_dir(&self, diff_id: &Digest) -> PathBuf {
        self.layer_dir(diff_id).join(DIFF_DIR)
    }

    /// Whether a layer exists.
    pub fn exists(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).join(LAYER_RECORD).exists()
    }

    /// The record of a layer; one that names another layer is corrupt.
    pub fn record(&self, diff_id: &Digest) -> Result<LayerRecord> {
        let path = self.layer_dir(diff_id).join(LAYER_RECORD);
        let record: LayerRecord = read_json(&path)?;
        if record.diff_id != *diff_id {
            return Err(StorageError::io(
                "read",
                &path,
                std::io::Error::other(format!("the record is of layer {}", record.diff_id)),
            ));
        }
        Ok(record)
    }

    /// Extracts a (possibly compressed) layer tarball into staging, within `budget`.
    pub fn stage(&self, input: impl Read, budget: &super::budget::Budget) -> Result<StagedLayer> {
        let dir = self.tmp.join(unique_name("layer"));
        let diff = dir.join(DIFF_DIR);
        // The staging directory becomes the layer's directory: private from the start.
        create_private_dir(&dir)?;
        let mut staged = StagedLayer {
            dir: Some(dir.clone()),
            record: LayerRecord {
                version: RECORD_VERSION,
                diff_id: Digest::of(b""),
                size: 0,
            },
        };
        std::fs::create_dir(&diff).map_err(|e| StorageError::io("create", &diff, e))?;
        let extracted = extract_layer(input, &diff, &dir.join(SPLIT_FILE), budget)?;
        staged.record.diff_id = extracted.diff_id;
        staged.record.size = extracted.size;
        write_json(&dir.join(LAYER_RECORD), &staged.record)?;
        Ok(staged)
    }

    /// Moves a staged layer into the store; if the same layer is already there, the staged
    /// copy is dropped. The caller holds the store's write lock, so no removal races this.
    pub fn adopt(&self, mut staged: StagedLayer) -> Result<LayerRecord> {
        let target = self.layer_dir(&staged.record.diff_id);
        if self.exists(&staged.record.diff_id) {
            return Ok(staged.record.clone());
        }
        // A directory without a record is a leftover: replace it.
        remove_tree(&target)?;
        let dir = staged
            .dir
            .take()
            .expect("a staged layer has its directory until adopted");
        std::fs::rename(&dir, &target)
            .map_err(|e| StorageError::io("move layer to", &target, e))?;
        sync_dir(&self.layers);
        Ok(staged.record.clone())
    }

    /// Removes a layer.
    pub fn remove(&self, diff_id: &Digest) -> Result<()> {
        let dir = self.layer_dir(diff_id);
        // Drop the record first: a crash mid-removal leaves a directory the next start removes.
        match std::fs::remove_file(dir.join(LAYER_RECORD)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io("remove", &dir, e)),
        }
        remove_tree(&dir)
    }

    /// The original uncompressed tarball of a layer.
    pub fn tarball(&self, diff_id: &Digest) -> Result<SplitReader> {
        let dir = self.layer_dir(diff_id);
        SplitReader::open(&dir.join(SPLIT_FILE), &dir.join(DIFF_DIR))
            .map_err(|e| StorageError::io("open tarball of", &dir, e))
    }

    /// Moves staging leftovers and every layer not in `keep` (by DiffID) to `trash`; returns
    /// what it moved. One rename each, however many files they hold, so start-up stays quick;
    /// called before any import can run, so none can reuse a layer that is going. Only
    /// entries of `tmp/` and `layers/` themselves are moved, by the names listed there (a
    /// symlink is moved, never followed). A kept layer whose record is unreadable or names
    /// another layer is reported; nothing reads a path from a record, and
    /// [`LayerStore::record`] fails for it from then on.
    pub fn collect_garbage(
        &self,
        keep: &std::collections::HashSet<Digest>,
        trash: &super::trash::Trash,
    ) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for entry in read_dir(&self.tmp)? {
            trash.discard(&entry)?;
            removed.push(entry.display().to_string());
        }
        for entry in read_dir(&self.layers)? {
            let name = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let wanted = Digest::from_hex(&name)
                .ok()
                .filter(|d| keep.contains(d) && entry.join(LAYER_RECORD).exists());
            if let Some(diff_id) = wanted {
                if let Err(e) = self.record(&diff_id) {
                    log::error!("layer {diff_id} is not usable: {e}");
                }
            } else {
                trash.discard(&entry)?;
                removed.push(entry.display().to_string());
            }
        }
        Ok(removed)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| StorageError::io("list", dir, e))?;
    Ok(entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
}

fn sync_dir(dir: &Path) {
    // The rename it makes durable has happened; a failed sync only weakens crash safety,
    // which the next start's garbage collection covers.
    if let Err(e) = std::fs::File::open(dir).and_then(|f| f.sync_all()) {
        log::warn!("cannot sync {}: {e}", dir.display());
    }
}
