//! Init, start, stop, kill, wait, restart and remove; and learning about exits from the
//! monitor's exit file (refresh), which is how a restarted service catches up (with
//! `reconcile`).
//!
//! Every operation follows one shape: find the container, lock it, refresh it from its exit
//! file, check its status allows the operation, act, save. The lock is the container's own,
//! so an operation (even a stop that waits out its timeout) holds up only calls on the same
//! container; readers that must not wait use `Containers::view`.

use super::service::Containers;
use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use super::bundle::{BUNDLE_DIR, SHM_DIR};
use super::{ContainerRecord, ContainerStatus, Handle};
use crate::engine::caller::Caller;
use crate::engine::error::{Error, Result};
use crate::engine::monitor::{self, MonitorOptions};
use crate::engine::runtime::spec::input::NamespaceMode;
use crate::engine::runtime::{RuntimeCommand, cgroups};
use crate::engine::storage::dirs;
use crate::engine::storage::overlay::{self, Overlay};
use crate::engine::storage::remove_tree;

/// How long a stop waits for the monitor after SIGKILL.
pub(super) const KILL_WAIT: Duration = Duration::from_secs(30);

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
        self.release(record);
        let _ = self.store().save(record);
        true
    }

    /// Whether the kernel's OOM killer acted in the container's cgroup (v1 `memory.oom_control`
    /// or v2 `memory.events`), read before the runtime removes the cgroup.
    fn oom_killed(&self, record: &ContainerRecord) -> bool {
        cgroups::oom_kills(&Self::cgroup_path(record)) > 0
    }

    /// Releases what a run of the container held: its runtime state (and cgroups), its
    /// root filesystem and /dev/shm mounts.
    pub(crate) fn release(&self, record: &ContainerRecord) {
        // Only if the runtime still has it: a `delete` costs as much as a `create`.
        if let Ok(runtime) = self.runtime_or_err()
            && self.runtime_root().join(&record.id).exists()
        {
            let delete = RuntimeCommand::Delete {
                id: &record.id,
                force: true,
            };
            let _ = runtime.run(&self.runtime_root(), &delete);
        }
        let left = cgroups::remove(&Self::cgroup_path(record));
        if !left.is_empty() {
            log::warn!("container {}: cgroups left: {left:?}", record.id);
        }
        let _ = overlay::unmount(&self.store().run_dir(&record.id).join(SHM_DIR));
        // A root filesystem the client mounted (MountContainer) stays until it unmounts it.
        if !record.state.mounted {
            let _ = self.overlay_of(record).unmount();
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

    /// Finds a container for a reader: its handle and current record.
    pub(crate) fn view_container(&self, name: &str) -> Result<(Handle, Arc<ContainerRecord>)> {
        let handle = self.store().resolve(name)?;
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
        overlay
    }

    /// Finds a container for an operation; [`Containers::lock_container`] then locks it.
    pub(crate) fn find_container(&self, name: &str) -> Result<Handle> {
        self.store().resolve(name)
    }

    /// Initializes a container: its root filesystem, /dev/shm, volumes, the runtime spec,
    /// and its monitor, which has the runtime create it. The container is then `Created`:
    /// its process exists but its command has not started.
    fn init_locked(&self, record: &mut ContainerRecord) -> Result<()> {
        self.init_or_restore(record, None)
    }

    /// Creates the container's process through a monitor, or restores it from a checkpoint
    /// (`restore`): then it runs already, and the status says so.
    pub(super) fn init_or_restore(
        &self,
        record: &mut ContainerRecord,
        restore: Option<Restore<'_>>,
    ) -> Result<()> {
        let runtime = self.runtime_or_err()?.clone();
        let run_dir = self.store().run_dir(&record.id);
        dirs::create_private_dir(&run_dir)?;
        let overlay = self.overlay_of(record);
        overlay.mount()?;
        let prepared = self.prepare(record, &overlay, &run_dir);
        let spec = match prepared {
            Ok(spec) => spec,
            Err(e) => {
                self.release(record);
                return Err(e);
            }
        };
        let bundle = self.store().dir(&record.id).join(BUNDLE_DIR);
        let written = std::fs::create_dir_all(&bundle)
            .map_err(|e| Error::io("create directory", &bundle, e))
            .and_then(|()| {
                let json = serde_json::to_vec_pretty(&spec)
                    .map_err(|e| Error::InvalidArgument(format!("runtime spec: {e}")))?;
                Ok(crate::engine::storage::replace_file(
                    &bundle.join("config.json"),
                    &json,
                )?)
            });
        if let Err(e) = written {
            self.release(record);
            return Err(e);
        }
        let c = &record.config;
        let options = MonitorOptions {
            id: record.id.clone(),
            bundle,
            runtime: runtime.path.clone(),
            runtime_root: self.runtime_root(),
            dir: run_dir,
            log_path: PathBuf::from(&c.log_path),
            log_size_max: self.log_size_max(),
            tty: c.tty,
            stdin: c.stdin,
            pid_file: (!c.conmon_pidfile.is_empty()).then(|| PathBuf::from(&c.conmon_pidfile)),
            restore_from: restore.map(|r| r.checkpoint.to_path_buf()),
            tcp_established: restore.is_some_and(|r| r.tcp_established),
        };
        match monitor::spawn(&runtime, &options) {
            Ok((pid, monitor_pid)) => {
                let before = record.state.clone();
                record.state.status = Some(ContainerStatus::Created);
                if restore.is_some() {
                    record.state.status = Some(ContainerStatus::Running);
                    record.state.started_at = crate::engine::time::now_rfc3339();
                    record.state.finished_at = String::new();
                    record.state.start_count += 1;
                    record.state.checkpointed = false;
                }
                record.state.pid = pid;
                record.state.monitor_pid = monitor_pid;
                record.state.exit_code = 0;
                record.state.oom_killed = false;
                if let Err(e) = self.store().save(record) {
                    // Unrecorded, the container would be lost to the service: end it.
                    let _ = self.signal(record, 9, true);
                    monitor::wait_monitor(monitor_pid, &record.id, Some(KILL_WAIT));
                    record.state = before;
                    self.release(record);
                    return Err(e);
                }
                Ok(())
            }
            Err(e) => {
                self.release(record);
                Err(Error::Runtime(e))
            }
        }
    }

    /// io.podman.StartContainer: returns the container's ID.
    pub fn start_container(&self, name: &str) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        self.start_locked(&mut record)?;
        Ok(record.id.clone())
    }

    fn start_locked(&self, record: &mut ContainerRecord) -> Result<()> {
        self.refresh(record);
        if !record.status().can_start() {
            return Err(record.refuse("start"));
        }
        let runtime = self.runtime_or_err()?.clone();
        if record.status() != ContainerStatus::Created {
            self.init_locked(record)?;
        }
        // Recorded before `start`: a container can exit before `start` returns.
        record.state.started_at = crate::engine::time::now_rfc3339();
        record.state.finished_at = String::new();
        let init_exe = exe_of(record.state.pid);
        match runtime.run(&self.runtime_root(), &RuntimeCommand::Start(&record.id)) {
            Ok(_) => {
                wait_for_exec(record.state.pid, init_exe);
                record.state.status = Some(ContainerStatus::Running);
                record.state.start_count += 1;
                self.store().save(record)?;
                Ok(())
            }
            Err(e) => {
                // The process was created but would not start: end it, and let the monitor
                // record the exit.
                let _ = self.signal(record, 9, true);
                monitor::wait_monitor(record.state.monitor_pid, &record.id, Some(KILL_WAIT));
                self.refresh(record);
                Err(Error::Runtime(e))
            }
        }
    }

    /// io.podman.GetAttachSockets: the attach socket and control fifo; a container that
    /// has none yet (never started, or exited) is initialized first so that they exist.
    pub fn get_attach_sockets(&self, name: &str) -> Result<(String, PathBuf, PathBuf)> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        if matches!(
            record.status(),
            ContainerStatus::Configured | ContainerStatus::Exited
        ) {
            self.init_locked(&mut record)?;
        }
        let dir = self.store().run_dir(&record.id);
        Ok((
            record.id.clone(),
            dir.join(monitor::ATTACH_SOCKET),
            dir.join(monitor::CTL_FIFO),
        ))
    }

    /// Sends `signal` to a container's process (all of them with `all`).
    pub(crate) fn signal(&self, record: &ContainerRecord, signal: i32, all: bool) -> Result<()> {
        let runtime = self.runtime_or_err()?;
        runtime
            .run(
                &self.runtime_root(),
                &RuntimeCommand::Kill {
                    id: &record.id,
                    signal,
                    all,
                },
            )
            .map(|_| ())
            .map_err(Error::Runtime)
    }

    /// io.podman.KillContainer: SIGKILL when `signal` is 0; returns the ID.
    pub fn kill_container(&self, name: &str, signal: i32) -> Result<String> {
        let handle = self.find_container(name)?;
        let record = self.lock_container(&handle, name)?;
        if !record.status().is_running() {
            return Err(record.refuse("kill"));
        }
        let signal = if signal == 0 { 9 } else { signal };
        if !(1..=64).contains(&signal) {
            return Err(Error::InvalidArgument(format!(
                "signal {signal} is not a signal"
            )));
        }
        if record.status() == ContainerStatus::Paused && signal == 9 {
            // SIGKILL reaches frozen processes once they thaw; thaw them so it acts now.
            let runtime = self.runtime_or_err()?;
            let _ = runtime.run(&self.runtime_root(), &RuntimeCommand::Resume(&record.id));
        }
        self.signal(&record, signal, false)?;
        Ok(record.id.clone())
    }

    /// io.podman.StopContainer: the stop signal, then SIGKILL after `timeout` seconds
    /// (negative: the container's own timeout); returns the ID.
    pub fn stop_container(&self, name: &str, timeout: i64) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        if !record.status().is_active() {
            return Err(record.refuse("stop"));
        }
        let timeout = record.stop_timeout(timeout);
        self.stop_locked(&mut record, timeout)?;
        self.reap_locked(&handle, &mut record);
        Ok(record.id.clone())
    }

    fn stop_locked(&self, record: &mut ContainerRecord, timeout: u64) -> Result<()> {
        let runtime = self.runtime_or_err()?;
        if record.status() == ContainerStatus::Paused {
            // A frozen process cannot act on a signal: thaw it first.
            let _ = runtime.run(&self.runtime_root(), &RuntimeCommand::Resume(&record.id));
        }
        let monitor_pid = record.state.monitor_pid;
        // A created container's process waits in the runtime, not in its command: the stop
        // signal means nothing to it yet.
        let graceful = record.status() != ContainerStatus::Created && timeout > 0;
        if graceful
            && self
                .signal(record, record.config.stop_signal, false)
                .is_ok()
            && monitor::wait_monitor(monitor_pid, &record.id, Some(Duration::from_secs(timeout)))
        {
            self.refresh(record);
            return Ok(());
        }
        let _ = self.signal(record, 9, true);
        if !monitor::wait_monitor(monitor_pid, &record.id, Some(KILL_WAIT)) {
            return Err(Error::InvalidArgument(format!(
                "container {} did not exit {}s after SIGKILL",
                record.id,
                KILL_WAIT.as_secs()
            )));
        }
        self.refresh(record);
        Ok(())
    }

    /// io.podman.WaitContainer: blocks until the container exits; its exit code, or `None`
    /// if `caller` went away first (the wait ends then: nobody is left to answer).
    pub fn wait_container(&self, name: &str, caller: &dyn Caller) -> Result<Option<i32>> {
        let handle = self.store().resolve(name)?;
        let waiting = {
            let mut record = handle.lock();
            if handle.is_removed() {
                return Err(Error::ContainerNotFound {
                    name: name.to_string(),
                    reason: "the container was removed".into(),
                });
            }
            self.refresh(&mut record);
            record
                .status()
                .is_active()
                .then(|| (record.id.clone(), record.state.monitor_pid))
        };
        if let Some((id, monitor_pid)) = waiting {
            // Waiting holds no lock: other calls on this container go on meanwhile.
            if !monitor::wait_monitor_for(monitor_pid, &id, caller) {
                return Ok(None);
            }
        }
        let mut record = handle.lock();
        if !handle.is_removed() {
            // Its exit code, even if it goes now (`rm`).
            self.reap_locked(&handle, &mut record);
        }
        Ok(Some(record.state.exit_code))
    }

    /// io.podman.RestartContainer: stops (as StopContainer) and starts; returns the ID.
    pub fn restart_container(&self, name: &str, timeout: i64) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        if record.status().is_active() {
            let timeout = record.stop_timeout(timeout);
            self.stop_locked(&mut record, timeout)?;
        }
        self.start_locked(&mut record)?;
        Ok(record.id.clone())
    }

    /// io.podman.RemoveContainer: a running container only with `force`; returns the ID.
    pub fn remove_container(&self, name: &str, force: bool) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        if record.status().is_running() && !force {
            return Err(record.refuse("remove (without force)"));
        }
        let dependents = self.dependents(&record.id);
        if !dependents.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "container {} shares namespaces with container(s) {}: remove them first",
                record.id,
                dependents.join(", ")
            )));
        }
        if record.status().is_active() {
            self.stop_locked(&mut record, 0)?;
        }
        self.remove_locked(&handle, &record)?;
        Ok(record.id.clone())
    }

    /// Containers that join a namespace of container `id`.
    fn dependents(&self, id: &str) -> Vec<String> {
        self.store()
            .all()
            .iter()
            .map(|h| h.snapshot())
            .filter(|c| {
                c.config
                    .namespaces
                    .each()
                    .iter()
                    .any(|(_, mode)| **mode == NamespaceMode::Container(id.to_string()))
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// Unmounts and deletes everything of a stopped container, and forgets it. Called with
    /// the container locked: it is marked removed before the lock goes, so an operation
    /// waiting for the lock finds it gone rather than bringing it back.
    pub(crate) fn remove_locked(&self, handle: &Handle, record: &ContainerRecord) -> Result<()> {
        let id = &record.id;
        handle.mark_removed();
        self.release(record);
        let dir = self.store().dir(id);
        overlay::unmount(&dir.join("merged"))?;
        self.store().forget(id);
        // The record goes first: a crash mid-removal leaves a directory the next start removes.
        let _ = std::fs::remove_file(dir.join(super::RECORD_FILE));
        remove_tree(&dir)?;
        remove_tree(&self.store().run_dir(id))?;
        Ok(())
    }

    /// io.podman.DeleteStoppedContainers: removes every container not running; their IDs.
    pub fn delete_stopped_containers(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for handle in self.store().all() {
            let Some(mut record) = handle.try_lock() else {
                // Something is being done to it right now: it is not "stopped".
                continue;
            };
            if handle.is_removed() {
                continue;
            }
            self.refresh(&mut record);
            if record.status().is_running() || !self.dependents(&record.id).is_empty() {
                continue;
            }
            if record.status().is_active() {
                self.stop_locked(&mut record, 0)?;
            }
            // One that cannot go does not keep the others, nor hide what went.
            match self.remove_locked(&handle, &record) {
                Ok(()) => removed.push(record.id.clone()),
                Err(e) => log::warn!("DeleteStoppedContainers: {}: {e}", record.id),
            }
        }
        Ok(removed)
    }
}

/// A checkpoint to restore a container from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Restore<'a> {
    /// The checkpoint's directory.
    pub checkpoint: &'a Path,
    /// Restore established TCP connections.
    pub tcp_established: bool,
}

/// The executable (device, inode) a process runs, if it still runs.
fn exe_of(pid: i32) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(format!("/proc/{pid}/exe")).ok()?;
    Some((meta.dev(), meta.ino()))
}

/// How long StartContainer waits for the container's command to replace the runtime's init.
const EXEC_WAIT: Duration = Duration::from_secs(1);

/// Waits until the container's first process no longer runs the runtime's init (`init_exe`,
/// as it was before `start`): the runtime's `start` returns once it let that process go, a
/// moment before it executes the container's command, and a client that lists the
/// container's processes or counts them right after StartContainer must see the command.
/// Bounded: a process that exits or fails to execute ends the wait, and so does the limit.
fn wait_for_exec(pid: i32, init_exe: Option<(u64, u64)>) {
    let Some(init_exe) = init_exe else {
        return;
    };
    let deadline = std::time::Instant::now() + EXEC_WAIT;
    while exe_of(pid) == Some(init_exe) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}
