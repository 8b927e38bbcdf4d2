//! Init, start, stop, kill, wait, restart and remove; and learning about exits from the
//! monitor's exit file (refresh), which is how a restarted service catches up (with
//! `reconcile`).
//!
//! Every operation follows one shape: find the container, lock it, refresh it from its exit
//! file, check its status allows the operation, act, save. The lock is the container's own,
//! so an operation (even a stop that waits out its timeout) holds up only calls on the same
//! container; readers that must not wait use `Containers::view`.

use super::service::Containers;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use super::config::{MountSource, NamespaceMode};
use super::{ContainerRecord, ContainerStatus, Handle};
use crate::engine::caller::Caller;
use crate::engine::error::{Error, Result};
use crate::engine::monitor::{self, MonitorOptions};
use crate::engine::runtime::spec::{Device, SpecInput};
use crate::engine::runtime::{RuntimeCommand, cgroups};
use crate::engine::storage::dirs;
use crate::engine::storage::overlay::{self, Overlay};
use crate::engine::storage::remove_tree;

/// The bundle directory inside a container's storage directory.
pub const BUNDLE_DIR: &str = "userdata";
/// The container's /dev/shm on the host, inside its run directory.
pub const SHM_DIR: &str = "shm";
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
                    record.state.started_at = crate::engine::image::now_rfc3339();
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

    /// Everything on the host the spec refers to, then the spec.
    fn prepare(
        &self,
        record: &mut ContainerRecord,
        overlay: &Overlay,
        run_dir: &Path,
    ) -> Result<oci_spec::runtime::Spec> {
        let c = record.config.clone();
        // The root of the container's user namespace, on the host.
        let root_uid = c
            .uid_map
            .iter()
            .find(|m| m.container_id == 0)
            .map(|m| m.host_id);
        let root_gid = c
            .gid_map
            .iter()
            .find(|m| m.container_id == 0)
            .map(|m| m.host_id);
        if !c.uid_map.is_empty() && !record.state.rootfs_shifted {
            // Files of the image belong to IDs of the host; in a user namespace they must
            // belong to the mapped IDs. The overlay has metacopy on, so only metadata is
            // copied up, once.
            super::shift::shift_ownership(&overlay.merged, &c.uid_map, &c.gid_map)
                .map_err(|e| Error::io("shift ownership of", &overlay.merged, e))?;
            record.state.rootfs_shifted = true;
            self.store().save(record)?;
        }
        write_etc_files(record, run_dir)?;
        let mut namespace_paths = BTreeMap::new();
        for (kind, mode) in c.namespaces.each() {
            match mode {
                NamespaceMode::Path(path) => {
                    namespace_paths.insert(kind, path.clone());
                }
                NamespaceMode::Container(id) => {
                    let pid = self.running_pid(id, kind)?;
                    namespace_paths.insert(kind, format!("/proc/{pid}/ns/{kind}"));
                }
                _ => {}
            }
        }
        let shm_dir = self.shm_dir(record, run_dir)?;
        if root_uid.is_some() || root_gid.is_some() {
            // The container's root, unprivileged on the host, must pass through its
            // directories to its root filesystem and the files mounted into it (which
            // become its own); what else is in them stays root's.
            for dir in [self.store().dir(&record.id), run_dir.to_path_buf()] {
                dirs::create_dir_with_mode(&dir, dirs::TRAVERSABLE_DIR_MODE)?;
            }
            let owned = [
                run_dir.join("hostname"),
                run_dir.join("hosts"),
                run_dir.join("resolv.conf"),
            ];
            let shm = shm_dir.starts_with(run_dir).then(|| shm_dir.clone());
            for path in owned.iter().chain(shm.iter()) {
                std::os::unix::fs::chown(path, root_uid, root_gid)
                    .map_err(|e| Error::io("chown", path, e))?;
            }
        }

        let mut mount_sources = Vec::new();
        for (index, m) in c.mounts.iter().enumerate() {
            mount_sources.push(match &m.source {
                MountSource::Bind { source } => Some(PathBuf::from(source)),
                MountSource::Volume { name } => {
                    let owner = root_uid.zip(root_gid);
                    Some(crate::engine::volume::data_dir(self.root(), name, owner)?)
                }
                MountSource::ImageVolume => {
                    let dir = self.store().image_volume(&record.id, index);
                    let volumes = dir.parent().unwrap_or(&dir).to_path_buf();
                    if !dir.exists() {
                        // Filled aside and renamed into place: a failed copy is retried at
                        // the next start rather than left half done.
                        let partial = volumes.join(format!(".{index}.partial"));
                        let _ = remove_tree(&partial);
                        std::fs::create_dir_all(&partial)
                            .map_err(|e| Error::io("create directory", &partial, e))?;
                        // The image's path, its symlinks resolved inside the root filesystem
                        // (an image could otherwise point a volume at the host's /etc).
                        if let Some(inside) =
                            crate::engine::volume::resolve_in_root(&overlay.merged, &m.destination)
                        {
                            crate::engine::volume::copy_tree(&inside, &partial)
                                .map_err(|e| Error::io("fill image volume from", &inside, e))?;
                        }
                        std::fs::rename(&partial, &dir)
                            .map_err(|e| Error::io("rename", &partial, e))?;
                    }
                    Some(dir)
                }
                MountSource::Tmpfs => None,
            });
        }
        let devices = if c.privileged {
            crate::engine::runtime::spec::host_devices()
        } else {
            c.devices
                .iter()
                .map(|d| Device::from_host(Path::new(&d.host), &d.container, &d.permissions))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(|e| Error::InvalidArgument(format!("devices: {e}")))?
        };
        let seccomp = match c.seccomp.as_str() {
            "unconfined" => None,
            "default" => match crate::engine::runtime::seccomp::default_profile() {
                Some(path) => Some(
                    crate::engine::runtime::seccomp::load(&path, &c.capabilities)
                        .map_err(Error::InvalidArgument)?,
                ),
                None => {
                    log::warn!(
                        "no default seccomp profile installed ({}): container {} runs without one",
                        crate::engine::runtime::seccomp::DEFAULT_PROFILES.join(" or "),
                        record.id
                    );
                    None
                }
            },
            path => Some(
                crate::engine::runtime::seccomp::load(Path::new(path), &c.capabilities)
                    .map_err(Error::InvalidArgument)?,
            ),
        };
        let input = SpecInput {
            config: &c,
            rootfs: &overlay.merged,
            etc_dir: run_dir,
            shm_dir: &shm_dir,
            namespace_paths,
            mount_sources,
            devices,
            seccomp,
            cgroups_path: Self::cgroup_path(record),
        };
        crate::engine::runtime::spec::build(&input).map_err(Error::InvalidArgument)
    }

    /// The pid of container `id`, which must run, for joining its `kind` namespace.
    fn running_pid(&self, id: &str, kind: &str) -> Result<i32> {
        let handle = self.store().resolve(id).map_err(|_| {
            Error::InvalidArgument(format!(
                "the container whose {kind} namespace this one joins ({id}) is gone"
            ))
        })?;
        // Its snapshot, not its lock: this runs with our own container locked, and waiting
        // here for an operation on the other one (a stop's timeout) would hold ours too.
        let target = handle.snapshot();
        let alive = target.status().is_active()
            && target.state.pid > 0
            && monitor::read_exit(&self.store().run_dir(id)).is_none()
            && monitor::is_monitor(target.state.monitor_pid, id);
        if !alive {
            return Err(Error::InvalidArgument(format!(
                "the {kind} namespace belongs to container {id}, which is {}: start it first",
                target.status().as_str()
            )));
        }
        Ok(target.state.pid)
    }

    /// The host directory mounted at the container's /dev/shm: the client's, the host's, the
    /// one of the container it shares IPC with, or a tmpfs of its own.
    fn shm_dir(&self, record: &ContainerRecord, run_dir: &Path) -> Result<PathBuf> {
        let c = &record.config;
        if !c.shm_dir.is_empty() {
            return Ok(PathBuf::from(&c.shm_dir));
        }
        match &c.namespaces.ipc {
            NamespaceMode::Host => return Ok(PathBuf::from("/dev/shm")),
            NamespaceMode::Container(id) => {
                return Ok(self.store().run_dir(id).join(SHM_DIR));
            }
            _ => {}
        }
        let dir = run_dir.join(SHM_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        if !overlay::is_mounted(&dir) {
            let options = format!("mode=1777,size={}", c.shm_size);
            nix::mount::mount(
                Some("shm"),
                &dir,
                Some("tmpfs"),
                nix::mount::MsFlags::MS_NOSUID
                    | nix::mount::MsFlags::MS_NOEXEC
                    | nix::mount::MsFlags::MS_NODEV,
                Some(options.as_str()),
            )
            .map_err(|e| Error::io("mount tmpfs on", &dir, e.into()))?;
        }
        Ok(dir)
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
        record.state.started_at = crate::engine::image::now_rfc3339();
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

/// The files bind-mounted over /etc/hostname, /etc/hosts and /etc/resolv.conf.
pub fn write_etc_files(record: &ContainerRecord, run_dir: &Path) -> Result<()> {
    let c = &record.config;
    let write = |name: &str, text: String| {
        let path = run_dir.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io("write", path, e))
    };
    write("hostname", format!("{}\n", c.hostname))?;
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
    for (name, address) in &c.hosts_add {
        hosts.push_str(&format!("{address}\t{name}\n"));
    }
    hosts.push_str(&format!("127.0.1.1\t{}\n", c.hostname));
    write("hosts", hosts)?;
    write(
        "resolv.conf",
        resolv_conf(
            &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            &c.dns_servers,
            &c.dns_search,
            &c.dns_options,
        ),
    )
}

/// The host's resolv.conf with the container's servers, search domains and options in place
/// of the host's (each only when given). Loopback servers of the host are dropped: they mean
/// nothing inside a network namespace of the container's own.
fn resolv_conf(host: &str, servers: &[String], search: &[String], options: &[String]) -> String {
    let mut host_servers = Vec::new();
    let mut host_search = Vec::new();
    let mut host_options = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => host_servers.extend(words.map(String::from)),
            Some("search") | Some("domain") => host_search.extend(words.map(String::from)),
            Some("options") => host_options.extend(words.map(String::from)),
            _ => {}
        }
    }
    host_servers.retain(|s| {
        s.parse::<std::net::IpAddr>()
            .map(|ip| !ip.is_loopback())
            .unwrap_or(false)
    });
    let pick = |given: &[String], host: Vec<String>| {
        if given.is_empty() {
            host
        } else {
            given.to_vec()
        }
    };
    let mut text = String::new();
    let search = pick(search, host_search);
    if !search.is_empty() {
        text.push_str(&format!("search {}\n", search.join(" ")));
    }
    for server in pick(servers, host_servers) {
        text.push_str(&format!("nameserver {server}\n"));
    }
    let options = pick(options, host_options);
    if !options.is_empty() {
        text.push_str(&format!("options {}\n", options.join(" ")));
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_replaces_what_is_given() {
        let host =
            "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch corp\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, &[], &[], &[]),
            "search corp\nnameserver 10.0.0.1\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf(
                host,
                &["1.1.1.1".into()],
                &["a.example".into()],
                &["ndots:2".into()]
            ),
            "search a.example\nnameserver 1.1.1.1\noptions ndots:2\n"
        );
    }
}
