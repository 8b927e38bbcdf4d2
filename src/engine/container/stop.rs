//! Kill, stop, restart and wait.

use std::time::Duration;

use super::record::ContainerRecord;
use super::service::Containers;
use crate::engine::caller::Caller;
use crate::engine::error::{Error, Result};
use crate::engine::monitor;
use crate::engine::runtime::RuntimeCommand;

/// How long a stop waits for the monitor after SIGKILL.
pub(super) const KILL_WAIT: Duration = Duration::from_secs(30);

impl Containers {
    /// Sends `signal` to a container's process (all of them with `all`).
    pub(crate) fn signal(&self, record: &ContainerRecord, signal: i32, all: bool) -> Result<()> {
        let runtime = self.runtime_of(record)?;
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
        if !record.status().can_kill() {
            return Err(record.refuse("kill"));
        }
        let signal = if signal == 0 { 9 } else { signal };
        if !super::create::is_signal(signal.into()) {
            return Err(Error::invalid(
                "signal",
                format!("signal {signal} is not a signal"),
            ));
        }
        if record.status().is_frozen() && signal == 9 {
            // SIGKILL reaches frozen processes once they thaw; thaw them so it acts now.
            let runtime = self.runtime_of(&record)?;
            if let Err(e) = runtime.run(&self.runtime_root(), &RuntimeCommand::Resume(&record.id)) {
                log::warn!("container {}: thawing it for SIGKILL: {e}", record.id);
            }
        }
        self.signal(&record, signal, false)?;
        Ok(record.id.to_string())
    }

    /// io.podman.StopContainer: the stop signal, then SIGKILL after `timeout` seconds
    /// (negative: the container's own timeout); returns the ID.
    pub fn stop_container(&self, name: &str, timeout: i64) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        if !record.status().can_stop() {
            return Err(record.refuse("stop"));
        }
        let timeout = record.stop_timeout(timeout);
        self.stop_locked(&mut record, timeout)?;
        self.reap_locked(&handle, &mut record);
        Ok(record.id.to_string())
    }

    pub(super) fn stop_locked(&self, record: &mut ContainerRecord, timeout: u64) -> Result<()> {
        let runtime = self.runtime_of(record)?;
        if record.status().is_frozen() {
            // A frozen process cannot act on a signal: thaw it first.
            if let Err(e) = runtime.run(&self.runtime_root(), &RuntimeCommand::Resume(&record.id)) {
                log::warn!("container {}: thawing it to stop it: {e}", record.id);
            }
        }
        let monitor_pid = record.state.monitor_pid;
        // A created container's process waits in the runtime, not in its command: the stop
        // signal means nothing to it yet.
        let graceful = record.status().can_stop_gracefully() && timeout > 0;
        if graceful
            && self
                .signal(record, record.config.stop_signal, false)
                .is_ok()
            && monitor::wait_monitor(monitor_pid, &record.id, Some(Duration::from_secs(timeout)))
        {
            self.refresh(record);
            return Ok(());
        }
        let killed = self.signal(record, 9, true);
        if !monitor::wait_monitor(monitor_pid, &record.id, Some(KILL_WAIT)) {
            let err = Error::Timeout {
                what: format!(
                    "container {} did not exit {}s after SIGKILL",
                    record.id,
                    KILL_WAIT.as_secs()
                ),
                after: KILL_WAIT,
            };
            return Err(match killed {
                Err(e) => err.with_cleanup("SIGKILL", e),
                Ok(()) => err,
            });
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
        if record.status().can_stop() {
            let timeout = record.stop_timeout(timeout);
            self.stop_locked(&mut record, timeout)?;
        }
        self.start_locked(&mut record)?;
        Ok(record.id.to_string())
    }
}
