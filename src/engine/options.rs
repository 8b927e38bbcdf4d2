//! What the engine is opened with: its own settings, so the engine does not depend on the
//! command line (`crate::config` builds these from the flags; tests and tools can build
//! them directly).

use std::path::PathBuf;

use crate::engine::image::ImportSettings;
use crate::engine::network::NetworkSettings;
use crate::engine::registry::RegistrySettings;

/// The settings `Engine::new` opens the engine with.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Storage root: images, layers and container records (created when missing).
    pub root: PathBuf,
    /// Run root: per-container runtime state, sockets and logs (created when missing).
    pub runroot: PathBuf,
    /// How registries are reached (registries.conf, certificates, auth files, policy).
    pub registry: RegistrySettings,
    /// Cgroup under which every container's cgroup is made (an absolute cgroupfs path).
    pub cgroup_parent: String,
    /// The most a container's log holds on disk (with its rotated file); `None`: no limit.
    pub log_size_max: Option<u64>,
    /// Limits and timeouts of image imports.
    pub imports: ImportSettings,
    /// The bridge network's bridge, subnet and nftables table.
    pub network: NetworkSettings,
    /// The OCI runtime asked for (path or name of runc or crun); `None`: the first that works.
    pub runtime: Option<PathBuf>,
}
