//! All behaviour of podlink: images, containers, the OCI runtime, and the host facts
//! `GetInfo` reports. Nothing here mentions varlink or the command line: the engine is opened
//! with its own [`options::EngineOptions`], its inputs are `*Options` structs and its outputs
//! typed views and documents.
//!
//! The engine is synchronous. The varlink server runs a thread per connection, so engine
//! methods are called concurrently and protect their state with `std::sync` locks; no lock is
//! held while an external process runs. Lock order, when more than one is needed:
//! pod → containers → images → layers.
//!
//! Rooms, each a folder or file whose module doc says what it owns; imports run only
//! downwards (`cargo test --test layout` checks this, and that no files import each other in
//! a circle):
//!
//! - this file: the [`Engine`] facade (the container and image services, and the entry points
//!   that span both: listing, removing and pruning images count or remove containers);
//!   `options`: what it is opened with; `system`: GetVersion and GetInfo;
//! - `pod/`: pods, over the container service (CreateContainer, StartContainer,
//!   RestartContainer and RemoveContainer go through it for containers of pods);
//! - `build/`: BuildImage, driving containers and images;
//! - `container/`: the container service, one file per operation, named after its method;
//! - `image/`: the image index, import, export, commit, inspect; `runtime/`: runc or crun,
//!   the OCI spec, seccomp, cgroups, CRIU; `monitor/`: the per-container monitor process;
//!   `volume`: named volumes; `error`: the engine's error, which wraps the rooms' own;
//! - `storage/`: layers and image records on disk, archives, overlay mounts; `registry/`: the
//!   registry client; `network/`: the bridge, veths, namespaces files, nftables, addresses;
//! - the leaves: `id/` (digests, image and container IDs: the only things paths are built
//!   from), `tree` (descriptor-based tree walks), `process`, `caller`, `time`.
#![warn(missing_docs)]

pub mod build;
pub mod caller;
pub mod container;
pub mod error;
pub mod id;
pub mod image;
pub mod monitor;
pub mod network;
pub mod options;
pub mod pod;
pub mod process;
pub mod registry;
pub mod runtime;
pub mod storage;
pub mod system;
pub mod time;
pub mod tree;
pub mod volume;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::{Error, Result};

use options::EngineOptions;

/// The engine facade the varlink layer calls into.
#[derive(Debug)]
pub struct Engine {
    root: PathBuf,
    runroot: PathBuf,
    registries_conf: PathBuf,
    images: Arc<image::service::Images>,
    containers: container::Containers,
    pods: pod::PodStore,
}

impl Engine {
    /// Opens (creating when needed) the storage and run roots of `options`.
    pub fn new(options: EngineOptions) -> Result<Self> {
        let EngineOptions {
            root,
            runroot,
            registry,
            cgroup_parent,
            log_size_max,
            imports,
            runtime: runtime_choice,
            network,
        } = options;
        for dir in [&root, &runroot] {
            storage::dirs::create_dir_with_mode(dir, storage::dirs::TRAVERSABLE_DIR_MODE)?;
        }
        let registries_conf = registry.registries_conf.clone();
        let images = Arc::new(image::service::Images::open(&root, imports, registry)?);
        // Its records are read behind the service (see `reconcile_in_background`).
        let store = container::ContainerStore::open_unloaded(&root, &runroot)?;
        let pods = pod::PodStore::open(&root)?;
        let runtime = runtime::select(runtime_choice.as_deref())?;
        match &runtime {
            Some(rt) => log::info!("OCI runtime: {} ({})", rt.path.display(), rt.version),
            None => {
                log::warn!("no working OCI runtime (runc or crun) found: containers cannot run")
            }
        }
        let network = Arc::new(network::Network::open(network)?);
        let settings = container::ContainerSettings {
            root: root.clone(),
            runroot: runroot.clone(),
            cgroup_parent: cgroup_parent.trim_end_matches('/').to_string(),
            log_size_max,
        };
        let containers =
            container::Containers::new(store, Arc::clone(&images), runtime, network, settings);
        Ok(Engine {
            root,
            runroot,
            registries_conf,
            containers,
            images,
            pods,
        })
    }

    /// Starts, on a thread of its own, the reading of the container records (lookups wait
    /// for it; the network claims the addresses they hold before the store opens), then
    /// start-up reconciliation (`Containers::reconcile`: operations on a container wait
    /// until it is reconciled), with, once the records are read, the removal of what crashes
    /// left of containers without a record; and the emptying of the image store's trash
    /// (`Images::empty_trash`). With many containers, or many files left, they take long,
    /// and the service must answer meanwhile: it calls this once its socket is up.
    pub fn reconcile_in_background(self: &std::sync::Arc<Self>) -> std::io::Result<()> {
        self.containers().set_exit_watcher(self.exit_watcher());
        let engine = std::sync::Arc::clone(self);
        std::thread::Builder::new()
            .name("reconcile".into())
            .spawn(move || {
                let start = std::time::Instant::now();
                engine.containers().load();
                log::debug!("container records read in {:?}", start.elapsed());
                let leftovers = std::sync::Arc::clone(&engine);
                let spawned = std::thread::Builder::new()
                    .name("leftovers".into())
                    .spawn(move || leftovers.containers().remove_leftovers());
                if let Err(e) = spawned {
                    log::warn!("no thread to remove what crashes left of containers: {e}");
                }
                engine.containers().reconcile();
                build::recover(engine.containers());
                engine.containers().watch_running();
                log::debug!("start-up reconciliation took {:?}", start.elapsed());
            })?;
        let engine = std::sync::Arc::clone(self);
        std::thread::Builder::new()
            .name("trash".into())
            .spawn(move || engine.images().empty_trash())
            .map(drop)
    }

    /// Watches a running bridged container's monitor on a thread of its own (small: it only
    /// waits) and has the container service notice its exit. The thread holds the engine
    /// weakly while it waits.
    fn exit_watcher(self: &std::sync::Arc<Self>) -> container::ExitWatcher {
        let engine = std::sync::Arc::downgrade(self);
        container::ExitWatcher(Box::new(move |id: &str, monitor_pid: i32| {
            let engine = engine.clone();
            let owned = id.to_string();
            let spawned = std::thread::Builder::new()
                .name("exit-watch".into())
                .stack_size(128 * 1024)
                .spawn(move || {
                    monitor::wait_monitor(monitor_pid, &owned, None);
                    if let Some(engine) = engine.upgrade() {
                        engine.containers().exited(&owned, monitor_pid);
                    }
                });
            if let Err(e) = spawned {
                log::warn!("container {id}: no thread to watch its exit: {e}");
            }
        }))
    }

    /// The container operations.
    pub fn containers(&self) -> &container::Containers {
        &self.containers
    }

    /// The pod operations (which drive the container operations).
    pub fn pods(&self) -> pod::Pods<'_> {
        pod::Pods::new(&self.pods, &self.containers)
    }

    /// io.podman.BuildImage: builds an image from a Dockerfile, each log line handed to
    /// `log` as it comes; returns the image's ID.
    pub fn build_image(
        &self,
        options: &build::BuildOptions,
        log: &mut dyn FnMut(String),
    ) -> Result<String> {
        build::build(self.containers(), options, log)
    }

    /// The images.
    pub fn images(&self) -> &image::service::Images {
        &self.images
    }

    /// The storage root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The run root.
    pub fn runroot(&self) -> &Path {
        &self.runroot
    }
}

/// The image methods that count or remove containers, named after the io.podman methods
/// they serve; the others are `Images`' own (`engine.images().tag_image(..)`).
impl Engine {
    /// Containers using image `id`.
    fn image_users(&self, id: &str) -> Vec<String> {
        self.containers().store().users_of(id)
    }

    /// Every image, newest first.
    pub fn list_images(&self) -> Vec<image::inspect::ImageSummary> {
        // Counted in one pass over the containers, not one pass per image.
        let users = self.containers().store().users_by_image();
        self.images()
            .list(&|id| users.get(id).copied().unwrap_or_default())
    }

    /// One image.
    pub fn get_image(&self, name: &str) -> Result<image::inspect::ImageSummary> {
        self.images().get(name, &|id| self.image_users(id).len())
    }

    /// Removes an image (or one of its names); returns its ID. With `force`, the containers
    /// using it are removed first (stopped if they run), unless only a name goes.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<String> {
        let (image, by_id) = self.images().resolve_detail(name)?;
        let only_untag = !by_id && image.record.names.len() > 1;
        if force && !only_untag {
            for container in self.image_users(&image.record.id) {
                self.containers().remove_container(&container, true)?;
            }
        }
        self.images()
            .remove(name, force, &|id| self.image_users(id))
    }

    /// Removes every image no container uses; returns their IDs.
    pub fn delete_unused_images(&self) -> Result<Vec<String>> {
        self.images().prune(false, &|id| self.image_users(id))
    }

    /// Removes dangling images (with `all`, every unused image); returns their IDs.
    pub fn images_prune(&self, all: bool) -> Result<Vec<String>> {
        self.images().prune(!all, &|id| self.image_users(id))
    }
}
