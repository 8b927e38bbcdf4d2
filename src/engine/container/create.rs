//! CreateContainer: the client's options, checked and resolved against the image and the
//! host into a [`ContainerConfig`], recorded. Nothing runs yet; the runtime spec is written
//! when the container is initialized (`lifecycle`).
//!
//! Every option either takes effect or is refused with an error naming it; the strings
//! clients send (`src:dst:ro`, `nofile=1024:2048`, `/dev/sda:1mb`) are parsed here, as
//! Podman 1.x's CLI path parsed them.

use super::service::Containers;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::config::{
    BlockDeviceLimit, ContainerConfig, DeviceMapping, IdMap, MountSource, MountSpec, NamespaceMode,
    Namespaces, Resources, Ulimit,
};
use super::{new_id, new_record};
use crate::engine::error::{Error, Result};
use crate::engine::runtime::seccomp::json_strings;

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

/// PATH when neither the image nor the client sets one.
/// The process limit of a container whose Create leaves `pids_limit` out (Podman 2+'s).
pub const DEFAULT_PIDS_LIMIT: i64 = 2048;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// /dev/shm's size when none is asked for (Podman's).
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;
/// StopContainer's timeout when none is set.
const DEFAULT_STOP_TIMEOUT: u64 = 10;
/// Where an init binary is looked for when `init` is set without `init_path`.
const INIT_CANDIDATES: [&str; 2] = ["/usr/libexec/podman/catatonit", "/usr/bin/catatonit"];
/// Where the init binary appears in the container.
pub const INIT_PATH_IN_CONTAINER: &str = "/dev/init";

/// The capabilities a container gets by default (Podman's).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux defines, by number.
const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities a container can have here: those in the service's own bounding set (a
/// runtime cannot grant more; this host's, for one, lacks CAP_SYS_RESOURCE), which the
/// kernel knows.
pub fn host_capabilities() -> Vec<String> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL_CAPABILITIES.len() - 1);
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .take(last + 1)
        .filter(|(bit, _)| bounding & (1 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

fn invalid(field: &str, why: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("CreateContainer: {field}: {why}"))
}

impl Containers {
    /// io.podman.CreateContainer: records a new container; returns its ID.
    pub fn create_container(&self, options: CreateOptions) -> Result<String> {
        refuse_later_features(&options)?;
        let image_name = if options.image.is_empty() {
            options.image_id.clone()
        } else {
            options.image.clone()
        };
        let image = self.images().resolve(&image_name)?;
        if !options.image.is_empty()
            && !options.image_id.is_empty()
            && !image
                .record
                .id
                .starts_with(options.image_id.trim_start_matches("sha256:"))
        {
            return Err(invalid(
                "image_id",
                format!("{} is not the ID of {:?}", options.image_id, options.image),
            ));
        }
        let image_config = &image.config["config"];
        let id = new_id();
        // An empty name is generated when the record goes in, under the store's lock, so two
        // creates cannot pick the same one.
        if !options.name.is_empty() {
            validate_name(&options.name)?;
        }
        let name = options.name.clone();
        let lower: Vec<PathBuf> = image
            .record
            .layers
            .iter()
            .rev()
            .map(|l| self.images().layers().diff_dir(l))
            .collect();
        let mut config = self.resolve_config(&id, image_config, &lower, &options)?;
        if options.image.is_empty() {
            config.labels.extend(image_labels(image_config));
        }
        let mut record = new_record(id.clone(), name);
        record.image_id = image.record.id.clone();
        record.image_name = image_name;
        record.layers = image.record.layers.clone();
        record.config = config;
        if record.config.log_path.is_empty() {
            // With the container's storage, as Podman keeps it: it lasts across reboots,
            // and does not fill the run root's memory.
            record.config.log_path = self
                .store()
                .dir(&id)
                .join(super::lifecycle::BUNDLE_DIR)
                .join(crate::engine::monitor::LOG_FILE)
                .display()
                .to_string();
        }
        let handle = self.store().insert(record)?;
        // A RemoveImage that ran meanwhile saw no container using the image: if the image
        // went, so does the container, rather than stay unable to start.
        if self.images().resolve(&image.record.id).is_err() {
            let record = handle.lock();
            self.remove_locked(&handle, &record)?;
            return Err(Error::ImageNotFound {
                name: image_name_for_error(&options),
                reason: "the image was removed while the container was created".into(),
            });
        }
        Ok(id.to_string())
    }

    /// Resolves every option into the container's configuration.
    fn resolve_config(
        &self,
        id: &str,
        image: &Value,
        lower: &[PathBuf],
        o: &CreateOptions,
    ) -> Result<ContainerConfig> {
        let mut c = ContainerConfig {
            rm: o.rm,
            readonly_rootfs: o.readonly_rootfs,
            tty: o.tty,
            stdin: o.interactive,
            privileged: o.privileged,
            group_add: o.group_add.clone(),
            ..Default::default()
        };
        (c.entrypoint, c.cmd) = command(image, o)?;
        c.command = c.entrypoint.iter().chain(&c.cmd).cloned().collect();
        c.namespaces = self.namespaces(o)?;
        c.hostname = if !o.hostname.is_empty() {
            validate_hostname(&o.hostname)?;
            o.hostname.clone()
        } else if c.namespaces.uts == NamespaceMode::Host
            || (c.namespaces.net == NamespaceMode::Host && o.uts_mode.is_empty())
        {
            nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            id[..12].to_string()
        };
        c.env = environment(image, o)?;
        c.work_dir = if o.work_dir.is_empty() {
            image["WorkingDir"]
                .as_str()
                .filter(|w| !w.is_empty())
                .unwrap_or("/")
                .to_string()
        } else if o.work_dir.starts_with('/') {
            o.work_dir.clone()
        } else {
            return Err(invalid("work_dir", "must be an absolute path"));
        };
        c.user = if o.user.is_empty() {
            image["User"].as_str().unwrap_or_default().to_string()
        } else {
            o.user.clone()
        };
        (c.uid, c.gid, c.additional_gids) = resolve_user(&c.user, lower)?;
        for group in &o.group_add {
            let gid = resolve_group(group, lower).map_err(|e| invalid("group_add", e))?;
            if !c.additional_gids.contains(&gid) {
                c.additional_gids.push(gid);
            }
        }
        c.labels = image_labels(image);
        c.labels.extend(o.labels.clone());
        c.stop_signal = match o.stop_signal {
            0 => image["StopSignal"]
                .as_str()
                .and_then(signal_number)
                .unwrap_or(15),
            n if (1..=64).contains(&n) => n,
            n => return Err(invalid("stop_signal", format!("{n} is not a signal"))),
        };
        c.stop_timeout = if o.stop_timeout == 0 {
            DEFAULT_STOP_TIMEOUT
        } else {
            o.stop_timeout
        };
        (c.cap_add, c.cap_drop, c.capabilities) =
            capabilities(&o.cap_add, &o.cap_drop, o.privileged)?;
        if !o.privileged {
            c.devices = o
                .devices
                .iter()
                .map(|d| parse_device(d))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .flatten()
                .collect();
        }
        c.mounts = mounts(image, o)?;
        c.shm_size = match o.resources.shm_size {
            0 => DEFAULT_SHM_SIZE,
            n if n > 0 => n as u64,
            n => return Err(invalid("shm_size", format!("{n} is negative"))),
        };
        if !o.shm_dir.is_empty() {
            if !Path::new(&o.shm_dir).is_dir() {
                return Err(invalid(
                    "shm_dir",
                    format!("{} is not a directory on the server", o.shm_dir),
                ));
            }
            c.shm_dir = o.shm_dir.clone();
        }
        c.sysctls = sysctls(&o.sysctls, &c.namespaces)?;
        c.ulimits = ulimits(&o.resources.ulimit)?;
        c.cgroup_parent = cgroup_parent(&o.cgroup_parent, self.cgroup_parent())?;
        c.resources = resources(&o.resources, &c.cgroup_parent)?;
        c.oom_score_adj = match o.resources.oom_score_adj {
            n @ -1000..=1000 => n as i32,
            n => {
                return Err(invalid(
                    "oom_score_adj",
                    format!("{n} is not in -1000..1000"),
                ));
            }
        };
        self.security(o, &mut c)?;
        (c.uid_map, c.gid_map) = id_maps(o)?;
        match &c.namespaces.user {
            // Joining another container's user namespace: its maps are ours.
            NamespaceMode::Container(id) if c.uid_map.is_empty() => {
                let target = self.store().resolve(id)?.snapshot();
                c.uid_map = target.config.uid_map.clone();
                c.gid_map = target.config.gid_map.clone();
            }
            // The runtime needs maps to join a namespace by path; as Podman, map root.
            NamespaceMode::Path(_) if c.uid_map.is_empty() => {
                c.uid_map = vec![IdMap {
                    container_id: 0,
                    host_id: 0,
                    size: 1,
                }];
                c.gid_map = c.uid_map.clone();
            }
            _ => {}
        }
        if matches!(
            c.namespaces.user,
            NamespaceMode::Container(_) | NamespaceMode::Path(_)
        ) {
            // Maps of a namespace joined, not made: nothing of ours to shift.
        } else if !c.uid_map.is_empty() {
            match &c.namespaces.user {
                NamespaceMode::Private => {}
                NamespaceMode::Host if o.userns_mode.is_empty() => {
                    c.namespaces.user = NamespaceMode::Private
                }
                other => {
                    return Err(invalid(
                        "uidmap",
                        format!(
                            "ID maps need a private user namespace, not {}",
                            other.describe()
                        ),
                    ));
                }
            }
        } else if c.namespaces.user == NamespaceMode::Private {
            return Err(invalid(
                "userns_mode",
                "a private user namespace needs uidmap, gidmap or subuidname",
            ));
        }
        (c.dns_servers, c.no_resolv_conf) = dns_servers(&o.dns_servers)?;
        c.dns_search = if o.dns_search == ["."] {
            vec![]
        } else {
            o.dns_search.clone()
        };
        c.dns_options = o.dns_opt.clone();
        c.hosts_add = o
            .host_add
            .iter()
            .map(|h| parse_host(h))
            .collect::<Result<_>>()?;
        if o.init || !o.init_path.is_empty() {
            if c.namespaces.pid != NamespaceMode::Private {
                return Err(invalid("init", "an init needs a private PID namespace"));
            }
            c.init = init_binary(&o.init_path)?;
            let mut command = vec![INIT_PATH_IN_CONTAINER.to_string(), "--".into()];
            command.extend(c.command);
            c.command = command;
        }
        if !o.conmon_pidfile.is_empty() {
            if !o.conmon_pidfile.starts_with('/') {
                return Err(invalid("conmon_pidfile", "must be an absolute path"));
            }
            c.conmon_pidfile = o.conmon_pidfile.clone();
        }
        c.log_path = log_path(&o.log_driver, &o.log_driver_opt)?;
        c.exposed_ports = exposed_ports(image, &o.exposed_ports)?;
        Ok(c)
    }

    /// Namespace modes from the `*_mode` options; `container:NAME` is resolved to an ID.
    fn namespaces(&self, o: &CreateOptions) -> Result<Namespaces> {
        let parse = |field: &str, value: &str, extra: &[&str]| -> Result<NamespaceMode> {
            match value {
                "" | "private" => Ok(NamespaceMode::Private),
                "host" => Ok(NamespaceMode::Host),
                v if extra.contains(&v) => Ok(NamespaceMode::Private),
                v => {
                    if let Some(path) = v.strip_prefix("ns:") {
                        if !Path::new(path).exists() {
                            return Err(invalid(field, format!("{path} does not exist")));
                        }
                        Ok(NamespaceMode::Path(path.to_string()))
                    } else if let Some(target) = v.strip_prefix("container:") {
                        let handle = self
                            .store()
                            .resolve(target)
                            .map_err(|e| invalid(field, e))?;
                        Ok(NamespaceMode::Container(handle.snapshot().id.to_string()))
                    } else {
                        Err(invalid(
                            field,
                            format!(
                                "{v:?} is not a mode: use private, host, ns:PATH or container:ID"
                            ),
                        ))
                    }
                }
            }
        };
        let userns = match o.userns_mode.as_str() {
            "" | "host" => NamespaceMode::Host,
            "keep-id" => {
                return Err(invalid(
                    "userns_mode",
                    "keep-id is for rootless Podman; podlink runs as root (use uidmap)",
                ));
            }
            v => parse("userns_mode", v, &[])?,
        };
        let net = match o.net_mode.as_str() {
            // "bridge" is Podman's default; until bridge networking lands it is a network
            // namespace of the container's own with loopback, as "none" is.
            "" | "bridge" | "default" | "none" | "private" => NamespaceMode::Private,
            "slirp4netns" => {
                return Err(invalid(
                    "net_mode",
                    "slirp4netns is for rootless Podman; podlink runs as root",
                ));
            }
            v if v.starts_with("slirp4netns:") => {
                return Err(invalid("net_mode", "slirp4netns is for rootless Podman"));
            }
            v if v == "host" || v.starts_with("ns:") || v.starts_with("container:") => {
                parse("net_mode", v, &[])?
            }
            v => {
                return Err(invalid(
                    "net_mode",
                    format!(
                        "{v:?}: named networks are not supported by podlink yet \
                         (use bridge, none, host, ns:PATH or container:ID)"
                    ),
                ));
            }
        };
        Ok(Namespaces {
            ipc: parse("ipc_mode", &o.ipc_mode, &["none", "shareable"])?,
            pid: parse("pid_mode", &o.pid_mode, &[])?,
            uts: parse("uts_mode", &o.uts_mode, &[])?,
            net,
            user: userns,
            cgroup: if crate::engine::runtime::cgroups::is_unified() {
                NamespaceMode::Private
            } else {
                NamespaceMode::Host
            },
        })
    }

    /// Security options: the `security_opts` strings and the separate fields, together.
    fn security(&self, o: &CreateOptions, c: &mut ContainerConfig) -> Result<()> {
        c.no_new_privileges = o.no_new_privs;
        let mut seccomp = o.seccomp_profile_path.clone();
        let mut apparmor = o.apparmor_profile.clone();
        for opt in &o.security_opts {
            let (key, value) = match opt.split_once(['=', ':']) {
                Some((k, v)) => (k, v),
                None => (opt.as_str(), ""),
            };
            match (key, value) {
                ("no-new-privileges", "" | "true") => c.no_new_privileges = true,
                ("no-new-privileges", "false") => c.no_new_privileges = false,
                ("seccomp", v) if !v.is_empty() => seccomp = v.to_string(),
                ("apparmor", v) if !v.is_empty() => apparmor = v.to_string(),
                // SELinux is not enabled here: disabling labels is what happens anyway.
                ("label", "disable") => {}
                ("label", _) => {
                    return Err(invalid(
                        "security_opts",
                        format!("{opt:?}: SELinux labels are not supported by podlink"),
                    ));
                }
                _ => {
                    return Err(invalid(
                        "security_opts",
                        format!(
                            "{opt:?}: use no-new-privileges, seccomp=unconfined|PATH, \
                             apparmor=unconfined|PROFILE or label=disable"
                        ),
                    ));
                }
            }
        }
        for (field, value) in [
            ("mount_label", &o.mount_label),
            ("process_label", &o.process_label),
        ] {
            if !value.is_empty() {
                return Err(invalid(
                    field,
                    "SELinux labels are not supported by podlink",
                ));
            }
        }
        c.seccomp = if o.privileged {
            "unconfined".into()
        } else {
            match seccomp.as_str() {
                "" | "default" => {
                    if crate::engine::runtime::seccomp::default_profile().is_some() {
                        "default".into()
                    } else {
                        // Recorded as it is, so that inspect does not claim a filter.
                        log::warn!(
                            "no default seccomp profile installed ({}): the container runs \
                             without one",
                            crate::engine::runtime::seccomp::DEFAULT_PROFILES.join(" or ")
                        );
                        "unconfined".into()
                    }
                }
                "unconfined" => "unconfined".into(),
                path => {
                    // Read now, so a broken profile fails the create, not a later start.
                    crate::engine::runtime::seccomp::load(Path::new(path), &c.capabilities)
                        .map_err(|e| invalid("seccomp", e))?;
                    path.to_string()
                }
            }
        };
        c.apparmor = match apparmor.as_str() {
            "" | "unconfined" => String::new(),
            _ if o.privileged => String::new(),
            profile => {
                if !Path::new("/sys/kernel/security/apparmor").exists() {
                    return Err(invalid(
                        "apparmor",
                        format!("profile {profile:?}: AppArmor is not enabled on this host"),
                    ));
                }
                profile.to_string()
            }
        };
        Ok(())
    }
}

/// Options that belong to features landing later: refused by name.
fn refuse_later_features(o: &CreateOptions) -> Result<()> {
    if !o.pod.is_empty() {
        return Err(invalid("pod", "pods are not supported by podlink yet"));
    }
    if !o.publish.is_empty() || o.publish_all {
        let field = if o.publish.is_empty() {
            "publish_all"
        } else {
            "publish"
        };
        return Err(invalid(
            field,
            "published ports need bridge networking, which podlink does not have yet",
        ));
    }
    if !o.network.is_empty() && !["bridge", "default"].contains(&o.network.as_str()) {
        return Err(invalid(
            "network",
            format!(
                "{:?}: named networks are not supported by podlink yet",
                o.network
            ),
        ));
    }
    Ok(())
}

/// The image as the client named it, for an error.
fn image_name_for_error(options: &CreateOptions) -> String {
    if options.image.is_empty() {
        options.image_id.clone()
    } else {
        options.image.clone()
    }
}

fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "container name {name:?}: names are letters, digits and _ . - and start with a letter or digit"
        )))
    }
}

fn validate_hostname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(invalid("hostname", format!("{name:?} is not a host name")))
    }
}

fn image_labels(image: &Value) -> HashMap<String, String> {
    image["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The entrypoint (the image's, or the given one; `[""]` clears it) and the command (the
/// given one or the image's CMD).
fn command(image: &Value, options: &CreateOptions) -> Result<(Vec<String>, Vec<String>)> {
    let entrypoint = match &options.entrypoint {
        Some(e) if e.len() == 1 && e[0].is_empty() => Vec::new(),
        Some(e) if !e.is_empty() => e.clone(),
        _ => json_strings(&image["Entrypoint"]),
    };
    let cmd = if options.command.is_empty() {
        json_strings(&image["Cmd"])
    } else {
        options.command.clone()
    };
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(invalid(
            "command",
            "the image has no ENTRYPOINT or CMD and none was given",
        ));
    }
    Ok((entrypoint, cmd))
}

/// The most environment entries the image or the client may give a container (each): a
/// program's environment that large is already beyond what exec accepts, and a bound keeps
/// a hostile image config or client from holding a thread.
pub const MAX_ENV_ENTRIES: usize = 32_768;

/// Podman's base environment, then the image's, then the client's. A key set again moves
/// to the end with its new value, as it did in Podman; a map from key to position keeps
/// this linear (it was a scan of the whole list per entry, so 40,000 entries took 16 s).
fn environment(image: &Value, options: &CreateOptions) -> Result<Vec<String>> {
    let image_env = json_strings(&image["Env"]);
    for (field, count) in [
        ("env", options.env.len()),
        ("the image's Env", image_env.len()),
    ] {
        if count > MAX_ENV_ENTRIES {
            return Err(invalid(
                field,
                format!("{count} entries, more than the limit of {MAX_ENV_ENTRIES}"),
            ));
        }
    }
    let defaults = [
        DEFAULT_PATH.to_string(),
        "TERM=xterm".into(),
        // Programs look at `container` to learn they run in one; Podman sets it so.
        "container=podman".into(),
    ];
    let client = options
        .env
        .iter()
        .map(|(key, value)| format!("{key}={value}"));
    let mut slots: Vec<Option<String>> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    for entry in defaults.into_iter().chain(image_env).chain(client) {
        let key = entry.split('=').next().unwrap_or_default().to_string();
        if let Some(old) = position.insert(key, slots.len()) {
            slots[old] = None;
        }
        slots.push(Some(entry));
    }
    Ok(slots.into_iter().flatten().collect())
}

/// A signal name (`SIGTERM`, `TERM`) or number as a number.
pub fn signal_number(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse::<i32>() {
        return Some(n);
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}

/// Resolves `uid[:gid]` or user and group names against the image's /etc/passwd and
/// /etc/group (found in its layers, topmost first). Returns uid, gid and the user's
/// supplementary groups.
pub fn resolve_user(user: &str, layers_top_first: &[PathBuf]) -> Result<(u32, u32, Vec<u32>)> {
    if user.is_empty() {
        return Ok((0, 0, Vec::new()));
    }
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_image_file(layers_top_first, "etc/passwd");
    let group = read_image_file(layers_top_first, "etc/group");
    let (uid, mut gid, name) = match user_part.parse::<u32>() {
        Ok(uid) => {
            let entry = passwd_lookup(&passwd, |fields| fields[2] == user_part);
            (uid, entry.as_ref().map_or(uid, |e| e.1), entry.map(|e| e.2))
        }
        Err(_) => {
            let (uid, gid, name) = passwd_lookup(&passwd, |fields| fields[0] == user_part)
                .ok_or_else(|| {
                    invalid(
                        "user",
                        format!("no user {user_part:?} in the image's /etc/passwd"),
                    )
                })?;
            (uid, gid, Some(name))
        }
    };
    if let Some(g) = group_part {
        gid = resolve_group(g, layers_top_first).map_err(|e| invalid("user", e))?;
    }
    let additional = match name {
        Some(name) => group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .collect(),
        None => Vec::new(),
    };
    Ok((uid, gid, additional))
}

/// A group number, or a group name looked up in the image's /etc/group.
fn resolve_group(group: &str, layers_top_first: &[PathBuf]) -> std::result::Result<u32, String> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    read_image_file(layers_top_first, "etc/group")
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[0] == group)
        .and_then(|f| f[2].parse().ok())
        .ok_or_else(|| format!("no group {group:?} in the image's /etc/group"))
}

fn passwd_lookup(passwd: &str, matches: impl Fn(&[&str]) -> bool) -> Option<(u32, u32, String)> {
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .find(|f| matches(f))
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?, f[0].to_string())))
}

/// A file of the image: from the topmost layer that has it as a regular file.
fn read_image_file(layers_top_first: &[PathBuf], path: &str) -> String {
    for layer in layers_top_first {
        let candidate = layer.join(path);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.is_file() => return std::fs::read_to_string(&candidate).unwrap_or_default(),
            // A whiteout (or anything else) hides lower layers' copies.
            Ok(_) => return String::new(),
            Err(_) => continue,
        }
    }
    String::new()
}

/// A capability name as the kernel spells it: upper case, `CAP_` prefix.
fn normalize_capability(name: &str) -> std::result::Result<String, String> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(format!("{name:?} is not a capability"))
    }
}

/// The added and dropped capabilities, normalized, and the resulting set. As in Podman,
/// `ALL` adds every capability this host has, dropping `ALL` leaves only the added ones, and
/// adding and dropping the same one is an error.
fn capabilities(
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let host = host_capabilities();
    if privileged {
        return Ok((Vec::new(), Vec::new(), host));
    }
    let normalize = |field: &str, names: &[String]| -> Result<(bool, Vec<String>)> {
        let mut all = false;
        let mut caps = Vec::new();
        for name in names {
            if name.eq_ignore_ascii_case("all") {
                all = true;
            } else {
                let cap = normalize_capability(name).map_err(|e| invalid(field, e))?;
                if !caps.contains(&cap) {
                    caps.push(cap);
                }
            }
        }
        Ok((all, caps))
    };
    let (add_all, added) = normalize("cap_add", add)?;
    let (drop_all, dropped) = normalize("cap_drop", drop)?;
    if let Some(both) = added.iter().find(|c| dropped.contains(c)) {
        return Err(invalid(
            "cap_drop",
            format!("{both} is both added and dropped"),
        ));
    }
    let mut set: Vec<String> = if add_all {
        host.clone()
    } else if drop_all {
        Vec::new()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    for cap in &added {
        if !host.contains(cap) {
            return Err(invalid(
                "cap_add",
                format!("{cap} is not in the service's bounding set on this host"),
            ));
        }
        if !set.contains(cap) {
            set.push(cap.clone());
        }
    }
    if !add_all {
        set.retain(|c| !dropped.contains(c));
    }
    let mut added = added;
    if add_all {
        added.insert(0, "ALL".into());
    }
    let mut dropped = dropped;
    if drop_all {
        dropped.insert(0, "ALL".into());
    }
    Ok((added, dropped, set))
}

/// `/dev/host[:/dev/ctr][:rwm]`; a directory gives every device under it.
fn parse_device(spec: &str) -> Result<Vec<DeviceMapping>> {
    let parts: Vec<&str> = spec.split(':').collect();
    let valid_mode =
        |m: &str| !m.is_empty() && m.chars().all(|c| "rwm".contains(c)) && m.len() <= 3;
    let (host, container, permissions) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, m] if valid_mode(m) => (*h, *h, *m),
        [h, c] => (*h, *c, "rwm"),
        [h, c, m] if valid_mode(m) => (*h, *c, *m),
        _ => {
            return Err(invalid(
                "devices",
                format!("{spec:?}: use /dev/host[:/dev/ctr][:rwm]"),
            ));
        }
    };
    if !host.starts_with('/') || !container.starts_with('/') {
        return Err(invalid(
            "devices",
            format!("{spec:?}: paths must be absolute"),
        ));
    }
    let resolved =
        std::fs::canonicalize(host).map_err(|e| invalid("devices", format!("{host}: {e}")))?;
    let meta =
        std::fs::metadata(&resolved).map_err(|e| invalid("devices", format!("{host}: {e}")))?;
    if meta.is_dir() {
        if parts.len() == 3 {
            return Err(invalid(
                "devices",
                format!("{spec:?}: a directory takes no destination and mode"),
            ));
        }
        let found: Vec<DeviceMapping> = crate::engine::runtime::spec::device_nodes(&resolved, &[])
            .into_iter()
            .map(|path| {
                let relative = path.strip_prefix(&resolved).unwrap_or(&path);
                DeviceMapping {
                    host: path.display().to_string(),
                    container: Path::new(container).join(relative).display().to_string(),
                    permissions: permissions.to_string(),
                }
            })
            .collect();
        if found.is_empty() {
            return Err(invalid("devices", format!("no devices under {host}")));
        }
        return Ok(found);
    }
    if !(meta.file_type().is_char_device() || meta.file_type().is_block_device()) {
        return Err(invalid("devices", format!("{host} is not a device")));
    }
    Ok(vec![DeviceMapping {
        host: resolved.display().to_string(),
        container: container.to_string(),
        permissions: permissions.to_string(),
    }])
}

/// Volumes, tmpfs mounts and image volumes; one mount per destination.
fn mounts(image: &Value, o: &CreateOptions) -> Result<Vec<MountSpec>> {
    let mut mounts: Vec<MountSpec> = Vec::new();
    for volume in &o.volumes {
        mounts.push(parse_volume(volume)?);
    }
    for tmpfs in &o.tmpfs {
        mounts.push(parse_tmpfs(tmpfs)?);
    }
    let mut seen = std::collections::HashSet::new();
    for m in &mounts {
        if !seen.insert(m.destination.clone()) {
            return Err(invalid(
                "volumes",
                format!("{} is mounted twice", m.destination),
            ));
        }
    }
    // Image volumes, unless a mount of the client's covers them.
    let mut image_volumes: Vec<String> = image["Volumes"]
        .as_object()
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default();
    image_volumes.extend(o.builtin_imgvolumes.iter().cloned());
    image_volumes.sort();
    image_volumes.dedup();
    let kind = match o.image_volume_type.as_str() {
        "" | "bind" => Some(MountSource::ImageVolume),
        "tmpfs" => Some(MountSource::Tmpfs),
        "ignore" => None,
        other => {
            return Err(invalid(
                "image_volume_type",
                format!("{other:?}: use bind, tmpfs or ignore"),
            ));
        }
    };
    if let Some(kind) = kind {
        for destination in image_volumes {
            let destination = clean_destination("builtin_imgvolumes", &destination)?;
            if seen.insert(destination.clone()) {
                let mut options = vec!["rprivate".into(), "rw".into(), "nodev".into()];
                if kind == MountSource::ImageVolume {
                    options.insert(0, "rbind".into());
                }
                mounts.push(MountSpec {
                    destination,
                    source: kind.clone(),
                    options,
                });
            }
        }
    }
    Ok(mounts)
}

fn clean_destination(field: &str, path: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(invalid(
            field,
            format!("{path:?}: destinations must be absolute"),
        ));
    }
    let mut clean = PathBuf::from("/");
    for part in Path::new(path).components() {
        match part {
            std::path::Component::Normal(p) => clean.push(p),
            std::path::Component::ParentDir => {
                return Err(invalid(field, format!("{path:?}: .. is not allowed")));
            }
            _ => {}
        }
    }
    Ok(clean.display().to_string())
}

/// Whether `name` is a valid volume name.
pub fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// `src:dst[:options]` or `/path`. A source that starts with `/` is a host path, which must
/// exist; anything else names a volume.
fn parse_volume(spec: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, options) = match parts.as_slice() {
        [one] => (*one, *one, ""),
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(invalid(
                "volumes",
                format!("{spec:?}: use SRC:DST[:OPTIONS]"),
            ));
        }
    };
    let destination = clean_destination("volumes", destination)?;
    let source = if source.starts_with('/') {
        let meta = std::fs::metadata(source)
            .map_err(|e| invalid("volumes", format!("source {source}: {e}")))?;
        let _ = meta;
        MountSource::Bind {
            source: source.to_string(),
        }
    } else if source.starts_with('.') {
        return Err(invalid(
            "volumes",
            format!("{spec:?}: a host path must be absolute on the server"),
        ));
    } else if valid_volume_name(source) {
        MountSource::Volume {
            name: source.to_string(),
        }
    } else {
        return Err(invalid(
            "volumes",
            format!("{source:?} is not a volume name"),
        ));
    };
    let mut opts: Vec<String> = Vec::new();
    let has = |group: &[&str], opts: &[String]| opts.iter().any(|o| group.contains(&o.as_str()));
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        let groups: [&[&str]; 6] = [
            &["rw", "ro"],
            &["z", "Z"],
            &[
                "shared", "rshared", "slave", "rslave", "private", "rprivate",
            ],
            &["exec", "noexec"],
            &["suid", "nosuid"],
            &["dev", "nodev"],
        ];
        let group = groups
            .iter()
            .find(|g| g.contains(&opt))
            .copied()
            .or(if opt == "bind" || opt == "rbind" {
                Some(&["bind", "rbind"][..])
            } else {
                None
            })
            .ok_or_else(|| invalid("volumes", format!("{spec:?}: unknown option {opt:?}")))?;
        if has(group, &opts) {
            return Err(invalid(
                "volumes",
                format!("{spec:?}: {opt:?} conflicts with another option"),
            ));
        }
        // z and Z relabel for SELinux, which is not enabled here: nothing to do.
        if group[0] != "z" {
            opts.push(opt.to_string());
        }
    }
    if !has(&["bind", "rbind"], &opts) {
        opts.push("rbind".into());
    }
    if !has(&["rw", "ro"], &opts) {
        opts.push("rw".into());
    }
    if !has(
        &[
            "shared", "rshared", "slave", "rslave", "private", "rprivate",
        ],
        &opts,
    ) {
        opts.push("rprivate".into());
    }
    Ok(MountSpec {
        destination,
        source,
        options: opts,
    })
}

/// `/dst[:options]`: a tmpfs; rw, noexec, nosuid and nodev unless the options say otherwise.
fn parse_tmpfs(spec: &str) -> Result<MountSpec> {
    let (destination, options) = spec.split_once(':').unwrap_or((spec, ""));
    let destination = clean_destination("tmpfs", destination)?;
    let mut opts: Vec<String> = Vec::new();
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        let (key, value) = opt.split_once('=').unwrap_or((opt, ""));
        let ok = match key {
            "rw" | "ro" | "exec" | "noexec" | "suid" | "nosuid" | "dev" | "nodev" | "shared"
            | "rshared" | "slave" | "rslave" | "private" | "rprivate" | "strictatime"
            | "nostrictatime" | "atime" | "noatime" | "relatime" | "norelatime" | "diratime"
            | "nodiratime" | "sync" | "async" => value.is_empty(),
            "size" => parse_size(value).is_some() || value.ends_with('%'),
            "mode" => u32::from_str_radix(value, 8).is_ok(),
            "uid" | "gid" | "nr_inodes" | "nr_blocks" => value.parse::<u64>().is_ok(),
            _ => false,
        };
        if !ok {
            return Err(invalid("tmpfs", format!("{spec:?}: bad option {opt:?}")));
        }
        let opt = match key {
            // The kernel takes size in bytes or with k/m/g suffixes; normalize to bytes.
            "size" if !value.ends_with('%') => {
                format!("size={}", parse_size(value).unwrap_or_default())
            }
            _ => opt.to_string(),
        };
        opts.push(opt);
    }
    for (default, opposite) in [
        ("rw", "ro"),
        ("noexec", "exec"),
        ("nosuid", "suid"),
        ("nodev", "dev"),
    ] {
        if !opts.iter().any(|o| o == default || o == opposite) {
            opts.push(default.into());
        }
    }
    Ok(MountSpec {
        destination,
        source: MountSource::Tmpfs,
        options: opts,
    })
}

/// A size such as `1024`, `64k`, `64m`, `1.5g`, `2GB` in bytes (binary multiples).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: f64 = number.parse().ok()?;
    let multiplier: u64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    if number < 0.0 {
        return None;
    }
    Some((number * multiplier as f64) as u64)
}

/// Sysctls that are namespaced, and so may be set per container, in a namespace the
/// container owns.
fn sysctls(given: &BTreeMap<String, String>, ns: &Namespaces) -> Result<BTreeMap<String, String>> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    for key in given.keys() {
        let (namespace, mode) = if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            ("ipc", &ns.ipc)
        } else if key.starts_with("net.") {
            ("net", &ns.net)
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            ("uts", &ns.uts)
        } else {
            return Err(invalid(
                "sys_ctl",
                format!("{key} is not a namespaced kernel parameter"),
            ));
        };
        if *mode != NamespaceMode::Private {
            return Err(invalid(
                "sys_ctl",
                format!("{key} needs a private {namespace} namespace"),
            ));
        }
    }
    Ok(given.clone())
}

/// `name=soft[:hard]` limits, no higher than this process's own hard limits (raising them is
/// not permitted); without a nofile or nproc limit, those are set to the highest allowed.
fn ulimits(given: &[String]) -> Result<Vec<Ulimit>> {
    const NAMES: [&str; 15] = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    let mut limits: Vec<Ulimit> = Vec::new();
    for spec in given {
        let (name, values) = spec
            .split_once('=')
            .ok_or_else(|| invalid("ulimit", format!("{spec:?}: use NAME=SOFT[:HARD]")))?;
        if !NAMES.contains(&name) {
            return Err(invalid("ulimit", format!("{name:?} is not a limit")));
        }
        let parse = |v: &str| -> Result<u64> {
            if v == "-1" || v == "unlimited" {
                return Ok(u64::MAX);
            }
            v.parse::<u64>()
                .map_err(|_| invalid("ulimit", format!("{spec:?}: {v:?} is not a number")))
        };
        let (soft, hard) = match values.split_once(':') {
            Some((s, h)) => (parse(s)?, parse(h)?),
            None => (parse(values)?, parse(values)?),
        };
        if soft > hard {
            return Err(invalid(
                "ulimit",
                format!("{spec:?}: soft limit above hard limit"),
            ));
        }
        let full = format!("RLIMIT_{}", name.to_ascii_uppercase());
        limits.retain(|l| l.name != full);
        limits.push(Ulimit {
            name: full,
            soft,
            hard,
        });
    }
    for name in ["RLIMIT_NOFILE", "RLIMIT_NPROC"] {
        if !limits.iter().any(|l| l.name == name) {
            // Podman's default, 1048576, clamped below.
            limits.push(Ulimit {
                name: name.into(),
                soft: 1 << 20,
                hard: 1 << 20,
            });
        }
    }
    for limit in &mut limits {
        if let Some((_, own_hard)) = own_limit(&limit.name) {
            limit.hard = limit.hard.min(own_hard);
            limit.soft = limit.soft.min(limit.hard);
        }
    }
    Ok(limits)
}

/// This process's (soft, hard) limit of `name` (`RLIMIT_NOFILE`).
fn own_limit(name: &str) -> Option<(u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit};
    let resource = match name {
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        _ => return None,
    };
    getrlimit(resource).ok()
}

/// `/dev/X:VALUE` for per-device block IO settings.
fn block_device_limits(
    field: &str,
    given: &[String],
    value: impl Fn(&str) -> Option<u64>,
) -> Result<Vec<BlockDeviceLimit>> {
    given
        .iter()
        .map(|spec| {
            let (path, v) = spec
                .rsplit_once(':')
                .ok_or_else(|| invalid(field, format!("{spec:?}: use /dev/DEVICE:VALUE")))?;
            if !path.starts_with("/dev/") {
                return Err(invalid(field, format!("{path:?} is not under /dev")));
            }
            let meta =
                std::fs::metadata(path).map_err(|e| invalid(field, format!("{path}: {e}")))?;
            if !meta.file_type().is_block_device() {
                return Err(invalid(field, format!("{path} is not a block device")));
            }
            let value = value(v).ok_or_else(|| invalid(field, format!("{spec:?}: bad value")))?;
            let rdev = meta.rdev();
            Ok(BlockDeviceLimit {
                path: path.to_string(),
                major: nix::sys::stat::major(rdev) as i64,
                minor: nix::sys::stat::minor(rdev) as i64,
                value,
            })
        })
        .collect()
}

/// CreateResourceConfig, checked as Podman checks it.
fn resources(r: &ResourceOptions, cgroup_parent: &str) -> Result<Resources> {
    let non_negative = |field: &str, v: i64| -> Result<i64> {
        if v < 0 {
            Err(invalid(field, format!("{v} is negative")))
        } else {
            Ok(v)
        }
    };
    let mut out = Resources {
        memory: non_negative("memory", r.memory)?,
        memory_reservation: non_negative("memory_reservation", r.memory_reservation)?,
        kernel_memory: non_negative("kernel_memory", r.kernel_memory)?,
        disable_oom_killer: r.disable_oomkiller,
        cpu_shares: non_negative("cpu_shares", r.cpu_shares)? as u64,
        cpu_rt_period: non_negative("cpu_rt_period", r.cpu_rt_period)? as u64,
        cpu_rt_runtime: r.cpu_rt_runtime,
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        ..Default::default()
    };
    if out.memory > 0 && out.memory < 6 * 1024 * 1024 {
        return Err(invalid("memory", "the minimum is 6 MiB"));
    }
    if out.memory_reservation > 0 && out.memory > 0 && out.memory_reservation > out.memory {
        return Err(invalid("memory_reservation", "must not be above memory"));
    }
    out.memory_swap = match r.memory_swap {
        0 if out.memory > 0 => 2 * out.memory,
        0 => 0,
        -1 => -1,
        n if n < 0 => return Err(invalid("memory_swap", format!("{n}: use -1 for unlimited"))),
        _ if out.memory == 0 => {
            return Err(invalid("memory_swap", "needs memory to be set too"));
        }
        n if n < out.memory => {
            return Err(invalid("memory_swap", "must be at least memory"));
        }
        n => n,
    };
    // 0 and -1 both leave the kernel's setting: a missing field reads as 0.
    out.memory_swappiness = match r.memory_swappiness {
        0 | -1 => None,
        n @ 1..=100 => Some(n as u64),
        n => {
            return Err(invalid(
                "memory_swappiness",
                format!("{n} is not in 0..100"),
            ));
        }
    };
    if r.cpus != 0.0 {
        if r.cpu_period != 0 || r.cpu_quota != 0 {
            return Err(invalid(
                "cpus",
                "cannot be combined with cpu_period or cpu_quota",
            ));
        }
        if !(r.cpus > 0.0 && r.cpus.is_finite()) {
            return Err(invalid("cpus", format!("{} is not a CPU count", r.cpus)));
        }
        out.cpu_period = 100_000;
        out.cpu_quota = (r.cpus * 100_000.0).round() as i64;
    } else {
        if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
            return Err(invalid("cpu_period", "must be between 1000 and 1000000"));
        }
        if r.cpu_quota != 0 && r.cpu_quota != -1 && r.cpu_quota < 1000 {
            return Err(invalid("cpu_quota", "must be at least 1000"));
        }
        out.cpu_period = r.cpu_period as u64;
        out.cpu_quota = r.cpu_quota;
    }
    // A missing field reads as 0: the default limit, as Podman 2+ sets it, so a fork bomb
    // stops there. -1 asks for no limit.
    out.pids_limit = match r.pids_limit {
        n if n > 0 => n,
        0 => DEFAULT_PIDS_LIMIT,
        -1 => -1,
        n => return Err(invalid("pids_limit", format!("{n}: use -1 for unlimited"))),
    };
    if (r.blkio_weight != 0 || !r.blkio_weight_device.is_empty())
        && !crate::engine::runtime::cgroups::supports_blkio_weight(cgroup_parent)
    {
        let field = if r.blkio_weight != 0 {
            "blkio_weight"
        } else {
            "blkio_weight_device"
        };
        return Err(invalid(
            field,
            "this host's block IO controller has no weights (no blkio.weight or \
             blkio.bfq.weight: its IO scheduler is neither CFQ nor BFQ)",
        ));
    }
    out.blkio_weight = match r.blkio_weight {
        0 => 0,
        n @ 10..=1000 => n as u16,
        n => return Err(invalid("blkio_weight", format!("{n} is not in 10..1000"))),
    };
    out.blkio_weight_device =
        block_device_limits("blkio_weight_device", &r.blkio_weight_device, |v| {
            v.parse::<u64>()
                .ok()
                .filter(|w| *w == 0 || (10..=1000).contains(w))
        })?;
    out.device_read_bps = block_device_limits("device_read_bps", &r.device_read_bps, parse_size)?;
    out.device_write_bps =
        block_device_limits("device_write_bps", &r.device_write_bps, parse_size)?;
    out.device_read_iops =
        block_device_limits("device_read_iops", &r.device_read_iops, |v| v.parse().ok())?;
    out.device_write_iops = block_device_limits("device_write_iops", &r.device_write_iops, |v| {
        v.parse().ok()
    })?;
    for (field, set) in [
        ("cpuset_cpus", &out.cpuset_cpus),
        ("cpuset_mems", &out.cpuset_mems),
    ] {
        let valid = set
            .split(',')
            .filter(|p| !p.is_empty())
            .all(|p| p.split('-').all(|n| n.parse::<u32>().is_ok()));
        if !valid {
            return Err(invalid(field, format!("{set:?} is not a list like 0-2,4")));
        }
    }
    Ok(out)
}

/// `container:host:size` triples, several per string allowed.
fn parse_id_maps(field: &str, text: &str) -> Result<Vec<IdMap>> {
    let numbers: Vec<&str> = text.split(':').collect();
    if numbers.len() % 3 != 0 {
        return Err(invalid(field, format!("{text:?}: use CONTAINER:HOST:SIZE")));
    }
    numbers
        .chunks(3)
        .map(|c| {
            let n = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| invalid(field, format!("{text:?}: {s:?} is not a number")))
            };
            let map = IdMap {
                container_id: n(c[0])?,
                host_id: n(c[1])?,
                size: n(c[2])?,
            };
            if map.size == 0 {
                return Err(invalid(field, format!("{text:?}: a range of size 0")));
            }
            Ok(map)
        })
        .collect()
}

/// A user's (or group's) ranges in /etc/subuid (or /etc/subgid), mapped from ID 0 up.
fn subordinate_ids(field: &str, file: &str, name: &str) -> Result<Vec<IdMap>> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut next = 0u32;
    let mut maps = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() == 3
            && f[0] == name
            && let (Ok(start), Ok(size)) = (f[1].parse::<u32>(), f[2].parse::<u32>())
        {
            maps.push(IdMap {
                container_id: next,
                host_id: start,
                size,
            });
            next = next.saturating_add(size);
        }
    }
    if maps.is_empty() {
        return Err(invalid(field, format!("no ranges for {name:?} in {file}")));
    }
    Ok(maps)
}

/// The UID and GID maps from every option that gives them. One given alone serves both.
fn id_maps(o: &CreateOptions) -> Result<(Vec<IdMap>, Vec<IdMap>)> {
    let mut uids = Vec::new();
    let mut gids = Vec::new();
    for text in &o.uidmap {
        uids.extend(parse_id_maps("uidmap", text)?);
    }
    for text in &o.gidmap {
        gids.extend(parse_id_maps("gidmap", text)?);
    }
    if !o.subuidmap.is_empty() {
        uids.extend(parse_id_maps("subuidmap", &o.subuidmap)?);
    }
    if !o.subgidmap.is_empty() {
        gids.extend(parse_id_maps("subgidmap", &o.subgidmap)?);
    }
    let m = &o.id_mappings;
    if m.uid_map.size != 0 {
        uids.push(m.uid_map);
    }
    if m.gid_map.size != 0 {
        gids.push(m.gid_map);
    }
    match (o.subuidname.is_empty(), o.subgidname.is_empty()) {
        (false, false) => {
            uids.extend(subordinate_ids("subuidname", "/etc/subuid", &o.subuidname)?);
            gids.extend(subordinate_ids("subgidname", "/etc/subgid", &o.subgidname)?);
        }
        (false, true) => {
            uids.extend(subordinate_ids("subuidname", "/etc/subuid", &o.subuidname)?);
            gids.extend(subordinate_ids("subuidname", "/etc/subgid", &o.subuidname)?);
        }
        (true, false) => {
            uids.extend(subordinate_ids("subgidname", "/etc/subuid", &o.subgidname)?);
            gids.extend(subordinate_ids("subgidname", "/etc/subgid", &o.subgidname)?);
        }
        (true, true) => {}
    }
    if m.host_uid_mapping {
        uids.clear();
    }
    if m.host_gid_mapping {
        gids.clear();
    }
    if uids.is_empty() && !gids.is_empty() && !m.host_uid_mapping {
        uids = gids.clone();
    }
    if gids.is_empty() && !uids.is_empty() && !m.host_gid_mapping {
        gids = uids.clone();
    }
    if uids.is_empty() != gids.is_empty() {
        return Err(invalid(
            "id_mappings",
            "a user namespace needs both UID and GID maps",
        ));
    }
    for maps in [&uids, &gids] {
        check_id_ranges(maps)?;
    }
    Ok((uids, gids))
}

/// ID maps the kernel takes: at most 340 ranges, none past the last ID, none overlapping
/// another inside the container.
fn check_id_ranges(maps: &[IdMap]) -> Result<()> {
    if maps.len() > 340 {
        return Err(invalid("uidmap", "more than 340 ranges"));
    }
    let end = |start: u32, size: u32| u64::from(start) + u64::from(size);
    for (i, m) in maps.iter().enumerate() {
        if end(m.container_id, m.size) > 1 << 32 || end(m.host_id, m.size) > 1 << 32 {
            return Err(invalid(
                "uidmap",
                format!(
                    "the range {}:{}:{} goes past the last ID",
                    m.container_id, m.host_id, m.size
                ),
            ));
        }
        for other in &maps[i + 1..] {
            let overlap = u64::from(m.container_id) < end(other.container_id, other.size)
                && u64::from(other.container_id) < end(m.container_id, m.size);
            if overlap {
                return Err(invalid(
                    "uidmap",
                    format!(
                        "the ranges starting at {} and {} overlap",
                        m.container_id, other.container_id
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// DNS servers, each an IP address; `none` alone keeps the image's resolv.conf.
fn dns_servers(given: &[String]) -> Result<(Vec<String>, bool)> {
    if given.len() == 1 && given[0] == "none" {
        return Ok((Vec::new(), true));
    }
    for server in given {
        if server.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid(
                "dns_servers",
                format!("{server:?} is not an IP address"),
            ));
        }
    }
    Ok((given.to_vec(), false))
}

/// `name:address`, split at the first colon so IPv6 addresses work.
fn parse_host(spec: &str) -> Result<(String, String)> {
    let (name, address) = spec
        .split_once(':')
        .ok_or_else(|| invalid("host_add", format!("{spec:?}: use NAME:ADDRESS")))?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(invalid("host_add", format!("{spec:?}: bad host name")));
    }
    if address.parse::<std::net::IpAddr>().is_err() {
        return Err(invalid(
            "host_add",
            format!("{spec:?}: {address:?} is not an IP address"),
        ));
    }
    Ok((name.to_string(), address.to_string()))
}

/// The init binary: `init_path`, or catatonit where Podman (or Debian) puts it.
fn init_binary(init_path: &str) -> Result<String> {
    let candidates: Vec<&str> = if init_path.is_empty() {
        INIT_CANDIDATES.to_vec()
    } else {
        vec![init_path]
    };
    candidates
        .iter()
        .find(|p| Path::new(p).is_file())
        .map(|p| p.to_string())
        .ok_or_else(|| {
            invalid(
                "init",
                format!(
                    "no init binary at {} (install catatonit, or give init_path)",
                    candidates.join(" or ")
                ),
            )
        })
}

/// The cgroup parent: absolute, without `..`.
fn cgroup_parent(given: &str, default: &str) -> Result<String> {
    if given.is_empty() {
        return Ok(default.to_string());
    }
    if given.ends_with(".slice") {
        return Err(invalid(
            "cgroup_parent",
            "systemd slices need the systemd cgroup manager; podlink uses cgroupfs paths",
        ));
    }
    let path = clean_destination(
        "cgroup_parent",
        &format!("/{}", given.trim_start_matches('/')),
    )?;
    Ok(path.trim_end_matches('/').to_string())
}

/// The log file: the default (`""`) or `path=` from the log options.
fn log_path(driver: &str, options: &[String]) -> Result<String> {
    match driver {
        // Podman 1.x's conmon writes json-file containers in the k8s-file format too.
        "" | "k8s-file" | "json-file" => {}
        other => {
            return Err(invalid(
                "log_driver",
                format!("{other:?}: podlink writes k8s-file logs only"),
            ));
        }
    }
    let mut path = String::new();
    for option in options {
        match option.split_once('=') {
            Some(("path", p)) if p.starts_with('/') => path = p.to_string(),
            _ => {
                return Err(invalid(
                    "log_driver_opt",
                    format!("{option:?}: only path=/ABSOLUTE/PATH is supported"),
                ));
            }
        }
    }
    Ok(path)
}

/// Exposed ports (`80`, `80/tcp`, `53/udp`), the image's and the client's.
fn exposed_ports(image: &Value, given: &[String]) -> Result<Vec<String>> {
    let mut ports: Vec<String> = image["ExposedPorts"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for port in given {
        let (number, protocol) = port.split_once('/').unwrap_or((port, "tcp"));
        let range_ok = number
            .split('-')
            .all(|n| n.parse::<u16>().is_ok_and(|n| n > 0));
        if !range_ok || !["tcp", "udp", "sctp"].contains(&protocol) {
            return Err(invalid("exposed_ports", format!("{port:?} is not a port")));
        }
        ports.push(format!("{number}/{protocol}"));
    }
    ports.sort();
    ports.dedup();
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn command_follows_podman() {
        let config = json!({"Entrypoint": ["/ep"], "Cmd": ["a", "b"]});
        let opts = |command: Vec<&str>, entrypoint: Option<Vec<&str>>| CreateOptions {
            command: command.into_iter().map(String::from).collect(),
            entrypoint: entrypoint.map(|e| e.into_iter().map(String::from).collect()),
            ..Default::default()
        };
        let full = |c: &Value, o: &CreateOptions| {
            let (e, c) = command(c, o).unwrap();
            e.into_iter().chain(c).collect::<Vec<_>>()
        };
        assert_eq!(full(&config, &opts(vec![], None)), ["/ep", "a", "b"]);
        assert_eq!(full(&config, &opts(vec!["x"], None)), ["/ep", "x"]);
        assert_eq!(full(&config, &opts(vec!["x"], Some(vec![""]))), ["x"]);
        assert_eq!(
            full(&config, &opts(vec![], Some(vec!["/other"]))),
            ["/other", "a", "b"]
        );
        assert!(command(&json!({}), &opts(vec![], None)).is_err());
    }

    #[test]
    fn environment_layers_client_over_image_over_defaults() {
        let config = json!({"Env": ["A=1", "PATH=/bin"]});
        let mut o = CreateOptions::default();
        o.env.insert("A".into(), "2".into());
        o.env.insert("B".into(), "3".into());
        assert_eq!(
            environment(&config, &o).unwrap(),
            ["TERM=xterm", "container=podman", "PATH=/bin", "A=2", "B=3"]
        );
        assert!(
            environment(&json!({}), &CreateOptions::default()).unwrap()[0].starts_with("PATH=")
        );
        // A key the image sets twice keeps its last value, at its last place; an entry
        // without `=` is a key of its own.
        let config = json!({"Env": ["X=1", "TERM=dumb", "NOVALUE", "X=3"]});
        assert_eq!(
            environment(&config, &CreateOptions::default()).unwrap(),
            [
                DEFAULT_PATH,
                "container=podman",
                "TERM=dumb",
                "NOVALUE",
                "X=3"
            ]
        );
    }

    #[test]
    fn environment_is_linear_and_bounded() {
        let mut o = CreateOptions::default();
        let image: Vec<String> = (0..MAX_ENV_ENTRIES)
            .map(|i| format!("K{i}=image"))
            .collect();
        o.env = (0..MAX_ENV_ENTRIES)
            .map(|i| (format!("K{i}"), "client".to_string()))
            .collect();
        let started = std::time::Instant::now();
        let env = environment(&json!({ "Env": image }), &o).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(env.len(), 3 + MAX_ENV_ENTRIES);
        assert!(env[3..].iter().all(|e| e.ends_with("=client")));
        o.env.insert("ONE_TOO_MANY".into(), String::new());
        let err = environment(&json!({}), &o).unwrap_err().to_string();
        assert!(err.contains("env") && err.contains("32768"), "{err}");
        let image: Vec<String> = (0..=MAX_ENV_ENTRIES).map(|i| format!("K{i}=")).collect();
        let err = environment(&json!({ "Env": image }), &CreateOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("the image's Env"), "{err}");
    }

    #[test]
    fn users_resolve_against_the_image() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
        )
        .unwrap();
        let layers = vec![dir.path().to_path_buf()];
        assert_eq!(
            resolve_user("app", &layers).unwrap(),
            (1000, 1000, vec![2000])
        );
        assert_eq!(
            resolve_user("1000:extra", &layers).unwrap(),
            (1000, 2000, vec![2000])
        );
        assert_eq!(resolve_user("4242", &layers).unwrap(), (4242, 4242, vec![]));
        assert_eq!(resolve_user("4242:7", &layers).unwrap(), (4242, 7, vec![]));
        assert!(resolve_user("nobody-here", &layers).is_err());
        assert!(resolve_user("app:nogroup", &layers).is_err());
        assert_eq!(resolve_group("extra", &layers), Ok(2000));
        assert!(resolve_group("missing", &layers).is_err());
    }

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(signal_number("SIGINT"), Some(2));
        assert_eq!(signal_number("term"), Some(15));
        assert_eq!(signal_number("9"), Some(9));
        assert_eq!(signal_number("SIGBOGUS"), None);
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn capabilities_are_normalized_added_and_dropped() {
        let (add, drop, set) = capabilities(
            &strs(&["net_admin", "CAP_SYS_TIME"]),
            &strs(&["kill"]),
            false,
        )
        .unwrap();
        assert_eq!(add, ["CAP_NET_ADMIN", "CAP_SYS_TIME"]);
        assert_eq!(drop, ["CAP_KILL"]);
        assert!(set.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(set.contains(&"CAP_CHOWN".to_string()));
        assert!(!set.contains(&"CAP_KILL".to_string()));
        let (_, _, only) = capabilities(&strs(&["chown"]), &strs(&["all"]), false).unwrap();
        assert_eq!(only, ["CAP_CHOWN"]);
        let (_, _, all) = capabilities(&strs(&["ALL"]), &[], false).unwrap();
        assert_eq!(all, host_capabilities());
        assert!(capabilities(&strs(&["bogus"]), &[], false).is_err());
        assert!(capabilities(&strs(&["kill"]), &strs(&["KILL"]), false).is_err());
        let (_, _, privileged) = capabilities(&[], &[], true).unwrap();
        assert_eq!(privileged, host_capabilities());
    }

    #[test]
    fn volumes_parse_like_podman() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().display().to_string();
        let m = parse_volume(&format!("{src}:/data:ro,Z")).unwrap();
        assert_eq!(m.destination, "/data");
        assert_eq!(
            m.source,
            MountSource::Bind {
                source: src.clone()
            }
        );
        assert_eq!(m.options, ["ro", "rbind", "rprivate"]);
        let m = parse_volume("cache:/var/cache//x/").unwrap();
        assert_eq!(m.destination, "/var/cache/x");
        assert_eq!(
            m.source,
            MountSource::Volume {
                name: "cache".into()
            }
        );
        assert_eq!(m.options, ["rbind", "rw", "rprivate"]);
        let m = parse_volume(&format!("{src}:/d:shared,noexec")).unwrap();
        assert_eq!(m.options, ["shared", "noexec", "rbind", "rw"]);
        for bad in [
            "/no/such/dir/here:/d".to_string(),
            format!("{src}:relative"),
            format!("{src}:/d:ro,rw"),
            format!("{src}:/d:bogus"),
            "./rel:/d".into(),
            "bad name:/d".into(),
            format!("{src}:/d/../x"),
        ] {
            assert!(parse_volume(&bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn tmpfs_defaults_and_options() {
        let m = parse_tmpfs("/run").unwrap();
        assert_eq!(m.options, ["rw", "noexec", "nosuid", "nodev"]);
        let m = parse_tmpfs("/cache:exec,size=1m,mode=1777").unwrap();
        assert_eq!(
            m.options,
            ["exec", "size=1048576", "mode=1777", "rw", "nosuid", "nodev"]
        );
        assert!(parse_tmpfs("/x:size=lots").is_err());
        assert!(parse_tmpfs("rel").is_err());
        assert!(parse_tmpfs("/x:bogus").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("64k"), Some(65536));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_size("2MB"), Some(2 << 20));
        assert_eq!(parse_size("2MiB"), Some(2 << 20));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("1q"), None);
    }

    #[test]
    fn devices_parse_and_must_exist() {
        let d = parse_device("/dev/null").unwrap();
        assert_eq!(
            d,
            [DeviceMapping {
                host: "/dev/null".into(),
                container: "/dev/null".into(),
                permissions: "rwm".into()
            }]
        );
        let d = parse_device("/dev/zero:/dev/nothing:r").unwrap();
        assert_eq!(
            (d[0].container.as_str(), d[0].permissions.as_str()),
            ("/dev/nothing", "r")
        );
        let d = parse_device("/dev/zero:rw").unwrap();
        assert_eq!(
            (d[0].container.as_str(), d[0].permissions.as_str()),
            ("/dev/zero", "rw")
        );
        assert!(parse_device("/etc/passwd").is_err());
        assert!(parse_device("/dev/no-such-device").is_err());
        assert!(parse_device("/dev/null:/x:rwx").is_err());
    }

    #[test]
    fn ulimits_parse_and_clamp() {
        let limits = ulimits(&strs(&["nofile=10:20", "core=0"])).unwrap();
        assert_eq!(
            limits[0],
            Ulimit {
                name: "RLIMIT_NOFILE".into(),
                soft: 10,
                hard: 20
            }
        );
        assert_eq!(limits[1].name, "RLIMIT_CORE");
        let nproc = limits.iter().find(|l| l.name == "RLIMIT_NPROC").unwrap();
        let (_, own) = own_limit("RLIMIT_NPROC").unwrap();
        assert_eq!(nproc.hard, own.min(1 << 20));
        let defaults = ulimits(&[]).unwrap();
        let (_, own) = own_limit("RLIMIT_NOFILE").unwrap();
        for limit in &defaults {
            let (_, own_hard) = own_limit(&limit.name).unwrap();
            assert!(
                limit.hard <= own_hard && limit.soft <= limit.hard,
                "{limit:?}"
            );
        }
        assert_eq!(defaults[0].hard, own.min(1 << 20));
        assert!(ulimits(&strs(&["nofile=20:10"])).is_err());
        assert!(ulimits(&strs(&["bogus=1"])).is_err());
        assert!(ulimits(&strs(&["nofile"])).is_err());
    }

    #[test]
    fn resources_are_checked() {
        let r = resources(
            &ResourceOptions {
                memory: 64 << 20,
                cpus: 1.5,
                pids_limit: 100,
                memory_swappiness: 10,
                ..Default::default()
            },
            "/podlink-unit",
        )
        .unwrap();
        assert_eq!(r.memory_swap, 128 << 20);
        assert_eq!((r.cpu_quota, r.cpu_period), (150_000, 100_000));
        assert_eq!(r.pids_limit, 100);
        assert_eq!(r.memory_swappiness, Some(10));
        let pids = |n| {
            let o = ResourceOptions {
                pids_limit: n,
                ..Default::default()
            };
            resources(&o, "/podlink-unit").map(|r| r.pids_limit)
        };
        assert_eq!(
            pids(0).unwrap(),
            DEFAULT_PIDS_LIMIT,
            "unset is the default limit"
        );
        assert_eq!(pids(-1).unwrap(), -1, "-1 is unlimited");
        assert!(pids(-2).is_err());
        for bad in [
            ResourceOptions {
                memory: 1024,
                ..Default::default()
            },
            ResourceOptions {
                memory_swap: 1 << 30,
                ..Default::default()
            },
            ResourceOptions {
                memory: 64 << 20,
                memory_swap: 32 << 20,
                ..Default::default()
            },
            ResourceOptions {
                cpus: 1.0,
                cpu_quota: 5000,
                ..Default::default()
            },
            ResourceOptions {
                cpu_period: 10,
                ..Default::default()
            },
            ResourceOptions {
                blkio_weight: 5,
                ..Default::default()
            },
            ResourceOptions {
                memory_swappiness: 101,
                ..Default::default()
            },
            ResourceOptions {
                cpuset_cpus: "0-x".into(),
                ..Default::default()
            },
            ResourceOptions {
                device_read_bps: strs(&["/dev/null:1mb"]),
                ..Default::default()
            },
        ] {
            assert!(
                resources(&bad, "/podlink-unit").is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn id_maps_from_every_source() {
        let o = CreateOptions {
            uidmap: strs(&["0:100000:1000:1000:200000:10"]),
            ..Default::default()
        };
        let (u, g) = id_maps(&o).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u, g, "one map serves both");
        assert_eq!(
            u[1],
            IdMap {
                container_id: 1000,
                host_id: 200000,
                size: 10
            }
        );
        let o = CreateOptions {
            id_mappings: IdMappingOptions {
                uid_map: IdMap {
                    container_id: 0,
                    host_id: 5000,
                    size: 10,
                },
                gid_map: IdMap {
                    container_id: 0,
                    host_id: 6000,
                    size: 10,
                },
                ..Default::default()
            },
            ..Default::default()
        };
        let (u, g) = id_maps(&o).unwrap();
        assert_eq!((u[0].host_id, g[0].host_id), (5000, 6000));
        assert!(
            id_maps(&CreateOptions {
                uidmap: strs(&["0:1"]),
                ..Default::default()
            })
            .is_err()
        );
        for bad in ["0:4294967295:2", "0:100:10:5:200:10", "4294967290:0:10"] {
            let o = CreateOptions {
                uidmap: strs(&[bad]),
                ..Default::default()
            };
            assert!(id_maps(&o).is_err(), "{bad} should be refused");
        }

        assert!(
            id_maps(&CreateOptions {
                uidmap: strs(&["0:1:0"]),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn hosts_dns_logs_ports_and_cgroups() {
        assert_eq!(
            parse_host("db:10.0.0.2").unwrap(),
            ("db".into(), "10.0.0.2".into())
        );
        assert_eq!(parse_host("v6:fe80::1").unwrap().1, "fe80::1");
        assert!(parse_host("db:not-an-ip").is_err());
        assert_eq!(dns_servers(&strs(&["none"])).unwrap(), (vec![], true));
        assert!(dns_servers(&strs(&["dns.example"])).is_err());
        assert_eq!(
            log_path("json-file", &strs(&["path=/tmp/l"])).unwrap(),
            "/tmp/l"
        );
        assert!(log_path("journald", &[]).is_err());
        assert!(log_path("", &strs(&["max-size=1m"])).is_err());
        assert_eq!(
            exposed_ports(
                &json!({"ExposedPorts": {"80/tcp": {}}}),
                &strs(&["53/udp", "80"])
            )
            .unwrap(),
            ["53/udp", "80/tcp"]
        );
        assert!(exposed_ports(&json!({}), &strs(&["0"])).is_err());
        assert_eq!(cgroup_parent("", "/podlink").unwrap(), "/podlink");
        assert_eq!(cgroup_parent("mine/sub/", "/podlink").unwrap(), "/mine/sub");
        assert!(cgroup_parent("/a/../b", "/podlink").is_err());
        assert!(cgroup_parent("machine.slice", "/podlink").is_err());
    }

    #[test]
    fn sysctls_must_be_namespaced_and_owned() {
        let ns = Namespaces::default();
        let set = |k: &str| BTreeMap::from([(k.to_string(), "1".to_string())]);
        assert!(sysctls(&set("net.ipv4.ip_forward"), &ns).is_ok());
        assert!(sysctls(&set("kernel.shmmax"), &ns).is_ok());
        assert!(sysctls(&set("vm.swappiness"), &ns).is_err());
        let host_net = Namespaces {
            net: NamespaceMode::Host,
            ..Default::default()
        };
        assert!(sysctls(&set("net.ipv4.ip_forward"), &host_net).is_err());
    }
}
