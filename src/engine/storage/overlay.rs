//! Overlay mounts: a container's root filesystem is its image's layers (lower, read-only)
//! under its own upper directory.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use super::error::{Result, StorageError};

/// Files added, changed and deleted in an overlay's upper directory relative to its lower
/// layers (a container's changes to its image).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Paths that exist in the image and were modified.
    pub changed: Vec<String>,
    /// Paths that do not exist in the image.
    pub added: Vec<String>,
    /// Paths of the image that were removed.
    pub deleted: Vec<String>,
}

/// The directories of one container's overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// Lower directories, topmost first.
    pub lower: Vec<PathBuf>,
    /// The container's writable layer.
    pub upper: PathBuf,
    /// overlayfs's scratch directory, on the same filesystem as `upper`.
    pub work: PathBuf,
    /// Where the root filesystem appears.
    pub merged: PathBuf,
    /// Copy up only metadata on a change of owner or mode (`metacopy=on`): containers in a
    /// user namespace have the ownership of every file shifted once, which would otherwise
    /// copy the whole image. Once used, a container's overlay must always be mounted so.
    pub metacopy: bool,
    /// Mounted `volatile` (Linux 5.10): overlayfs never syncs the upper directory, so the
    /// unmount at the container's exit does not sync the whole filesystem under it. Only for
    /// a container whose files go with its exit (`rm`), as Podman does for `--rm`: after a
    /// host crash, what it wrote may be incomplete.
    pub volatile: bool,
}

impl Overlay {
    /// The mount options for this overlay. Every directory is checked first: a `:` in a
    /// lower directory would split it into two layers, and a `,` would start another
    /// option (`lowerdir=/x,upperdir=/` ...), so a path holding either (or a `\`, which
    /// overlayfs reads as an escape, or a control character) is refused, not escaped.
    pub fn options(&self) -> Result<String> {
        let dirs = self.lower.iter().chain([&self.upper, &self.work]);
        for dir in dirs {
            option_safe(dir)?;
        }
        let lower: Vec<String> = self.lower.iter().map(|p| p.display().to_string()).collect();
        let mut options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            self.upper.display(),
            self.work.display()
        );
        if self.metacopy {
            options.push_str(",metacopy=on");
        }
        if self.volatile {
            options.push_str(",volatile");
        }
        Ok(options)
    }

    /// Mounts the overlay (creating the container's directories); a no-op if mounted.
    pub fn mount(&self) -> Result<()> {
        for dir in [&self.upper, &self.work, &self.merged] {
            std::fs::create_dir_all(dir).map_err(|e| StorageError::io("create", dir, e))?;
        }
        if is_mounted(&self.merged) {
            return Ok(());
        }
        let options = self.options()?;
        // A single page holds the options; images with very many layers need shorter
        // lower paths (links), which podlink does not make yet.
        if options.len() >= 4000 {
            return Err(StorageError::io(
                "mount",
                &self.merged,
                std::io::Error::other(format!(
                    "{} layers is more than one overlay mount takes",
                    self.lower.len()
                )),
            ));
        }
        // A volatile mount leaves `work/incompat/volatile` behind, and overlayfs refuses to
        // mount that work directory again until it is gone (a mount after a crash must not
        // trust what a volatile one wrote; a container whose files go with it does not care).
        if self.volatile {
            let marker = self.work.join("work/incompat/volatile");
            if let Err(e) = std::fs::remove_dir_all(&marker)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                log::warn!("{}: {e}", marker.display());
            }
        }
        let mount = |options: &str| {
            nix::mount::mount(
                Some("overlay"),
                &self.merged,
                Some("overlay"),
                // nodev: a container in a user namespace keeps its directories traversable, so
                // host users can reach its mounted root filesystem, where a world-writable device
                // node from an image must not open (containers/storage's usual `mountopt`).
                // Devices a container is given live on runc's /dev tmpfs, not here.
                MsFlags::MS_NODEV,
                Some(options),
            )
        };
        match mount(&options) {
            // A kernel before 5.10 does not know `volatile`: the mount syncs, as any other.
            Err(nix::errno::Errno::EINVAL) if self.volatile => {
                mount(options.trim_end_matches(",volatile"))
            }
            other => other,
        }
        .map_err(|e| StorageError::io("mount overlay on", &self.merged, e.into()))
    }

    /// Unmounts the overlay if mounted.
    pub fn unmount(&self) -> Result<()> {
        unmount(&self.merged)
    }
}

/// Refuses a directory that cannot appear in overlay mount options as it is.
fn option_safe(dir: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = dir.as_os_str().as_bytes();
    let bad = bytes
        .iter()
        .find(|b| matches!(b, b':' | b',' | b'\\') || b.is_ascii_control());
    match bad {
        None if std::str::from_utf8(bytes).is_ok() => Ok(()),
        _ => Err(StorageError::io(
            "mount overlay with",
            dir,
            std::io::Error::other(
                "the path holds a character overlay mount options cannot carry \
                 (':', ',', '\\', a control character or invalid UTF-8)",
            ),
        )),
    }
}

/// Unmounts `path` if something is mounted there.
pub fn unmount(path: &Path) -> Result<()> {
    if !is_mounted(path) {
        return Ok(());
    }
    match nix::mount::umount2(path, MntFlags::empty())
        .or_else(|_| nix::mount::umount2(path, MntFlags::MNT_DETACH))
    {
        // Unmounted meanwhile by someone else: what was asked.
        Err(nix::errno::Errno::EINVAL) if !is_mounted(path) => Ok(()),
        other => other.map_err(|e| StorageError::io("unmount", path, e.into())),
    }
}

/// Whether something is mounted on `path`: asked of the kernel for that path alone (statx),
/// or, on kernels that cannot say, looked up in /proc/self/mountinfo, whose reading grows
/// with every mount on the host (two per running container). A path that does not exist
/// has nothing mounted on it.
pub fn is_mounted(path: &Path) -> bool {
    match crate::sys::is_mount_root(path) {
        Ok(Some(root)) => root,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Ok(None) | Err(_) => mount_points().contains(path),
    }
}

/// Every mount point of this process's mount namespace.
pub fn mount_points() -> std::collections::HashSet<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Default::default();
    };
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|mount_point| PathBuf::from(unescape(mount_point)))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_list_lower_layers_topmost_first() {
        let o = Overlay {
            lower: vec!["/l/top".into(), "/l/base".into()],
            upper: "/c/diff".into(),
            work: "/c/work".into(),
            merged: "/c/merged".into(),
            metacopy: false,
            volatile: false,
        };
        assert_eq!(
            o.options().unwrap(),
            "lowerdir=/l/top:/l/base,upperdir=/c/diff,workdir=/c/work"
        );
        let volatile = Overlay {
            volatile: true,
            ..o
        };
        assert!(
            volatile
                .options()
                .unwrap()
                .ends_with(",workdir=/c/work,volatile")
        );
    }

    #[test]
    fn options_refuse_option_breaking_paths() {
        let good = Overlay {
            lower: vec!["/l/a".into()],
            upper: "/c/diff".into(),
            work: "/c/work".into(),
            merged: "/c/merged".into(),
            metacopy: true,
            volatile: false,
        };
        assert!(good.options().unwrap().ends_with(",metacopy=on"));
        for bad in ["/l/a:/", "/l/a,upperdir=/", "/l/a\\:b", "/l/a\nb"] {
            let mut o = good.clone();
            o.lower = vec![bad.into()];
            assert!(o.options().is_err(), "{bad:?} accepted");
            let mut o = good.clone();
            o.upper = bad.into();
            assert!(o.options().is_err(), "{bad:?} accepted as upper");
        }
    }

    #[test]
    fn mount_points_are_told_as_the_mount_table_says() {
        let table = mount_points();
        for path in [
            "/proc",
            "/proc/self/fd",
            "/",
            "/sys",
            "/nonexistent-podlink-path",
        ] {
            let path = Path::new(path);
            assert_eq!(is_mounted(path), table.contains(path), "{}", path.display());
        }
        // The kernel says it itself (Linux 5.8 and later), without the mount table.
        assert_eq!(
            crate::sys::is_mount_root(Path::new("/proc")).ok(),
            Some(Some(true))
        );
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
