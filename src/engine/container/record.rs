//! What is recorded about a container: its record (written once, at create) and its run
//! state (replaced on every change), and how a fresh one starts.

use serde::{Deserialize, Serialize};

use super::config;
use super::status::ContainerStatus;
use crate::engine::error::Error;
use crate::engine::id::container::ContainerId;
use crate::engine::id::image::ImageId;

/// The record file of a container.
pub const RECORD_FILE: &str = "container.json";
/// The run state of a container, beside its record (see `ContainerStore::save`).
pub const STATE_FILE: &str = "state.json";
const RECORD_VERSION: u32 = 1;

/// What is recorded about a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// Record format version.
    pub version: u32,
    /// 64 hex digits; a record whose ID does not parse is not loaded.
    pub id: ContainerId,
    /// Unique name.
    pub name: String,
    /// The image's ID; a record whose image ID does not parse is not loaded.
    pub image_id: ImageId,
    /// The image as the client named it.
    pub image_name: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// The image's layers, bottom first (the overlay's lower directories); validated when
    /// the record is read, as they become paths.
    pub layers: Vec<crate::engine::id::digest::Digest>,
    /// Everything decided at creation; never changes afterwards.
    pub config: config::ContainerConfig,
    /// Runtime state.
    pub state: ContainerState,
}

/// The changing part of a record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    /// Status.
    pub status: Option<ContainerStatus>,
    /// The container's init pid while it runs.
    pub pid: i32,
    /// The monitor's pid while it runs.
    pub monitor_pid: i32,
    /// When it last started (RFC 3339), "" if never.
    pub started_at: String,
    /// When it last exited (RFC 3339), "" if never.
    pub finished_at: String,
    /// Its last exit code.
    pub exit_code: i32,
    /// Whether the client mounted its root filesystem (MountContainer): it then stays mounted
    /// when the container exits, until UnmountContainer.
    #[serde(default)]
    pub mounted: bool,
    /// How many MountContainer calls UnmountContainer has not released yet (Podman counted
    /// mounts the same way); a record from before the count with `mounted` holds one.
    #[serde(default)]
    pub client_mounts: u32,
    /// A checkpoint of its processes waits in its directory (ContainerCheckpoint), for
    /// ContainerRestore.
    #[serde(default)]
    pub checkpointed: bool,
    /// Whether the kernel's OOM killer ended it last time.
    #[serde(default)]
    pub oom_killed: bool,
    /// How many times it was started.
    #[serde(default)]
    pub start_count: u32,
    /// The ownership of its root filesystem was shifted into its user namespace.
    #[serde(default)]
    pub rootfs_shifted: bool,
    /// The OCI runtime that created its runtime state (set at init): every later runtime
    /// command of the container uses it, whatever the daemon's runtime is now. `None` in a
    /// record from an older podlink (see `Containers::runtime_of`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RecordedRuntime>,
}

/// The runtime a container was created with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRuntime {
    /// `runc` or `crun`.
    pub name: String,
    /// Absolute path of the binary.
    pub path: std::path::PathBuf,
}

impl ContainerState {
    /// The client's mounts still held (MountContainer calls not yet released).
    pub fn client_mounts(&self) -> u32 {
        if self.mounted {
            self.client_mounts.max(1)
        } else {
            0
        }
    }

    /// Records an exit: the one the monitor wrote, or, without one (the monitor was killed,
    /// or the host rebooted), -1 now.
    pub fn exited(&mut self, exit: Option<crate::engine::monitor::ExitInfo>) {
        self.status = Some(ContainerStatus::Exited);
        self.pid = 0;
        self.monitor_pid = 0;
        match exit {
            Some(exit) => {
                self.exit_code = exit.exit_code;
                self.finished_at = exit.finished_at;
            }
            None => {
                self.exit_code = -1;
                self.finished_at = crate::engine::time::now_rfc3339();
            }
        }
    }
}

impl ContainerRecord {
    /// Its status.
    pub fn status(&self) -> ContainerStatus {
        self.state.status.unwrap_or(ContainerStatus::Configured)
    }

    /// The error refusing `op` in its present status.
    pub fn refuse(&self, op: &'static str) -> Error {
        Error::InvalidState {
            id: self.id.to_string(),
            status: self.status().as_str().into(),
            op,
        }
    }

    /// StopContainer's timeout: the one given, or (when negative) the container's own.
    pub fn stop_timeout(&self, given: i64) -> u64 {
        u64::try_from(given).unwrap_or(self.config.stop_timeout)
    }
}

/// A fresh record.
pub fn new_record(id: ContainerId, name: String, image_id: ImageId) -> ContainerRecord {
    ContainerRecord {
        version: RECORD_VERSION,
        id,
        name,
        image_id,
        image_name: String::new(),
        created: crate::engine::time::now_rfc3339(),
        layers: Vec::new(),
        config: config::ContainerConfig::default(),
        state: ContainerState::default(),
    }
}
