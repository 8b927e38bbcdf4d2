//! The directories of an extraction, opened from the layer root one component at a time
//! without following symlinks, creating what is missing.
//!
//! Tar entries come in directory order, so consecutive entries share most of their parent
//! path. [`DirChain`] keeps the components of the last path it resolved, with descriptors of
//! some of them, and opens only from the deepest kept ancestor of the next path. Without
//! that, each entry of a 10,000-deep directory chain opened every level above it again: a
//! commit of such a tree (a container can make one) took minutes of `openat` calls.
//!
//! Descriptors are bounded by the rule tree walks follow (`tree::held`); levels opened again
//! on the way to a path are kept by the same rule, so walking back up a deep chain
//! (directory times are set deepest first) costs at most a stride of opens per level. An entry that removes a
//! directory (a file or whiteout taking the place of an empty one) first tells the chain
//! ([`DirChain::forget`]), so a kept descriptor always names the directory at its path.

use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::openat;
use nix::sys::stat::Mode;

use crate::engine::tree::{self, dir_flags};

/// Why a directory of a path could not be opened.
pub enum ChainError {
    /// A component is a symlink or not a directory.
    NotADirectory,
    /// Anything else, from the system.
    Io(std::io::Error),
}

/// See the module documentation.
pub struct DirChain {
    root: OwnedFd,
    /// The components of the last path resolved, with their descriptors where kept.
    chain: Vec<(OsString, Option<OwnedFd>)>,
}

impl DirChain {
    /// A chain under `root`, the layer's directory.
    pub fn new(root: OwnedFd) -> Self {
        DirChain {
            root,
            chain: Vec::new(),
        }
    }

    /// The layer root.
    pub fn root(&self) -> &OwnedFd {
        &self.root
    }

    /// Drops what is kept of `path` and below: the entry there is about to be removed.
    pub fn forget(&mut self, path: &Path) {
        let names = normal_components(path);
        let prefix = self
            .chain
            .iter()
            .zip(&names)
            .take_while(|((kept, _), name)| kept == *name)
            .count();
        if prefix == names.len() {
            self.chain.truncate(prefix.saturating_sub(1));
        }
    }

    /// A descriptor of directory `path` (relative to the root; only its normal components
    /// count), creating missing directories with `mkdir`.
    pub fn open(
        &mut self,
        path: &Path,
        mkdir: impl Fn(&OwnedFd, &OsStr) -> std::io::Result<()>,
    ) -> Result<OwnedFd, ChainError> {
        let names = normal_components(path);
        let common = self
            .chain
            .iter()
            .zip(&names)
            .take_while(|((kept, _), name)| kept == *name)
            .count();
        self.chain.truncate(common);
        let start = self.chain.iter().rposition(|(_, fd)| fd.is_some());
        let mut current = match start {
            Some(level) => self.chain[level].1.as_ref().expect("kept"),
            None => &self.root,
        }
        .try_clone()
        .map_err(ChainError::Io)?;
        for (level, name) in names.iter().enumerate().skip(start.map_or(0, |l| l + 1)) {
            let next = match openat(&current, *name, dir_flags(), Mode::empty()) {
                Err(Errno::ENOENT) => {
                    mkdir(&current, name).map_err(ChainError::Io)?;
                    openat(&current, *name, dir_flags(), Mode::empty())
                }
                other => other,
            };
            current = next.map_err(|e| match e {
                // O_NOFOLLOW on a symlink, or a file where a directory should be.
                Errno::ELOOP | Errno::ENOTDIR => ChainError::NotADirectory,
                e => ChainError::Io(e.into()),
            })?;
            let kept = Some(current.try_clone().map_err(ChainError::Io)?);
            match self.chain.get_mut(level) {
                Some(slot) => slot.1 = kept,
                None => self.chain.push((name.to_os_string(), kept)),
            }
            // One level deeper: in tree's terms (the root is index 0), the deepest is now
            // `level + 1`, and what it stops holding is let go.
            for index in tree::released(level + 1) {
                self.chain[index - 1].1 = None;
            }
        }
        Ok(current)
    }
}

fn normal_components(path: &Path) -> Vec<&OsStr> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkdir(parent: &OwnedFd, name: &OsStr) -> std::io::Result<()> {
        Ok(nix::sys::stat::mkdirat(
            parent,
            name,
            Mode::from_bits_truncate(0o755),
        )?)
    }

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    #[test]
    fn a_deep_chain_down_and_back_up_keeps_few_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let root = nix::fcntl::open(dir.path(), dir_flags(), Mode::empty()).unwrap();
        let mut chain = DirChain::new(root);
        let before = open_fds();
        let depth = 10_000;
        let mut path = std::path::PathBuf::new();
        let mut paths = Vec::new();
        for _ in 0..depth {
            path.push("d");
            drop(chain.open(&path, mkdir).ok().unwrap());
            paths.push(path.clone());
        }
        let held = open_fds() - before;
        // tree::held's bound: 64 near levels, 4096 / 64 strides, one per 4096 beyond.
        assert!(held <= 64 + 4096 / 64 + depth / 4096 + 1, "{held}");
        for path in paths.iter().rev() {
            drop(chain.open(path, mkdir).ok().unwrap());
        }
        // A sibling branch far up reuses what is kept.
        drop(chain.open(Path::new("d/d/e"), mkdir).ok().unwrap());
        assert!(dir.path().join("d/d/e").is_dir());
    }

    #[test]
    fn a_removed_directory_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let root = nix::fcntl::open(dir.path(), dir_flags(), Mode::empty()).unwrap();
        let mut chain = DirChain::new(root);
        drop(chain.open(Path::new("a/b"), mkdir).ok().unwrap());
        chain.forget(Path::new("a/b"));
        std::fs::remove_dir(dir.path().join("a/b")).unwrap();
        drop(chain.open(Path::new("a/b/c"), mkdir).ok().unwrap());
        assert!(dir.path().join("a/b/c").is_dir());
        // Forgetting a path the chain does not hold keeps what it holds.
        chain.forget(Path::new("x/y"));
        assert_eq!(chain.chain.len(), 3);
    }

    #[test]
    fn symlinks_and_files_are_not_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/", dir.path().join("link")).unwrap();
        std::fs::write(dir.path().join("file"), b"").unwrap();
        let root = nix::fcntl::open(dir.path(), dir_flags(), Mode::empty()).unwrap();
        let mut chain = DirChain::new(root);
        for bad in ["link/etc", "file/x", "link"] {
            assert!(matches!(
                chain.open(Path::new(bad), mkdir),
                Err(ChainError::NotADirectory)
            ));
        }
        assert!(!Path::new("/etc/x").exists());
    }
}
