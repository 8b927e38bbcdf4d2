//! A container's configuration: everything CreateContainer decided, resolved and validated,
//! kept in the record and never changed afterwards. The runtime spec is built from it at
//! every start (`runtime::spec`), so nothing here is re-parsed from client strings.
//!
//! The sandbox it describes (namespaces, ID maps, mounts, limits) is made of the runtime
//! spec's input types, which live in `runtime::spec::input` so the runtime room never
//! imports this one.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::engine::network::BridgeAddress;
use crate::engine::runtime::spec::input::{
    IdMap, MountSpec, Namespaces, Resources, SpecConfig, Ulimit,
};

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
    /// Its place on the bridge network (address, published ports), from create to removal;
    /// `None` without one (`net_mode` none, host, or a namespace joined).
    #[serde(default)]
    pub bridge: Option<BridgeAddress>,
    /// The ID of the pod it belongs to; empty for none.
    #[serde(default)]
    pub pod: String,
    /// It is its pod's infra container.
    #[serde(default)]
    pub infra: bool,
    /// The root filesystem's files were shifted into the user namespace (an overlay with
    /// metacopy, so only metadata was copied up).
    pub shifted_rootfs: bool,
}

impl ContainerConfig {
    /// The parts of the configuration the runtime spec is made from.
    pub fn spec_config(&self) -> SpecConfig {
        SpecConfig {
            command: self.command.clone(),
            env: self.env.clone(),
            work_dir: self.work_dir.clone(),
            uid: self.uid,
            gid: self.gid,
            additional_gids: self.additional_gids.clone(),
            hostname: self.hostname.clone(),
            tty: self.tty,
            capabilities: self.capabilities.clone(),
            cap_add: self.cap_add.clone(),
            privileged: self.privileged,
            ulimits: self.ulimits.clone(),
            no_new_privileges: self.no_new_privileges,
            oom_score_adj: self.oom_score_adj,
            apparmor: self.apparmor.clone(),
            readonly_rootfs: self.readonly_rootfs,
            rm: self.rm,
            no_resolv_conf: self.no_resolv_conf,
            init: self.init.clone(),
            mounts: self.mounts.clone(),
            sysctls: self.sysctls.clone(),
            namespaces: self.namespaces.clone(),
            resources: self.resources.clone(),
            uid_map: self.uid_map.clone(),
            gid_map: self.gid_map.clone(),
        }
    }
}
