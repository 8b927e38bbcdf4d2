//! Layer tarballs: safe extraction into a layer directory, and the exact original tarball back.
//!
//! Extraction never writes outside the layer directory. Every path is walked from a
//! descriptor of the layer root one component at a time with `O_NOFOLLOW`, and every entry is
//! created with an `*at` call relative to its parent's descriptor, so `..` components, absolute
//! paths, symlinked parent directories (a symlink entry followed by a write through it) and
//! hard links to outside cannot reach anything but the layer. A path with `..` is refused, as
//! is a write through a symlink; an absolute path is taken relative to the layer root.
//!
//! Ownership, permission bits (setuid included), times, `SCHILY.xattr.*` extended attributes,
//! device nodes and fifos are kept, except `trusted.overlay.*` attributes: those are
//! overlayfs's own metadata (opaque directories, redirects, metacopy), never image data, and
//! one planted in a layer would change what a container's overlay shows. OCI whiteouts become overlay whiteouts: `.wh.NAME` a 0/0
//! character device `NAME`, `.wh..wh..opq` the `trusted.overlay.opaque=y` attribute on its
//! directory.
//!
//! The original tarball (its digest is the layer's DiffID, which image IDs are built from) is
//! kept as a "split": its bytes minus the contents of regular files, which are read back from
//! the layer directory. Replaying the split reproduces the tarball byte for byte, so an
//! exported image has the same DiffIDs and the same ID, without storing every layer twice.
//!
//! This folder owns the tar format of layers; it knows nothing of images or containers, and
//! reaches the filesystem only below the directory it is given.
//!
//! - `extract.rs`: extraction into a layer directory, whiteouts, the DiffID
//! - `metadata.rs`: ownership, modes, times and attributes of extracted entries
//! - `path.rs`: tarball paths made relative, `..` refused
//! - `split.rs`: the tar split, and the original tarball replayed from it
//! - `whiteout.rs`: whiteout names and overlayfs attributes
//! - `error.rs`: what goes wrong with an archive

pub mod error;
pub mod extract;
mod metadata;
pub mod path;
pub mod split;
pub mod whiteout;

pub use error::ArchiveError;
pub use extract::{Extracted, extract_layer};
pub use path::clean_path;
pub use split::SplitReader;
pub use whiteout::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, WHITEOUT_PREFIX};
