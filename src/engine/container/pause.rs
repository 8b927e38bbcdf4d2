//! Pause and unpause (PauseContainer), and the short freezes the service makes itself while
//! it reads a running container's files.

use std::path::PathBuf;

use super::record::ContainerRecord;
use super::service::Containers;
use super::status::ContainerStatus;
use crate::engine::error::{Error, Result};
use crate::engine::id::container::ContainerId;
use crate::engine::runtime::RuntimeCommand;

/// The marker of a freeze the service made, in a container's run directory.
const FROZEN_MARKER: &str = "frozen-by-podlink";

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
        let (allowed, op) = if pause {
            (record.status().can_pause(), "pause")
        } else {
            (record.status().can_unpause(), "unpause")
        };
        if !allowed {
            return Err(record.refuse(op));
        }
        let runtime = self.runtime_of(&record)?;
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
        Ok(record.id.to_string())
    }

    /// Runs `walk` over a locked container's files with its processes frozen if they run:
    /// reading a tree that the container changes meanwhile could follow a directory it just
    /// swapped for a symlink out of its root filesystem.
    ///
    /// The freeze is recorded before it is made (a marker in the run directory) and the
    /// record goes once it is undone: a service killed in between finds the marker at its
    /// next start and thaws the container (`Containers::thaw_left_frozen`), which would otherwise
    /// stay frozen for good, reported as paused.
    pub(super) fn frozen<T>(
        &self,
        record: &ContainerRecord,
        walk: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let freeze = record.status().can_pause();
        let marker = self.frozen_marker(&record.id);
        if freeze {
            std::fs::write(&marker, b"").map_err(|e| Error::io("write", &marker, e))?;
            if let Err(e) = self.runtime_of(record).and_then(|rt| {
                Ok(rt.run(&self.runtime_root(), &RuntimeCommand::Pause(&record.id))?)
            }) {
                return Err(match std::fs::remove_file(&marker) {
                    Ok(()) => e,
                    // Left, the marker only makes the next start look at the container.
                    Err(cleanup) => e.with_cleanup("removing the freeze marker", cleanup),
                });
            }
        }
        let result = walk();
        if freeze {
            match self.runtime_of(record).and_then(|rt| {
                Ok(rt.run(&self.runtime_root(), &RuntimeCommand::Resume(&record.id))?)
            }) {
                Ok(_) => {
                    if let Err(e) = std::fs::remove_file(&marker) {
                        log::warn!("{}: {e}", marker.display());
                    }
                }
                // The marker stays: the next start of the service tries again.
                Err(e) => log::error!("container {} stays frozen: {e}", record.id),
            }
        }
        result
    }

    /// Where a freeze made by the service (not by PauseContainer) is recorded.
    pub(crate) fn frozen_marker(&self, id: &ContainerId) -> PathBuf {
        self.store().run_dir(id).join(FROZEN_MARKER)
    }
}
