//! A container's configuration: everything CreateContainer decided, resolved and validated,
//! kept in the record and never changed afterwards. The runtime spec is built from it at
//! every start (`runtime::spec`), so nothing here is re-parsed from client strings.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

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

/// A host device made available inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMapping {
    /// The device on the host.
    pub host: String,
    /// Its path in the container.
    pub container: String,
    /// Cgroup permissions: some of `r`, `w`, `m`.
    pub permissions: String,
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

/// Everything CreateContainer decided about a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// The full command: init (if any), entrypoint, then command.
    pub command: Vec<String>,
    /// The entrypoint part of `command`, as inspect shows it.
    pub entrypoint: Vec<String>,
    /// The command part of `command`, as inspect shows it.
    pub cmd: Vec<String>,
    /// Environment, `KEY=value`.
    pub env: Vec<String>,
    /// Working directory.
    pub work_dir: String,
    /// The user as asked for (`uid[:gid]` or names).
    pub user: String,
    /// Numeric uid.
    pub uid: u32,
    /// Numeric gid.
    pub gid: u32,
    /// Supplementary gids: the user's groups, then `group_add`.
    pub additional_gids: Vec<u32>,
    /// Groups added by the client, as given.
    pub group_add: Vec<String>,
    /// Host name inside the container.
    pub hostname: String,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// Remove when it exits.
    pub rm: bool,
    /// Signal StopContainer sends first.
    pub stop_signal: i32,
    /// Seconds StopContainer waits before SIGKILL, by default.
    pub stop_timeout: u64,
    /// Read-only root filesystem.
    pub readonly_rootfs: bool,
    /// A terminal for the container.
    pub tty: bool,
    /// Keep stdin open.
    pub stdin: bool,
    /// Privileged: every capability and device, no confinement.
    pub privileged: bool,
    /// Capabilities (`CAP_*`) added to the defaults.
    pub cap_add: Vec<String>,
    /// Capabilities removed from the defaults.
    pub cap_drop: Vec<String>,
    /// The resulting capability set.
    pub capabilities: Vec<String>,
    /// Host devices.
    pub devices: Vec<DeviceMapping>,
    /// Bind mounts, volumes, tmpfs mounts and image volumes.
    pub mounts: Vec<MountSpec>,
    /// Size of /dev/shm in bytes.
    pub shm_size: u64,
    /// A host directory mounted at /dev/shm instead of a tmpfs of its own.
    pub shm_dir: String,
    /// Namespaced kernel parameters.
    pub sysctls: BTreeMap<String, String>,
    /// Resource limits, already no higher than the service's own hard limits.
    pub ulimits: Vec<Ulimit>,
    /// Cgroup limits.
    pub resources: Resources,
    /// OOM score adjustment.
    pub oom_score_adj: i32,
    /// No new privileges through exec.
    pub no_new_privileges: bool,
    /// Seccomp: "default", "unconfined" or the profile's path as given.
    pub seccomp: String,
    /// AppArmor profile ("" when AppArmor is off here, or "unconfined").
    pub apparmor: String,
    /// Namespace modes.
    pub namespaces: Namespaces,
    /// User namespace uid map.
    pub uid_map: Vec<IdMap>,
    /// User namespace gid map.
    pub gid_map: Vec<IdMap>,
    /// DNS servers (empty: the host's).
    pub dns_servers: Vec<String>,
    /// DNS search domains (empty: the host's).
    pub dns_search: Vec<String>,
    /// DNS options (empty: the host's).
    pub dns_options: Vec<String>,
    /// Leave the image's own /etc/resolv.conf (`dns_servers: ["none"]`).
    pub no_resolv_conf: bool,
    /// Extra /etc/hosts entries: (host name, address).
    pub hosts_add: Vec<(String, String)>,
    /// Host path of the init binary run as PID 1, if any.
    pub init: String,
    /// Absolute cgroup parent.
    pub cgroup_parent: String,
    /// Where the monitor writes its pid.
    pub conmon_pidfile: String,
    /// The log file.
    pub log_path: String,
    /// Ports the container exposes (recorded; published ports come with bridge networking).
    pub exposed_ports: Vec<String>,
    /// The root filesystem's files were shifted into the user namespace (an overlay with
    /// metacopy, so only metadata was copied up).
    pub shifted_rootfs: bool,
}
