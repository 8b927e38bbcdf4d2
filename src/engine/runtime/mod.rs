//! The OCI runtime (runc or crun): which binary, and how to drive it.
//!
//! Every invocation is built from a typed [`RuntimeCommand`] and runs with `--root` set to
//! podlink's own runtime state directory, so podlink's containers never mix with anyone
//! else's. A failure carries the argv, the exit status and the runtime's stderr.
//!
//! This room knows the OCI runtime spec and the runtime's command line; it never imports the
//! container room (what a container needs arrives as a `spec::input::SpecInput`).
//!
//! - `oci.rs`: finding a working runtime ([`select`]), and running its commands;
//! - `error.rs`: `RuntimeError`; `spec/`: building `config.json`; `seccomp.rs`: choosing and
//!   converting seccomp profiles; `seccomp_bpf.rs`: compiling them once to the BPF crun
//!   loads; `seccomp_cache.rs`: the cache of programs; `cgroups.rs`: cgroup paths and figures; `criu.rs`: whether
//!   CRIU can work here, and its logs.

pub mod cgroups;
pub mod criu;
pub mod error;
pub mod oci;
pub mod seccomp;
pub mod seccomp_bpf;
pub mod seccomp_cache;
pub mod spec;

pub use error::RuntimeError;
pub use oci::{HYBRID_CGROUP_MARKER, OciRuntime, RuntimeCommand, RuntimeKind, resolve, select};
