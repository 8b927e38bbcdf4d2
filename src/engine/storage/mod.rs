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
//! trash by the next start, and removed after it answers ([`trash`]). Layer file contents are
//! not fsynced: a SIGKILL cannot lose page-cache data, and syncing every file of every layer
//! would double the cost of an import; only the records, which decide what exists, are made
//! durable.
//!
//! This room owns the bytes on disk under the storage root; it knows nothing of image
//! names, containers or the wire, and never imports the image or container rooms. Store paths
//! are built only from the typed identities of `crate::engine::id` (digests, image IDs).
//!
//! - `layout.rs`: the directory names under the root
//! - `fs.rs`: atomic records, JSON records, temporary files, tree removal
//! - `error.rs`: `StorageError`
//! - `layers.rs`: the layer store (staging, adopting, removing, the original tarball)
//! - `images.rs`: the image records
//! - `archive/`: layer tarballs: safe extraction and the tar split
//! - `compression.rs`: detecting and undoing gzip, bzip2, xz, zstd
//! - `pgzip.rs`: gzip on several threads, byte for byte the same on any number of them
//! - `budget.rs`: what one import may write
//! - `dirchain.rs`: descriptors of the directories along a path
//! - `dirs.rs`: private directories and their modes
//! - `overlay.rs`: overlay mounts and the `Changes` of an upper directory
//! - `trash.rs`: crash leftovers, removed once the service answers
//! - `origins.rs`: which registry blobs hold each layer (for pushes)
#![warn(missing_docs)]

pub mod archive;
pub mod budget;
pub mod compression;
pub mod dirchain;
pub mod dirs;
pub mod error;
pub mod fs;
pub mod images;
pub mod layers;
pub mod layout;
pub mod origins;
pub mod overlay;
pub mod pgzip;
pub mod reclaim;
pub mod trash;

pub use error::{Result, StorageError};
pub use fs::{
    atomic_write, read_json, remove_tree, replace_file, unique_name, unlinked_temp_file, write_json,
};
pub use layout::{IMAGES_DIR, LAYERS_DIR, TMP_DIR};
