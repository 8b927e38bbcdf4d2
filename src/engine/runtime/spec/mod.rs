//! The OCI runtime spec: what a container's `config.json` is made from, and how.
//!
//! This room owns the spec's input types (the sandbox a container's configuration describes:
//! namespaces, ID maps, mounts, limits) and the building of the spec from them. It may not
//! touch the container room (records, create, lifecycle): the container room imports these
//! types and hands a [`input::SpecInput`] in.
//!
//! - `input.rs`: the sandbox types recorded in a container's configuration, and `SpecInput`
//! - `devices.rs`: host device nodes as the spec lists them
//! - `build.rs`: the spec itself: process, namespaces, masked paths; calls the two below
//! - `mounts.rs`: default mounts and the client's, in order
//! - `resources.rs`: cgroup limits and device rules

pub mod build;
pub mod devices;
pub mod input;
mod mounts;
mod resources;
