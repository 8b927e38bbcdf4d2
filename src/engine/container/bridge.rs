//! A container on the bridge network: its endpoint set up before the runtime creates it,
//! torn down (queued, off the caller's reply path) whenever a run ends, however it ended;
//! the address it holds from create to removal; and, at start-up, the network brought in line
//! with the records before any create is served.
//!
//! Every end of a run passes through `Containers::release` (a stop, an exit noticed by
//! `refresh`, a start that failed, a removal), which queues the endpoint's teardown: the
//! network's queue runs it in order, and a `setup` of the same endpoint waits for it, so a
//! restart never has its new endpoint torn down. Nothing would notice a container that exits
//! by itself until a client asks about it, so each running bridged container has an exit
//! watcher: a thread waiting on its monitor, which then refreshes it (see
//! [`ExitWatcher`]).

use std::path::PathBuf;

use super::record::ContainerRecord;
use super::service::{Containers, ExitWatcher};
use super::status::ContainerStatus;
use super::store::Handle;
use crate::engine::error::Result;
use crate::engine::monitor;
use crate::engine::network::Endpoint;

impl Containers {
    /// The endpoint of a bridged container; `None` for any other.
    pub(crate) fn endpoint(record: &ContainerRecord) -> Option<Endpoint> {
        record.config.bridge.as_ref().map(|address| Endpoint {
            id: record.id.to_string(),
            address: address.clone(),
        })
    }

    /// Sets up the endpoint of a bridged container before the runtime creates it; the
    /// network namespace file to join, `None` when it is not bridged.
    pub(super) fn setup_network(&self, record: &ContainerRecord) -> Result<Option<PathBuf>> {
        match Self::endpoint(record) {
            Some(endpoint) => Ok(Some(self.network().setup(&endpoint)?)),
            None => Ok(None),
        }
    }

    /// Queues the teardown of a bridged container's endpoint (nothing for any other).
    /// Tearing down what a run never set up, or what is gone, does no harm.
    pub(super) fn teardown_network(&self, record: &ContainerRecord) {
        if let Some(endpoint) = Self::endpoint(record) {
            self.network().teardown(&endpoint);
        }
    }

    /// Gives back the address and ports a removed container held.
    pub(super) fn release_address(&self, record: &ContainerRecord) {
        if record.config.bridge.is_some() {
            self.network().release(&record.id);
        }
    }

    /// Installs the engine's exit watcher (once; later calls are ignored).
    pub fn set_exit_watcher(&self, watcher: ExitWatcher) {
        let _ = self.exit_watcher().set(watcher);
    }

    /// Watches a bridged container that runs, so that its exit tears its endpoint down even
    /// when no client asks about it.
    pub(super) fn watch_exit(&self, record: &ContainerRecord) {
        if record.config.bridge.is_none() || record.state.monitor_pid <= 0 {
            return;
        }
        if let Some(watcher) = self.exit_watcher().get() {
            (watcher.0)(&record.id, record.state.monitor_pid);
        }
    }

    /// The monitor `monitor_pid` of container `id` is gone: the container is refreshed (its
    /// exit recorded, what its run held released, its endpoint torn down), unless that run
    /// is over already (stopped, restarted or removed meanwhile). One that asked for `rm`
    /// gives its address and ports back at once: it is removed only when a client next
    /// looks (a WaitContainer must still find it), and can never start again.
    pub fn exited(&self, id: &str, monitor_pid: i32) {
        let Ok(handle) = self.store().resolve(id) else {
            return;
        };
        let mut record = handle.lock();
        if !handle.is_removed() && record.state.monitor_pid == monitor_pid {
            self.refresh(&mut record);
            if record.config.rm && record.status() == ContainerStatus::Exited {
                self.release_address(&record);
            }
        }
    }

    /// At start-up, before any create (the store is not open yet): the addresses and ports
    /// the records of `loaded` hold are taken, then the host's network is brought in line
    /// with the containers whose monitors still run (their endpoints stay; whatever else a
    /// killed service left goes). Looking at monitors, not waiting for the reconciliation of
    /// every container, keeps this quick and done before the first create: a monitor that
    /// runs means its container's endpoint was set up, whatever its record says.
    pub(crate) fn claim_network(&self, loaded: &[Handle]) {
        let records: Vec<_> = loaded.iter().map(|h| h.snapshot()).collect();
        for record in &records {
            if let Some(address) = &record.config.bridge {
                self.network().claim(&record.id, address);
            }
        }
        let monitors = monitor::all_monitors();
        let live: Vec<Endpoint> = records
            .iter()
            .filter(|r| monitors.contains_key(r.id.as_str()))
            .filter_map(|r| Self::endpoint(r))
            .collect();
        self.network().reconcile(&live);
    }

    /// After the start-up reconciliation: every bridged container still running is watched.
    pub fn watch_running(&self) {
        for handle in self.store().all() {
            let record = handle.snapshot();
            if record.status().is_active() {
                self.watch_exit(&record);
            }
        }
    }
}
