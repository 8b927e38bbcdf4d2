//! Pause and unpause, mounts, filesystem changes, export, commit, and the JSON dumps of
//! podlink's own records.

use super::service::Containers;
use std::io::Seek;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::diff::UpperDiff;
use super::{ContainerRecord, ContainerStatus};
use crate::engine::error::{Error, Result};
use crate::engine::runtime::RuntimeCommand;

/// Where every container has something mounted, which the runtime makes in its root
/// filesystem when the image lacks it.
const RUNTIME_MOUNT_POINTS: [&str; 7] = [
    "/dev",
    "/proc",
    "/sys",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/dev/init",
];

/// The marker of a freeze the service made, in a container's run directory.
const FROZEN_MARKER: &str = "frozen-by-podlink";

pub use crate::engine::image::commit::CommitOptions;
pub use crate::engine::storage::overlay::Changes;

impl Containers {
    /// io.podman.PauseContainer
    pub fn pause_container(&self, name: &str) -> Result<String> {
        self.freeze(name, true)
    }

    /// io.podman.UnpauseContainer
    pub fn unpause_container(&self, name: &str) -> Result<String> {
        self.freeze(name, false)
    }

    fn freeze(&self, name: &str, pause: bool) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        let (wanted, op) = if pause {
            (ContainerStatus::Running, "pause")
        } else {
            (ContainerStatus::Paused, "unpause")
        };
        if record.status() != wanted {
            return Err(record.refuse(op));
        }
        let runtime = self.runtime_or_err()?;
        let command = if pause {
            RuntimeCommand::Pause(&record.id)
        } else {
            RuntimeCommand::Resume(&record.id)
        };
        runtime.run(&self.runtime_root(), &command)?;
        record.state.status = Some(if pause {
            ContainerStatus::Paused
        } else {
            ContainerStatus::Running
        });
        self.store().save(&record)?;
        Ok(record.id.clone())
    }

    /// Runs `walk` over a locked container's files with its processes frozen if they run:
    /// reading a tree that the container changes meanwhile could follow a directory it just
    /// swapped for a symlink out of its root filesystem.
    ///
    /// The freeze is recorded before it is made (a marker in the run directory) and the
    /// record goes once it is undone: a service killed in between finds the marker at its
    /// next start and thaws the container (`Containers::thaw_left_frozen`), which would otherwise
    /// stay frozen for good, reported as paused.
    fn frozen<T>(&self, record: &ContainerRecord, walk: impl FnOnce() -> Result<T>) -> Result<T> {
        let freeze = record.status() == ContainerStatus::Running;
        let marker = self.frozen_marker(&record.id);
        if freeze {
            std::fs::write(&marker, b"").map_err(|e| Error::io("write", &marker, e))?;
            if let Err(e) = self.runtime_or_err().and_then(|rt| {
                Ok(rt.run(&self.runtime_root(), &RuntimeCommand::Pause(&record.id))?)
            }) {
                let _ = std::fs::remove_file(&marker);
                return Err(e);
            }
        }
        let result = walk();
        if freeze {
            match self.runtime_or_err().and_then(|rt| {
                Ok(rt.run(&self.runtime_root(), &RuntimeCommand::Resume(&record.id))?)
            }) {
                Ok(_) => {
                    let _ = std::fs::remove_file(&marker);
                }
                // The marker stays: the next start of the service tries again.
                Err(e) => log::error!("container {} stays frozen: {e}", record.id),
            }
        }
        result
    }

    /// Where a freeze made by the service (not by PauseContainer) is recorded.
    pub(crate) fn frozen_marker(&self, id: &str) -> PathBuf {
        self.store().run_dir(id).join(FROZEN_MARKER)
    }

    /// io.podman.MountContainer: mounts the root filesystem (it stays mounted, whatever the
    /// container does, until as many UnmountContainer calls); returns where.
    pub fn mount_container(&self, name: &str) -> Result<PathBuf> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        let overlay = self.overlay_of(&record);
        overlay.mount()?;
        record.state.client_mounts = record.state.client_mounts() + 1;
        record.state.mounted = true;
        self.store().save(&record)?;
        Ok(overlay.merged)
    }

    /// io.podman.UnmountContainer: releases one of the client's mounts, as Podman's counted
    /// mounts did. The root filesystem is unmounted when no client mount is left and the
    /// container has no process; the container's own mount (no client mount left) is refused
    /// while it runs, unless `force`, which drops every client mount and unmounts.
    pub fn unmount_container(&self, name: &str, force: bool) -> Result<()> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        let active = record.status().is_active();
        let held = record.state.client_mounts();
        if held == 0 && active && !force {
            return Err(record.refuse("unmount (without force)"));
        }
        let left = if force { 0 } else { held.saturating_sub(1) };
        if held != left {
            record.state.client_mounts = left;
            record.state.mounted = left > 0;
            self.store().save(&record)?;
        }
        if left > 0 || (active && !force) {
            // Still mounted for another client, or for the container itself.
            return Ok(());
        }
        Ok(self.overlay_of(&record).unmount()?)
    }

    /// io.podman.ListContainerMounts: container ID → mount point, for mounted containers.
    pub fn list_container_mounts(&self) -> Vec<(String, String)> {
        let mounted = crate::engine::storage::overlay::mount_points();
        self.store()
            .all()
            .iter()
            .filter_map(|h| {
                let record = h.snapshot();
                let merged = self.store().dir(&record.id).join("merged");
                mounted
                    .contains(&merged)
                    .then(|| (record.id.clone(), merged.display().to_string()))
            })
            .collect()
    }

    /// io.podman.ListContainerChanges: from the container's upper directory; overlay
    /// whiteouts are deletions, opaque directories delete what the image had under them.
    pub fn list_container_changes(&self, name: &str) -> Result<Changes> {
        let handle = self.find_container(name)?;
        let record = self.lock_container(&handle, name)?;
        let overlay = self.overlay_of(&record);
        ensure_upper(&overlay)?;
        let diff = self.upper_diff(&record, &overlay);
        let mut changes = self.frozen(&record, || diff.changes())?;
        // What the runtime made to mount things on is not the container's doing (as
        // Podman leaves out its container mounts).
        let mount_points: Vec<&str> = RUNTIME_MOUNT_POINTS
            .iter()
            .copied()
            .chain(record.config.mounts.iter().map(|m| m.destination.as_str()))
            .collect();
        for list in [
            &mut changes.changed,
            &mut changes.added,
            &mut changes.deleted,
        ] {
            list.retain(|p| !mount_points.contains(&p.as_str()));
            list.sort();
        }
        Ok(changes)
    }

    /// io.podman.ExportContainer: a tarball of the container's filesystem at `path` on the
    /// server; returns `path`.
    pub fn export_container(&self, name: &str, path: &Path) -> Result<String> {
        let handle = self.find_container(name)?;
        let record = self.lock_container(&handle, name)?;
        let overlay = self.overlay_of(&record);
        let was_mounted = crate::engine::storage::overlay::is_mounted(&overlay.merged);
        overlay.mount()?;
        let result = self.frozen(&record, || {
            let file = std::fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
            let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
            builder.follow_symlinks(false);
            let root = std::fs::symlink_metadata(&overlay.merged)
                .map_err(|e| Error::io("stat", &overlay.merged, e))?;
            let mut header = tar::Header::new_gnu();
            header.set_metadata(&root);
            header.set_size(0);
            builder
                .append_data(&mut header, "./", std::io::empty())
                .map_err(|e| Error::io("write", path, e))?;
            // By descriptor and without recursion: the container shaped this tree.
            crate::engine::tree::walk(
                &overlay.merged,
                |entry| {
                    use std::os::unix::fs::MetadataExt;
                    let meta = entry.metadata()?;
                    let data = if meta.is_file() {
                        Some(entry.open_file()?)
                    } else {
                        None
                    };
                    let name = Path::new(".").join(entry.rel);
                    let owner = (meta.uid(), meta.gid());
                    super::diff::append_entry(&mut builder, entry, &meta, &name, owner, data)?;
                    Ok(crate::engine::tree::Next::Descend)
                },
                |_| Ok(()),
            )
            .map_err(|e| Error::io("write", path, e))?;
            builder
                .into_inner()
                .map_err(|e| Error::io("write", path, e))?
                .into_inner()
                .map_err(|e| Error::io("write", path, e.into_error()))?
                .sync_all()
                .map_err(|e| Error::io("write", path, e))
        });
        if !was_mounted && !record.status().is_active() {
            let _ = overlay.unmount();
        }
        result.map(|()| path.display().to_string())
    }

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
        // A shifted container's metadata-only copies are read through its root filesystem.
        let was_mounted = crate::engine::storage::overlay::is_mounted(&overlay.merged);
        let mounted = record.state.rootfs_shifted && !was_mounted;
        if mounted {
            overlay.mount()?;
        }
        ensure_upper(&overlay)?;
        let layer = self.read_layer(&record, &overlay, options.pause);
        if mounted && !record.status().is_active() {
            let _ = overlay.unmount();
        }
        let base = self.images().resolve(&record.image_id)?;
        self.images().commit_layer(&base, layer?, &options)
    }

    /// The container's changes as a layer, read through views that follow no symlink (see
    /// `commit`), with the container frozen if `pause`. On a kernel that cannot
    /// make such views (before Linux 5.12), the container is frozen whatever `pause` says.
    fn read_layer(
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
    fn upper_diff<'a>(
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

    /// io.podman.ContainerConfig: the container's record.
    pub fn container_config(&self, name: &str) -> Result<Value> {
        let (_, record) = self.view_container(name)?;
        Ok(serde_json::to_value(&*record).unwrap_or(Value::Null))
    }

    /// io.podman.ContainerArtifacts: one artifact of the container: `create-config` (the
    /// configuration CreateContainer resolved), or a file of its bundle or run directory
    /// (`config.json`, `hosts`, `hostname`, `resolv.conf`).
    pub fn container_artifacts(&self, name: &str, artifact: &str) -> Result<Value> {
        let (_, record) = self.view_container(name)?;
        let id = &record.id;
        let path = match artifact {
            "create-config" => {
                return Ok(serde_json::to_value(&record.config).unwrap_or(Value::Null));
            }
            "config.json" | "spec" => self
                .store()
                .dir(id)
                .join(super::bundle::BUNDLE_DIR)
                .join("config.json"),
            "hosts" | "hostname" | "resolv.conf" => self.store().run_dir(id).join(artifact),
            other => {
                return Err(Error::InvalidArgument(format!(
                    "no artifact {other:?}: create-config, config.json, hosts, hostname and \
                     resolv.conf exist"
                )));
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

/// Makes a container's upper directory if its root filesystem was never mounted (a container
/// created and not started): it has no changes yet, and commit or diff read an empty one.
fn ensure_upper(overlay: &crate::engine::storage::overlay::Overlay) -> Result<()> {
    std::fs::create_dir_all(&overlay.upper).map_err(|e| Error::io("create", &overlay.upper, e))
}
