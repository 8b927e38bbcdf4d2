//! The names OCI layers and overlayfs use for deletions and opaque directories, and the
//! namespace of overlayfs's own attributes.

/// The prefix of an OCI whiteout file name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The OCI opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The overlayfs attribute that marks a directory opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The namespace of overlayfs's own attributes, dropped from image content.
pub const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";
