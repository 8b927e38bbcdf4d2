//! Containers: their records, their life (create, start, stop, remove, ...) and what can be
//! read of them.
//!
//! A container's record (`ROOT/containers/<id>/container.json`, written once, durably, at
//! create) and its run state (`state.json` beside it, replaced atomically on every change)
//! are the source of truth, kept in memory for reads. Each container has its own mutex, so
//! calls on one container are serialized while calls on different containers run in
//! parallel; readers that must not wait use a snapshot of the record instead. Every
//! operation is a method of the [`Containers`] service, in the file named for it.
//!
//! Lock order: one container, then the container map (held only for a moment, to look up,
//! insert, forget or publish a snapshot, and never while waiting for a container), then
//! images. No lock is held while the runtime runs, except a container's own (which only
//! serializes calls on that container).
//!
//! This room uses image, runtime, monitor, volume and storage; it never reaches up to the
//! engine facade (`engine/mod.rs`) nor knows about the wire.
//!
//! - `service.rs`: the [`Containers`] service (store, images, runtime, settings).
//! - `record.rs`: a container's record and run state, and a fresh record.
//! - `status.rs`: where a container is in its life, and which operations that allows.
//! - `store.rs`: the records in memory (one lock each), loaded at start-up; directory paths.
//! - `names.rs`: new IDs and generated names; `index.rs`: the store's index by ID and name.
//! - `access.rs`: finding, locking and refreshing a container from its monitor's exit file.
//! - `config.rs`: everything decided at create, kept in the record.
//! - `create/`: CreateContainer (options, their checks, and the config they make).
//! - `bridge.rs`: a container on the bridge network: setup, teardown, exit watchers,
//!   start-up claims.
//! - `bundle.rs`: the runtime spec and the files it refers to (`/etc/hosts`, resolv.conf, shm).
//! - `start.rs`: init (through a monitor), start, attach sockets.
//! - `stop.rs`: kill, stop, restart, wait.
//! - `remove.rs`: removal of one container or every stopped one.
//! - `pause.rs`: pause, unpause, and the service's own freezes.
//! - `mount.rs`: mounting a root filesystem for a client.
//! - `changes.rs`: ListContainerChanges.
//! - `commit.rs`: Commit (a container's changes as a layer).
//! - `diff.rs`: reading an overlay's upper directory as changes or a layer.
//! - `shift.rs`: shifting a root filesystem's ownership into a user namespace.
//! - `export.rs`: ExportContainer.
//! - `checkpoint.rs`: checkpoint and restore.
//! - `infra.rs`: a pod's infra container (no image: a shared empty root filesystem).
//! - `artifacts.rs`: the JSON dumps of the record, its state and its bundle's files.
//! - `reconcile.rs`: start-up reconciliation and removal of leftovers.
//! - `logs.rs`: GetContainerLogs.
//! - `view.rs`: the list documents (ListContainers, GetContainer); `image_view.rs`: a
//!   container's image layers as one tree, for diffs.
//! - `inspect.rs`, `inspect_build.rs`: the inspect document's types, and filling them.
//! - `state_data.rs`: ContainerStateData's document.
//! - `cpu_samples.rs`: the previous CPU sample of each container, for GetContainerStats.
//! - `stats.rs`, `top.rs`: resource use and processes.
//! - `runlabel.rs`: ContainerRunlabel.

mod access;
mod artifacts;
pub mod bridge;
pub mod build_step;
pub mod bundle;
mod changes;
pub mod checkpoint;
pub mod commit;
pub mod config;
mod cpu_samples;
pub mod create;
pub mod diff;
mod export;
mod image_view;
mod index;
pub mod infra;
pub mod inspect;
mod inspect_build;
pub mod logs;
mod mount;
mod names;
mod pause;
pub mod reconcile;
pub mod record;
mod remove;
pub mod runlabel;
mod service;
mod shift;
mod start;
pub mod state_data;
pub mod stats;
pub mod status;
mod stop;
pub mod store;
pub mod top;
pub mod view;

pub use names::{generate_name, is_valid_name, new_id};
pub use record::{ContainerRecord, ContainerState, new_record};
pub use service::{ContainerSettings, Containers, ExitWatcher};
pub use status::ContainerStatus;
pub use store::{Container, ContainerStore, Handle};
