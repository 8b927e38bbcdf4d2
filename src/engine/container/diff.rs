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

use std::collections::BTreeSet;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::config::IdMap;
use super::ops::Changes;
use crate::engine::storage::archive::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use crate::engine::{Error, Result};

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
    /// The image's entry at `rel` (from the topmost layer that has it), if the image has one.
    fn image_entry(&self, rel: &Path) -> Option<(PathBuf, Metadata)> {
        for layer in self.lower {
            let path = layer.join(rel);
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                return (!is_whiteout(&meta)).then_some((path, meta));
            }
        }
        None
    }

    /// Owner of an upper entry as seen inside the container.
    fn owner(&self, meta: &Metadata) -> (u32, u32) {
        match self.shift {
            Some((uids, gids)) => (unshift(uids, meta.uid()), unshift(gids, meta.gid())),
            None => (meta.uid(), meta.gid()),
        }
    }

    /// Whether the upper entry `full` (at `rel`) differs from the image only by the shift of
    /// its owner into the user namespace.
    fn only_shifted(&self, full: &Path, meta: &Metadata, rel: &Path) -> bool {
        if self.shift.is_none() {
            return false;
        }
        let Some((image_path, image)) = self.image_entry(rel) else {
            return false;
        };
        let same_kind = meta.file_type() == image.file_type();
        let same_attrs =
            meta.mode() == image.mode() && self.owner(meta) == (image.uid(), image.gid());
        if !(same_kind && same_attrs) {
            return false;
        }
        if meta.is_dir() {
            // What changed inside is found entry by entry.
            !is_opaque(full)
        } else if meta.file_type().is_symlink() {
            std::fs::read_link(full).ok() == std::fs::read_link(&image_path).ok()
        } else if meta.is_file() {
            // Its data was never copied up.
            has_xattr(full, OVERLAY_METACOPY_XATTR).is_some()
        } else {
            meta.rdev() == image.rdev()
        }
    }

    /// Sorted entry names of a directory.
    fn names(dir: &Path) -> Result<BTreeSet<std::ffi::OsString>> {
        let mut names = BTreeSet::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
            names.insert(entry.map_err(|e| Error::io("list", dir, e))?.file_name());
        }
        Ok(names)
    }

    /// The paths added, changed and deleted (unsorted).
    pub fn changes(&self) -> Result<Changes> {
        let mut changes = Changes::default();
        self.walk(self.upper, Path::new(""), &mut changes)?;
        Ok(changes)
    }

    fn walk(&self, dir: &Path, rel_dir: &Path, changes: &mut Changes) -> Result<()> {
        for name in Self::names(dir)? {
            let full = dir.join(&name);
            let rel = rel_dir.join(&name);
            let shown = Path::new("/").join(&rel).display().to_string();
            let meta = std::fs::symlink_metadata(&full).map_err(|e| Error::io("stat", &full, e))?;
            let in_image = self.image_entry(&rel).is_some();
            if is_whiteout(&meta) {
                if in_image {
                    changes.deleted.push(shown);
                }
                continue;
            }
            if !in_image {
                changes.added.push(shown);
            } else if !self.only_shifted(&full, &meta, &rel) {
                changes.changed.push(shown.clone());
            }
            if meta.is_dir() {
                if in_image && is_opaque(&full) {
                    // Whatever the image had in here and the container did not write again
                    // is gone.
                    let kept = Self::names(&full)?;
                    let mut hidden = BTreeSet::new();
                    for layer in self.lower {
                        if let Ok(entries) = std::fs::read_dir(layer.join(&rel)) {
                            hidden.extend(
                                entries
                                    .flatten()
                                    .map(|e| e.file_name())
                                    .filter(|n| !kept.contains(n)),
                            );
                        }
                    }
                    changes.deleted.extend(
                        hidden
                            .iter()
                            .map(|n| Path::new("/").join(&rel).join(n).display().to_string()),
                    );
                }
                self.walk(&full, &rel, changes)?;
            }
        }
        Ok(())
    }

    /// Writes the changes as a layer tarball.
    pub fn write_layer(&self, out: &mut std::fs::File) -> Result<()> {
        let mut builder = tar::Builder::new(std::io::BufWriter::new(out));
        builder.follow_symlinks(false);
        self.add_tree(&mut builder, self.upper, Path::new(""))?;
        builder
            .into_inner()
            .map_err(|e| Error::io("write layer of", self.upper, e))?
            .into_inner()
            .map_err(|e| Error::io("write layer of", self.upper, e.into_error()))?;
        Ok(())
    }

    fn add_tree<W: std::io::Write>(
        &self,
        builder: &mut tar::Builder<W>,
        dir: &Path,
        rel_dir: &Path,
    ) -> Result<()> {
        for name in Self::names(dir)? {
            let full = dir.join(&name);
            let rel = rel_dir.join(&name);
            let meta = std::fs::symlink_metadata(&full).map_err(|e| Error::io("stat", &full, e))?;
            if is_whiteout(&meta) {
                let whiteout = rel_dir.join(format!("{WHITEOUT_PREFIX}{}", name.to_string_lossy()));
                append_marker(builder, &whiteout, meta.mtime().max(0) as u64)
                    .map_err(|e| Error::io("write whiteout for", &full, e))?;
                continue;
            }
            if !self.only_shifted(&full, &meta, &rel) {
                self.add_entry(builder, &full, &meta, &rel)
                    .map_err(|e| Error::io("add to layer", &full, e))?;
            }
            if meta.is_dir() {
                if is_opaque(&full) {
                    append_marker(builder, &rel.join(OPAQUE_MARKER), 0)
                        .map_err(|e| Error::io("write opaque marker for", &full, e))?;
                }
                self.add_tree(builder, &full, &rel)?;
            }
        }
        Ok(())
    }

    /// One entry, owned by its IDs inside the container, its data read where it is.
    fn add_entry<W: std::io::Write>(
        &self,
        builder: &mut tar::Builder<W>,
        full: &Path,
        meta: &Metadata,
        rel: &Path,
    ) -> std::io::Result<()> {
        if self.shift.is_none() {
            return builder.append_path_with_name(full, rel);
        }
        let mut header = tar::Header::new_gnu();
        header.set_metadata(meta);
        let (uid, gid) = self.owner(meta);
        header.set_uid(u64::from(uid));
        header.set_gid(u64::from(gid));
        if meta.file_type().is_symlink() {
            return builder.append_link(&mut header, rel, std::fs::read_link(full)?);
        }
        if meta.is_file() {
            // A metadata-only copy has no data of its own: the mounted root filesystem has.
            let source = match (has_xattr(full, OVERLAY_METACOPY_XATTR), self.merged) {
                (Some(_), Some(merged)) => merged.join(rel),
                _ => full.to_path_buf(),
            };
            return builder.append_data(&mut header, rel, std::fs::File::open(source)?);
        }
        builder.append_data(&mut header, rel, std::io::empty())
    }
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
