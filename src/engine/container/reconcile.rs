//! Start-up reconciliation: after a crash (the service may have been killed in the middle of
//! anything), every container's record is brought up to date with its monitor and the
//! runtime. It runs on a thread of its own once the socket is up (as does the removal of what
//! crashes left of containers without a record, `Containers::remove_leftovers`), so the
//! service answers at once however much there is to do; an operation on a container waits
//! until that container is reconciled (`Container::lock`).

use super::service::Containers;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::bundle::SHM_DIR;
use super::record::ContainerRecord;
use super::status::ContainerStatus;
use super::store::Handle;

use crate::engine::monitor;
use crate::engine::runtime::{RuntimeCommand, cgroups};
use crate::engine::storage::overlay;

impl Containers {
    /// Removes what [`super::store::ContainerStore::open`] found of containers without a
    /// record: mounts first (the root filesystem of a storage directory, /dev/shm of a run
    /// directory), then the directories. Slow with many files, so it runs after the service
    /// answers.
    pub(crate) fn remove_leftovers(&self) {
        for dir in self.store().take_leftovers() {
            log::warn!("removing what is left of a container: {}", dir.display());
            for mount in ["merged", SHM_DIR] {
                // A mount that stays makes the removal below fail too; both are logged.
                if let Err(e) = overlay::unmount(&dir.join(mount)) {
                    log::warn!("{e}");
                }
            }
            if let Err(e) = crate::engine::storage::remove_tree(&dir) {
                log::error!("{e}");
            }
        }
    }

    /// At start-up, on a thread of its own while the service already answers: every record
    /// brought up to date with its monitor and the runtime, since the service may have been
    /// killed in the middle of anything. Containers that exited meanwhile get their exit
    /// codes (and go, with `rm`); a monitor whose report the service never recorded is
    /// adopted; a freeze the service made (for a commit) and never undid is undone; a status
    /// the runtime disagrees with (a start whose record was not saved) is taken from the
    /// runtime; runtime state nobody watches any more is deleted. Each container is held
    /// (operations on it wait, see `Container::lock`) until it is done.
    pub(crate) fn reconcile(&self) {
        // Whatever happens below, no container may stay closed to operations.
        struct SettleAll(Vec<Handle>);
        impl Drop for SettleAll {
            fn drop(&mut self) {
                self.0.iter().for_each(|h| h.settle());
            }
        }
        let handles = SettleAll(self.store().all());
        let monitors = monitor::all_monitors();
        // Read once here: looking per container would read the mount table once per mount
        // point of every container, at every start of the service.
        let mounted = overlay::mount_points();
        for handle in &handles.0 {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.reconcile_one(handle, &monitors, &mounted)
            }));
            if outcome.is_err() {
                log::error!("reconciling a container panicked; it is left as recorded");
            }
            handle.settle();
        }
    }

    fn reconcile_one(
        &self,
        handle: &Handle,
        monitors: &HashMap<String, i32>,
        mounted: &HashSet<PathBuf>,
    ) {
        let mut record = handle.lock_unsettled();
        if let Some(&pid) = monitors.get(record.id.as_str())
            && !record.status().is_active()
            && monitor::read_exit(&self.store().run_dir(&record.id)).is_none()
        {
            log::warn!("container {}: adopting its monitor {pid}", record.id);
            record.state.status = Some(ContainerStatus::Created);
            record.state.monitor_pid = pid;
        }
        self.refresh(&mut record);
        if record.status().is_active() {
            self.thaw_left_frozen(&record);
            match self.runtime_status(&record) {
                Some((status, pid)) => {
                    let status = match status.as_str() {
                        "created" => Some(ContainerStatus::Created),
                        "running" => Some(ContainerStatus::Running),
                        "paused" => Some(ContainerStatus::Paused),
                        _ => None,
                    };
                    if let Some(status) = status
                        && (status != record.status() || pid != record.state.pid)
                    {
                        log::warn!(
                            "container {}: the runtime says {}, not {}",
                            record.id,
                            status.as_str(),
                            record.status().as_str()
                        );
                        record.state.status = Some(status);
                        record.state.pid = pid;
                    }
                }
                None => log::warn!("container {}: the runtime does not know it", record.id),
            }
            if let Err(e) = self.store().save(&record) {
                log::error!("container {}: {e}", record.id);
            }
        } else {
            let _ = std::fs::remove_file(self.frozen_marker(&record.id));
            if self.holds_anything(&record, mounted) {
                // Nothing watches it: whatever the runtime still has of it goes.
                if let Err(e) = self.release(&record) {
                    log::warn!("container {}: {e}", record.id);
                }
            }
        }
        self.reap_locked(handle, &mut record);
    }

    /// Whether a container that does not run still holds something `release` frees: runtime
    /// state, a cgroup, its /dev/shm or (unless the client mounted it) its root filesystem.
    fn holds_anything(&self, record: &ContainerRecord, mounted: &HashSet<PathBuf>) -> bool {
        self.runtime_root().join(&record.id).exists()
            || !cgroups::existing_dirs(&Self::cgroup_path(record)).is_empty()
            || mounted.contains(&self.store().run_dir(&record.id).join(SHM_DIR))
            || (!record.state.mounted && mounted.contains(&self.overlay_of(record).merged))
    }

    /// What the runtime says of a container: its status and pid.
    pub(crate) fn runtime_status(&self, record: &ContainerRecord) -> Option<(String, i32)> {
        let runtime = self.runtime_of(record).ok()?;
        let out = runtime
            .run(&self.runtime_root(), &RuntimeCommand::State(&record.id))
            .ok()?;
        let state: serde_json::Value = serde_json::from_slice(&out).ok()?;
        Some((
            state["status"].as_str()?.to_string(),
            state["pid"].as_i64().unwrap_or(0) as i32,
        ))
    }

    /// At start-up: thaws a container the service froze (for a commit, export or changes)
    /// and was killed before thawing; a container the client paused stays paused (its record
    /// says so: the service only freezes running containers, and holds the container's lock
    /// while it does, so no PauseContainer can come in between).
    pub(crate) fn thaw_left_frozen(&self, record: &ContainerRecord) {
        let marker = self.frozen_marker(&record.id);
        if !marker.exists() {
            return;
        }
        if record.status().can_pause()
            && self.runtime_status(record).map(|(s, _)| s).as_deref() == Some("paused")
        {
            log::warn!(
                "container {}: thawing it, left frozen by a killed commit",
                record.id
            );
            let resumed = self.runtime_of(record).and_then(|rt| {
                Ok(rt.run(&self.runtime_root(), &RuntimeCommand::Resume(&record.id))?)
            });
            if let Err(e) = resumed {
                log::error!("container {} stays frozen: {e}", record.id);
                return;
            }
        }
        let _ = std::fs::remove_file(&marker);
    }
}
