//! The container inspect document (`InspectContainer`, `ContainerInspectData`): the fields
//! `podman inspect` gives, as typed structs whose serde names are the document's keys.
//! `inspect_build.rs` fills them from a container's record.
//!
//! Keys not in PascalCase (`OCIRuntime`, `OOMKilled`, `RW`...) are renamed one by one; a
//! field documented "always ..." is one Podman 1.x filled and podlink has nothing for, kept
//! so clients that read it find it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;

/// A container as `podman inspect` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    /// Full ID.
    pub id: String,
    /// Creation time (RFC 3339).
    pub created: String,
    /// The command's first word (null without a command).
    pub path: Option<String>,
    /// The command's other words.
    pub args: Vec<String>,
    /// Run state.
    pub state: InspectState,
    /// The image's ID.
    pub image: String,
    /// The image as named at creation.
    pub image_name: String,
    /// Always "".
    pub rootfs: String,
    /// The container's resolv.conf on the host.
    pub resolv_conf_path: String,
    /// The container's hostname file on the host.
    pub hostname_path: String,
    /// The container's hosts file on the host.
    pub hosts_path: String,
    /// The container's bundle directory.
    pub static_dir: String,
    /// The OCI runtime's name.
    #[serde(rename = "OCIRuntime")]
    pub oci_runtime: String,
    /// Where the monitor writes its pid, if asked.
    pub conmon_pid_file: String,
    /// Its name.
    pub name: String,
    /// Starts after the first.
    pub restart_count: u32,
    /// Always "overlay".
    pub driver: String,
    /// Always "".
    pub mount_label: String,
    /// Always "".
    pub process_label: String,
    /// AppArmor profile.
    pub app_armor_profile: String,
    /// Always empty.
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Vec<String>,
    /// The log file.
    pub log_path: String,
    /// Mounts beyond the defaults.
    pub mounts: Vec<InspectMount>,
    /// Always empty.
    pub dependencies: Vec<String>,
    /// The overlay of its root filesystem.
    pub graph_driver: GraphDriver,
    /// Its configuration, Docker-style.
    pub config: InspectConfig,
    /// Its host configuration, Docker-style.
    pub host_config: HostConfig,
    /// Its place on the network.
    pub network_settings: NetworkSettings,
    /// Whether it is a pod's infra container (Podman 1.x's `IsInfra`).
    pub is_infra: bool,
}

/// Published ports as Docker (and `podman inspect`) key them: `80/tcp` → where on the host.
pub type PortMap = BTreeMap<String, Vec<HostPort>>;

/// One host side of a published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPort {
    /// The host address; "" for every address.
    #[serde(rename = "HostIp")]
    pub host_ip: String,
    /// The host port, as a string.
    #[serde(rename = "HostPort")]
    pub host_port: String,
}

/// The `NetworkSettings` object: the address, gateway and MAC while the container runs on
/// the bridge (empty otherwise), and its published ports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    /// The bridge it is attached to ("" unless bridged).
    pub bridge: String,
    /// Always "".
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    /// Always false.
    pub hairpin_mode: bool,
    /// Always "".
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    /// Always 0.
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: u8,
    /// Published ports.
    pub ports: PortMap,
    /// The network namespace file while it runs on the bridge.
    pub sandbox_key: String,
    /// Always "".
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The gateway.
    pub gateway: String,
    /// Always "".
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    /// Always 0.
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    /// The container's address.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// The subnet's prefix length.
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    /// Always "".
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    /// The container end's MAC address.
    pub mac_address: String,
}

/// The document as JSON text, as the wire carries it.
impl fmt::Display for ContainerInspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Serialising cannot fail: every map has string keys and no number is a float.
        f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
    }
}

/// The `State` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectState {
    /// The OCI version of the runtime state, always "1.0.2".
    pub oci_version: String,
    /// `created`, `running`, `exited`...
    pub status: String,
    /// Whether it runs.
    pub running: bool,
    /// Whether it is paused.
    pub paused: bool,
    /// Always false.
    pub restarting: bool,
    /// Whether the OOM killer ended it.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Always false.
    pub dead: bool,
    /// Its first process on the host (0 unless it runs).
    pub pid: i32,
    /// Its monitor (0 unless it runs).
    pub conmon_pid: i32,
    /// Its last exit code.
    pub exit_code: i32,
    /// Always "".
    pub error: String,
    /// Last start (RFC 3339, or "").
    pub started_at: String,
    /// Last exit (RFC 3339, or "").
    pub finished_at: String,
}

/// One entry of `Mounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectMount {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name ("" unless a volume).
    pub name: String,
    /// Host path, volume name or `tmpfs`.
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// `local` for a volume, else "".
    pub driver: String,
    /// Always "".
    pub mode: String,
    /// Mount options.
    pub options: Vec<String>,
    /// Whether writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// The propagation option (`rprivate`...), or "".
    pub propagation: String,
}

/// `GraphDriver`: the storage driver and its directories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    /// Always "overlay".
    pub name: String,
    /// Its directories.
    pub data: GraphDriverData,
}

/// `GraphDriver.Data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriverData {
    /// The image's layers, topmost first, joined by `:`.
    pub lower_dir: String,
    /// The container's writable layer.
    pub upper_dir: String,
    /// overlayfs's scratch directory.
    pub work_dir: String,
    /// Where the root filesystem appears.
    pub merged_dir: String,
}

/// An empty JSON object: the value of the keys of Docker's set-like maps
/// (`"Volumes": {"/data": {}}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Empty {}

/// The `Config` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectConfig {
    /// Host name.
    pub hostname: String,
    /// Always "".
    pub domainname: String,
    /// User as given.
    pub user: String,
    /// Whether stdin is kept open.
    pub attach_stdin: bool,
    /// Always false.
    pub attach_stdout: bool,
    /// Always false.
    pub attach_stderr: bool,
    /// Whether it has a terminal.
    pub tty: bool,
    /// Whether stdin is kept open.
    pub open_stdin: bool,
    /// Always false.
    pub stdin_once: bool,
    /// `KEY=value` environment.
    pub env: Vec<String>,
    /// The command after the entrypoint.
    pub cmd: Vec<String>,
    /// The entrypoint.
    pub entrypoint: Vec<String>,
    /// The image as named at creation.
    pub image: String,
    /// Every mount's destination.
    pub volumes: BTreeMap<String, Empty>,
    /// Working directory.
    pub working_dir: String,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// Always empty.
    pub annotations: BTreeMap<String, String>,
    /// Stop signal number.
    pub stop_signal: i32,
    /// Seconds between the stop signal and SIGKILL.
    pub stop_timeout: u64,
    /// Exposed ports (`8080/tcp`).
    pub exposed_ports: BTreeMap<String, Empty>,
}

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    /// Always `k8s-file`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Always empty.
    pub config: BTreeMap<String, String>,
    /// The log file.
    pub path: String,
}

/// One entry of `HostConfig.Devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectDevice {
    /// Device on the host.
    pub path_on_host: String,
    /// Path in the container.
    pub path_in_container: String,
    /// `rwm` or part of it.
    pub cgroup_permissions: String,
}

/// One entry of `HostConfig.Ulimits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectUlimit {
    /// `RLIMIT_NOFILE`...
    pub name: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// One entry of `HostConfig.BlkioWeightDevice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WeightDevice {
    /// The block device.
    pub path: String,
    /// Its weight.
    pub weight: u64,
}

/// One entry of the `HostConfig.BlkioDevice*` throttles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ThrottleDevice {
    /// The block device.
    pub path: String,
    /// Bytes or operations per second.
    pub rate: u64,
}

/// The `HostConfig` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    /// `source:destination:options` of bind mounts and volumes.
    pub binds: Vec<String>,
    /// Always "".
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    /// The log.
    pub log_config: LogConfig,
    /// `bridge` for a private network namespace, else its mode.
    pub network_mode: String,
    /// Published ports, as asked for (a host port chosen by podlink shows as chosen).
    pub port_bindings: PortMap,
    /// Removed when it exits.
    pub auto_remove: bool,
    /// Capabilities added.
    pub cap_add: Vec<String>,
    /// Capabilities dropped.
    pub cap_drop: Vec<String>,
    /// DNS servers.
    pub dns: Vec<String>,
    /// DNS options.
    pub dns_options: Vec<String>,
    /// DNS search domains.
    pub dns_search: Vec<String>,
    /// `name:address` hosts entries.
    pub extra_hosts: Vec<String>,
    /// Groups added.
    pub group_add: Vec<String>,
    /// IPC namespace mode.
    pub ipc_mode: String,
    /// Always "".
    pub cgroup: String,
    /// Cgroup parent.
    pub cgroup_parent: String,
    /// OOM score adjustment.
    pub oom_score_adj: i32,
    /// PID namespace mode.
    pub pid_mode: String,
    /// Privileged.
    pub privileged: bool,
    /// Read-only root filesystem.
    pub readonly_rootfs: bool,
    /// `no-new-privileges`, `seccomp=...`, `apparmor=...`.
    pub security_opt: Vec<String>,
    /// tmpfs destinations and their options.
    pub tmpfs: BTreeMap<String, String>,
    /// UTS namespace mode.
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    /// User namespace mode.
    pub userns_mode: String,
    /// /dev/shm size in bytes.
    pub shm_size: u64,
    /// Always `oci`.
    pub runtime: String,
    /// Whether an init runs as PID 1.
    pub init: bool,
    /// Namespaced sysctls.
    pub sysctls: BTreeMap<String, String>,
    /// CPU shares.
    pub cpu_shares: u64,
    /// Memory limit in bytes.
    pub memory: i64,
    /// CPUs in billionths (quota / period).
    pub nano_cpus: u64,
    /// CFS period in µs.
    pub cpu_period: u64,
    /// CFS quota in µs.
    pub cpu_quota: i64,
    /// Real-time period in µs.
    pub cpu_realtime_period: u64,
    /// Real-time runtime in µs.
    pub cpu_realtime_runtime: i64,
    /// CPUs allowed.
    pub cpuset_cpus: String,
    /// Memory nodes allowed.
    pub cpuset_mems: String,
    /// Block IO weight.
    pub blkio_weight: u16,
    /// Block IO weight per device.
    pub blkio_weight_device: Vec<WeightDevice>,
    /// Read bytes per second per device.
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    /// Written bytes per second per device.
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    /// Read operations per second per device.
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    /// Write operations per second per device.
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    /// Devices added.
    pub devices: Vec<InspectDevice>,
    /// Kernel memory limit in bytes.
    pub kernel_memory: i64,
    /// Memory soft limit in bytes.
    pub memory_reservation: i64,
    /// Memory plus swap limit in bytes.
    pub memory_swap: i64,
    /// Swappiness, -1 when unset.
    pub memory_swappiness: i64,
    /// The OOM killer is off.
    pub oom_kill_disable: bool,
    /// Process limit.
    pub pids_limit: i64,
    /// Resource limits.
    pub ulimits: Vec<InspectUlimit>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_objects_and_renamed_keys() {
        let mount = InspectMount {
            kind: "tmpfs".into(),
            name: String::new(),
            source: "tmpfs".into(),
            destination: "/t".into(),
            driver: String::new(),
            mode: String::new(),
            options: vec![],
            rw: true,
            propagation: String::new(),
        };
        let value = serde_json::to_value(&mount).unwrap();
        assert_eq!(value["Type"], "tmpfs");
        assert_eq!(value["RW"], true);
        let volumes = BTreeMap::from([("/data".to_string(), Empty {})]);
        assert_eq!(serde_json::to_string(&volumes).unwrap(), r#"{"/data":{}}"#);
    }
}
