//! Start-up reconciliation: after a crash (the service may have been killed in the middle of
//! anything), every container's record is brought up to date with its monitor and the
//! runtime. It runs on a thread of its own once the socket is up, as does the reading of the
//! records before it (`Containers::load`) and the removal of what crashes left of containers
//! without a record (`Containers::remove_leftovers`), so the service answers at once however
//! much there is to do: a call that looks up a container waits until the records are read
//! (quick), and an operation on a container until that container is reconciled
//! (`Container::lock`), not for the whole pass.

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
    /// At start-up, on the thread that then reconciles, while the service already answers:
    /// reads the records, has the network claim what they hold, then opens the store to
    /// lookups (which wait until then: a create must never be given an address a record
    /// holds, nor a name one has). Whatever happens, the store opens.
    pub(crate) fn load(&self) {
        struct Open<'a>(&'a super::store::ContainerStore);
        impl Drop for Open<'_> {
            fn drop(&mut self) {
                self.0.open_gate();
            }
        }
        let _open = Open(self.store());
        if let Some(delay) = test_delay() {
            std::thread::sleep(delay);
        }
        let store = self.store();
        let Ok(loaded) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.load()))
        else {
            // Served half, the store would hand out names and addresses its unread records
            // hold: better no service than that (as when the store cannot be opened at all).
            log::error!("the container records could not be read: stopping");
            std::process::exit(1);
        };
        self.claim_network(&loaded);
    }

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
        // Whatever happens below, no container may stay closed to operations. (One a call
        // took on, `reconcile_now`, is that call's to settle, once done.)
        struct SettleAll(Vec<Handle>);
        impl Drop for SettleAll {
            fn drop(&mut self) {
                for handle in &self.0 {
                    if handle.claim_reconciliation() {
                        handle.settle();
                    }
                }
            }
        }
        let handles = SettleAll(self.store().all());
        let monitors = monitor::all_monitors();
        // Read once here: looking per container would read the mount table once per mount
        // point of every container, at every start of the service.
        let mounted = overlay::mount_points();
        let delay = test_delay();
        for handle in &handles.0 {
            if let Some(delay) = delay {
                std::thread::sleep(delay);
            }
            if handle.claim_reconciliation() {
                self.reconcile_claimed(handle, &monitors, &mounted);
            }
        }
    }

    /// Reconciles a container a call needs before the start-up pass got to it, on the
    /// caller's thread: the call waits for that container alone, wherever it stands in the
    /// pass. (Under way elsewhere, the call waits for that, in `Container::lock`.)
    pub(crate) fn reconcile_now(&self, handle: &Handle) {
        if handle.is_reconciled() {
            return;
        }
        // Looked up for this one container: a scan of the processes and one read of the
        // mount table, as the pass does once for all. Before the claim: once claimed, the
        // container must be settled, whatever happens.
        let (monitors, mounted) = (monitor::all_monitors(), overlay::mount_points());
        if handle.claim_reconciliation() {
            self.reconcile_claimed(handle, &monitors, &mounted);
        }
    }

    fn reconcile_claimed(
        &self,
        handle: &Handle,
        monitors: &HashMap<String, i32>,
        mounted: &HashSet<PathBuf>,
    ) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.reconcile_one(handle, monitors, mounted)
        }));
        if outcome.is_err() {
            log::error!("reconciling a container panicked; it is left as recorded");
        }
        handle.settle();
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

/// Test hook (debug builds only): `PODLINK_TEST_RECONCILE_DELAY_MS` has the reading of the
/// records wait that long, and reconciliation before each container, so the tests can call
/// the service while it loads and while it reconciles.
/// A release build has no such hook (the variable means nothing there). Read here rather
/// than passed down from the command line: it is a tests' knob, not a setting.
#[cfg(debug_assertions)]
fn test_delay() -> Option<std::time::Duration> {
    let ms = std::env::var("PODLINK_TEST_RECONCILE_DELAY_MS").ok()?;
    ms.parse().ok().map(std::time::Duration::from_millis)
}

#[cfg(not(debug_assertions))]
fn test_delay() -> Option<std::time::Duration> {
    None
}
