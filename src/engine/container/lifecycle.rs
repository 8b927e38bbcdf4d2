//! Start, stop, kill, wait, restart and remove; and learning about exits from the monitor's
//! exit file (refresh), which is how a restarted service catches up.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{ContainerRecord, ContainerStatus, lock};
use crate::engine::monitor::{self, MonitorOptions};
use crate::engine::runtime::{OciRuntime, RuntimeCommand};
use crate::engine::storage::remove_tree;
use crate::engine::{Engine, Error, Result};

/// Parent of every container's cgroup (an absolute path, as runc needs).
pub const CGROUP_PARENT: &str = "/podlink";
/// The bundle directory inside a container's storage directory.
const BUNDLE_DIR: &str = "userdata";

impl Engine {
    fn runtime_or_err(&self) -> Result<&OciRuntime> {
        self.runtime().ok_or_else(|| {
            Error::InvalidArgument("no working OCI runtime (runc or crun) on this host".into())
        })
    }

    /// The runtime's state directory.
    pub(crate) fn runtime_root(&self) -> PathBuf {
        self.runroot().join("runtime")
    }

    /// Brings a record up to date with its monitor: an exit recorded in the exit file, or a
    /// monitor that is gone without one. Returns whether the record changed.
    pub(crate) fn refresh(&self, record: &mut ContainerRecord) -> bool {
        if !record.status().is_active() {
            return false;
        }
        let run_dir = self.containers().run_dir(&record.id);
        let exit = monitor::read_exit(&run_dir);
        if exit.is_none() && monitor::is_monitor(record.state.monitor_pid, &record.id) {
            return false;
        }
        record.state.status = Some(ContainerStatus::Exited);
        record.state.pid = 0;
        record.state.monitor_pid = 0;
        match exit {
            Some(exit) => {
                record.state.exit_code = exit.exit_code;
                record.state.finished_at = exit.finished_at;
            }
            None => {
                // The monitor died without writing (killed, or the host rebooted).
                record.state.exit_code = -1;
                record.state.finished_at = crate::engine::image::now_rfc3339();
            }
        }
        if let Ok(runtime) = self.runtime_or_err() {
            let delete = RuntimeCommand::Delete {
                id: &record.id,
                force: true,
            };
            let _ = runtime.run(&self.runtime_root(), &delete);
        }
        let _ = self.overlay_of(record).unmount();
        let _ = self.containers().save(record);
        true
    }

    /// Refreshes a container and removes it if it exited and asked for that (`rm`).
    /// Returns `false` when it was removed.
    pub(crate) fn refresh_and_reap(&self, handle: &Arc<Mutex<ContainerRecord>>) -> bool {
        let mut record = lock(handle);
        self.refresh(&mut record);
        if record.rm && record.status() == ContainerStatus::Exited {
            let id = record.id.clone();
            drop(record);
            if let Err(e) = self.remove_files(&id) {
                log::warn!("auto-removal of container {id}: {e}");
            }
            return false;
        }
        true
    }

    pub(crate) fn overlay_of(
        &self,
        record: &ContainerRecord,
    ) -> crate::engine::storage::overlay::Overlay {
        let lower = record
            .layers
            .iter()
            .rev()
            .map(|l| self.images().layers().diff_dir(l))
            .collect();
        self.containers().overlay(&record.id, lower)
    }

    /// Finds a container, first removing it if it exited and asked for that (`rm`): such a
    /// container is gone as far as clients can tell.
    pub(crate) fn find_container(&self, name: &str) -> Result<Arc<Mutex<ContainerRecord>>> {
        let handle = self.containers().resolve(name)?;
        if self.refresh_and_reap(&handle) {
            return Ok(handle);
        }
        Err(Error::ContainerNotFound {
            name: name.to_string(),
            reason: "the container exited and was removed (rm)".into(),
        })
    }

    /// io.podman.StartContainer: returns the container's ID.
    pub fn start_container(&self, name: &str) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = lock(&handle);
        self.refresh(&mut record);
        if !record.status().can_start() {
            return Err(Error::InvalidState {
                id: record.id.clone(),
                status: record.status().as_str().into(),
                op: "start",
            });
        }
        let runtime = self.runtime_or_err()?.clone();
        let overlay = self.overlay_of(&record);
        overlay.mount()?;
        let run_dir = self.containers().run_dir(&record.id);
        std::fs::create_dir_all(&run_dir)
            .map_err(|e| Error::io("create directory", &run_dir, e))?;
        let bundle = self.containers().dir(&record.id).join(BUNDLE_DIR);
        std::fs::create_dir_all(&bundle).map_err(|e| Error::io("create directory", &bundle, e))?;
        super::create::write_etc_files(&record, &run_dir)?;
        let spec = super::create::spec(&record, &overlay.merged, &run_dir, CGROUP_PARENT)?;
        let spec_json = serde_json::to_vec_pretty(&spec)
            .map_err(|e| Error::InvalidArgument(format!("runtime spec: {e}")))?;
        crate::engine::storage::atomic_write(&bundle.join("config.json"), &spec_json)?;
        let options = MonitorOptions {
            id: record.id.clone(),
            bundle,
            runtime: runtime.path.clone(),
            runtime_root: self.runtime_root(),
            dir: run_dir,
        };
        // Recorded before `start`: a container can exit before `start` returns.
        let started_at = crate::engine::image::now_rfc3339();
        let started = monitor::spawn(&runtime, &options).and_then(|(pid, monitor_pid)| {
            runtime
                .run(&self.runtime_root(), &RuntimeCommand::Start(&record.id))
                .map(|_| (pid, monitor_pid))
        });
        match started {
            Ok((pid, monitor_pid)) => {
                record.state.status = Some(ContainerStatus::Running);
                record.state.pid = pid;
                record.state.monitor_pid = monitor_pid;
                record.state.started_at = started_at;
                self.containers().save(&record)?;
                Ok(record.id.clone())
            }
            Err(e) => {
                let _ = runtime.run(
                    &self.runtime_root(),
                    &RuntimeCommand::Delete {
                        id: &record.id,
                        force: true,
                    },
                );
                let _ = overlay.unmount();
                Err(Error::Runtime(e))
            }
        }
    }

    /// Sends `signal` to a running container.
    fn signal(&self, record: &ContainerRecord, signal: i32, all: bool) -> Result<()> {
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
        let mut record = lock(&handle);
        self.refresh(&mut record);
        if !record.status().is_active() {
            return Err(Error::InvalidState {
                id: record.id.clone(),
                status: record.status().as_str().into(),
                op: "kill",
            });
        }
        let signal = if signal == 0 { 9 } else { signal };
        if !(1..=64).contains(&signal) {
            return Err(Error::InvalidArgument(format!(
                "signal {signal} is not a signal"
            )));
        }
        self.signal(&record, signal, false)?;
        Ok(record.id.clone())
    }

    /// io.podman.StopContainer: the stop signal, then SIGKILL after `timeout` seconds
    /// (negative: the container's own timeout); returns the ID.
    pub fn stop_container(&self, name: &str, timeout: i64) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = lock(&handle);
        self.refresh(&mut record);
        if !record.status().is_active() {
            return Err(Error::InvalidState {
                id: record.id.clone(),
                status: record.status().as_str().into(),
                op: "stop",
            });
        }
        let timeout = if timeout < 0 {
            record.stop_timeout
        } else {
            timeout as u64
        };
        self.stop_locked(&mut record, timeout)?;
        let id = record.id.clone();
        drop(record);
        self.refresh_and_reap(&handle);
        Ok(id)
    }

    fn stop_locked(&self, record: &mut ContainerRecord, timeout: u64) -> Result<()> {
        if record.status() == ContainerStatus::Paused {
            // A frozen process cannot act on a signal: thaw it first.
            let _ = self
                .runtime_or_err()?
                .run(&self.runtime_root(), &RuntimeCommand::Resume(&record.id));
        }
        let monitor_pid = record.state.monitor_pid;
        if self.signal(record, record.stop_signal, false).is_ok()
            && monitor::wait_monitor(monitor_pid, &record.id, Some(Duration::from_secs(timeout)))
        {
            self.refresh(record);
            return Ok(());
        }
        let _ = self.signal(record, 9, true);
        monitor::wait_monitor(monitor_pid, &record.id, Some(Duration::from_secs(30)));
        self.refresh(record);
        Ok(())
    }

    /// io.podman.WaitContainer: blocks until the container exits; its exit code.
    pub fn wait_container(&self, name: &str) -> Result<i32> {
        let handle = self.containers().resolve(name)?;
        let waiting = {
            let mut record = lock(&handle);
            self.refresh(&mut record);
            record
                .status()
                .is_active()
                .then(|| (record.id.clone(), record.state.monitor_pid))
        };
        if let Some((id, monitor_pid)) = waiting {
            // Waiting holds no lock: other calls on this container go on meanwhile.
            monitor::wait_monitor(monitor_pid, &id, None);
        }
        let code = {
            let mut record = lock(&handle);
            self.refresh(&mut record);
            record.state.exit_code
        };
        self.refresh_and_reap(&handle);
        Ok(code)
    }

    /// io.podman.RestartContainer: stops (as StopContainer) and starts; returns the ID.
    pub fn restart_container(&self, name: &str, timeout: i64) -> Result<String> {
        let handle = self.find_container(name)?;
        let id = {
            let mut record = lock(&handle);
            self.refresh(&mut record);
            if record.status().is_active() {
                let timeout = if timeout < 0 {
                    record.stop_timeout
                } else {
                    timeout as u64
                };
                self.stop_locked(&mut record, timeout)?;
            }
            record.id.clone()
        };
        self.start_container(&id)
    }

    /// io.podman.RemoveContainer: a running container only with `force`; returns the ID.
    pub fn remove_container(&self, name: &str, force: bool) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = lock(&handle);
        self.refresh(&mut record);
        if record.status().is_active() {
            if !force {
                return Err(Error::InvalidState {
                    id: record.id.clone(),
                    status: record.status().as_str().into(),
                    op: "remove (without force)",
                });
            }
            self.stop_locked(&mut record, 0)?;
        }
        let id = record.id.clone();
        drop(record);
        self.remove_files(&id)?;
        Ok(id)
    }

    /// Unmounts and deletes everything of a stopped container, and forgets it.
    fn remove_files(&self, id: &str) -> Result<()> {
        if let Ok(runtime) = self.runtime_or_err() {
            let _ = runtime.run(
                &self.runtime_root(),
                &RuntimeCommand::Delete { id, force: true },
            );
        }
        let dir = self.containers().dir(id);
        crate::engine::storage::overlay::unmount(&dir.join("merged"))?;
        self.containers().forget(id);
        // The record goes first: a crash mid-removal leaves a directory the next start removes.
        let _ = std::fs::remove_file(dir.join(super::RECORD_FILE));
        remove_tree(&dir)?;
        remove_tree(&self.containers().run_dir(id))?;
        Ok(())
    }

    /// io.podman.DeleteStoppedContainers: removes every container not running; their IDs.
    pub fn delete_stopped_containers(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for handle in self.containers().all() {
            let id = {
                let mut record = lock(&handle);
                self.refresh(&mut record);
                if record.status().is_active() {
                    continue;
                }
                record.id.clone()
            };
            self.remove_files(&id)?;
            removed.push(id);
        }
        Ok(removed)
    }
}
