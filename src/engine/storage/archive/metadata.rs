//! Ownership, mode, times and extended attributes of an extracted entry, applied through a
//! descriptor or by name without following symlinks.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::fcntl::AtFlags;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, fchmod, futimens, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat};

use super::error::{ArchiveError, Result};
use super::whiteout::OVERLAY_XATTR_PREFIX;

/// `/proc/self/fd/N/NAME`: a path for calls that only take paths (lsetxattr), resolved
/// through the parent's descriptor so no symlink above it is followed.
pub(super) fn fd_path(parent: &impl AsFd, name: &OsStr) -> PathBuf {
    use std::os::fd::AsRawFd;
    let mut path = PathBuf::from(format!("/proc/self/fd/{}", parent.as_fd().as_raw_fd()));
    path.push(name);
    path
}

/// Ownership, mode, times and extended attributes of an entry.
pub(super) struct Metadata {
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mode: Mode,
    pub(super) mtime: TimeSpec,
    pub(super) xattrs: Vec<(String, Vec<u8>)>,
}

impl Metadata {
    pub(super) fn of<R: Read>(entry: &mut tar::Entry<R>) -> Result<Self> {
        let header = entry.header();
        // Blank numeric fields (some writers leave them empty) read as GNU tar and libarchive
        // take them: 0 for ids and times, the usual defaults for modes.
        let uid = header.uid().unwrap_or(0) as u32;
        let gid = header.gid().unwrap_or(0) as u32;
        let default_mode = if header.entry_type().is_dir() {
            0o755
        } else {
            0o644
        };
        let mode = Mode::from_bits_truncate(header.mode().unwrap_or(default_mode) & 0o7777);
        let mtime = TimeSpec::new(header.mtime().unwrap_or(0) as i64, 0);
        let mut xattrs = Vec::new();
        if let Ok(Some(extensions)) = entry.pax_extensions() {
            for ext in extensions.flatten() {
                if let (Ok(key), value) = (ext.key(), ext.value_bytes())
                    && let Some(name) = key.strip_prefix("SCHILY.xattr.")
                    && !name.starts_with(OVERLAY_XATTR_PREFIX)
                {
                    xattrs.push((name.to_string(), value.to_vec()));
                }
            }
        }
        Ok(Metadata {
            uid,
            gid,
            mode,
            mtime,
            xattrs,
        })
    }

    /// Applies to an open file or directory: owner first (it clears setuid bits), then mode,
    /// attributes, times.
    pub(super) fn apply_fd(&self, fd: impl AsFd, path: &str) -> Result<()> {
        let fd = fd.as_fd();
        fchown(
            fd,
            Some(Uid::from_raw(self.uid)),
            Some(Gid::from_raw(self.gid)),
        )
        .map_err(|e| ArchiveError::io("chown", path, e))?;
        fchmod(fd, self.mode).map_err(|e| ArchiveError::io("chmod", path, e))?;
        for (name, value) in &self.xattrs {
            xattr_on_fd(fd, name, value)
                .map_err(|e| ArchiveError::io("set attribute on", path, e))?;
        }
        futimens(fd, &self.mtime, &self.mtime)
            .map_err(|e| ArchiveError::io("set times of", path, e))
    }

    /// Applies to a symlink or device node by name, never following it.
    pub(super) fn apply_nofollow(
        &self,
        parent: &impl AsFd,
        name: &OsStr,
        path: &str,
    ) -> Result<()> {
        fchownat(
            parent,
            name,
            Some(Uid::from_raw(self.uid)),
            Some(Gid::from_raw(self.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| ArchiveError::io("chown", path, e))?;
        let is_link = nix::sys::stat::fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK)
            .unwrap_or(false);
        if !is_link {
            nix::sys::stat::fchmodat(
                parent,
                name,
                self.mode,
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| ArchiveError::io("chmod", path, e))?;
        }
        for (xname, value) in &self.xattrs {
            xattr::set(fd_path(parent, name), xname, value)
                .map_err(|e| ArchiveError::io("set attribute on", path, e))?;
        }
        utimensat(
            parent,
            name,
            &self.mtime,
            &self.mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| ArchiveError::io("set times of", path, e))
    }
}

/// fsetxattr on a file or directory descriptor.
pub(super) fn xattr_on_fd(
    fd: std::os::fd::BorrowedFd<'_>,
    name: &str,
    value: &[u8],
) -> io::Result<()> {
    use xattr::FileExt;
    let file = File::from(fd.try_clone_to_owned()?);
    file.set_xattr(name, value)
}
