//! Image records: one directory per image with its config and manifest kept byte for byte and
//! a small record, written last, that makes the image exist.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{IMAGES_DIR, Result, StorageError, atomic_write, read_json, remove_tree, write_json};

/// The record that makes an image exist.
pub const IMAGE_RECORD: &str = "image.json";
/// The image config, as imported (the image ID is its digest).
pub const CONFIG_FILE: &str = "config.json";
/// The image manifest, as imported or generated (its digest is the image Digest).
pub const MANIFEST_FILE: &str = "manifest.json";
const RECORD_VERSION: u32 = 1;

/// What is recorded about an image besides its config and manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Record format version.
    pub version: u32,
    /// The image ID: hex digest of the config, without `sha256:`.
    pub id: String,
    /// Fully qualified names (`registry/repo:tag`).
    pub names: Vec<String>,
    /// `sha256:<hex>` of the manifest.
    pub digest: String,
    /// Media type of the manifest.
    pub manifest_type: String,
    /// DiffIDs of the layers, bottom first.
    pub layers: Vec<String>,
    /// Total size of the layers' uncompressed tarballs.
    pub size: u64,
    /// When podlink stored the image (RFC 3339).
    pub loaded: String,
    /// Bumped on every change of `names`; when a crash leaves one name on two images, the
    /// higher stamp keeps it.
    pub names_stamp: u64,
}

/// The image records under the storage root.
#[derive(Debug, Clone)]
pub struct ImageStore {
    images: PathBuf,
}

/// An image as loaded from disk.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// Its record.
    pub record: ImageRecord,
    /// Its config, as stored.
    pub config: Vec<u8>,
    /// Its manifest, as stored.
    pub manifest: Vec<u8>,
}

impl ImageStore {
    /// The image store under `root`, creating its directory.
    pub fn open(root: &Path) -> Result<Self> {
        let images = root.join(IMAGES_DIR);
        std::fs::create_dir_all(&images).map_err(|e| StorageError::io("create", &images, e))?;
        Ok(ImageStore { images })
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.images.join(id)
    }

    /// Writes a new image: config and manifest first, the record last.
    pub fn create(&self, record: &ImageRecord, config: &[u8], manifest: &[u8]) -> Result<()> {
        let dir = self.dir(&record.id);
        std::fs::create_dir_all(&dir).map_err(|e| StorageError::io("create", &dir, e))?;
        atomic_write(&dir.join(CONFIG_FILE), config)?;
        atomic_write(&dir.join(MANIFEST_FILE), manifest)?;
        write_json(&dir.join(IMAGE_RECORD), record)
    }

    /// Rewrites the record of an existing image (names changed).
    pub fn update(&self, record: &ImageRecord) -> Result<()> {
        write_json(&self.dir(&record.id).join(IMAGE_RECORD), record)
    }

    /// Removes an image: the record first, so a crash mid-removal leaves a directory the
    /// next start removes.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        match std::fs::remove_file(dir.join(IMAGE_RECORD)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io("remove", &dir, e)),
        }
        remove_tree(&dir)
    }

    /// The config file of an image.
    pub fn config_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(CONFIG_FILE)
    }

    /// Loads every complete image; directories without a (readable) record are removed.
    pub fn load_all(&self) -> Result<Vec<StoredImage>> {
        let mut images = Vec::new();
        let entries = std::fs::read_dir(&self.images)
            .map_err(|e| StorageError::io("list", &self.images, e))?;
        for entry in entries.flatten() {
            let dir = entry.path();
            match load_one(&dir) {
                Ok(image) => images.push(image),
                Err(e) => {
                    log::warn!("removing incomplete image {}: {e}", dir.display());
                    remove_tree(&dir)?;
                }
            }
        }
        Ok(images)
    }
}

fn load_one(dir: &Path) -> Result<StoredImage> {
    let record: ImageRecord = read_json(&dir.join(IMAGE_RECORD))?;
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|e| StorageError::io("read", &path, e))
    };
    Ok(StoredImage {
        config: read(CONFIG_FILE)?,
        manifest: read(MANIFEST_FILE)?,
        record,
    })
}

/// A fresh record for an image about to be created.
pub fn new_record(
    id: String,
    names: Vec<String>,
    digest: String,
    manifest_type: String,
    layers: Vec<String>,
    size: u64,
) -> ImageRecord {
    ImageRecord {
        version: RECORD_VERSION,
        id,
        names,
        digest,
        manifest_type,
        layers,
        size,
        loaded: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        names_stamp: 0,
    }
}
