//! The directories the engine makes, and their modes.

use std::path::Path;

use super::error::{Result, StorageError};

/// Mode of private directories: image content, each container's own directories.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of the storage and run roots and their `containers` directories: only root may list
/// them, but anyone may pass through. A container in a user namespace runs as a mapped,
/// unprivileged root, which must reach its root filesystem and the files bind-mounted into
/// it below these; what is private below (each container's directories) has mode 0700.
pub const TRAVERSABLE_DIR_MODE: u32 = 0o711;

/// Creates `dir` (and its parents) with mode 0700 if missing; an existing one keeps its mode.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
        .map_err(|e| StorageError::io("create", dir, e))
}

/// Gives the existing directory `dir` mode 0700 (a store made before that rule).
pub fn make_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::symlink_metadata(dir)
        .map_err(|e| StorageError::io("stat", dir, e))?
        .permissions()
        .mode();
    if mode & 0o7777 != PRIVATE_DIR_MODE {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(PRIVATE_DIR_MODE))
            .map_err(|e| StorageError::io("set the mode of", dir, e))?;
    }
    Ok(())
}

/// Creates `dir` (and its parents) if needed and gives it `mode`, whatever it had.
pub fn create_dir_with_mode(dir: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    create_private_dir(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(|e| StorageError::io("set the mode of", dir, e))
}
