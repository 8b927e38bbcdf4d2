//! ContainerStateData: the run state part of a container's record, with the paths it runs
//! from, as a typed document (keys in camelCase, as podlink has always given them).

use serde::Serialize;

use super::service::Containers;
use crate::engine::error::Result;

/// A container's run state, as `ContainerStateData` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateData {
    /// `configured`, `running`, `exited`...
    pub status: String,
    /// Its first process on the host (0 unless it runs).
    pub pid: i32,
    /// Its monitor (0 unless it runs).
    pub monitor_pid: i32,
    /// Last start (RFC 3339, or "").
    pub started_at: String,
    /// Last exit (RFC 3339, or "").
    pub finished_at: String,
    /// Its last exit code.
    pub exit_code: i32,
    /// Whether the OOM killer ended it.
    pub oom_killed: bool,
    /// How many times it started.
    pub start_count: u32,
    /// Whether its root filesystem's files were shifted into its user namespace.
    pub rootfs_shifted: bool,
    /// Where its root filesystem appears.
    pub mount_point: String,
    /// Its run directory.
    pub run_dir: String,
    /// Its cgroup.
    pub cgroup_path: String,
}

/// The document as JSON text, as the wire carries it.
impl std::fmt::Display for ContainerStateData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Serialising cannot fail: no map, no float.
        f.write_str(&serde_json::to_string(self).map_err(|_| std::fmt::Error)?)
    }
}

impl Containers {
    /// io.podman.ContainerStateData: the run state part of the record.
    pub fn container_state_data(&self, name: &str) -> Result<ContainerStateData> {
        let (_, record) = self.view_container(name)?;
        Ok(ContainerStateData {
            status: record.status().as_str().to_string(),
            pid: record.state.pid,
            monitor_pid: record.state.monitor_pid,
            started_at: record.state.started_at.clone(),
            finished_at: record.state.finished_at.clone(),
            exit_code: record.state.exit_code,
            oom_killed: record.state.oom_killed,
            start_count: record.state.start_count,
            rootfs_shifted: record.state.rootfs_shifted,
            mount_point: self.overlay_of(&record).merged.display().to_string(),
            run_dir: self.store().run_dir(&record.id).display().to_string(),
            cgroup_path: Self::cgroup_path(&record),
        })
    }
}
