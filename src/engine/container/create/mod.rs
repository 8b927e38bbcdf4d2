//! CreateContainer: the client's options, checked and resolved against the image and the
//! host into a `ContainerConfig`, recorded. Nothing runs yet; the runtime spec is written
//! when the container is initialized (`container::bundle`).
//!
//! Every option either takes effect or is refused with an error naming its field; the
//! strings clients send (`src:dst:ro`, `nofile=1024:2048`, `/dev/sda:1mb`) are parsed here,
//! as Podman 1.x's CLI path parsed them. This room owns that parsing and the checks against
//! the host. It runs nothing: it may not call the lifecycle, start a monitor or invoke the
//! runtime (it uses the runtime room's spec types, seccomp choice and cgroup probes only),
//! and it reads the image only through `Images`.
//!
//! The resolving is split by what each step decides about; `process.rs` stands beside the
//! rooms the issue suggested, because command, environment and stop signal are neither user
//! lookup nor host probing.
//!
//! - `options.rs`: `CreateOptions` (the engine's input) and the error naming a field
//! - `container.rs`: the `create_container` entry point, resolving step by step
//! - `process.rs`: command, entrypoint, environment, labels, stop signal
//! - `user.rs`: users and groups in the image's /etc/passwd and /etc/group
//! - `caps.rs`: capability tables and `cap_add`/`cap_drop`
//! - `mounts.rs`: volumes, tmpfs, image volumes, devices
//! - `resources.rs`: cgroup limits, ulimits, sysctls, sizes
//! - `idmap.rs`: user namespace ID maps, subordinate IDs
//! - `namespaces.rs`: namespace modes
//! - `network.rs`: the bridge, the network named, published ports
//! - `security.rs`: seccomp, AppArmor, SELinux labels, no-new-privileges
//! - `host.rs`: DNS, extra hosts, init binary, cgroup parent, log path, exposed ports

pub mod caps;
mod container;
mod host;
mod idmap;
mod mounts;
mod namespaces;
mod network;
pub mod options;
mod process;
mod resources;
mod security;
mod user;

pub use process::is_signal;
pub use resources::parse_size;
pub use user::{read_image_file, resolve_user};
