//! Extraction of a layer tarball into a layer directory (see the folder's doc for the
//! rules), computing its DiffID and writing its split on the way.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, futimens, makedev, mknodat};
use nix::sys::time::TimeSpec;
use nix::unistd::{UnlinkatFlags, linkat, symlinkat, unlinkat};
use sha2::{Digest as _, Sha256};

use super::error::{ArchiveError, Result};
use super::metadata::{Metadata, xattr_on_fd};
use super::path::clean_path;
use super::split::SplitWriter;
use super::whiteout::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use crate::engine::id::digest::Digest;
use crate::engine::storage::budget::{Budget, Charged};
use crate::engine::storage::compression::decompress;
use crate::engine::storage::dirchain::{ChainError, DirChain};

/// A layer just extracted: the digest and size of its uncompressed tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// `sha256:<hex>` of the uncompressed tarball (the DiffID).
    pub diff_id: Digest,
    /// Size of the uncompressed tarball in bytes.
    pub size: u64,
}

/// Extracts a (possibly compressed) layer tarball from `input` into the empty directory `dir`,
/// and writes its split to `split`; every uncompressed byte and every entry is charged to
/// `budget`.
pub fn extract_layer(
    input: impl Read,
    dir: &Path,
    split: &Path,
    budget: &Budget,
) -> Result<Extracted> {
    let extracted = budget
        .check_space()
        .map_err(|e| ArchiveError::io("check free space in", dir, e))
        .and_then(|()| extract_within(input, dir, split, budget));
    // A limit passed surfaces wrapped by the tar reader or decompressor; report it as such.
    match budget.exceeded() {
        Some(what) => Err(ArchiveError::Limit(budget.error(what))),
        None => extracted,
    }
}

fn extract_within(
    input: impl Read,
    dir: &Path,
    split: &Path,
    budget: &Budget,
) -> Result<Extracted> {
    let stream = decompress(input).map_err(|e| ArchiveError::io("read", "layer", e))?;
    let stream = Charged {
        inner: stream,
        budget,
    };
    let split_file = File::create(split).map_err(|e| ArchiveError::io("create", split, e))?;
    let tee = Rc::new(RefCell::new(Tee {
        inner: Box::new(stream),
        hasher: Sha256::new(),
        offset: 0,
        skip_end: 0,
        split: SplitWriter::new(BufWriter::with_capacity(256 * 1024, split_file)),
    }));
    let root = open_dir(dir).map_err(|e| ArchiveError::io("open", dir, e))?;
    let mut extractor = Extractor {
        dirs: DirChain::new(root),
        directories: Vec::new(),
        directory_bytes: 0,
    };
    let mut archive = tar::Archive::new(TeeReader(Rc::clone(&tee)));
    let entries = archive
        .entries()
        .map_err(|e| ArchiveError::io("read", "layer", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ArchiveError::io("read entry of", "layer", e))?;
        budget
            .charge_entry()
            .map_err(|e| ArchiveError::io("read entry of", "layer", e))?;
        extractor.entry(&mut entry, &tee)?;
    }
    // The digest covers the whole stream, padding after the end-of-archive blocks included.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| ArchiveError::io("read", "layer", e))?;
    drop(rest);
    extractor.finish_directories()?;
    let tee = Rc::try_unwrap(tee)
        .map_err(|_| ArchiveError::io("finish", "layer", io::Error::other("tee still shared")))?
        .into_inner();
    let size = tee.offset;
    let diff_id = Digest::of_hasher(tee.hasher);
    tee.split
        .finish()
        .map_err(|e| ArchiveError::io("write", split, e))?;
    Ok(Extracted { diff_id, size })
}

/// Reads the decompressed stream, hashing every byte and copying all but file contents into
/// the split.
struct Tee<'a> {
    inner: Box<dyn Read + 'a>,
    hasher: Sha256,
    /// Bytes read so far.
    offset: u64,
    /// Bytes before this offset that belong to a file's content are not copied to the split.
    skip_end: u64,
    split: SplitWriter<BufWriter<File>>,
}

struct TeeReader<'a>(Rc<RefCell<Tee<'a>>>);

impl Read for TeeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut tee = self.0.borrow_mut();
        let n = tee.inner.read(buf)?;
        let data = &buf[..n];
        tee.hasher.update(data);
        let start = tee.offset;
        tee.offset += n as u64;
        // The part of this read past the file content being skipped goes to the split.
        let keep_from = tee.skip_end.saturating_sub(start).min(n as u64) as usize;
        tee.split.raw(&data[keep_from..])?;
        Ok(n)
    }
}

/// Extraction state: the layer root and what to finish at the end.
struct Extractor {
    /// The layer root and the directories of the last path resolved.
    dirs: DirChain,
    /// Directories and their times, set last because creating entries changes them.
    directories: Vec<(PathBuf, TimeSpec)>,
    /// What `directories` holds, in bytes (paths plus [`DIRECTORY_OVERHEAD`] each).
    directory_bytes: usize,
}

impl Extractor {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>, tee: &Rc<RefCell<Tee>>) -> Result<()> {
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            return Ok(());
        }
        if kind.is_gnu_sparse() {
            return Err(ArchiveError::Unsupported {
                path: raw_path,
                why: "sparse files".into(),
            });
        }
        let path = clean_path(&raw_path)?;
        let meta = Metadata::of(entry)?;
        let Some(name) = path.file_name().map(OsStr::to_os_string) else {
            // "./" or "/": the layer root itself.
            let root = self
                .dirs
                .root()
                .try_clone()
                .map_err(|e| ArchiveError::io("dup", "/", e))?;
            meta.apply_fd(&root, &raw_path)?;
            self.directories.push((PathBuf::new(), meta.mtime));
            return Ok(());
        };
        let parent_path = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let parent = self.resolve(&parent_path, &raw_path)?;
        let name_bytes = name.as_bytes();

        if name_bytes == OPAQUE_MARKER.as_bytes() {
            xattr_on_fd(parent.as_fd(), OVERLAY_OPAQUE_XATTR, b"y")
                .map_err(|e| ArchiveError::io("mark opaque", &parent_path, e))?;
            return Ok(());
        }
        if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            let hidden = OsStr::from_bytes(hidden);
            self.dirs.forget(&parent_path.join(hidden));
            remove_existing(&parent, hidden, &raw_path)?;
            mknodat(
                &parent,
                hidden,
                SFlag::S_IFCHR,
                Mode::empty(),
                makedev(0, 0),
            )
            .map_err(|e| ArchiveError::io("create whiteout", &path, e))?;
            return Ok(());
        }

        if kind.is_dir() {
            match mkdir_or_existing(&parent, &name) {
                Ok(()) => {}
                Err(e) => return Err(ArchiveError::io("create directory", &path, e)),
            }
            let dir = openat(&parent, name.as_os_str(), dir_flags(), Mode::empty())
                .map_err(|e| ArchiveError::io("open directory", &path, e))?;
            meta.apply_fd(&dir, &raw_path)?;
            // Kept until the end: bounded, or a tarball repeating one long directory path
            // (gzip shrinks that a thousandfold) would fill the service's memory.
            self.directory_bytes += path.as_os_str().len() + DIRECTORY_OVERHEAD;
            if self.directory_bytes > MAX_DIRECTORY_BYTES {
                return Err(ArchiveError::Unsupported {
                    path: raw_path,
                    why: format!(
                        "the directory entries' paths pass {} MiB",
                        MAX_DIRECTORY_BYTES >> 20
                    ),
                });
            }
            self.directories.push((path, meta.mtime));
            return Ok(());
        }

        self.dirs.forget(&path);
        remove_existing(&parent, &name, &raw_path)?;
        if kind.is_symlink() {
            let target = entry
                .link_name_bytes()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            symlinkat(OsStr::from_bytes(&target), &parent, name.as_os_str())
                .map_err(|e| ArchiveError::io("create symlink", &path, e))?;
            meta.apply_nofollow(&parent, &name, &raw_path)?;
        } else if kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            let target = clean_path(&target)?;
            let (Some(target_name), target_parent) = (target.file_name(), target.parent()) else {
                return Err(ArchiveError::Unsafe {
                    path: raw_path,
                    why: "hard link to the layer root",
                });
            };
            let target_parent = self.resolve(target_parent.unwrap_or(Path::new("")), &raw_path)?;
            // Without AT_SYMLINK_FOLLOW, linkat links the entry itself, never where a symlink
            // points, and the target's parents were walked without following symlinks.
            linkat(
                &target_parent,
                target_name,
                &parent,
                name.as_os_str(),
                AtFlags::empty(),
            )
            .map_err(|e| ArchiveError::io("create hard link", &path, e))?;
        } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            let (sflag, dev) = if kind.is_fifo() {
                (SFlag::S_IFIFO, 0)
            } else {
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                let sflag = if kind.is_character_special() {
                    SFlag::S_IFCHR
                } else {
                    SFlag::S_IFBLK
                };
                (sflag, makedev(major.into(), minor.into()))
            };
            mknodat(&parent, name.as_os_str(), sflag, Mode::empty(), dev)
                .map_err(|e| ArchiveError::io("create device", &path, e))?;
            // Opening a device node could have effects; set its metadata by name instead.
            meta.apply_nofollow(&parent, &name, &raw_path)?;
        } else {
            // Regular files, and (as POSIX asks) any type we do not know.
            let file = openat(
                &parent,
                name.as_os_str(),
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(|e| ArchiveError::io("create", &path, e))?;
            let mut file = File::from(file);
            let size = entry.size();
            if size > 0 {
                let start = entry.raw_file_position();
                {
                    let mut tee = tee.borrow_mut();
                    if tee.offset != start {
                        return Err(ArchiveError::Unsupported {
                            path: raw_path,
                            why: "tar reader read ahead of the entry".into(),
                        });
                    }
                    tee.skip_end = start + size;
                    tee.split
                        .file(size, path.as_os_str().as_bytes())
                        .map_err(|e| ArchiveError::io("write split for", &path, e))?;
                }
                let copied =
                    io::copy(entry, &mut file).map_err(|e| ArchiveError::io("write", &path, e))?;
                if copied != size {
                    return Err(ArchiveError::io(
                        "write",
                        &path,
                        io::Error::new(io::ErrorKind::UnexpectedEof, "truncated entry"),
                    ));
                }
            }
            meta.apply_fd(file.as_fd(), &raw_path)?;
        }
        Ok(())
    }

    /// Opens directory `path` from the root without following symlinks, creating missing
    /// directories.
    fn resolve(&mut self, path: &Path, entry: &str) -> Result<OwnedFd> {
        self.dirs
            .open(path, mkdir_or_existing)
            .map_err(|e| match e {
                ChainError::NotADirectory => ArchiveError::Unsafe {
                    path: entry.to_string(),
                    why: "a parent directory is a symlink or not a directory",
                },
                ChainError::Io(e) => ArchiveError::io("open directory", path, e),
            })
    }

    /// Sets the times of every directory, deepest first, now that nothing changes them.
    fn finish_directories(&mut self) -> Result<()> {
        let directories = std::mem::take(&mut self.directories);
        for (path, mtime) in directories.iter().rev() {
            let fd = self.resolve(path, &path.display().to_string())?;
            futimens(&fd, mtime, mtime).map_err(|e| ArchiveError::io("set times of", path, e))?;
        }
        Ok(())
    }
}

/// The most an extraction keeps of directory paths, to set their times at the end: a million
/// directories with 200-byte paths fit; a 10,000-deep chain (50 MB of paths) does too.
#[cfg(not(test))]
const MAX_DIRECTORY_BYTES: usize = 256 << 20;
/// Small in unit tests, which reach it with a small tarball.
#[cfg(test)]
const MAX_DIRECTORY_BYTES: usize = 1 << 20;
/// What each kept directory costs beside its path.
const DIRECTORY_OVERHEAD: usize = std::mem::size_of::<(PathBuf, TimeSpec)>();

fn dir_flags() -> OFlag {
    OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY
}

fn open_dir(dir: &Path) -> nix::Result<OwnedFd> {
    nix::fcntl::open(dir, dir_flags(), Mode::empty())
}

fn mkdir_or_existing(parent: &impl AsFd, name: &OsStr) -> io::Result<()> {
    match nix::sys::stat::mkdirat(parent, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) => Ok(()),
        Err(Errno::EEXIST) => {
            let st = nix::sys::stat::fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
            if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
                Ok(())
            } else {
                // A file stands where a later entry wants a directory: the later entry wins.
                unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)?;
                nix::sys::stat::mkdirat(parent, name, Mode::from_bits_truncate(0o755))?;
                Ok(())
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes a non-directory at `name` so a later entry can take its place. A directory stays
/// (replacing a whole tree with a file is refused by the create that follows).
fn remove_existing(parent: &impl AsFd, name: &OsStr, entry: &str) -> Result<()> {
    match unlinkat(parent, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EISDIR) => match unlinkat(parent, name, UnlinkatFlags::RemoveDir) {
            Ok(()) => Ok(()),
            Err(e) => Err(ArchiveError::io("replace directory", entry, e)),
        },
        Err(e) => Err(ArchiveError::io("replace", entry, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tarball repeating one long directory path stops at the bound on what an extraction
    /// keeps of directory paths, and says so.
    #[test]
    fn repeated_directory_entries_are_bounded() {
        let mut b = tar::Builder::new(Vec::new());
        let long = format!("{}/", "d".repeat(200)).repeat(10);
        for _ in 0..(MAX_DIRECTORY_BYTES / long.len() + 10) {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, &long, &[][..]).unwrap();
        }
        let tarball = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("layer");
        std::fs::create_dir(&layer).unwrap();
        let budget = Budget::unlimited(dir.path());
        let err = extract_layer(&tarball[..], &layer, &dir.path().join("split"), &budget)
            .unwrap_err()
            .to_string();
        assert!(err.contains("directory entries' paths pass 1 MiB"), "{err}");
    }

    /// A directory replaced by a file, then by a directory again (appended tarballs do
    /// this): entries below the new one land in it, not in the removed one.
    #[test]
    fn a_directory_replaced_and_made_again_takes_its_entries() {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, kind: tar::EntryType, data: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(kind);
            h.set_mode(0o755);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, path, data).unwrap();
        };
        add("a/", tar::EntryType::Directory, b"");
        add("a/b/", tar::EntryType::Directory, b"");
        add("a/b", tar::EntryType::Regular, b"file");
        add("a/b/", tar::EntryType::Directory, b"");
        add("a/b/c", tar::EntryType::Regular, b"late");
        let tarball = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("layer");
        std::fs::create_dir(&layer).unwrap();
        let budget = Budget::unlimited(dir.path());
        let split = dir.path().join("split");
        extract_layer(&tarball[..], &layer, &split, &budget).unwrap();
        assert_eq!(std::fs::read(layer.join("a/b/c")).unwrap(), b"late");
    }
}
