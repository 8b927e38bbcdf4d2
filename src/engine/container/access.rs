//! Finding, locking and refreshing a container: the first steps of every operation.
//!
//! Every operation follows one shape: find the container, lock it, refresh it from its exit
//! file, check its status allows the operation, act, save. The lock is the container's own,
//! so an operation (even a stop that waits out its timeout) holds up only calls on the same
//! container; readers that must not wait use `Containers::view`. Refreshing (learning about
//! an exit from the monitor's exit file) is also how a restarted service catches up (with
//! `reconcile`).

use std::path::PathBuf;
use std::sync::{Arc, MutexGuard};

use super::bundle::SHM_DIR;
use super::record::ContainerRecord;
use super::service::Containers;
use super::status::ContainerStatus;
use super::store::Handle;
use crate::engine::error::{Error, Result};
use crate::engine::monitor;
use crate::engine::runtime::{RuntimeCommand, cgroups};
use crate::engine::storage::overlay::{self, Overlay};

impl Containers {
    /// The runtime's state directory.
    pub(crate) fn runtime_root(&self) -> PathBuf {
        self.runroot().join("runtime")
    }

    /// The absolute cgroup path of a container.
    pub(crate) fn cgroup_path(record: &ContainerRecord) -> String {
        format!("{}/{}", record.config.cgroup_parent, record.id)
    }

    /// Brings a record up to date with its monitor: an exit recorded in the exit file, or a
    /// monitor that is gone without one; then releases what the run held (runtime state,
    /// mounts). Returns whether the record changed.
    pub(crate) fn refresh(&self, record: &mut ContainerRecord) -> bool {
        if !record.status().is_active() {
            return false;
        }
        let run_dir = self.store().run_dir(&record.id);
        let mut exit = monitor::read_exit(&run_dir);
        if exit.is_none() {
            if monitor::is_monitor(record.state.monitor_pid, &record.id) {
                return false;
            }
            // The monitor may have written the file and gone between the two looks.
            exit = monitor::read_exit(&run_dir);
        }
        record.state.exited(exit);
        record.state.oom_killed = self.oom_killed(record);
        if let Err(e) = self.release(record) {
            log::warn!("container {}: {e}", record.id);
        }
        // Unsaved, the exit is found again in the exit file at the next refresh.
        if let Err(e) = self.store().save(record) {
            log::warn!("container {}: {e}", record.id);
        }
        true
    }

    /// Whether the kernel's OOM killer acted in the container's cgroup (v1 `memory.oom_control`
    /// or v2 `memory.events`), read before the runtime removes the cgroup.
    fn oom_killed(&self, record: &ContainerRecord) -> bool {
        cgroups::oom_kills(&Self::cgroup_path(record)) > 0
    }

    /// Releases what a run of the container held: its runtime state (and cgroups), its
    /// network endpoint (queued), its root filesystem and /dev/shm mounts. Every step is tried; the first failure is
    /// returned and any later one logged.
    pub(crate) fn release(&self, record: &ContainerRecord) -> Result<()> {
        let mut first: Option<Error> = None;
        let mut failed = |e: Error| match &first {
            None => first = Some(e),
            Some(_) => log::warn!("container {}: {e}", record.id),
        };
        // Only if the runtime still has it: a `delete` costs as much as a `create`.
        if let Ok(runtime) = self.runtime_of(record)
            && self.runtime_root().join(&record.id).exists()
        {
            let delete = RuntimeCommand::Delete {
                id: &record.id,
                force: true,
            };
            if let Err(e) = runtime.run(&self.runtime_root(), &delete) {
                failed(e.into());
            }
        }
        // Queued: it runs off this caller's path, after the runtime let go of the namespace.
        self.teardown_network(record);
        let left = cgroups::remove(&Self::cgroup_path(record));
        if !left.is_empty() {
            log::warn!("container {}: cgroups left: {left:?}", record.id);
        }
        if let Err(e) = overlay::unmount(&self.store().run_dir(&record.id).join(SHM_DIR)) {
            failed(e.into());
        }
        // A root filesystem the client mounted (MountContainer) stays until it unmounts it.
        if !record.state.mounted && !record.config.infra {
            self.unmount_later(record);
        }
        first.map_or(Ok(()), Err)
    }

    /// Unmounts a container's root filesystem after the caller's reply, on the unmount queue:
    /// an overlay's unmount syncs the whole filesystem under it (0.7 ms on a quiet machine,
    /// up to 143 ms measured while other containers wrote), which no reply waits for. It
    /// happens only if no operation used the root filesystem since (a start that found it
    /// still mounted, a commit: see `Container::use_rootfs`).
    pub(crate) fn unmount_later(&self, record: &ContainerRecord) {
        let merged = self.overlay_of(record).merged;
        if !overlay::is_mounted(&merged) {
            return;
        }
        let Ok(handle) = self.store().resolve(&record.id) else {
            return;
        };
        // A removed container's unmount comes with the deletion of its files.
        if handle.is_removed() {
            return;
        }
        let uses = handle.rootfs_uses();
        let id = record.id.clone();
        self.unmounter().push_job(Box::new(move || {
            // Removed since: its unmount comes with the deletion of its files. (Not counted as
            // a use, which would make the removal wait for an unmount under way.)
            if handle.is_removed() {
                return;
            }
            handle.unmount_unless_used(uses, || {
                if let Err(e) = overlay::unmount(&merged) {
                    log::warn!("container {id}: {e}");
                }
            })
        }));
    }

    /// Says the caller (holding the container's lock) uses its root filesystem on the host:
    /// an unmount queued at its last exit does not happen.
    pub(crate) fn use_rootfs(&self, record: &ContainerRecord) {
        if let Ok(handle) = self.store().resolve(&record.id) {
            handle.use_rootfs();
        }
    }

    /// The caller (holding the container's lock) is done with the root filesystem it used:
    /// unmounted later if nothing else holds it (the container runs, or a client mounted it).
    pub(crate) fn done_with_rootfs(&self, record: &ContainerRecord) {
        if !record.status().is_active() && !record.state.mounted && !record.config.infra {
            self.unmount_later(record);
        }
    }

    /// `err`, after releasing what the container's run held (see [`Containers::release`]);
    /// a failure of that is logged with `err`.
    pub(crate) fn release_after(&self, record: &ContainerRecord, err: Error) -> Error {
        match self.release(record) {
            Ok(()) => err,
            Err(e) => err.with_cleanup(&format!("releasing container {}", record.id), e),
        }
    }

    /// Refreshes a locked container and removes it if it exited and asked for that (`rm`).
    /// Returns `false` when it was removed.
    pub(crate) fn reap_locked(&self, handle: &Handle, record: &mut ContainerRecord) -> bool {
        self.refresh(record);
        if record.config.rm && record.status() == ContainerStatus::Exited {
            if let Err(e) = self.remove_locked(handle, record) {
                log::warn!("auto-removal of container {}: {e}", record.id);
            }
            return false;
        }
        true
    }

    /// Locks a container found by `name` for an operation: still there (not removed while
    /// this waited for the lock), refreshed, and not reaped for `rm`.
    pub(crate) fn lock_container<'h>(
        &self,
        handle: &'h Handle,
        name: &str,
    ) -> Result<MutexGuard<'h, ContainerRecord>> {
        let mut record = handle.lock();
        if handle.is_removed() {
            return Err(Error::ContainerNotFound {
                name: name.to_string(),
                reason: "the container was removed".into(),
            });
        }
        if !self.reap_locked(handle, &mut record) {
            return Err(Error::ContainerNotFound {
                name: name.to_string(),
                reason: "the container exited and was removed (rm)".into(),
            });
        }
        Ok(record)
    }

    /// The current record of a container for readers, without waiting for an operation on
    /// it: refreshed (and reaped if it asked for that) when nothing holds it, else the
    /// record as last saved with an exit its monitor already wrote. `None` once reaped.
    pub(crate) fn view(&self, handle: &Handle) -> Option<Arc<ContainerRecord>> {
        if let Some(mut record) = handle.try_lock() {
            if handle.is_removed() || !self.reap_locked(handle, &mut record) {
                return None;
            }
            return Some(handle.snapshot());
        }
        let snapshot = handle.snapshot();
        if snapshot.status().is_active()
            && let Some(exit) = monitor::read_exit(&self.store().run_dir(&snapshot.id))
        {
            let mut record = (*snapshot).clone();
            record.state.exited(Some(exit));
            return Some(Arc::new(record));
        }
        Some(snapshot)
    }

    /// [`Containers::view`], without waiting for start-up reconciliation: a container not
    /// yet reconciled shows its record as last saved, with the exit its monitor wrote, or,
    /// when its monitor is gone without writing one, as exited (what reconciliation will
    /// record). For listings, which need every container: they answer once the records are
    /// read, not once the runtime has been asked about each of them. (What else
    /// reconciliation finds out, in the rare cases a killed service left a record behind the
    /// runtime, shows once it is done with the container.)
    pub(crate) fn view_now(&self, handle: &Handle) -> Option<Arc<ContainerRecord>> {
        if handle.is_reconciled() {
            return self.view(handle);
        }
        let snapshot = handle.snapshot();
        if !snapshot.status().is_active() {
            return Some(snapshot);
        }
        let exit = monitor::read_exit(&self.store().run_dir(&snapshot.id));
        if exit.is_none() && monitor::is_monitor(snapshot.state.monitor_pid, &snapshot.id) {
            return Some(snapshot);
        }
        let mut record = (*snapshot).clone();
        record.state.exited(exit);
        Some(Arc::new(record))
    }

    /// Finds a container for a reader: its handle and current record.
    pub(crate) fn view_container(&self, name: &str) -> Result<(Handle, Arc<ContainerRecord>)> {
        let handle = self.store().resolve(name)?;
        self.reconcile_now(&handle);
        match self.view(&handle) {
            Some(record) => Ok((handle, record)),
            None => Err(Error::ContainerNotFound {
                name: name.to_string(),
                reason: "the container exited and was removed (rm)".into(),
            }),
        }
    }

    pub(crate) fn overlay_of(&self, record: &ContainerRecord) -> Overlay {
        let lower = record
            .layers
            .iter()
            .rev()
            .map(|l| self.images().layers().diff_dir(l))
            .collect();
        let mut overlay = self.store().overlay(&record.id, lower);
        overlay.metacopy = !record.config.uid_map.is_empty();
        // Its files go with its exit: nothing to sync at the unmount (see `Overlay::volatile`).
        overlay.volatile = record.config.rm;
        if record.config.infra {
            // No overlay: the shared infra root filesystem, never mounted over.
            overlay.merged = self.root().join(super::infra::INFRA_ROOTFS_DIR);
        }
        overlay
    }

    /// Finds a container for an operation; [`Containers::lock_container`] then locks it.
    /// After a restart, one not yet reconciled is reconciled now (`reconcile_now`).
    pub(crate) fn find_container(&self, name: &str) -> Result<Handle> {
        let handle = self.store().resolve(name)?;
        self.reconcile_now(&handle);
        Ok(handle)
    }
}
