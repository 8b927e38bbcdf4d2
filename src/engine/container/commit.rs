//! Commit: a new image from a container's changes, read as a layer through views that
//! follow no symlink.

use std::io::Seek;
use std::path::{Path, PathBuf};

use super::diff::UpperDiff;
use super::record::ContainerRecord;
use super::service::Containers;
use crate::engine::error::{Error, Result};
use crate::engine::image::commit::CommitOptions;

impl Containers {
    /// io.podman.Commit: a new image from the container's changes; returns its ID. A running
    /// container is frozen while its changes are read only when `pause` says so, as Podman
    /// did.
    ///
    /// Without the freeze, the container may change its files while they are read: swap a
    /// directory for a symlink to `/` between the reader's look at it and its descent into
    /// it, or a file for a symlink to /etc/shadow between the look and the open. Two walls
    /// stand against that: the walk (`diff::UpperDiff` over `tree::walk`) goes by directory
    /// descriptor with `O_NOFOLLOW`, never by full path; and the directories it reads (the
    /// upper directory and, for a shifted container, the mounted root filesystem) are read
    /// through views on which no symlink is ever followed (`sys::nosymfollow_view`), so a
    /// swap makes the commit fail with ELOOP, it cannot lead it out. The image's layers
    /// (lower directories) are never written by a container, and are read by descriptor too.
    pub fn commit(&self, name: &str, options: CommitOptions) -> Result<String> {
        let handle = self.find_container(name)?;
        let record = self.lock_container(&handle, name)?;
        let overlay = self.overlay_of(&record);
        self.use_rootfs(&record);
        // A shifted container's metadata-only copies are read through its root filesystem.
        if record.state.rootfs_shifted {
            overlay.mount()?;
        }
        ensure_upper(&overlay)?;
        let layer = self.read_layer(&record, &overlay, options.pause);
        // Unmounted after the reply, unless the container runs or a client mounted it.
        self.done_with_rootfs(&record);
        let base = self.images().resolve(&record.image_id)?;
        self.images().commit_layer(&base, layer?, &options)
    }

    /// The container's changes as a layer, read through views that follow no symlink (see
    /// `commit`), with the container frozen if `pause`. On a kernel that cannot
    /// make such views (before Linux 5.12), the container is frozen whatever `pause` says.
    pub(super) fn read_layer(
        &self,
        record: &ContainerRecord,
        overlay: &crate::engine::storage::overlay::Overlay,
        pause: bool,
    ) -> Result<std::fs::File> {
        let view = |dir: &Path| -> std::io::Result<(std::os::fd::OwnedFd, PathBuf)> {
            let fd = crate::sys::nosymfollow_view(dir)?;
            let path = PathBuf::from(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&fd)
            ));
            Ok((fd, path))
        };
        let views = view(&overlay.upper).and_then(|upper| {
            let merged = match crate::engine::storage::overlay::is_mounted(&overlay.merged) {
                true => Some(view(&overlay.merged)?),
                false => None,
            };
            Ok((upper, merged))
        });
        // The descriptors live until the layer is written.
        let (safe, _held, pause) = match views {
            Ok(((upper_fd, upper), merged)) => {
                let mut safe = overlay.clone();
                safe.upper = upper;
                let merged_fd = merged.map(|(fd, path)| {
                    safe.merged = path;
                    fd
                });
                (safe, Some((upper_fd, merged_fd)), pause)
            }
            Err(e) => {
                log::warn!(
                    "container {}: no symlink-free view of its files ({e}): frozen for the \
                     commit",
                    record.id
                );
                (overlay.clone(), None, true)
            }
        };
        let diff = self.upper_diff(record, &safe);
        if pause {
            self.frozen(record, || self.layer_of(&diff))
        } else {
            self.layer_of(&diff)
        }
    }

    /// The changes of a container's overlay.
    pub(super) fn upper_diff<'a>(
        &self,
        record: &'a ContainerRecord,
        overlay: &'a crate::engine::storage::overlay::Overlay,
    ) -> UpperDiff<'a> {
        let c = &record.config;
        UpperDiff {
            upper: &overlay.upper,
            lower: &overlay.lower,
            shift: record
                .state
                .rootfs_shifted
                .then_some((c.uid_map.as_slice(), c.gid_map.as_slice())),
            merged: Some(&overlay.merged),
        }
    }

    /// The container's changes (its upper directory) as a layer tarball in an unlinked
    /// temporary file, rewound: the ordinary import path then stores it like any layer.
    fn layer_of(&self, diff: &UpperDiff) -> Result<std::fs::File> {
        let tmp = self.root().join(crate::engine::storage::TMP_DIR);
        let mut file = crate::engine::storage::unlinked_temp_file(&tmp, "commit")?;
        diff.write_layer(&mut file)?;
        file.rewind().map_err(|e| Error::io("rewind", &tmp, e))?;
        Ok(file)
    }
}

/// Makes a container's upper directory if its root filesystem was never mounted (a container
/// created and not started): it has no changes yet, and commit or diff read an empty one.
pub(super) fn ensure_upper(overlay: &crate::engine::storage::overlay::Overlay) -> Result<()> {
    std::fs::create_dir_all(&overlay.upper).map_err(|e| Error::io("create", &overlay.upper, e))
}
