//! Writing a COPY's or ADD's files (a tarball the build made) into a stage's working
//! container, through its mounted root filesystem, so that they land in its upper
//! directory like a RUN's changes. Every path is resolved inside that root as chroot would
//! (`openat2` with `RESOLVE_IN_ROOT`): a symlink a RUN or the image made, absolute or with
//! `..`, leads somewhere in the container, never on the host. The last component is never
//! followed: it is replaced.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{Mode, SFlag, fchmod, fstatat, futimens, mkdirat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};

use super::state::absolute;
use crate::engine::error::{Error, Result};

/// Writes every entry of `tarball` (directories, regular files, symlinks and hard links)
/// under `root`.
pub(super) fn apply_tar(root: &Path, tarball: impl Read) -> Result<()> {
    let root_fd: OwnedFd = File::open(root)
        .map_err(|e| Error::io("open", root, e))?
        .into();
    let mut archive = tar::Archive::new(tarball);
    let io = |what: &'static str, path: &str, e: Errno| {
        Error::io(what, format!("{path} in the build container"), e.into())
    };
    let entries = archive
        .entries()
        .map_err(|e| Error::io("read", "layer", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::io("read", "layer", e))?;
        let raw = entry
            .path()
            .map_err(|e| Error::io("read", "layer", e))?
            .to_string_lossy()
            .to_string();
        let path = absolute("/", &raw);
        let Some((dir, name)) = path.rsplit_once('/').filter(|(_, n)| !n.is_empty()) else {
            continue;
        };
        let name = OsStr::new(name);
        let parent = ensure_dir(&root_fd, dir).map_err(|e| io("create directory", dir, e))?;
        let header = entry.header().clone();
        let mode = Mode::from_bits_truncate(header.mode().unwrap_or(0o644) & 0o7777);
        let uid = Uid::from_raw(header.uid().unwrap_or(0) as u32);
        let gid = Gid::from_raw(header.gid().unwrap_or(0) as u32);
        let kind = header.entry_type();
        let existing = fstatat(&parent, name, AtFlags::AT_SYMLINK_NOFOLLOW).ok();
        let is_dir = |st: &nix::sys::stat::FileStat| {
            SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
        };
        if kind.is_dir() {
            if !existing.as_ref().is_some_and(is_dir) {
                if existing.is_some() {
                    unlinkat(&parent, name, UnlinkatFlags::NoRemoveDir)
                        .map_err(|e| io("replace", &path, e))?;
                }
                mkdirat(&parent, name, Mode::from_bits_truncate(0o755))
                    .map_err(|e| io("create directory", &path, e))?;
            }
            let fd = openat(&parent, name, dir_flags(), Mode::empty())
                .map_err(|e| io("open", &path, e))?;
            fchown(&fd, Some(uid), Some(gid)).map_err(|e| io("chown", &path, e))?;
            fchmod(&fd, mode).map_err(|e| io("chmod", &path, e))?;
            continue;
        }
        if let Some(st) = &existing {
            let flags = match is_dir(st) {
                // A directory is replaced only when empty, as Docker refuses to overwrite one.
                true => UnlinkatFlags::RemoveDir,
                false => UnlinkatFlags::NoRemoveDir,
            };
            unlinkat(&parent, name, flags).map_err(|e| io("replace", &path, e))?;
        }
        let link = entry
            .link_name()
            .map_err(|e| Error::io("read", "layer", e))?
            .map(|l| l.to_string_lossy().to_string());
        match (kind, link) {
            (tar::EntryType::Symlink, Some(target)) => {
                symlinkat(target.as_str(), &parent, name).map_err(|e| io("symlink", &path, e))?;
                fchownat(
                    &parent,
                    name,
                    Some(uid),
                    Some(gid),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| io("chown", &path, e))?;
            }
            (tar::EntryType::Link, Some(target)) => {
                let target = absolute("/", &target);
                let (tdir, tname) = target.rsplit_once('/').unwrap_or(("", &target));
                let tparent = open_in_root(&root_fd, tdir).map_err(|e| io("open", tdir, e))?;
                // No AT_SYMLINK_FOLLOW: the link is to the entry itself.
                linkat(&tparent, tname, &parent, name, AtFlags::empty())
                    .map_err(|e| io("link", &path, e))?;
            }
            (k, _) if k.is_file() || k == tar::EntryType::Continuous => {
                let fd = openat(
                    &parent,
                    name,
                    OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_WRONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| io("create", &path, e))?;
                let mut file = File::from(fd);
                std::io::copy(&mut entry, &mut file)
                    .map_err(|e| Error::io("write", format!("{path} in the build container"), e))?;
                // Owner first: a chown clears setuid bits.
                fchown(file.as_fd(), Some(uid), Some(gid)).map_err(|e| io("chown", &path, e))?;
                fchmod(file.as_fd(), mode).map_err(|e| io("chmod", &path, e))?;
                let mtime = TimeSpec::new(header.mtime().unwrap_or(0) as i64, 0);
                futimens(file.as_fd(), &mtime, &mtime).map_err(|e| io("set times", &path, e))?;
            }
            _ => {
                return Err(Error::invalid(
                    "build",
                    format!("{raw}: entries of type {kind:?} are not copied"),
                ));
            }
        }
    }
    Ok(())
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// The directory `rel` (absolute in the container) resolved inside `root`.
fn open_in_root(root: &OwnedFd, rel: &str) -> nix::Result<OwnedFd> {
    let rel = rel.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root, rel, how)
}

/// The directory `rel` inside `root`, made (with its missing parents, mode 0755, owned by
/// root) when missing.
fn ensure_dir(root: &OwnedFd, rel: &str) -> nix::Result<OwnedFd> {
    match open_in_root(root, rel) {
        Err(Errno::ENOENT) => {}
        other => return other,
    }
    let mut prefix = String::new();
    let mut current = open_in_root(root, "/")?;
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        prefix = format!("{prefix}/{part}");
        current = match open_in_root(root, &prefix) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                match mkdirat(&current, part, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                open_in_root(root, &prefix)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    #[test]
    fn symlinks_resolve_inside_the_root() {
        let root = tempfile::TempDir::new().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        // An absolute symlink to a host directory, as a RUN could make.
        std::os::unix::fs::symlink("/etc", root.path().join("out")).unwrap();
        let name = format!("podlink-apply-{}", std::process::id());
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("out/{name}"), &b"hi"[..])
            .unwrap();
        let tarball = b.into_inner().unwrap();
        super::apply_tar(root.path(), &tarball[..]).unwrap();
        assert!(!std::path::Path::new("/etc").join(&name).exists());
        assert_eq!(
            std::fs::read(root.path().join("etc").join(&name)).unwrap(),
            b"hi"
        );
    }
}
