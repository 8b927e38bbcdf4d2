//! All behaviour of podlink: host facts now; images, containers and pods as they land.
//!
//! The engine is synchronous. The varlink server runs a thread per connection, so engine
//! methods are called concurrently and protect their state with `std::sync` locks; no lock is
//! held while an external process runs. Lock order, when more than one is needed:
//! containers → images → layers.
//!
//! Nothing here mentions varlink: inputs are `*Options` structs, outputs are `*Info` views.
#![warn(missing_docs)]

pub mod caller;
pub mod container;
pub mod error;
pub mod image;
pub mod monitor;
pub mod process;
pub mod runtime;
pub mod storage;
pub mod system;
pub mod tree;
pub mod volume;

use std::path::{Path, PathBuf};

pub use error::{Error, Result};

use crate::config::Config;

/// Mode of private directories (the socket's).
const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of the storage and run roots and their `containers` directories: only root may list
/// them, but anyone may pass through. A container in a user namespace runs as a mapped,
/// unprivileged root, which must reach its root filesystem and the files bind-mounted into
/// it below these; what is private below (each container's directories) has mode 0700.
pub(crate) const TRAVERSABLE_DIR_MODE: u32 = 0o711;

/// The engine facade the varlink layer calls into.
#[derive(Debug)]
pub struct Engine {
    root: PathBuf,
    runroot: PathBuf,
    registries_conf: PathBuf,
    cgroup_parent: String,
    log_size_max: Option<u64>,
    runtime: Option<runtime::OciRuntime>,
    images: image::Images,
    containers: container::Containers,
    cpu_samples: container::stats::CpuSamples,
}

impl Engine {
    /// Opens (creating when needed) the storage and run roots of `config`.
    pub fn new(config: &Config) -> Result<Self> {
        for dir in [&config.root, &config.runroot] {
            create_dir_with_mode(dir, TRAVERSABLE_DIR_MODE)?;
        }
        let images = image::Images::open(&config.root, config.imports.clone())?;
        let containers = container::Containers::open(&config.root, &config.runroot)?;
        let runtime = runtime::select(config.runtime.as_deref())?;
        match &runtime {
            Some(rt) => log::info!("OCI runtime: {} ({})", rt.path.display(), rt.version),
            None => {
                log::warn!("no working OCI runtime (runc or crun) found: containers cannot run")
            }
        }
        Ok(Engine {
            root: config.root.clone(),
            runroot: config.runroot.clone(),
            registries_conf: config.registries_conf.clone(),
            cgroup_parent: config.cgroup_parent.trim_end_matches('/').to_string(),
            log_size_max: config.log_size_max,
            runtime,
            images,
            containers,
            cpu_samples: Default::default(),
        })
    }

    /// Starts start-up reconciliation (see `Engine::reconcile`), the removal of what crashes
    /// left of containers without a record and the emptying of the image store's trash
    /// (`Images::empty_trash`), each on a thread of its own: with many containers, or many
    /// files left, they take long, and the service must answer meanwhile. Operations on a
    /// container wait until it is reconciled.
    pub fn reconcile_in_background(self: &std::sync::Arc<Self>) -> std::io::Result<()> {
        let engine = std::sync::Arc::clone(self);
        std::thread::Builder::new()
            .name("reconcile".into())
            .spawn(move || {
                let start = std::time::Instant::now();
                engine.reconcile();
                log::debug!("start-up reconciliation took {:?}", start.elapsed());
            })?;
        let engine = std::sync::Arc::clone(self);
        std::thread::Builder::new()
            .name("leftovers".into())
            .spawn(move || engine.containers().remove_leftovers())?;
        let engine = std::sync::Arc::clone(self);
        std::thread::Builder::new()
            .name("trash".into())
            .spawn(move || engine.images().empty_trash())
            .map(drop)
    }

    /// The containers.
    pub fn containers(&self) -> &container::Containers {
        &self.containers
    }

    /// The previous CPU sample of each container, for GetContainerStats.
    pub(crate) fn cpu_samples(&self) -> &container::stats::CpuSamples {
        &self.cpu_samples
    }

    /// The images.
    pub fn images(&self) -> &image::Images {
        &self.images
    }

    /// The OCI runtime in use, if one works here.
    pub fn runtime(&self) -> Option<&runtime::OciRuntime> {
        self.runtime.as_ref()
    }

    /// The storage root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The run root.
    pub fn runroot(&self) -> &Path {
        &self.runroot
    }

    /// The cgroup under which containers' cgroups are made, by default.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// The most a container's log holds on disk, with its rotated file; `None`: no limit.
    pub fn log_size_max(&self) -> Option<u64> {
        self.log_size_max
    }
}

/// The strings of a JSON array (other elements, or a value that is not an array, give none):
/// image configs and seccomp profiles list names this way.
pub(crate) fn json_strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Creates `dir` and its parents; a directory this call creates gets mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))
}

/// Creates `dir` (and its parents) if needed and gives it `mode`, whatever it had.
pub(crate) fn create_dir_with_mode(dir: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    create_private_dir(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set the mode of", dir, e))
}
