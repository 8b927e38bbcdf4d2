//! Image records: one directory per image with its config and manifest kept byte for byte and
//! a small record, written last, that makes the image exist.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dirs::{create_private_dir, make_private};
use super::error::{Result, StorageError};
use super::fs::{atomic_write, read_json, remove_tree, write_json};
use super::layout::IMAGES_DIR;
use crate::engine::id::digest::Digest;
use crate::engine::id::image::ImageId;

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
    /// The image ID: hex digest of the config, without `sha256:` (validated when the record
    /// is read).
    pub id: ImageId,
    /// Fully qualified names (`registry/repo:tag`).
    pub names: Vec<String>,
    /// `sha256:<hex>` of the manifest (validated when the record is read).
    pub digest: Digest,
    /// Media type of the manifest.
    pub manifest_type: String,
    /// DiffIDs of the layers, bottom first (validated when the record is read).
    pub layers: Vec<Digest>,
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
    /// The image store under `root`, creating its directory; it and every image directory
    /// get mode 0700 (see the module `storage`).
    pub fn open(root: &Path) -> Result<Self> {
        let images = root.join(IMAGES_DIR);
        create_private_dir(&images)?;
        make_private(&images)?;
        let entries =
            std::fs::read_dir(&images).map_err(|e| StorageError::io("list", &images, e))?;
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                make_private(&entry.path())?;
            }
        }
        Ok(ImageStore { images })
    }

    /// The directory of image `id` (an image ID is the digest of its config).
    fn dir(&self, id: &ImageId) -> PathBuf {
        self.images.join(id.as_str())
    }

    /// Writes a new image: config and manifest first, the record last.
    pub fn create(&self, record: &ImageRecord, config: &[u8], manifest: &[u8]) -> Result<()> {
        let dir = self.dir(&record.id);
        create_private_dir(&dir)?;
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
    pub fn remove(&self, id: &ImageId) -> Result<()> {
        let dir = self.dir(id);
        match std::fs::remove_file(dir.join(IMAGE_RECORD)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io("remove", &dir, e)),
        }
        remove_tree(&dir)
    }

    /// The manifest file of an image.
    pub fn manifest_path(&self, id: &ImageId) -> PathBuf {
        self.dir(id).join(MANIFEST_FILE)
    }

    /// The config file of an image.
    pub fn config_path(&self, id: &ImageId) -> PathBuf {
        self.dir(id).join(CONFIG_FILE)
    }

    /// Loads every complete image. A directory without a record is what a crash left, and
    /// is moved to `trash`; one whose record is unreadable, malformed (a digest that does not parse)
    /// or names another image is reported and skipped, never followed: it is not podlink's
    /// doing, and its files are left for an administrator.
    pub fn load_all(&self, trash: &super::trash::Trash) -> Result<Vec<StoredImage>> {
        let mut images = Vec::new();
        let entries = std::fs::read_dir(&self.images)
            .map_err(|e| StorageError::io("list", &self.images, e))?;
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.join(IMAGE_RECORD).exists() {
                log::warn!("removing incomplete image {}", dir.display());
                trash.discard(&dir)?;
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            match load_one(&dir) {
                Ok(image) if image.record.id.as_str() == name => images.push(image),
                Ok(image) => log::error!(
                    "image {} is not loaded: its record is of image {:?}",
                    dir.display(),
                    image.record.id
                ),
                Err(e) => log::error!("image {} is not loaded: {e}", dir.display()),
            }
        }
        Ok(images)
    }
}

fn load_one(dir: &Path) -> Result<StoredImage> {
    // The ID, the manifest digest and every layer's DiffID are parsed as the record is read.
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
    id: ImageId,
    names: Vec<String>,
    digest: Digest,
    manifest_type: String,
    layers: Vec<Digest>,
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
