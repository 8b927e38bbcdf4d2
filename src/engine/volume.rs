//! Named volumes: a directory each under the storage root, made the first time a container
//! names it. (The volume methods of the interface's later revision will list and remove
//! them; until then they live as long as the storage root.)
//!
//! ```text
//! ROOT/volumes/<name>/_data    what containers see
//! ```

use std::path::{Path, PathBuf};

use crate::engine::error::{Error, Result};

/// Directory of named volumes under the storage root.
pub const VOLUMES_DIR: &str = "volumes";

/// The data directory of volume `name` under `root`, created if it does not exist yet, then
/// owned by `owner` (uid, gid): the root of the user namespace of the container that made it.
pub fn data_dir(root: &Path, name: &str, owner: Option<(u32, u32)>) -> Result<PathBuf> {
    if !valid_volume_name(name) {
        // Names come from CreateContainer's `volumes`; checked there first, and again
        // here because a path is built from it.
        return Err(Error::invalid(
            "create.volumes",
            format!("{name:?} is not a volume name"),
        ));
    }
    let dir = root.join(VOLUMES_DIR).join(name).join("_data");
    if !dir.exists() {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| Error::io("chown", &dir, e))?;
        }
    }
    Ok(dir)
}

/// Whether `name` is a valid volume name.
pub fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The path of `path` (absolute, as inside the container) in the root filesystem at `root`,
/// with every symlink on the way resolved as the container would resolve it: inside `root`,
/// `..` stopping at its top. `None` when it does not exist (or loops).
pub fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    use std::path::Component;
    let mut pending: Vec<std::ffi::OsString> = Path::new(path)
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut resolved: Vec<std::ffi::OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate: PathBuf = root.join(resolved.iter().collect::<PathBuf>()).join(&part);
        let meta = std::fs::symlink_metadata(&candidate).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return None;
            }
            let target = std::fs::read_link(&candidate).ok()?;
            if target.is_absolute() {
                resolved.clear();
            }
            let parts: Vec<std::ffi::OsString> = target
                .components()
                .filter_map(|c| match c {
                    Component::Normal(n) => Some(n.to_os_string()),
                    Component::ParentDir => Some("..".into()),
                    _ => None,
                })
                .collect();
            pending.extend(parts.into_iter().rev());
        } else {
            resolved.push(part);
        }
    }
    Some(root.join(resolved.iter().collect::<PathBuf>()))
}

/// The deepest image volume [`copy_tree`] copies: it holds a descriptor per level of the
/// copy it makes, and an image author decides how deep the tree goes.
const MAX_COPY_DEPTH: usize = 256;

/// Copies the tree at `from` into the empty directory `to`, keeping modes, owners and links,
/// as Podman fills an image volume with what the image has at its path. Iterative and by
/// descriptor on both sides (the image shaped the tree); deeper than `MAX_COPY_DEPTH` (256) is
/// refused.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::cell::RefCell;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::{Mode, SFlag, fchmod, mkdirat};
    use nix::unistd::{Gid, Uid, fchown, fchownat};

    use super::tree::{self, Next};

    let meta = std::fs::symlink_metadata(from)?;
    if !meta.is_dir() {
        return Ok(());
    }
    let owner = |stat: &nix::sys::stat::FileStat| {
        (
            Some(Uid::from_raw(stat.st_uid)),
            Some(Gid::from_raw(stat.st_gid)),
        )
    };
    let mode = |stat: &nix::sys::stat::FileStat| Mode::from_bits_truncate(stat.st_mode & 0o7777);
    // The copy's directories, `to` first: the copy of the walk's current directory is last.
    let targets = RefCell::new(vec![tree::open_dir(to)?]);
    tree::walk(
        from,
        |entry| {
            let targets_now = targets.borrow();
            let target = targets_now.last().expect("`to` stays until the end");
            let (uid, gid) = owner(&entry.stat);
            match SFlag::from_bits_truncate(entry.stat.st_mode) & SFlag::S_IFMT {
                SFlag::S_IFDIR => {
                    if targets_now.len() > MAX_COPY_DEPTH {
                        return Err(std::io::Error::other(format!(
                            "{}: deeper than {MAX_COPY_DEPTH} levels",
                            from.display()
                        )));
                    }
                    mkdirat(target, entry.name, Mode::from_bits_truncate(0o700))?;
                    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                    let dir = openat(target, entry.name, flags, Mode::empty())?;
                    drop(targets_now);
                    // Owner and mode are set on the way out, once it is filled.
                    targets.borrow_mut().push(dir);
                    return Ok(Next::Descend);
                }
                SFlag::S_IFLNK => {
                    let link = std::fs::read_link(entry.path())?;
                    nix::unistd::symlinkat(link.as_path(), target, entry.name)?;
                    let no_follow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
                    fchownat(target, entry.name, uid, gid, no_follow)?;
                }
                SFlag::S_IFREG => {
                    let mut source = entry.open_file()?;
                    let flags = OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_WRONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC;
                    let copy = openat(target, entry.name, flags, Mode::from_bits_truncate(0o600))?;
                    std::io::copy(&mut source, &mut std::fs::File::from(copy.try_clone()?))?;
                    // chown clears setuid/setgid bits: the mode goes last.
                    fchown(&copy, uid, gid)?;
                    fchmod(&copy, mode(&entry.stat))?;
                }
                // Devices, fifos and sockets are not copied into volumes.
                _ => {}
            }
            Ok(Next::Skip)
        },
        |dir| {
            let copy = targets.borrow_mut().pop().expect("pushed on the way in");
            let (uid, gid) = owner(&dir.stat);
            fchown(&copy, uid, gid)?;
            Ok(fchmod(&copy, mode(&dir.stat))?)
        },
    )?;
    let top = std::fs::metadata(from)?;
    std::os::unix::fs::lchown(to, Some(top.uid()), Some(top.gid()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(top.mode()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_made_once_and_names_checked() {
        let root = tempfile::tempdir().unwrap();
        let a = data_dir(root.path(), "cache", None).unwrap();
        std::fs::write(a.join("f"), "x").unwrap();
        assert_eq!(data_dir(root.path(), "cache", None).unwrap(), a);
        assert!(a.join("f").exists());
        assert!(data_dir(root.path(), "../escape", None).is_err());
    }

    #[test]
    fn paths_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("real/data")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("real/up")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/abs/data"),
            Some(root.join("real/data"))
        );
        // `..` past the top stays at the top, as in the container.
        assert_eq!(
            resolve_in_root(root, "/real/up/real"),
            Some(root.join("real"))
        );
        assert_eq!(
            resolve_in_root(root, "/../../real/data"),
            Some(root.join("real/data"))
        );
        assert_eq!(resolve_in_root(root, "/missing"), None);
        assert_eq!(resolve_in_root(root, "/loop"), None);
    }

    #[test]
    fn trees_are_copied_with_links_and_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("sub/file"), "data").unwrap();
        std::fs::set_permissions(
            from.join("sub/file"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        std::os::unix::fs::symlink("sub/file", from.join("link")).unwrap();
        let to = dir.path().join("to");
        std::fs::create_dir(&to).unwrap();
        copy_tree(&from, &to).unwrap();
        assert_eq!(std::fs::read_to_string(to.join("link")).unwrap(), "data");
        assert_eq!(
            std::fs::metadata(to.join("sub/file"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o640
        );
    }
}
