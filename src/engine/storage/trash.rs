//! The trash: what a crash left in the store, moved out of the way at start-up and removed
//! after the service answers.
//!
//! A SIGKILL during an import can leave a staging directory with millions of entries, and one
//! during a removal a layer directory without its record. Removing them takes as long as they
//! are big, and start-up must not keep the socket closed that long. Moving each into `trash/`
//! is one rename (the same filesystem: both are under the storage root), done while nothing
//! else uses the store, so no import can ever see or reuse them; [`Trash::empty`] then removes
//! them on a thread of its own. A crash during that removal leaves only entries of `trash/`,
//! which the next start removes the same way.

use std::path::{Path, PathBuf};

use super::dirs::{create_private_dir, make_private};
use super::error::{Result, StorageError};
use super::fs::{remove_tree, unique_name};

/// The trash directory under the storage root.
pub const TRASH_DIR: &str = "trash";

/// `ROOT/trash/`: entries waiting to be removed.
#[derive(Debug, Clone)]
pub struct Trash {
    dir: PathBuf,
}

impl Trash {
    /// The trash under `root`, created if needed. Private: it holds image content.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join(TRASH_DIR);
        create_private_dir(&dir)?;
        make_private(&dir)?;
        Ok(Trash { dir })
    }

    /// Moves `path` (an entry of the store) into the trash. Should the rename fail (the
    /// entry on another filesystem, say), it is removed in place instead.
    pub fn discard(&self, path: &Path) -> Result<()> {
        let target = self.dir.join(unique_name("discarded"));
        match std::fs::rename(path, &target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => {
                log::warn!(
                    "cannot move {} to the trash ({e}): removing it now",
                    path.display()
                );
                remove_tree(path)
            }
        }
    }

    /// Removes everything in the trash; returns how many entries went. Errors are logged:
    /// what stays is tried again at the next start.
    pub fn empty(&self) -> usize {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) => {
                log::error!("{}", StorageError::io("list", &self.dir, e));
                return 0;
            }
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            match remove_tree(&entry.path()) {
                Ok(()) => removed += 1,
                Err(e) => log::error!("{e}"),
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discarded_entries_leave_at_once_and_go_when_emptied() {
        let root = tempfile::tempdir().unwrap();
        let trash = Trash::open(root.path()).unwrap();
        let victim = root.path().join("tmp/layer-x");
        std::fs::create_dir_all(victim.join("diff/deep")).unwrap();
        std::fs::write(victim.join("diff/deep/f"), b"x").unwrap();
        trash.discard(&victim).unwrap();
        assert!(!victim.exists());
        // Already gone: nothing to do.
        trash.discard(&victim).unwrap();
        assert_eq!(
            std::fs::read_dir(root.path().join(TRASH_DIR))
                .unwrap()
                .count(),
            1
        );
        assert_eq!(trash.empty(), 1);
        assert_eq!(
            std::fs::read_dir(root.path().join(TRASH_DIR))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(trash.empty(), 0);
    }
}
