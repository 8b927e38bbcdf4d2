//! The container service: what every container operation needs, in one place.
//!
//! Each operation file (`create`, `start`, `stop`, `commit`, ...) adds its methods to
//! [`Containers`] with an `impl` block of its own, named after the io.podman method it
//! serves. The service holds the record store, the image store it reads (shared with the
//! engine), the OCI runtime and the daemon's settings for containers; it never reaches up to
//! the engine facade.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::cpu_samples::CpuSamples;
use super::record::ContainerRecord;
use super::store::ContainerStore;
use crate::engine::error::{Error, Result};
use crate::engine::image::Images;
use crate::engine::network::Network;
use crate::engine::runtime::OciRuntime;

/// Starts watching the monitor of a running container (its ID, the monitor's pid) on a thread
/// of its own, and has `Containers::exited` (`bridge.rs`) called once the monitor is gone. The engine
/// facade provides it (the thread needs the service, which this room does not own); without
/// one, an exit is noticed when a client next asks about the container.
pub struct ExitWatcher(pub Box<WatchExit>);

/// What an [`ExitWatcher`] runs: given a container's ID and its monitor's pid.
pub type WatchExit = dyn Fn(&str, i32) + Send + Sync;

impl std::fmt::Debug for ExitWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExitWatcher")
    }
}

/// Settings the container operations take from the daemon.
#[derive(Debug, Clone)]
pub struct ContainerSettings {
    /// The storage root.
    pub root: PathBuf,
    /// The run root.
    pub runroot: PathBuf,
    /// The cgroup under which containers' cgroups are made, by default (no trailing `/`).
    pub cgroup_parent: String,
    /// The most a container's log holds on disk, with its rotated file; `None`: no limit.
    pub log_size_max: Option<u64>,
}

/// The container operations of the engine.
#[derive(Debug)]
pub struct Containers {
    store: ContainerStore,
    images: Arc<Images>,
    runtime: Option<OciRuntime>,
    network: Arc<Network>,
    settings: ContainerSettings,
    cpu_samples: CpuSamples,
    exit_watcher: OnceLock<ExitWatcher>,
    /// Deletes removed containers' directories off the callers' paths.
    reclaimer: crate::engine::storage::reclaim::Reclaimer,
    /// Unmounts exited containers' root filesystems off the callers' paths (a queue of its
    /// own: its jobs may wait for a container's root filesystem, deletions must not).
    unmounter: crate::engine::storage::reclaim::Reclaimer,
}

impl Containers {
    /// The service over `store`, running containers of `images` with `runtime`.
    pub fn new(
        store: ContainerStore,
        images: Arc<Images>,
        runtime: Option<OciRuntime>,
        network: Arc<Network>,
        settings: ContainerSettings,
    ) -> Self {
        Containers {
            store,
            images,
            runtime,
            network,
            settings,
            cpu_samples: Default::default(),
            exit_watcher: OnceLock::new(),
            reclaimer: Default::default(),
            unmounter: Default::default(),
        }
    }

    /// The queue deleting removed containers' directories.
    pub(super) fn reclaimer(&self) -> &crate::engine::storage::reclaim::Reclaimer {
        &self.reclaimer
    }

    /// The queue unmounting exited containers' root filesystems.
    pub(super) fn unmounter(&self) -> &crate::engine::storage::reclaim::Reclaimer {
        &self.unmounter
    }

    /// Blocks until the root filesystems of the containers that exited so far are unmounted
    /// and the directories of those removed are deleted.
    pub fn settle_removals(&self) {
        self.unmounter.settle();
        self.reclaimer.settle();
    }

    /// The bridge network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// What watches running bridged containers' exits, once the engine installed it.
    pub(super) fn exit_watcher(&self) -> &OnceLock<ExitWatcher> {
        &self.exit_watcher
    }

    /// The container records.
    pub fn store(&self) -> &ContainerStore {
        &self.store
    }

    /// The images containers are made from.
    pub fn images(&self) -> &Images {
        &self.images
    }

    /// The OCI runtime in use, if one works here.
    pub fn runtime(&self) -> Option<&OciRuntime> {
        self.runtime.as_ref()
    }

    /// The OCI runtime, or the error that says none works here.
    pub fn runtime_or_err(&self) -> Result<&OciRuntime> {
        self.runtime.as_ref().ok_or(Error::NoRuntime)
    }

    /// The runtime of `record`'s later commands: the one recorded at its init (a container
    /// created by runc stays runc's, even under a daemon now on crun: crun cannot read
    /// runc's state), else the daemon's. A record without one (from a podlink that did not
    /// record it, or a run state lost to a crash) is told by the runtime's own state
    /// directory: runc writes `state.json` there, crun `status`; without either, no runtime
    /// holds the container and the daemon's creates it next.
    pub(crate) fn runtime_of(&self, record: &ContainerRecord) -> Result<OciRuntime> {
        let recorded = match &record.state.runtime {
            Some(recorded) => Some(recorded.path.clone()),
            None => {
                let state = self.runtime_root().join(record.id.as_str());
                let name = if state.join("state.json").exists() {
                    Some("runc")
                } else if state.join("status").exists() {
                    Some("crun")
                } else {
                    None
                };
                name.and_then(|n| crate::engine::runtime::resolve(Path::new(n)))
            }
        };
        match (recorded, self.runtime.as_ref()) {
            (Some(path), Some(daemon)) if path == daemon.path => Ok(daemon.clone()),
            (Some(path), _) => Ok(OciRuntime::at(&path)),
            (None, daemon) => daemon.cloned().ok_or(Error::NoRuntime),
        }
    }

    /// The previous CPU sample of each container, for GetContainerStats.
    pub(crate) fn cpu_samples(&self) -> &CpuSamples {
        &self.cpu_samples
    }

    /// The storage root.
    pub fn root(&self) -> &Path {
        &self.settings.root
    }

    /// The run root.
    pub fn runroot(&self) -> &Path {
        &self.settings.runroot
    }

    /// The cgroup under which containers' cgroups are made, by default.
    pub fn cgroup_parent(&self) -> &str {
        &self.settings.cgroup_parent
    }

    /// The most a container's log holds on disk, with its rotated file; `None`: no limit.
    pub fn log_size_max(&self) -> Option<u64> {
        self.settings.log_size_max
    }
}
