//! The names of the store's directories under the storage root (see the module `storage`).

/// Directory names under the storage root.
pub const LAYERS_DIR: &str = "layers";
/// Image records.
pub const IMAGES_DIR: &str = "images";
/// Staging area.
pub const TMP_DIR: &str = "tmp";
