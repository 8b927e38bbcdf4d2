//! The image under a container's upper directory, read by descriptor in step with a walk of
//! that directory ([`tree::walk`]).
//!
//! An image's layers are shaped by its author: a layer may hold `a -> /`. A lookup of
//! `layer/a/etc` by path follows that symlink to the host's `/etc`, so a container that
//! replaced `a` by a directory had the host's files reported as its deletions. Here every
//! lookup is one `fstatat`/`openat` with `O_NOFOLLOW` from a descriptor of the image's
//! directory: a symlink (or any non-directory) in a layer is what the container sees there,
//! and the image has no directory below it. Layers merge as overlayfs merges them: the
//! topmost layer holding a name decides (a whiteout removes it), and a layer's directory
//! hides the layers under it when it is opaque or when it is not a directory at all.
//!
//! Like the walk, the view holds the descriptors of only some levels (`tree::held`), and
//! opens the others again from the nearest held one when the walk climbs back.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};

use crate::engine::storage::archive::OVERLAY_OPAQUE_XATTR;
use crate::engine::tree;

/// What the image has under one name.
pub struct ImageEntry {
    /// Its status (not following a symlink).
    pub stat: FileStat,
    /// Its target, if it is a symlink.
    pub link: Option<OsString>,
}

/// One directory of the image on the walk's path.
struct Level {
    /// Its name in its parent ("" for the root).
    name: OsString,
    /// The layers that contribute to it (indexes, topmost first).
    layers: Vec<usize>,
    /// Their descriptors there, while held.
    fds: Option<Vec<OwnedFd>>,
}

/// The image's directory at the walk's current directory, and its ancestors.
pub struct ImageView {
    levels: Vec<Level>,
}

fn kind(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT
}

/// An overlay whiteout: a character device 0:0.
pub fn is_whiteout_stat(stat: &FileStat) -> bool {
    kind(stat) == SFlag::S_IFCHR && stat.st_rdev == 0
}

/// The status of `name` in `dir`, if it is there.
fn stat_at(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<FileStat>> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl ImageView {
    /// The view of the image whose layers (topmost first) are the directories `lower`.
    pub fn open(lower: &[PathBuf]) -> io::Result<Self> {
        let fds = lower
            .iter()
            .map(|layer| tree::open_dir(layer))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(ImageView {
            levels: vec![Level {
                name: OsString::new(),
                layers: (0..lower.len()).collect(),
                fds: Some(fds),
            }],
        })
    }

    /// Climbs to the directory holding the walk's entries at `depth` (1 for the root's).
    pub fn at_depth(&mut self, depth: usize) {
        self.levels.truncate(depth.max(1));
    }

    /// The descriptors of the current directory's layers (opened again if released).
    fn current(&mut self) -> io::Result<&[OwnedFd]> {
        let top = self.levels.len() - 1;
        if self.levels[top].fds.is_none() {
            let from = (0..top)
                .rev()
                .find(|&i| self.levels[i].fds.is_some())
                .expect("the root's descriptors are always held");
            let mut current: Vec<OwnedFd> = self.levels[from]
                .fds
                .iter()
                .flatten()
                .map(|fd| fd.try_clone())
                .collect::<io::Result<_>>()?;
            for i in from + 1..=top {
                let (above, below) = self.levels.split_at_mut(i);
                let (parent, level) = (&above[i - 1], &mut below[0]);
                // A directory's layers are some of its parent's, in the same order.
                let mut next = Vec::with_capacity(level.layers.len());
                for layer in &level.layers {
                    let pos = parent.layers.iter().position(|l| l == layer);
                    let fd = &current[pos.expect("a parent holds its children's layers")];
                    next.push(tree::open_subdir(fd.as_fd(), &level.name)?);
                }
                if tree::held(i, top) {
                    level.fds = Some(
                        next.iter()
                            .map(|f| f.try_clone())
                            .collect::<io::Result<_>>()?,
                    );
                }
                current = next;
            }
            self.levels[top].fds = Some(current);
        }
        Ok(self.levels[top].fds.as_deref().expect("just held"))
    }

    /// What the image has at `name` in the current directory.
    pub fn entry(&mut self, name: &OsStr) -> io::Result<Option<ImageEntry>> {
        for fd in self.current()? {
            if let Some(stat) = stat_at(fd, name)? {
                if is_whiteout_stat(&stat) {
                    return Ok(None);
                }
                let link = match kind(&stat) == SFlag::S_IFLNK {
                    true => Some(OsString::from(OsStr::from_bytes(
                        nix::fcntl::readlinkat(fd, name)?.as_bytes(),
                    ))),
                    false => None,
                };
                return Ok(Some(ImageEntry { stat, link }));
            }
        }
        Ok(None)
    }

    /// Goes into the directory `name` of the current one (the image may have none there).
    pub fn descend(&mut self, name: &OsStr) -> io::Result<()> {
        let top = self.levels.len() - 1;
        let mut layers = Vec::new();
        let mut fds = Vec::new();
        let parent_layers = self.levels[top].layers.clone();
        for (fd, layer) in self.current()?.iter().zip(parent_layers) {
            let Some(stat) = stat_at(fd, name)? else {
                continue;
            };
            if kind(&stat) != SFlag::S_IFDIR {
                // A whiteout, a symlink or a file hides the layers under it.
                break;
            }
            let dir = openat(fd, name, tree::dir_flags(), Mode::empty())?;
            let opaque = xattr::get(tree::fd_path(fd.as_fd(), name), OVERLAY_OPAQUE_XATTR)
                .ok()
                .flatten();
            layers.push(layer);
            fds.push(dir);
            if opaque.as_deref() == Some(b"y") {
                break;
            }
        }
        self.levels.push(Level {
            name: name.to_os_string(),
            layers,
            fds: Some(fds),
        });
        let top = self.levels.len() - 1;
        for i in tree::released(top) {
            // A level without layers costs nothing to hold, and nothing below it is opened.
            if !self.levels[i].layers.is_empty() {
                self.levels[i].fds = None;
            }
        }
        Ok(())
    }

    /// The names the image has in the current directory.
    pub fn names(&mut self) -> io::Result<BTreeSet<OsString>> {
        let mut decided = BTreeSet::new();
        let mut present = BTreeSet::new();
        for fd in self.current()? {
            for name in tree::names(fd)? {
                if decided.contains(&name) {
                    continue;
                }
                if let Some(stat) = stat_at(fd, &name)?
                    && !is_whiteout_stat(&stat)
                {
                    present.insert(name.clone());
                }
                decided.insert(name);
            }
        }
        Ok(present)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_in_a_layer_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (top, bottom) = (dir.path().join("top"), dir.path().join("bottom"));
        std::fs::create_dir_all(top.join("d")).unwrap();
        std::fs::create_dir_all(bottom.join("d/kept")).unwrap();
        std::fs::create_dir_all(bottom.join("a/hidden")).unwrap();
        std::os::unix::fs::symlink("/", top.join("a")).unwrap();
        std::os::unix::fs::symlink("/etc", top.join("d/etc")).unwrap();
        let mut view = ImageView::open(&[top, bottom]).unwrap();
        let a = view.entry(OsStr::new("a")).unwrap().unwrap();
        assert_eq!(a.link.as_deref(), Some(OsStr::new("/")));
        // The symlink hides the bottom layer's directory; the host's `/` is not read.
        view.descend(OsStr::new("a")).unwrap();
        assert!(view.names().unwrap().is_empty());
        assert!(view.entry(OsStr::new("etc")).unwrap().is_none());
        view.at_depth(1);
        view.descend(OsStr::new("d")).unwrap();
        let names: Vec<_> = view.names().unwrap().into_iter().collect();
        assert_eq!(names, ["etc", "kept"]);
        view.descend(OsStr::new("etc")).unwrap();
        assert!(view.entry(OsStr::new("passwd")).unwrap().is_none());
        assert!(view.names().unwrap().is_empty());
    }

    #[test]
    fn deep_image_directories_are_reopened_when_climbing_back() {
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("layer");
        let mut path = layer.clone();
        for _ in 0..300 {
            path.push("d");
        }
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(layer.join("d/f"), "x").unwrap();
        let mut view = ImageView::open(&[layer]).unwrap();
        for _ in 0..300 {
            view.descend(OsStr::new("d")).unwrap();
        }
        assert!(view.levels.iter().filter(|l| l.fds.is_some()).count() < 100);
        view.at_depth(2);
        assert!(view.entry(OsStr::new("f")).unwrap().is_some());
        assert!(view.entry(OsStr::new("d")).unwrap().is_some());
    }
}
