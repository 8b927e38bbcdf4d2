//! Init and start: the container's process through its monitor, the runtime's `start`, and
//! the attach sockets a client may use before the start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::bundle::BUNDLE_DIR;
use super::record::ContainerRecord;
use super::service::Containers;
use super::status::ContainerStatus;
use super::stop::KILL_WAIT;
use crate::engine::error::{Error, Result};
use crate::engine::monitor::{self, MonitorOptions};
use crate::engine::runtime::RuntimeCommand;
use crate::engine::storage::dirs;

impl Containers {
    /// Initializes a container: its root filesystem, /dev/shm, volumes, the runtime spec,
    /// and its monitor, which has the runtime create it. The container is then `Created`:
    /// its process exists but its command has not started. Saved unless `save` is false:
    /// StartContainer saves once, after the start. (A service killed between the two leaves
    /// a monitor its record does not name; reconciliation adopts it, as it adopts any
    /// monitor whose report was never recorded.)
    fn init_locked(&self, record: &mut ContainerRecord, save: bool) -> Result<()> {
        self.init_or_restore(record, None, save)
    }

    /// Creates the container's process through a monitor, or restores it from a checkpoint
    /// (`restore`): then it runs already, and the status says so.
    pub(super) fn init_or_restore(
        &self,
        record: &mut ContainerRecord,
        restore: Option<Restore<'_>>,
        save: bool,
    ) -> Result<()> {
        let runtime = self.runtime_or_err()?.clone();
        let run_dir = self.store().run_dir(&record.id);
        dirs::create_private_dir(&run_dir)?;
        let overlay = self.overlay_of(record);
        if record.config.infra {
            // The shared infra root filesystem, as it is (see `infra.rs`).
            self.infra_rootfs()?;
        } else {
            // Still mounted if it exited a moment ago: kept, not unmounted under it.
            self.use_rootfs(record);
            overlay.mount()?;
        }
        let prepared = self.prepare(record, &overlay, &run_dir);
        let spec = match prepared {
            Ok(spec) => spec,
            Err(e) => return Err(self.release_after(record, e)),
        };
        let bundle = self.store().dir(&record.id).join(BUNDLE_DIR);
        let written = std::fs::create_dir_all(&bundle)
            .map_err(|e| Error::io("create directory", &bundle, e))
            .and_then(|()| {
                // Compact: crun and runc parse it at every create, and the seccomp rules
                // alone are some 2,000 lines pretty-printed.
                let json =
                    serde_json::to_vec(&spec).map_err(|e| Error::internal("runtime spec", e))?;
                Ok(crate::engine::storage::replace_file(
                    &bundle.join("config.json"),
                    &json,
                )?)
            });
        if let Err(e) = written {
            return Err(self.release_after(record, e));
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
                record.state.runtime = Some(super::record::RecordedRuntime {
                    name: runtime.name.clone(),
                    path: runtime.path.clone(),
                });
                record.state.exit_code = 0;
                record.state.oom_killed = false;
                let saved = if save {
                    self.store().save(record)
                } else {
                    Ok(())
                };
                if let Err(e) = saved {
                    // Unrecorded, the container would be lost to the service: end it.
                    let e = match self.signal(record, 9, true) {
                        Ok(()) => e,
                        Err(kill) => e.with_cleanup("killing the unrecorded container", kill),
                    };
                    monitor::wait_monitor(monitor_pid, &record.id, Some(KILL_WAIT));
                    record.state = before;
                    return Err(self.release_after(record, e));
                }
                // From here the container has its endpoint (a created one too): its exit,
                // whenever it comes, must tear that down.
                self.watch_exit(record);
                Ok(())
            }
            Err(e) => Err(self.release_after(record, e)),
        }
    }

    /// io.podman.StartContainer: returns the container's ID.
    pub fn start_container(&self, name: &str) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        self.start_locked(&mut record)?;
        Ok(record.id.to_string())
    }

    pub(super) fn start_locked(&self, record: &mut ContainerRecord) -> Result<()> {
        self.refresh(record);
        if !record.status().can_start() {
            return Err(record.refuse("start"));
        }
        if record.status().can_init() {
            self.init_locked(record, false)?;
        }
        // The runtime that created it, maybe another daemon's.
        let runtime = self.runtime_of(record)?;
        // Recorded before `start`: a container can exit before `start` returns.
        record.state.started_at = crate::engine::time::now_rfc3339();
        record.state.finished_at = String::new();
        let init_exe = exe_of(record.state.pid);
        match runtime.run(&self.runtime_root(), &RuntimeCommand::Start(&record.id)) {
            Ok(_) => {
                wait_for_exec(record.state.pid, init_exe);
                record.state.status = Some(ContainerStatus::Running);
                record.state.start_count += 1;
                // Its exit is watched since its init (here, earlier, or at the service's
                // start-up for one initialized before).
                self.store().save(record)?;
                Ok(())
            }
            Err(e) => {
                // The process was created but would not start: end it, and let the monitor
                // record the exit.
                let mut err = Error::Runtime(e);
                if let Err(kill) = self.signal(record, 9, true) {
                    err = err.with_cleanup("killing the container that did not start", kill);
                }
                monitor::wait_monitor(record.state.monitor_pid, &record.id, Some(KILL_WAIT));
                self.refresh(record);
                Err(err)
            }
        }
    }

    /// io.podman.GetAttachSockets: the attach socket and control fifo; a container that
    /// has none yet (never started, or exited) is initialized first so that they exist.
    pub fn get_attach_sockets(&self, name: &str) -> Result<(String, PathBuf, PathBuf)> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        if record.status().can_init() {
            self.init_locked(&mut record, true)?;
        }
        let dir = self.store().run_dir(&record.id);
        Ok((
            record.id.to_string(),
            dir.join(monitor::ATTACH_SOCKET),
            dir.join(monitor::CTL_FIFO),
        ))
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
/// How often it looks meanwhile: the command is usually there a few hundred microseconds
/// after `start` returns, and each look is two reads under /proc.
const EXEC_POLL: Duration = Duration::from_micros(100);

/// Waits until the container's first process no longer runs the runtime's init (`init_exe`,
/// as it was before `start`): the runtime's `start` returns once it let that process go, a
/// moment before it executes the container's command, and a client that lists the
/// container's processes or counts them right after StartContainer must see the command.
/// The kernel installs the new executable before it copies the arguments, so for a moment
/// the process runs the command with an empty `cmdline` (ps shows `[sleep]`, not `sleep 100`):
/// the wait lasts until the arguments are there too.
/// Bounded: a process that exits (a zombie has no arguments either, and waits for its
/// monitor to reap it) or fails to execute ends the wait, and so does the limit.
fn wait_for_exec(pid: i32, init_exe: Option<(u64, u64)>) {
    let Some(init_exe) = init_exe else {
        return;
    };
    let deadline = std::time::Instant::now() + EXEC_WAIT;
    let cmdline = format!("/proc/{pid}/cmdline");
    // A process that is gone or exited has no arguments to wait for.
    let no_arguments_yet = || {
        std::fs::read(&cmdline).is_ok_and(|args| args.is_empty())
            && !crate::engine::process::has_exited(pid)
    };
    while (exe_of(pid) == Some(init_exe) || no_arguments_yet())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(EXEC_POLL);
    }
}
