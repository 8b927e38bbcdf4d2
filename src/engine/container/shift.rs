//! The ownership shift of a container's root filesystem into its user namespace (done once,
//! through an overlay with `metacopy=on`; see lifecycle's start).

use std::path::Path;

/// Shifts the owner of every file under `root` into the user namespace: host ID `n` becomes
/// the host ID that container ID `n` maps to. Files whose IDs are not mapped are left alone.
/// The walk is iterative and by descriptor (an image decides how deep its tree goes).
pub(super) fn shift_ownership(
    root: &Path,
    uid_map: &[crate::engine::runtime::spec::input::IdMap],
    gid_map: &[crate::engine::runtime::spec::input::IdMap],
) -> std::io::Result<()> {
    use nix::sys::stat::SFlag;
    use nix::unistd::{Gid, Uid};
    use std::os::fd::AsFd;
    use std::os::unix::fs::PermissionsExt;

    use crate::engine::tree::{self, Next};

    let shift = crate::engine::runtime::spec::input::to_host;
    // Changes the owner of the entry `name` in `dir` (its status `stat`, `path` a path to it).
    let apply = |dir: std::os::fd::BorrowedFd<'_>,
                 name: &std::ffi::OsStr,
                 stat: &nix::sys::stat::FileStat,
                 path: &Path|
     -> std::io::Result<()> {
        let uid = shift(uid_map, stat.st_uid);
        let gid = shift(gid_map, stat.st_gid);
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        nix::unistd::fchownat(
            dir,
            name,
            uid.map(Uid::from_raw),
            gid.map(Gid::from_raw),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        // chown clears setuid/setgid bits; put the mode back for what is not a link.
        let link = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK;
        if !link && stat.st_mode & 0o6000 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(stat.st_mode))?;
        }
        Ok(())
    };
    let top = nix::sys::stat::lstat(root)?;
    let parent = tree::open_dir(root.parent().unwrap_or(Path::new("/")))?;
    let name = root.file_name().unwrap_or_default();
    apply(parent.as_fd(), name, &top, root)?;
    tree::walk(
        root,
        |entry| {
            apply(entry.parent, entry.name, &entry.stat, &entry.path())?;
            Ok(Next::Descend)
        },
        |_| Ok(()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_shifts_into_the_map() {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/f"), "x").unwrap();
        std::os::unix::fs::symlink("f", dir.path().join("d/l")).unwrap();
        let map = [crate::engine::runtime::spec::input::IdMap {
            container_id: 0,
            host_id: 100_000,
            size: 65536,
        }];
        shift_ownership(dir.path(), &map, &map).unwrap();
        for p in ["d", "d/f", "d/l"] {
            let m = std::fs::symlink_metadata(dir.path().join(p)).unwrap();
            assert_eq!((m.uid(), m.gid()), (100_000, 100_000), "{p}");
        }
    }
}
