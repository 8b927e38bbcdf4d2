//! CreateContainer's input as the engine takes it, and the error that names one of its
//! fields.
//!
//! Why two shapes remain, not three: the wire's `Create` is the varlink layer's, and the
//! engine may not name it; [`CreateOptions`] is the same fields in the engine's words,
//! unparsed (the strings clients send: `src:dst:ro`, `nofile=1024:2048`), and
//! `ContainerConfig` is what create made of them: parsed, checked, resolved against the
//! image and the host, and recorded. The options are never stored and the config never
//! holds a client string to parse again, so neither can stand in for the other.

use std::collections::{BTreeMap, HashMap};

use crate::engine::error::Error;
use crate::engine::runtime::spec::input::IdMap;

/// CreateContainer's input, as the engine takes it: the wire's fields, unparsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateOptions {
    /// The image.
    pub image: String,
    /// The image's ID, when the client resolved it (used when `image` is empty).
    pub image_id: String,
    /// The name; generated when empty.
    pub name: String,
    /// The command (replaces the image's CMD when not empty).
    pub command: Vec<String>,
    /// The entrypoint (replaces the image's; `[""]` clears it); `None` keeps the image's.
    pub entrypoint: Option<Vec<String>>,
    /// Environment added after the image's.
    pub env: BTreeMap<String, String>,
    /// Working directory; the image's when empty.
    pub work_dir: String,
    /// User (`uid`, `uid:gid`, names); the image's when empty.
    pub user: String,
    /// Supplementary groups (names or numbers).
    pub group_add: Vec<String>,
    /// Host name; the short ID when empty.
    pub hostname: String,
    /// Labels (added to the image's).
    pub labels: HashMap<String, String>,
    /// Remove the container when it exits.
    pub rm: bool,
    /// Stop signal number; 0 for the image's or SIGTERM.
    pub stop_signal: i32,
    /// Stop timeout in seconds; 0 for the default (10).
    pub stop_timeout: u64,
    /// Read-only root filesystem.
    pub readonly_rootfs: bool,
    /// Allocate a terminal.
    pub tty: bool,
    /// Keep stdin open.
    pub interactive: bool,
    /// Every capability and device, no confinement.
    pub privileged: bool,
    /// Capabilities to add (`NET_ADMIN`, `CAP_NET_ADMIN`, `ALL`).
    pub cap_add: Vec<String>,
    /// Capabilities to drop.
    pub cap_drop: Vec<String>,
    /// Devices: `/dev/host[:/dev/ctr][:rwm]`.
    pub devices: Vec<String>,
    /// Tmpfs mounts: `/dst[:options]`.
    pub tmpfs: Vec<String>,
    /// Volumes: `src:dst[:options]` (a path or a volume name as `src`).
    pub volumes: Vec<String>,
    /// How image volumes are made: `bind` (default), `tmpfs` or `ignore`.
    pub image_volume_type: String,
    /// Volumes to treat as the image's, beyond those its config lists.
    pub builtin_imgvolumes: Vec<String>,
    /// A host directory for /dev/shm.
    pub shm_dir: String,
    /// Kernel parameters.
    pub sysctls: BTreeMap<String, String>,
    /// Cgroup limits and the like.
    pub resources: ResourceOptions,
    /// `no-new-privileges`, `seccomp=...`, `apparmor=...`, `label=...`.
    pub security_opts: Vec<String>,
    /// No new privileges.
    pub no_new_privs: bool,
    /// A seccomp profile on the server.
    pub seccomp_profile_path: String,
    /// An AppArmor profile.
    pub apparmor_profile: String,
    /// An SELinux mount label.
    pub mount_label: String,
    /// An SELinux process label.
    pub process_label: String,
    /// IPC namespace mode.
    pub ipc_mode: String,
    /// PID namespace mode.
    pub pid_mode: String,
    /// UTS namespace mode.
    pub uts_mode: String,
    /// User namespace mode.
    pub userns_mode: String,
    /// Network mode.
    pub net_mode: String,
    /// A named network.
    pub network: String,
    /// UID maps: `container:host:size`.
    pub uidmap: Vec<String>,
    /// GID maps.
    pub gidmap: Vec<String>,
    /// A user whose /etc/subuid ranges map UIDs.
    pub subuidname: String,
    /// A group whose /etc/subgid ranges map GIDs.
    pub subgidname: String,
    /// More UID maps, one string.
    pub subuidmap: String,
    /// More GID maps, one string.
    pub subgidmap: String,
    /// Structured ID maps.
    pub id_mappings: IdMappingOptions,
    /// DNS servers (`none`: keep the image's resolv.conf).
    pub dns_servers: Vec<String>,
    /// DNS search domains.
    pub dns_search: Vec<String>,
    /// DNS options.
    pub dns_opt: Vec<String>,
    /// Extra hosts: `name:address`.
    pub host_add: Vec<String>,
    /// Run an init as PID 1.
    pub init: bool,
    /// The init binary on the server.
    pub init_path: String,
    /// Cgroup parent.
    pub cgroup_parent: String,
    /// The cgroup namespace: empty for the default (private on cgroup v2 hosts, the host's on
    /// v1), or `container:ID`. Not on the wire (v1's Create has no such field): the pod room
    /// sets it for the members of a pod that shares `cgroup`.
    pub cgroupns_mode: String,
    /// Where the monitor writes its pid.
    pub conmon_pidfile: String,
    /// Log driver.
    pub log_driver: String,
    /// Log driver options (`path=...`).
    pub log_driver_opt: Vec<String>,
    /// Exposed ports.
    pub exposed_ports: Vec<String>,
    /// Published ports.
    pub publish: Vec<String>,
    /// Publish every exposed port.
    pub publish_all: bool,
    /// The pod to join.
    pub pod: String,
}

/// CreateResourceConfig as the engine takes it. Zero means "not set".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceOptions {
    /// Block IO weight (10-1000).
    pub blkio_weight: i64,
    /// `/dev/X:weight`.
    pub blkio_weight_device: Vec<String>,
    /// CFS period.
    pub cpu_period: i64,
    /// CFS quota.
    pub cpu_quota: i64,
    /// Realtime period.
    pub cpu_rt_period: i64,
    /// Realtime runtime.
    pub cpu_rt_runtime: i64,
    /// CPU shares.
    pub cpu_shares: i64,
    /// CPUs as a fraction.
    pub cpus: f64,
    /// CPU set.
    pub cpuset_cpus: String,
    /// Memory node set.
    pub cpuset_mems: String,
    /// `/dev/X:rate`.
    pub device_read_bps: Vec<String>,
    /// `/dev/X:ops`.
    pub device_read_iops: Vec<String>,
    /// `/dev/X:rate`.
    pub device_write_bps: Vec<String>,
    /// `/dev/X:ops`.
    pub device_write_iops: Vec<String>,
    /// Keep the OOM killer away.
    pub disable_oomkiller: bool,
    /// Kernel memory limit.
    pub kernel_memory: i64,
    /// Memory limit.
    pub memory: i64,
    /// Soft memory limit.
    pub memory_reservation: i64,
    /// Memory plus swap (-1 unlimited).
    pub memory_swap: i64,
    /// Swappiness; 0 or -1 leave the kernel's.
    pub memory_swappiness: i64,
    /// OOM score adjustment.
    pub oom_score_adj: i64,
    /// Process limit (0 or -1: none).
    pub pids_limit: i64,
    /// /dev/shm size in bytes (0: 64 MiB).
    pub shm_size: i64,
    /// `name=soft[:hard]`.
    pub ulimit: Vec<String>,
}

/// IDMappingOptions as the engine takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMappingOptions {
    /// UIDs are the host's (no mapping) even if maps are given elsewhere.
    pub host_uid_mapping: bool,
    /// GIDs are the host's.
    pub host_gid_mapping: bool,
    /// One UID range, when its size is not 0.
    pub uid_map: IdMap,
    /// One GID range, when its size is not 0.
    pub gid_map: IdMap,
}

impl CreateOptions {
    /// The image as the client named it: `image`, or `image_id` when that is empty.
    pub fn image_name(&self) -> &str {
        if self.image.is_empty() {
            &self.image_id
        } else {
            &self.image
        }
    }
}

/// A client error about CreateContainer's `field` (its wire path, `"create.memory"`): the
/// message names the field by its last part, as it always has.
pub(super) fn invalid(field: &'static str, why: impl std::fmt::Display) -> Error {
    let label = field.rsplit('.').next().unwrap_or(field);
    invalid_as(field, label, why)
}

/// As [`invalid`], for a value whose message names it otherwise than its field does
/// (`seccomp` for `security_opts`' `seccomp=...`, "the image's Env").
pub(super) fn invalid_as(field: &'static str, label: &str, why: impl std::fmt::Display) -> Error {
    Error::invalid(field, format!("CreateContainer: {label}: {why}"))
}

/// Owned strings, for tests.
#[cfg(test)]
pub(super) fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_wire_field_and_keep_their_message() {
        match invalid("create.resources.memory", "the minimum is 6 MiB") {
            Error::Invalid { field, reason } => {
                assert_eq!(field, "create.resources.memory");
                assert_eq!(reason, "CreateContainer: memory: the minimum is 6 MiB");
            }
            other => panic!("{other:?}"),
        }
        let e = invalid_as("create.image", "the image's Env", "too many");
        assert_eq!(e.to_string(), "CreateContainer: the image's Env: too many");
    }

    #[test]
    fn the_image_is_named_by_reference_or_id() {
        let mut o = CreateOptions {
            image_id: "sha256:abc".into(),
            ..Default::default()
        };
        assert_eq!(o.image_name(), "sha256:abc");
        o.image = "busybox".into();
        assert_eq!(o.image_name(), "busybox");
    }
}
