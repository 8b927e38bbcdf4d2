//! What the runtime spec is made from: the sandbox a container's configuration describes
//! (namespaces, ID maps, mounts, limits), in types the container room records and this
//! room reads, and [`SpecInput`], the one value [`super::build::build`] takes.
//!
//! These types live here, not beside the container's record, so the runtime room never
//! imports the container room: `container::config::ContainerConfig` is made of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::devices::Device;

/// Where the init binary appears in the container.
pub const INIT_PATH_IN_CONTAINER: &str = "/dev/init";

/// How a container shares one kind of namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode", content = "target")]
pub enum NamespaceMode {
    /// A new namespace of its own.
    #[default]
    Private,
    /// The host's namespace.
    Host,
    /// The namespace at this path (`ns:PATH`).
    Path(String),
    /// The namespace of another container, by ID (`container:ID`).
    Container(String),
}

impl NamespaceMode {
    /// The mode as clients write it.
    pub fn describe(&self) -> String {
        match self {
            NamespaceMode::Private => "private".into(),
            NamespaceMode::Host => "host".into(),
            NamespaceMode::Path(p) => format!("ns:{p}"),
            NamespaceMode::Container(id) => format!("container:{id}"),
        }
    }
}

/// The namespaces a container joins or makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespaces {
    /// IPC.
    pub ipc: NamespaceMode,
    /// PID.
    pub pid: NamespaceMode,
    /// UTS (host name).
    pub uts: NamespaceMode,
    /// Network. `Private` has loopback only (bridge networking lands later).
    pub net: NamespaceMode,
    /// User. `Private` needs ID maps.
    pub user: NamespaceMode,
    /// Cgroup: private on cgroup v2 hosts, the host's on v1 (as Podman).
    pub cgroup: NamespaceMode,
}

impl Default for Namespaces {
    /// Private namespaces but the user namespace: the host's, as without ID maps.
    fn default() -> Self {
        Namespaces {
            ipc: NamespaceMode::Private,
            pid: NamespaceMode::Private,
            uts: NamespaceMode::Private,
            net: NamespaceMode::Private,
            user: NamespaceMode::Host,
            cgroup: NamespaceMode::Private,
        }
    }
}

impl Namespaces {
    /// Every namespace with its kind's name.
    pub fn each(&self) -> [(&'static str, &NamespaceMode); 6] {
        [
            ("ipc", &self.ipc),
            ("pid", &self.pid),
            ("uts", &self.uts),
            ("net", &self.net),
            ("user", &self.user),
            ("cgroup", &self.cgroup),
        ]
    }
}

/// One range of a user-namespace ID map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    /// First ID inside the container.
    pub container_id: u32,
    /// The host ID it maps to.
    pub host_id: u32,
    /// How many IDs.
    pub size: u32,
}

/// The host ID that ID `id` inside the container maps to, if any.
pub fn to_host(maps: &[IdMap], id: u32) -> Option<u32> {
    maps.iter()
        .find(|m| id >= m.container_id && id - m.container_id < m.size)
        // The ranges were checked at create: this cannot go past the last ID.
        .map(|m| m.host_id.saturating_add(id - m.container_id))
}

/// The ID inside the container of host ID `id`, if it is mapped.
pub fn to_container(maps: &[IdMap], id: u32) -> Option<u32> {
    maps.iter()
        .find(|m| id >= m.host_id && id - m.host_id < m.size)
        .map(|m| m.container_id + (id - m.host_id))
}

/// Where a mount's contents come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum MountSource {
    /// A host path.
    Bind {
        /// The host path.
        source: String,
    },
    /// A named volume under the storage root (created on first use).
    Volume {
        /// The volume's name.
        name: String,
    },
    /// An image volume: a directory of the container's own, filled from the image.
    ImageVolume,
    /// A fresh tmpfs.
    Tmpfs,
}

/// One mount into the container beyond the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// Absolute path inside the container.
    pub destination: String,
    /// Where its contents come from.
    pub source: MountSource,
    /// Mount options (`ro`, `rprivate`, `size=...`).
    pub options: Vec<String>,
}

/// A resource limit (`RLIMIT_*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// Name as in `RLIMIT_NOFILE`.
    pub name: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// A throttle or weight for one block device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDeviceLimit {
    /// The device's path, as given.
    pub path: String,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Bytes or operations per second, or a weight.
    pub value: u64,
}

/// Cgroup limits. Zero (or `None`) means "not set".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory: i64,
    /// Memory plus swap in bytes; -1 unlimited.
    pub memory_swap: i64,
    /// Soft memory limit in bytes.
    pub memory_reservation: i64,
    /// Swappiness 0-100; `None` for the kernel's.
    pub memory_swappiness: Option<u64>,
    /// Kernel memory limit in bytes.
    pub kernel_memory: i64,
    /// Keep the OOM killer away.
    pub disable_oom_killer: bool,
    /// CPU shares.
    pub cpu_shares: u64,
    /// CFS quota in microseconds.
    pub cpu_quota: i64,
    /// CFS period in microseconds.
    pub cpu_period: u64,
    /// Realtime period in microseconds.
    pub cpu_rt_period: u64,
    /// Realtime runtime in microseconds.
    pub cpu_rt_runtime: i64,
    /// CPUs allowed (`0-2,4`).
    pub cpuset_cpus: String,
    /// Memory nodes allowed.
    pub cpuset_mems: String,
    /// Process limit (-1 none; 0, in records from before the default, the kernel's).
    pub pids_limit: i64,
    /// Block IO weight (10-1000).
    pub blkio_weight: u16,
    /// Per-device weights.
    pub blkio_weight_device: Vec<BlockDeviceLimit>,
    /// Read bytes per second, per device.
    pub device_read_bps: Vec<BlockDeviceLimit>,
    /// Write bytes per second, per device.
    pub device_write_bps: Vec<BlockDeviceLimit>,
    /// Read operations per second, per device.
    pub device_read_iops: Vec<BlockDeviceLimit>,
    /// Write operations per second, per device.
    pub device_write_iops: Vec<BlockDeviceLimit>,
}

/// The parts of a container's configuration its spec is made from. `ContainerConfig` holds
/// them beside what the spec never needs (labels, log path, stop signal...); the container
/// room projects them out with `ContainerConfig::spec_config`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpecConfig {
    /// The full command: init (if any), entrypoint, then command.
    pub command: Vec<String>,
    /// Environment, `KEY=value` (`HOSTNAME` is set from `hostname`).
    pub env: Vec<String>,
    /// Working directory.
    pub work_dir: String,
    /// Numeric uid.
    pub uid: u32,
    /// Numeric gid.
    pub gid: u32,
    /// Supplementary gids.
    pub additional_gids: Vec<u32>,
    /// Host name inside the container.
    pub hostname: String,
    /// A terminal for the container.
    pub tty: bool,
    /// The capability set.
    pub capabilities: Vec<String>,
    /// The capabilities the client added (a user other than root keeps only these).
    pub cap_add: Vec<String>,
    /// Every capability and device, no masked paths.
    pub privileged: bool,
    /// Resource limits.
    pub ulimits: Vec<Ulimit>,
    /// No new privileges through exec.
    pub no_new_privileges: bool,
    /// OOM score adjustment.
    pub oom_score_adj: i32,
    /// AppArmor profile, or empty.
    pub apparmor: String,
    /// Read-only root filesystem.
    pub readonly_rootfs: bool,
    /// Remove when it exits (an annotation for the runtime's hooks).
    pub rm: bool,
    /// Leave the image's own /etc/resolv.conf.
    pub no_resolv_conf: bool,
    /// Host path of the init binary mounted at [`INIT_PATH_IN_CONTAINER`], or empty.
    pub init: String,
    /// The client's mounts.
    pub mounts: Vec<MountSpec>,
    /// Namespaced kernel parameters.
    pub sysctls: BTreeMap<String, String>,
    /// Namespace modes.
    pub namespaces: Namespaces,
    /// Cgroup limits.
    pub resources: Resources,
    /// User namespace uid map.
    pub uid_map: Vec<IdMap>,
    /// User namespace gid map.
    pub gid_map: Vec<IdMap>,
}

/// What the engine resolved on the host for one container's spec.
#[derive(Debug, Clone)]
pub struct SpecInput<'a> {
    /// The container's configuration, as far as the spec needs it.
    pub config: SpecConfig,
    /// Its root filesystem (the mounted overlay).
    pub rootfs: &'a Path,
    /// The directory holding its generated `hostname`, `hosts` and `resolv.conf`.
    pub etc_dir: &'a Path,
    /// The host directory mounted at /dev/shm.
    pub shm_dir: &'a Path,
    /// For each namespace kind (`ipc`, `pid`...): the path to join, when it is not private
    /// and not the host's (a `container:` mode resolved to `/proc/PID/ns/KIND`).
    pub namespace_paths: BTreeMap<&'static str, String>,
    /// For each mount of the configuration (same order): the host path it binds, if any.
    pub mount_sources: Vec<Option<PathBuf>>,
    /// Devices (resolved from the configuration, or every host device when privileged).
    pub devices: Vec<Device>,
    /// The converted seccomp profile, if any.
    pub seccomp: Option<Value>,
    /// That profile compiled (see `seccomp_bpf`), for a runtime that takes it ready (crun).
    pub seccomp_bpf: Option<Vec<u8>>,
    /// The absolute cgroup path.
    pub cgroups_path: String,
}
