//! A container's changes to its image, read from its overlay's upper directory: the list
//! ListContainerChanges returns, and the layer tarball Commit makes.
//!
//! Overlay whiteouts (character devices 0:0) are deletions and become OCI whiteouts
//! (`.wh.NAME`); opaque directories hide what the image had under them (`.wh..wh..opq`).
//!
//! A container in a user namespace had the owner of every file shifted into its ID map, with
//! metacopy on: its upper directory holds a metadata-only copy of the whole image. Such a
//! copy, whose only difference from the image is the shift, is no change; and what goes into
//! a layer is owned by the IDs inside the container, with the data of metadata-only copies
//! read through the mounted root filesystem (their upper copy has none).
//!
//! The container shapes its upper directory: both walks go through [`tree::walk`]
//! (iterative, by descriptor), and read only what they opened without following links. The
//! image's author shapes its layers: they are read alongside, by descriptor too
//! (`ImageView`), never following a symlink. Both walks stop at [`MAX_DEPTH`] levels and
//! [`MAX_PATH_BYTES`] of paths.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::commit::Changes;
use super::config::IdMap;
use super::image_view::{ImageEntry, ImageView};
use crate::engine::error::{Error, Result};
use crate::engine::storage::archive::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use crate::engine::tree::{self, Next};

/// overlayfs marks a copy-up of metadata only with this extended attribute.
const OVERLAY_METACOPY_XATTR: &str = "trusted.overlay.metacopy";

/// One container's overlay, for reading its changes.
pub struct UpperDiff<'a> {
    /// The upper directory.
    pub upper: &'a Path,
    /// The image's layers, topmost first.
    pub lower: &'a [PathBuf],
    /// The UID and GID maps the root filesystem was shifted into, if it was.
    pub shift: Option<(&'a [IdMap], &'a [IdMap])>,
    /// The mounted root filesystem, to read metadata-only copies through (needed for a
    /// layer of a shifted container).
    pub merged: Option<&'a Path>,
}

/// The deepest tree ListContainerChanges and Commit read. Every entry's whole path is kept
/// or written, so a deep chain costs the square of its depth: a 50,000-deep chain, seconds
/// for a container to make, took gigabytes and an OOM kill.
pub const MAX_DEPTH: usize = 16_384;

/// The most bytes of paths one ListContainerChanges reply or one Commit layer holds.
pub const MAX_PATH_BYTES: usize = 256 << 20;

/// The error of a tree past [`MAX_DEPTH`].
fn too_deep() -> std::io::Error {
    std::io::Error::other(format!(
        "the container's tree is deeper than the limit of {MAX_DEPTH} levels"
    ))
}

/// Counts `bytes` more of paths, refusing past [`MAX_PATH_BYTES`].
fn count_path_bytes(total: &mut usize, bytes: usize) -> std::io::Result<()> {
    *total += bytes;
    if *total > MAX_PATH_BYTES {
        return Err(std::io::Error::other(format!(
            "the container's changes pass the limit of {} MiB of paths",
            MAX_PATH_BYTES >> 20
        )));
    }
    Ok(())
}

fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn has_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    xattr::get(path, name).ok().flatten()
}

fn is_opaque(path: &Path) -> bool {
    has_xattr(path, OVERLAY_OPAQUE_XATTR).as_deref() == Some(b"y")
}

/// The ID inside the container of host ID `id` (unmapped IDs stay as they are).
fn unshift(maps: &[IdMap], id: u32) -> u32 {
    super::config::to_container(maps, id).unwrap_or(id)
}

impl UpperDiff<'_> {
    /// Owner of an upper entry as seen inside the container.
    fn owner(&self, meta: &Metadata) -> (u32, u32) {
        match self.shift {
            Some((uids, gids)) => (unshift(uids, meta.uid()), unshift(gids, meta.gid())),
            None => (meta.uid(), meta.gid()),
        }
    }

    /// Whether the upper entry `full` differs from the image's `image` only by the shift of
    /// its owner into the user namespace.
    fn only_shifted(&self, full: &Path, meta: &Metadata, image: Option<&ImageEntry>) -> bool {
        if self.shift.is_none() {
            return false;
        }
        let Some(image) = image else {
            return false;
        };
        // The mode holds the kind of file.
        let same_attrs = meta.mode() == image.stat.st_mode
            && self.owner(meta) == (image.stat.st_uid, image.stat.st_gid);
        if !same_attrs {
            return false;
        }
        if meta.is_dir() {
            // What changed inside is found entry by entry.
            !is_opaque(full)
        } else if meta.file_type().is_symlink() {
            std::fs::read_link(full).ok().map(PathBuf::into_os_string) == image.link
        } else if meta.is_file() {
            // Its data was never copied up.
            has_xattr(full, OVERLAY_METACOPY_XATTR).is_some()
        } else {
            meta.rdev() == image.stat.st_rdev
        }
    }

    /// The paths added, changed and deleted (unsorted).
    pub fn changes(&self) -> Result<Changes> {
        let mut changes = Changes::default();
        let mut path_bytes = 0;
        let fail = |e| Error::io("list the changes in", self.upper, e);
        // The image's directory at the walk's, by descriptor.
        let mut image = ImageView::open(self.lower).map_err(fail)?;
        tree::walk(
            self.upper,
            |entry| {
                if entry.depth > MAX_DEPTH {
                    return Err(too_deep());
                }
                let shown = Path::new("/").join(entry.rel).display().to_string();
                count_path_bytes(&mut path_bytes, shown.len())?;
                let meta = entry.metadata()?;
                image.at_depth(entry.depth);
                let in_image = image.entry(entry.name)?;
                if is_whiteout(&meta) {
                    if in_image.is_some() {
                        changes.deleted.push(shown);
                    }
                    return Ok(Next::Skip);
                }
                let full = entry.path();
                if in_image.is_none() {
                    changes.added.push(shown.clone());
                } else if !self.only_shifted(&full, &meta, in_image.as_ref()) {
                    changes.changed.push(shown.clone());
                }
                if !meta.is_dir() {
                    return Ok(Next::Skip);
                }
                image.descend(entry.name)?;
                if in_image.is_some() && is_opaque(&full) {
                    // Whatever the image had in here and the container did not write again
                    // is gone.
                    let dir = tree::open_subdir(entry.parent, entry.name)?;
                    let kept: BTreeSet<OsString> = tree::names(&dir)?.into_iter().collect();
                    for name in image.names()?.difference(&kept) {
                        let path = Path::new(&shown).join(name).display().to_string();
                        count_path_bytes(&mut path_bytes, path.len())?;
                        changes.deleted.push(path);
                    }
                }
                Ok(Next::Descend)
            },
            |_| Ok(()),
        )
        .map_err(fail)?;
        Ok(changes)
    }

    /// Writes the changes as a layer tarball.
    pub fn write_layer(&self, out: &mut std::fs::File) -> Result<()> {
        let mut builder = tar::Builder::new(std::io::BufWriter::new(out));
        builder.follow_symlinks(false);
        let fail = |e| Error::io("write the layer of", self.upper, e);
        // Only a shifted container compares its entries with the image's.
        let mut image = match self.shift {
            Some(_) => Some(ImageView::open(self.lower).map_err(fail)?),
            None => None,
        };
        let mut path_bytes = 0;
        // Opened at the first metadata-only copy: only a shifted container has those, and
        // only then is its root filesystem mounted for the reading.
        let mut merged: Option<std::os::fd::OwnedFd> = None;
        tree::walk(
            self.upper,
            |entry| {
                if entry.depth > MAX_DEPTH {
                    return Err(too_deep());
                }
                let rel = entry.rel;
                // Each name goes into a header (a long one into its own entry).
                count_path_bytes(&mut path_bytes, rel.as_os_str().len())?;
                let meta = entry.metadata()?;
                if is_whiteout(&meta) {
                    let name = format!("{WHITEOUT_PREFIX}{}", entry.name.to_string_lossy());
                    let whiteout = rel.parent().unwrap_or(Path::new("")).join(name);
                    append_marker(&mut builder, &whiteout, meta.mtime().max(0) as u64)?;
                    return Ok(Next::Skip);
                }
                let in_image = match image.as_mut() {
                    Some(image) => {
                        image.at_depth(entry.depth);
                        image.entry(entry.name)?
                    }
                    None => None,
                };
                let full = entry.path();
                if !self.only_shifted(&full, &meta, in_image.as_ref()) {
                    // A metadata-only copy has no data of its own: the mounted root
                    // filesystem has.
                    let data = match (meta.is_file(), self.merged) {
                        (false, _) => None,
                        (true, Some(path))
                            if has_xattr(&full, OVERLAY_METACOPY_XATTR).is_some() =>
                        {
                            let root = match merged.take() {
                                Some(fd) => fd,
                                None => tree::open_dir(path)?,
                            };
                            let file = tree::open_beneath(&root, rel);
                            merged = Some(root);
                            Some(file?)
                        }
                        (true, _) => Some(entry.open_file()?),
                    };
                    append_entry(&mut builder, entry, &meta, rel, self.owner(&meta), data)?;
                }
                if !meta.is_dir() {
                    return Ok(Next::Skip);
                }
                if let Some(image) = image.as_mut() {
                    image.descend(entry.name)?;
                }
                if is_opaque(&full) {
                    append_marker(&mut builder, &rel.join(OPAQUE_MARKER), 0)?;
                }
                Ok(Next::Descend)
            },
            |_| Ok(()),
        )
        .map_err(fail)?;
        builder
            .into_inner()
            .map_err(fail)?
            .into_inner()
            .map_err(|e| fail(e.into_error()))?;
        Ok(())
    }
}

/// Appends one entry of a walk to a tarball as `name`, owned by `owner`, with the data of
/// `data` (a regular file's, opened without following links). A socket is left out (a tar
/// cannot hold one).
pub(super) fn append_entry<W: std::io::Write>(
    builder: &mut tar::Builder<W>,
    entry: &tree::Entry<'_>,
    meta: &Metadata,
    name: &Path,
    (uid, gid): (u32, u32),
    data: Option<std::fs::File>,
) -> std::io::Result<()> {
    use std::io::Read;
    let kind = meta.file_type();
    if kind.is_socket() {
        return Ok(());
    }
    let mut header = tar::Header::new_gnu();
    header.set_metadata(meta);
    header.set_uid(u64::from(uid));
    header.set_gid(u64::from(gid));
    if kind.is_symlink() {
        header.set_size(0);
        return builder.append_link(&mut header, name, std::fs::read_link(entry.path())?);
    }
    if let (true, Some(file)) = (meta.is_file(), data) {
        // Exactly the size the header says, even if the file changes meanwhile.
        let size = meta.len();
        let data = file.take(size).chain(std::io::repeat(0)).take(size);
        return builder.append_data(&mut header, name, data);
    }
    header.set_size(0);
    if kind.is_char_device() || kind.is_block_device() {
        let rdev = meta.rdev();
        header.set_device_major(nix::sys::stat::major(rdev) as u32)?;
        header.set_device_minor(nix::sys::stat::minor(rdev) as u32)?;
    }
    builder.append_data(&mut header, name, std::io::empty())
}

/// An empty regular file that marks a deletion (whiteout or opaque directory).
fn append_marker<W: std::io::Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    mtime: u64,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(0);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    builder.append_data(&mut header, path, std::io::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_back_from_the_map() {
        let maps = [IdMap {
            container_id: 0,
            host_id: 100_000,
            size: 65536,
        }];
        assert_eq!(unshift(&maps, 100_000), 0);
        assert_eq!(unshift(&maps, 101_000), 1000);
        assert_eq!(unshift(&maps, 5), 5, "unmapped IDs stay");
    }

    #[test]
    fn changes_of_a_plain_upper_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (upper, lower) = (dir.path().join("upper"), dir.path().join("lower"));
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::write(lower.join("etc/passwd"), "old").unwrap();
        std::fs::write(upper.join("etc/passwd"), "new").unwrap();
        std::fs::write(upper.join("added"), "x").unwrap();
        let lowers = [lower];
        let diff = UpperDiff {
            upper: &upper,
            lower: &lowers,
            shift: None,
            merged: None,
        };
        let changes = diff.changes().unwrap();
        assert_eq!(changes.added, ["/added"]);
        assert_eq!(changes.changed, ["/etc", "/etc/passwd"]);
        let mut out = tempfile::tempfile().unwrap();
        diff.write_layer(&mut out).unwrap();
        use std::io::Seek;
        out.rewind().unwrap();
        let names: Vec<String> = tar::Archive::new(out)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["added", "etc", "etc/passwd"]);
    }
}
