//! Walks of directory trees that a container or an image author shaped: iterative, through
//! directory descriptors, never by full path.
//!
//! A container decides how deep its directories go. A recursive walk overflowed the 512 KiB
//! stacks of connection threads at about 1,900 levels and took the whole daemon down; and a
//! full path past 4,096 bytes (PATH_MAX) cannot be opened at all. So the walk keeps its own
//! stack of frames, reaches every entry as (directory descriptor, name), and opens each
//! directory from its parent's descriptor with `O_NOFOLLOW`: a symlink the container swaps
//! in never leads it out of the tree. Only some directory descriptors stay open (see
//! `held`); a directory whose descriptor was closed is opened again by name from the
//! nearest one held when the walk climbs back to it, so a tree of any depth needs few
//! descriptors, and climbing back costs a few openings per level.

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};

/// The deepest directories of the walk whose descriptors are all held.
const HELD: usize = 64;
/// Above those, every STRIDE-th level is held within FAR levels of the deepest, and every
/// FAR-th level beyond: climbing back opens at most STRIDE directories again per STRIDE
/// levels (FAR per FAR levels), with HELD + FAR / STRIDE + depth / FAR descriptors open.
const STRIDE: usize = 64;
const FAR: usize = 4096;

/// Whether the walk holds the descriptor of the directory at stack index `i` (0 is the
/// root) while the deepest is at `top`.
pub(crate) fn held(i: usize, top: usize) -> bool {
    let above = top - i;
    above < HELD || (i % STRIDE == 0 && above < FAR) || i % FAR == 0
}

/// The stack indexes whose descriptors stop being held when the deepest goes to `top`: the
/// one HELD levels up, and the one FAR levels up.
pub(crate) fn released(top: usize) -> impl Iterator<Item = usize> {
    [HELD, FAR]
        .into_iter()
        .filter_map(move |above| top.checked_sub(above))
        .filter(move |&i| !held(i, top))
}

/// Flags to open a directory of the tree.
pub(crate) fn dir_flags() -> OFlag {
    OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY
}

/// Opens directory `path` (the root of a walk) without following a final symlink, except
/// a descriptor's own `/proc/self/fd/N`, which is only reached by following it (Commit
/// walks a detached, symlink-free view of a container's files that way).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let mut flags = dir_flags();
    if path.starts_with("/proc/self/fd") {
        flags.remove(OFlag::O_NOFOLLOW);
    }
    Ok(nix::fcntl::open(path, flags, Mode::empty())?)
}

/// One entry met by a walk.
pub struct Entry<'a> {
    /// The directory that holds it.
    pub parent: BorrowedFd<'a>,
    /// Its name there.
    pub name: &'a OsStr,
    /// Its path relative to the root of the walk.
    pub rel: &'a Path,
    /// How many components `rel` has (1 for an entry of the root).
    pub depth: usize,
    /// Its status (not following a symlink).
    pub stat: FileStat,
}

impl Entry<'_> {
    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        is_dir(&self.stat)
    }

    /// Its metadata as std has it (for `tar`), from a descriptor that does not follow it.
    pub fn metadata(&self) -> io::Result<Metadata> {
        let fd = openat(
            self.parent,
            self.name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        File::from(fd).metadata()
    }

    /// Opens it, a regular file, for reading; a symlink or anything else put in its place
    /// meanwhile is refused, never followed or read.
    pub fn open_file(&self) -> io::Result<File> {
        let fd = openat(
            self.parent,
            self.name,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            Mode::empty(),
        )?;
        regular(File::from(fd))
    }

    /// A short path to it for calls that only take paths (`lgetxattr`, `readlink`,
    /// `chmod` of what is not a symlink): `/proc/self/fd/N/NAME`, resolved through the
    /// parent's descriptor, however long its full path is.
    pub fn path(&self) -> PathBuf {
        fd_path(self.parent, self.name)
    }
}

/// `/proc/self/fd/N/NAME`.
pub fn fd_path(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    let mut path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    path.push(name);
    path
}

/// `file` if it is a regular file.
fn regular(file: File) -> io::Result<File> {
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(io::Error::other(
            "not a regular file (replaced while read?)",
        ))
    }
}

fn is_dir(stat: &FileStat) -> bool {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

/// What the visitor wants after seeing an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Go on; into it if it is a directory.
    Descend,
    /// Go on, but not into it.
    Skip,
}

/// A directory on the walk's stack.
struct Frame {
    /// Its descriptor, while held.
    fd: Option<OwnedFd>,
    /// Its name in its parent ("" for the root).
    name: OsString,
    /// Its status, for the visit on the way out.
    stat: FileStat,
    /// Names still to visit, the next one last.
    pending: Vec<OsString>,
}

/// Opens the directory `name` in `parent` without following a symlink.
pub fn open_subdir(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(openat(parent, name, dir_flags(), Mode::empty())?)
}

/// Entry names of the directory open at `fd` (a copy of it is read), sorted from the last.
pub(crate) fn names(fd: &OwnedFd) -> io::Result<Vec<OsString>> {
    let mut dir = nix::dir::Dir::from_fd(fd.try_clone()?)?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(OsString::from(OsStr::from_bytes(&name)));
        }
    }
    // Visited in order, popped from the end.
    names.sort_unstable_by(|a, b| b.cmp(a));
    Ok(names)
}

/// Walks the tree under `root` (not `root` itself): `visit` sees each entry, in name order,
/// a directory before what it holds; `leave` sees each directory `visit` descended into once
/// everything in it was visited. An entry that vanishes during the walk is passed over.
pub fn walk(
    root: &Path,
    mut visit: impl FnMut(&Entry<'_>) -> io::Result<Next>,
    mut leave: impl FnMut(&Entry<'_>) -> io::Result<()>,
) -> io::Result<()> {
    let root_fd = open_dir(root)?;
    let stat = nix::sys::stat::fstat(&root_fd)?;
    let pending = names(&root_fd)?;
    let mut stack = vec![Frame {
        fd: Some(root_fd),
        name: OsString::new(),
        stat,
        pending,
    }];
    let mut rel = PathBuf::new();
    while let Some(top) = stack.last_mut() {
        if let Some(name) = top.pending.pop() {
            reopen(&mut stack)?;
            let top = stack.last().expect("the stack was not empty");
            let parent = top.fd.as_ref().expect("reopen holds the top's descriptor");
            let stat = match fstatat(parent, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(e.into()),
            };
            rel.push(&name);
            let entry = Entry {
                parent: parent.as_fd(),
                name: &name,
                rel: &rel,
                depth: stack.len(),
                stat,
            };
            let next = visit(&entry)?;
            if !(is_dir(&stat) && next == Next::Descend) {
                rel.pop();
                continue;
            }
            let fd = match openat(parent, name.as_os_str(), dir_flags(), Mode::empty()) {
                Ok(fd) => fd,
                // Removed, or replaced by something else, since it was seen.
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => {
                    rel.pop();
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let pending = names(&fd)?;
            stack.push(Frame {
                fd: Some(fd),
                name,
                stat,
                pending,
            });
            // One level deeper, two directories may leave what is held.
            for i in released(stack.len() - 1) {
                stack[i].fd = None;
            }
        } else {
            let done = stack.pop().expect("the stack was not empty");
            if stack.is_empty() {
                break;
            }
            reopen(&mut stack)?;
            let parent = stack.last().and_then(|f| f.fd.as_ref());
            let parent = parent.expect("reopen holds the top's descriptor");
            let entry = Entry {
                parent: parent.as_fd(),
                name: &done.name,
                rel: &rel,
                depth: stack.len(),
                stat: done.stat,
            };
            leave(&entry)?;
            rel.pop();
        }
    }
    Ok(())
}

/// Makes sure the top frame's descriptor is held, opening it by name from the nearest
/// directory still held (and holding again what [`held`] says on the way).
fn reopen(stack: &mut [Frame]) -> io::Result<()> {
    let top = stack.len() - 1;
    if stack[top].fd.is_some() {
        return Ok(());
    }
    let from = (0..top)
        .rev()
        .find(|&i| stack[i].fd.is_some())
        .expect("the root's descriptor is always held");
    let mut current = stack[from].fd.as_ref().expect("found held").try_clone()?;
    for (i, frame) in stack.iter_mut().enumerate().skip(from + 1) {
        let next =
            openat(&current, frame.name.as_os_str(), dir_flags(), Mode::empty()).map_err(|e| {
                io::Error::other(format!(
                    "open again a directory the walk had left: {}",
                    io::Error::from(e)
                ))
            })?;
        if held(i, top) {
            frame.fd = Some(next.try_clone()?);
        }
        current = next;
    }
    Ok(())
}

/// Removes the tree at `path` and `path` itself, however deep; its absence is no error.
pub fn remove_all(path: &Path) -> io::Result<()> {
    let stat = match nix::sys::stat::lstat(path) {
        Ok(stat) => stat,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if !is_dir(&stat) {
        return std::fs::remove_file(path);
    }
    let gone = |r: nix::Result<()>| match r {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(io::Error::from(e)),
    };
    match walk(
        path,
        |entry| {
            if entry.is_dir() {
                return Ok(Next::Descend);
            }
            gone(unlinkat(
                entry.parent,
                entry.name,
                UnlinkatFlags::NoRemoveDir,
            ))?;
            Ok(Next::Skip)
        },
        |dir| gone(unlinkat(dir.parent, dir.name, UnlinkatFlags::RemoveDir)),
    ) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    match std::fs::remove_dir(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Opens the regular file `rel` below the directory `root` one component at a time, following no symlink
/// (`rel` may be longer than PATH_MAX).
pub fn open_beneath(root: &OwnedFd, rel: &Path) -> io::Result<File> {
    let mut components: Vec<&OsStr> = rel
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let last = components
        .pop()
        .ok_or_else(|| io::Error::other("an empty path"))?;
    let mut current = root.try_clone()?;
    for name in components {
        current = openat(&current, name, dir_flags(), Mode::empty())?;
    }
    let fd = openat(
        &current,
        last,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::empty(),
    )?;
    regular(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain of `depth` directories named `d` under `root`, made through descriptors (its
    /// full path is far past PATH_MAX), with a file at the bottom.
    fn chain(root: &Path, depth: usize) {
        let mut current = open_dir(root).unwrap();
        for _ in 0..depth {
            nix::sys::stat::mkdirat(&current, "d", Mode::from_bits_truncate(0o755)).unwrap();
            current = openat(&current, "d", dir_flags(), Mode::empty()).unwrap();
        }
        let file = openat(
            &current,
            "f",
            OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        drop(file);
    }

    #[test]
    fn walks_and_removes_a_deep_chain_on_a_small_stack() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        std::fs::create_dir(&root).unwrap();
        chain(&root, 5000);
        std::fs::write(root.join("top"), "x").unwrap();
        let root2 = root.clone();
        // The stack of a connection thread.
        std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || {
                let (mut seen, mut left, mut deepest) = (0, 0, 0);
                walk(
                    &root2,
                    |e| {
                        seen += 1;
                        deepest = deepest.max(e.rel.as_os_str().len());
                        if !e.is_dir() {
                            // Readable through its short path and its descriptor.
                            e.open_file().unwrap();
                            assert!(std::fs::symlink_metadata(e.path()).unwrap().is_file());
                        }
                        Ok(Next::Descend)
                    },
                    |_| {
                        left += 1;
                        Ok(())
                    },
                )
                .unwrap();
                assert_eq!((seen, left), (5002, 5000));
                assert_eq!(deepest, 2 * 5000 + 1);
                remove_all(&root2).unwrap();
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(!root.exists());
        remove_all(&root).unwrap();
    }

    #[test]
    fn few_descriptors_are_held() {
        let top = 10_000;
        let count = (0..=top).filter(|&i| held(i, top)).count();
        assert!(count <= HELD + FAR / STRIDE + top / FAR + 1, "{count}");
        assert!(held(0, top) && held(top, top) && held(top - HELD + 1, top));
        // The nearest held directory above any level is never far.
        let mut nearest = 0;
        for level in 0..=top {
            if held(level, top) {
                nearest = level;
            }
            let limit = if top - level + STRIDE <= FAR {
                STRIDE
            } else {
                FAR
            };
            assert!(level - nearest < limit, "{level}: {nearest}");
        }
    }

    #[test]
    fn visits_in_name_order_and_skips() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["b/y", "a/x", "c"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::os::unix::fs::symlink("/", dir.path().join("a/link")).unwrap();
        let mut seen = Vec::new();
        walk(
            dir.path(),
            |e| {
                seen.push(e.rel.display().to_string());
                Ok(if e.name == "b" {
                    Next::Skip
                } else {
                    Next::Descend
                })
            },
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(seen, ["a", "a/link", "a/x", "b", "c"]);
        let root = open_dir(dir.path()).unwrap();
        assert!(open_beneath(&root, Path::new("a/link/etc/passwd")).is_err());
    }
}
