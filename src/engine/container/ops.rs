//! Pause and unpause, mounts, filesystem changes, export, commit, and the JSON dumps of
//! podlink's own records.

use std::collections::BTreeSet;
use std::io::Seek;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{ContainerRecord, ContainerStatus};
use crate::engine::runtime::RuntimeCommand;
use crate::engine::storage::archive::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use crate::engine::{Engine, Error, Result};

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

/// Files added, changed and deleted in a container relative to its image.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Paths that exist in the image and were modified.
    pub changed: Vec<String>,
    /// Paths that do not exist in the image.
    pub added: Vec<String>,
    /// Paths of the image that were removed.
    pub deleted: Vec<String>,
}

/// `Commit`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Name of the new image (optional).
    pub image_name: String,
    /// Dockerfile instructions applied to the config.
    pub changes: Vec<String>,
    /// Author recorded in the config.
    pub author: String,
    /// History comment.
    pub message: String,
    /// Freeze the container while its changes are read.
    pub pause: bool,
}

impl Engine {
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
            return Err(Error::InvalidState {
                id: record.id.clone(),
                status: record.status().as_str().into(),
                op,
            });
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
        self.containers().save(&record)?;
        Ok(record.id.clone())
    }

    /// Runs `walk` over a locked container's files with its processes frozen if they run:
    /// reading a tree that the container changes meanwhile could follow a directory it just
    /// swapped for a symlink out of its root filesystem.
    fn frozen<T>(&self, record: &ContainerRecord, walk: impl FnOnce() -> Result<T>) -> Result<T> {
        let freeze = record.status() == ContainerStatus::Running;
        if freeze {
            self.runtime_or_err()?
                .run(&self.runtime_root(), &RuntimeCommand::Pause(&record.id))?;
        }
        let result = walk();
        if freeze
            && let Err(e) = self
                .runtime_or_err()?
                .run(&self.runtime_root(), &RuntimeCommand::Resume(&record.id))
        {
            log::error!("container {} stays frozen: {e}", record.id);
        }
        result
    }

    /// io.podman.MountContainer: mounts the root filesystem (it stays mounted, whatever the
    /// container does, until UnmountContainer); returns where.
    pub fn mount_container(&self, name: &str) -> Result<PathBuf> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        let overlay = self.overlay_of(&record);
        overlay.mount()?;
        if !record.state.mounted {
            record.state.mounted = true;
            self.containers().save(&record)?;
        }
        Ok(overlay.merged)
    }

    /// io.podman.UnmountContainer: a container with a process keeps its root filesystem
    /// mounted unless `force`.
    pub fn unmount_container(&self, name: &str, force: bool) -> Result<()> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        if record.status().is_active() && !force {
            return Err(Error::InvalidState {
                id: record.id.clone(),
                status: record.status().as_str().into(),
                op: "unmount (without force)",
            });
        }
        if record.state.mounted {
            record.state.mounted = false;
            self.containers().save(&record)?;
        }
        Ok(self.overlay_of(&record).unmount()?)
    }

    /// io.podman.ListContainerMounts: container ID → mount point, for mounted containers.
    pub fn list_container_mounts(&self) -> Vec<(String, String)> {
        let mounted = crate::engine::storage::overlay::mount_points();
        self.containers()
            .all()
            .iter()
            .filter_map(|h| {
                let record = h.snapshot();
                let merged = self.containers().dir(&record.id).join("merged");
                mounted
                    .contains(&merged)
                    .then(|| (record.id.clone(), merged.display().to_string()))
            })
            .collect()
    }

    /// io.podman.ListContainerChanges: from the container's upper directory; overlay
    /// whiteouts are deletions, opaque directories delete what the image had under them.
    pub fn container_changes(&self, name: &str) -> Result<Changes> {
        let handle = self.find_container(name)?;
        let record = self.lock_container(&handle, name)?;
        let overlay = self.overlay_of(&record);
        let mut changes = Changes::default();
        self.frozen(&record, || {
            walk_upper(&overlay.upper, Path::new("/"), &overlay.lower, &mut changes)
        })?;
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
            builder
                .append_dir_all(".", &overlay.merged)
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
    /// container is frozen while its changes are read, whatever `pause` says (see
    /// [`Engine::frozen`]); Podman froze it only when asked.
    pub fn commit_container(&self, name: &str, options: CommitOptions) -> Result<String> {
        let handle = self.find_container(name)?;
        let record = self.lock_container(&handle, name)?;
        let upper = self.overlay_of(&record).upper;
        let layer = self.frozen(&record, || self.layer_of(&upper))?;
        let base = self.images().resolve(&record.image_id)?;
        self.images().commit_layer(&base, layer, &options)
    }

    /// The container's changes (its upper directory) as a layer tarball in an unlinked
    /// temporary file, rewound: the ordinary import path then stores it like any layer.
    fn layer_of(&self, upper: &Path) -> Result<std::fs::File> {
        let tmp = self.root().join(crate::engine::storage::TMP_DIR);
        let mut file = crate::engine::storage::unlinked_temp_file(&tmp, "commit")?;
        write_layer_tar(upper, &mut file)?;
        file.rewind().map_err(|e| Error::io("rewind", &tmp, e))?;
        Ok(file)
    }

    /// io.podman.ContainerConfig: the container's record.
    pub fn container_config(&self, name: &str) -> Result<Value> {
        let (_, record) = self.view_container(name)?;
        Ok(serde_json::to_value(&*record).unwrap_or(Value::Null))
    }

    /// io.podman.ContainerStateData: the runtime state part of the record.
    pub fn container_state_data(&self, name: &str) -> Result<Value> {
        let (_, record) = self.view_container(name)?;
        Ok(json!({
            "status": record.status().as_str(),
            "pid": record.state.pid,
            "monitorPid": record.state.monitor_pid,
            "startedAt": record.state.started_at,
            "finishedAt": record.state.finished_at,
            "exitCode": record.state.exit_code,
            "oomKilled": record.state.oom_killed,
            "startCount": record.state.start_count,
            "rootfsShifted": record.state.rootfs_shifted,
            "mountPoint": self.overlay_of(&record).merged,
            "runDir": self.containers().run_dir(&record.id),
            "cgroupPath": Self::cgroup_path(&record),
        }))
    }

    /// io.podman.ContainerArtifacts: one artifact of the container: `create-config` (the
    /// configuration CreateContainer resolved), or a file of its bundle or run directory
    /// (`config.json`, `hosts`, `hostname`, `resolv.conf`).
    pub fn container_artifact(&self, name: &str, artifact: &str) -> Result<Value> {
        let (_, record) = self.view_container(name)?;
        let id = &record.id;
        let path = match artifact {
            "create-config" => {
                return Ok(serde_json::to_value(&record.config).unwrap_or(Value::Null));
            }
            "config.json" | "spec" => self
                .containers()
                .dir(id)
                .join(super::lifecycle::BUNDLE_DIR)
                .join("config.json"),
            "hosts" | "hostname" | "resolv.conf" => self.containers().run_dir(id).join(artifact),
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

/// Records the changes under `dir` (a directory of the upper layer at `path`).
fn walk_upper(dir: &Path, path: &Path, lower: &[PathBuf], changes: &mut Changes) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    let mut names: BTreeSet<_> = BTreeSet::new();
    for entry in entries {
        names.insert(entry.map_err(|e| Error::io("list", dir, e))?.file_name());
    }
    for name in names {
        let full = dir.join(&name);
        let in_container = path.join(&name);
        let shown = in_container.display().to_string();
        let meta = std::fs::symlink_metadata(&full).map_err(|e| Error::io("stat", &full, e))?;
        let in_image = lower.iter().any(|l| {
            l.join(in_container.strip_prefix("/").unwrap_or(&in_container))
                .symlink_metadata()
                .is_ok()
        });
        if meta.file_type().is_char_device() && meta.rdev() == 0 {
            if in_image {
                changes.deleted.push(shown);
            }
            continue;
        }
        if in_image {
            changes.changed.push(shown);
        } else {
            changes.added.push(shown);
        }
        if meta.is_dir() {
            let opaque = xattr::get(&full, OVERLAY_OPAQUE_XATTR)
                .ok()
                .flatten()
                .as_deref()
                == Some(b"y");
            if opaque && in_image {
                // Whatever the image had in here and the container did not write again is gone.
                let kept: BTreeSet<_> = std::fs::read_dir(&full)
                    .map(|r| r.flatten().map(|e| e.file_name()).collect())
                    .unwrap_or_default();
                let mut hidden = BTreeSet::new();
                for layer in lower {
                    let below = layer.join(in_container.strip_prefix("/").unwrap_or(&in_container));
                    if let Ok(entries) = std::fs::read_dir(below) {
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
                        .map(|n| in_container.join(n).display().to_string()),
                );
            }
            walk_upper(&full, &in_container, lower, changes)?;
        }
    }
    Ok(())
}

/// Writes the upper directory `upper` as a layer tarball: overlay whiteouts become OCI
/// whiteouts (`.wh.NAME`), opaque directories get `.wh..wh..opq`.
fn write_layer_tar(upper: &Path, out: &mut std::fs::File) -> Result<()> {
    let mut builder = tar::Builder::new(std::io::BufWriter::new(out));
    builder.follow_symlinks(false);
    add_tree(&mut builder, upper, Path::new(""))?;
    builder
        .into_inner()
        .map_err(|e| Error::io("write layer of", upper, e))?
        .into_inner()
        .map_err(|e| Error::io("write layer of", upper, e.into_error()))?;
    Ok(())
}

fn add_tree<W: std::io::Write>(
    builder: &mut tar::Builder<W>,
    dir: &Path,
    relative: &Path,
) -> Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("list", dir, e))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let full = dir.join(&name);
        let rel = relative.join(&name);
        let meta = std::fs::symlink_metadata(&full).map_err(|e| Error::io("stat", &full, e))?;
        if meta.file_type().is_char_device() && meta.rdev() == 0 {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(0);
            header.set_mode(0o644);
            header.set_mtime(meta.mtime().max(0) as u64);
            let whiteout = relative.join(format!("{WHITEOUT_PREFIX}{}", name.to_string_lossy()));
            builder
                .append_data(&mut header, whiteout, std::io::empty())
                .map_err(|e| Error::io("write whiteout for", &full, e))?;
            continue;
        }
        builder
            .append_path_with_name(&full, &rel)
            .map_err(|e| Error::io("add to layer", &full, e))?;
        if meta.is_dir() {
            if xattr::get(&full, OVERLAY_OPAQUE_XATTR)
                .ok()
                .flatten()
                .as_deref()
                == Some(b"y")
            {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(0);
                header.set_mode(0o644);
                builder
                    .append_data(&mut header, rel.join(OPAQUE_MARKER), std::io::empty())
                    .map_err(|e| Error::io("write opaque marker for", &full, e))?;
            }
            add_tree(builder, &full, &rel)?;
        }
    }
    Ok(())
}
