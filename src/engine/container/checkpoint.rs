//! ContainerCheckpoint and ContainerRestore: the runtime's `checkpoint` and `restore`, which
//! run CRIU.
//!
//! The checkpoint goes to `ROOT/containers/<id>/checkpoint/`, CRIU's logs (`dump.log`,
//! `restore.log`) to the bundle (`userdata/`), as Podman keeps them. Where CRIU cannot work
//! (`criu check` fails: CRIU 3.17 on kernels whose vDSO layout it does not know, say) both
//! fail with CRIU's reason before the runtime is asked, and the container runs on untouched.
//! A restore runs through a monitor as a create does, so the restored processes are the
//! monitor's (see `MonitorOptions::restore_from`).

use super::service::Containers;
use std::path::PathBuf;

use super::bundle::BUNDLE_DIR;
use super::record::ContainerRecord;
use super::start::Restore;
use super::stop::KILL_WAIT;
use crate::engine::error::{Error, Result};
use crate::engine::monitor;
use crate::engine::runtime::{RuntimeCommand, criu};
use crate::engine::storage::dirs;
use crate::engine::storage::remove_tree;

/// The directory of a container's checkpoint, under its storage directory.
pub const CHECKPOINT_DIR: &str = "checkpoint";

/// CRIU's file that every complete checkpoint has.
const INVENTORY: &str = "inventory.img";

/// ContainerCheckpoint's options.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckpointOptions {
    /// Keep CRIU's log after a success (it is always kept after a failure).
    pub keep: bool,
    /// Let the container run on after the checkpoint.
    pub leave_running: bool,
    /// Checkpoint established TCP connections.
    pub tcp_established: bool,
}

impl Containers {
    fn checkpoint_dir(&self, record: &ContainerRecord) -> PathBuf {
        self.store().dir(&record.id).join(CHECKPOINT_DIR)
    }

    fn criu_work_dir(&self, record: &ContainerRecord) -> PathBuf {
        self.store().dir(&record.id).join(BUNDLE_DIR)
    }

    /// io.podman.ContainerCheckpoint: checkpoints a running container (which then exits,
    /// unless `leave_running`); returns its ID.
    pub fn container_checkpoint(&self, name: &str, options: CheckpointOptions) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        self.refresh(&mut record);
        if !record.status().can_checkpoint() {
            return Err(record.refuse("checkpoint"));
        }
        if let Some(why) = criu::unusable() {
            return Err(Error::Criu(format!(
                "checkpoint of container {}: {why}; the container runs on untouched",
                record.id
            )));
        }
        let runtime = self.runtime_of(&record)?;
        let images = self.checkpoint_dir(&record);
        let work = self.criu_work_dir(&record);
        remove_tree(&images)?;
        dirs::create_private_dir(&images)?;
        let dumped = runtime.run(
            &self.runtime_root(),
            &RuntimeCommand::Checkpoint {
                id: &record.id,
                image_path: &images,
                work_path: &work,
                leave_running: options.leave_running,
                tcp_established: options.tcp_established,
            },
        );
        if let Err(e) = dumped {
            let err = Error::Criu(format!(
                "checkpoint of container {}: CRIU failed ({}): {e}",
                record.id,
                criu::log_errors(&work.join("dump.log"))
            ));
            return Err(match remove_tree(&images) {
                Ok(()) => err,
                Err(cleanup) => err.with_cleanup("removing the partial checkpoint", cleanup),
            });
        }
        if !options.keep
            && let Err(e) = std::fs::remove_file(work.join("dump.log"))
        {
            log::warn!("container {}: dump.log: {e}", record.id);
        }
        if !options.leave_running {
            // CRIU ended the processes once dumped: the monitor records the exit.
            monitor::wait_monitor(record.state.monitor_pid, &record.id, Some(KILL_WAIT));
            self.refresh(&mut record);
        }
        record.state.checkpointed = true;
        self.store().save(&record)?;
        Ok(record.id.to_string())
    }

    /// io.podman.ContainerRestore: brings a checkpointed container back to running from
    /// its checkpoint; returns its ID.
    pub fn container_restore(
        &self,
        name: &str,
        keep: bool,
        tcp_established: bool,
    ) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        self.refresh(&mut record);
        let images = self.checkpoint_dir(&record);
        if !record.state.checkpointed || !images.join(INVENTORY).exists() {
            return Err(Error::invalid(
                "name",
                format!(
                    "restore of container {}: it has no checkpoint (ContainerCheckpoint makes \
                     one)",
                    record.id
                ),
            ));
        }
        if !record.status().can_restore() {
            return Err(record.refuse("restore"));
        }
        if let Some(why) = criu::unusable() {
            return Err(Error::Criu(format!(
                "restore of container {}: {why}",
                record.id
            )));
        }
        let work = self.criu_work_dir(&record);
        let restore = Restore {
            checkpoint: &images,
            tcp_established,
        };
        if let Err(e) = self.init_or_restore(&mut record, Some(restore), true) {
            return Err(Error::Criu(format!(
                "restore of container {}: CRIU failed ({}): {e}",
                record.id,
                criu::log_errors(&work.join("restore.log"))
            )));
        }
        if !keep {
            if let Err(e) = std::fs::remove_file(work.join("restore.log")) {
                log::warn!("container {}: restore.log: {e}", record.id);
            }
            if let Err(e) = remove_tree(&images) {
                log::warn!("container {}: {e}", record.id);
            }
        }
        Ok(record.id.to_string())
    }
}
