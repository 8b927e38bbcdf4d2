//! Network namespaces as files (`netns_dir/<id>`): each a bind mount of a namespace made by a
//! thread of the service, so it outlives every process, the runtime joins it by path and a
//! restarted service finds it.
//!
//! `netns_dir` is made a mount point of its own, private and then shared, as `ip netns` does
//! with /run/netns: a peer group of its own, so a mount namespace copied while a namespace
//! file is mounted (a container's, before its pivot; a monitor's private one) receives our
//! unmount instead of keeping the namespace alive, and nothing we mount there propagates to
//! the rest of the host.

use std::io;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};

/// Makes `dir` (creating it) a shared mount point of its own; already one: nothing to do.
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if is_mount_point(dir)? {
        return Ok(());
    }
    let none: Option<&str> = None;
    mount(Some(dir), dir, none, MsFlags::MS_BIND, none).map_err(|e| ctx(e, "bind-mount", dir))?;
    mount(none, dir, none, MsFlags::MS_PRIVATE, none).map_err(|e| ctx(e, "make private", dir))?;
    mount(none, dir, none, MsFlags::MS_SHARED, none).map_err(|e| ctx(e, "make shared", dir))
}

/// Unmounts `dir` itself (when nothing is left in it) and removes it.
pub fn release_dir(dir: &Path) -> io::Result<()> {
    if !dir.exists() || !list(dir).is_empty() {
        return Ok(());
    }
    if is_mount_point(dir)? {
        umount2(dir, MntFlags::MNT_DETACH).map_err(|e| ctx(e, "unmount", dir))?;
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes a new network namespace and binds it to `path` (a new file): a thread unshares its
/// network namespace, the bind mount keeps the namespace, and the thread ends.
pub fn create(path: &Path) -> io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let made = std::thread::scope(|s| {
        s.spawn(|| -> io::Result<()> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| ctx(e, "unshare net for", path))?;
            let none: Option<&str> = None;
            mount(
                Some("/proc/thread-self/ns/net"),
                path,
                none,
                MsFlags::MS_BIND,
                none,
            )
            .map_err(|e| ctx(e, "bind-mount a namespace on", path))
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
    });
    if made.is_err() {
        std::fs::remove_file(path).ok();
    }
    made
}

/// Unmounts and removes namespace file `path`; returns false when there was none.
pub fn remove(path: &Path) -> io::Result<bool> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(ctx(e, "unmount", path)),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The names of the files in `dir` (none, or no `dir`: empty).
pub fn list(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

/// Whether `dir` is a mount point (its mount ID differs from its parent's, read from
/// /proc/self/mountinfo, which also sees bind mounts of a directory on itself).
fn is_mount_point(dir: &Path) -> io::Result<bool> {
    let dir = std::fs::canonicalize(dir)?;
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(info.lines().any(|l| {
        l.split(' ')
            .nth(4)
            .is_some_and(|m| unescape(m) == dir.as_os_str().to_string_lossy())
    }))
}

/// mountinfo's octal escapes (`\040` for a space) undone.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out += &rest[..i];
        match u8::from_str_radix(rest.get(i + 1..i + 4).unwrap_or(""), 8) {
            Ok(b) => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            Err(_) => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out + rest
}

fn ctx(e: nix::errno::Errno, what: &str, path: &Path) -> io::Error {
    io::Error::new(
        io::Error::from(e).kind(),
        format!("{what} {}: {e}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn root_is_a_mount_point() {
        assert!(is_mount_point(Path::new("/")).unwrap());
    }
}
