//! What one import may write: bytes, tar entries, and the free space it must leave.
//!
//! A 9 MB gzip can unpack to gigabytes and a 2 MB one to hundreds of thousands of inodes, so
//! every byte an import writes (each layer's uncompressed tarball, an archive decompressed
//! into staging) and every tar entry it reads is charged to one [`Budget`]. Past a limit the
//! import stops with an error naming the limit, and its staging is removed as on any other
//! failure. The free space of the store's filesystem is checked before the import and then
//! every [`CHECK_EVERY`] bytes: an import stops before it leaves less than the reserve.

use std::cell::Cell;
use std::io;
use std::path::{Path, PathBuf};

/// How often (in bytes written) the free space is checked again.
pub const CHECK_EVERY: u64 = 32 * 1024 * 1024;
/// Tar entries between two checks of free inodes.
const CHECK_ENTRIES_EVERY: u64 = 4096;
/// Inodes an import leaves free, on filesystems that count them.
const MIN_FREE_INODES: u64 = 10_000;

/// The limits of imports (daemon flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes one import may write (uncompressed).
    pub max_bytes: u64,
    /// Tar entries one import may hold.
    pub max_entries: u64,
    /// Bytes that must stay free on the store's filesystem.
    pub min_free: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 30,
            max_entries: 4_000_000,
            min_free: 1 << 30,
        }
    }
}

/// What one import has used so far. Not shared between threads: an import runs on one.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    /// A directory on the store's filesystem, for the free space check.
    dir: PathBuf,
    bytes: Cell<u64>,
    entries: Cell<u64>,
    next_check: Cell<u64>,
    /// The first limit passed: later errors (the tar reader's wrapping of it) are reported
    /// as this one.
    exceeded: Cell<Option<Exceeded>>,
}

/// Which limit an import passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// `--import-max-bytes`.
    Bytes(u64),
    /// `--import-max-entries`.
    Entries(u64),
    /// `--import-min-free`: the bytes free when it was checked.
    Space(u64),
    /// Free inodes ran out: how many were left.
    Inodes(u64),
}

impl Budget {
    /// A fresh budget for one import writing under `dir`.
    pub fn new(dir: &Path, limits: Limits) -> Self {
        Budget {
            limits,
            dir: dir.to_path_buf(),
            bytes: Cell::new(0),
            entries: Cell::new(0),
            next_check: Cell::new(0),
            exceeded: Cell::new(None),
        }
    }

    /// No limits at all.
    pub fn unlimited(dir: &Path) -> Self {
        Budget::new(
            dir,
            Limits {
                max_bytes: u64::MAX,
                max_entries: u64::MAX,
                min_free: 0,
            },
        )
    }

    /// Charges `n` bytes about to be written.
    pub fn charge_bytes(&self, n: u64) -> io::Result<()> {
        self.check_tripped()?;
        let total = self.bytes.get().saturating_add(n);
        self.bytes.set(total);
        if total > self.limits.max_bytes {
            return self.trip(Exceeded::Bytes(total));
        }
        if total >= self.next_check.get() {
            self.next_check.set(total.saturating_add(CHECK_EVERY));
            self.check_space()?;
        }
        Ok(())
    }

    /// Charges one tar entry.
    pub fn charge_entry(&self) -> io::Result<()> {
        self.check_tripped()?;
        let total = self.entries.get() + 1;
        self.entries.set(total);
        if total > self.limits.max_entries {
            return self.trip(Exceeded::Entries(total));
        }
        if total % CHECK_ENTRIES_EVERY == 0 {
            self.check_inodes()?;
        }
        Ok(())
    }

    /// The limit passed, if any.
    pub fn exceeded(&self) -> Option<Exceeded> {
        self.exceeded.get()
    }

    /// The error for the limit passed.
    pub fn error(&self, what: Exceeded) -> String {
        match what {
            Exceeded::Bytes(_) => format!(
                "import stopped: it unpacks to more than {} bytes (the limit set by \
                 --import-max-bytes)",
                self.limits.max_bytes
            ),
            Exceeded::Entries(_) => format!(
                "import stopped: it holds more than {} tar entries (the limit set by \
                 --import-max-entries)",
                self.limits.max_entries
            ),
            Exceeded::Space(free) => format!(
                "import stopped: {} has {free} bytes free, less than the {} bytes kept free \
                 (the reserve set by --import-min-free)",
                self.dir.display(),
                self.limits.min_free
            ),
            Exceeded::Inodes(free) => format!(
                "import stopped: {} has only {free} inodes free",
                self.dir.display()
            ),
        }
    }

    fn check_tripped(&self) -> io::Result<()> {
        match self.exceeded.get() {
            Some(what) => Err(io::Error::other(self.error(what))),
            None => Ok(()),
        }
    }

    fn trip(&self, what: Exceeded) -> io::Result<()> {
        self.exceeded.set(Some(what));
        Err(io::Error::other(self.error(what)))
    }

    /// Checks the free space now (also done before anything is written).
    pub fn check_space(&self) -> io::Result<()> {
        if self.limits.min_free == 0 {
            return Ok(());
        }
        let vfs = nix::sys::statvfs::statvfs(&self.dir)?;
        let free = (vfs.blocks_available() as u64).saturating_mul(vfs.fragment_size() as u64);
        if free < self.limits.min_free {
            return self.trip(Exceeded::Space(free));
        }
        Ok(())
    }

    fn check_inodes(&self) -> io::Result<()> {
        let vfs = nix::sys::statvfs::statvfs(&self.dir)?;
        // Filesystems without an inode count (btrfs) report 0 files.
        let free = vfs.files_available() as u64;
        if vfs.files() > 0 && free < MIN_FREE_INODES {
            return self.trip(Exceeded::Inodes(free));
        }
        Ok(())
    }
}

/// A reader that charges what passes through it to a budget (each byte read is one that
/// will be written).
pub struct Charged<'b, R> {
    /// The source.
    pub inner: R,
    /// The budget charged.
    pub budget: &'b Budget,
}

impl<R: io::Read> io::Read for Charged<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.budget.charge_bytes(n as u64)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_trip_once_and_stay_tripped() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::new(
            dir.path(),
            Limits {
                max_bytes: 100,
                max_entries: 2,
                min_free: 0,
            },
        );
        budget.charge_bytes(60).unwrap();
        let e = budget.charge_bytes(60).unwrap_err();
        assert!(e.to_string().contains("--import-max-bytes"), "{e}");
        assert_eq!(budget.exceeded(), Some(Exceeded::Bytes(120)));
        assert!(budget.charge_entry().is_err());

        let budget = Budget::new(
            dir.path(),
            Limits {
                max_entries: 2,
                ..Limits::default()
            },
        );
        budget.charge_entry().unwrap();
        budget.charge_entry().unwrap();
        let e = budget.charge_entry().unwrap_err();
        assert!(e.to_string().contains("--import-max-entries"), "{e}");
    }

    #[test]
    fn free_space_reserve() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::new(
            dir.path(),
            Limits {
                min_free: u64::MAX,
                ..Limits::default()
            },
        );
        let e = budget.charge_bytes(1).unwrap_err();
        assert!(e.to_string().contains("--import-min-free"), "{e}");
        assert!(Budget::unlimited(dir.path()).charge_bytes(1 << 40).is_ok());
    }
}
