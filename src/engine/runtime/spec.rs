//! The OCI runtime spec (`config.json`) of a container, from its configuration and what the
//! engine resolved on the host (namespace paths, volume directories, devices).
//!
//! The spec is written as JSON and read back through `oci_spec::runtime::Spec`, so every name
//! and shape is checked against the crate's types before a runtime sees it. Building it with
//! the crate's builders instead would take several times the code for the ~60 fields set
//! here, and the unit tests below pin the result either way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use crate::engine::container::config::{
    BlockDeviceLimit, ContainerConfig, IdMap, MountSource, NamespaceMode,
};

/// A device as the spec lists it: the host's node, resolved now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Path in the container.
    pub path: String,
    /// `c` or `b`.
    pub kind: char,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Mode bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Cgroup access: some of `r`, `w`, `m`.
    pub access: String,
}

impl Device {
    /// The device node at `host`, to appear at `path` with `access`.
    pub fn from_host(host: &Path, path: &str, access: &str) -> std::io::Result<Self> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let meta = std::fs::metadata(host)?;
        let kind = if meta.file_type().is_char_device() {
            'c'
        } else if meta.file_type().is_block_device() {
            'b'
        } else {
            return Err(std::io::Error::other(format!(
                "{} is not a device",
                host.display()
            )));
        };
        Ok(Device {
            path: path.to_string(),
            kind,
            major: nix::sys::stat::major(meta.rdev()),
            minor: nix::sys::stat::minor(meta.rdev()),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            access: access.to_string(),
        })
    }
}

/// The device nodes (character or block; not links to them) under `dir`, recursively, but
/// not under its subdirectories named in `skip`; sorted. The walk is iterative: `dir` may be
/// any host directory a client names in `devices`.
pub fn device_nodes(dir: &Path, skip: &[&str]) -> Vec<PathBuf> {
    use nix::sys::stat::SFlag;

    use crate::engine::tree::{self, Next};

    let mut found = Vec::new();
    let walked = tree::walk(
        dir,
        |entry| {
            let kind = SFlag::from_bits_truncate(entry.stat.st_mode) & SFlag::S_IFMT;
            if kind == SFlag::S_IFCHR || kind == SFlag::S_IFBLK {
                found.push(dir.join(entry.rel));
            } else if entry.is_dir() && skip.contains(&entry.name.to_string_lossy().as_ref()) {
                return Ok(Next::Skip);
            }
            Ok(Next::Descend)
        },
        |_| Ok(()),
    );
    if let Err(e) = walked {
        log::debug!("device nodes under {}: {e}", dir.display());
    }
    found.sort();
    found
}

/// Every device node under the host's /dev that a privileged container gets: all of them
/// but the ones every container gets anyway (the runtime makes those).
pub fn host_devices() -> Vec<Device> {
    device_nodes(Path::new("/dev"), &["pts", "shm", "mqueue"])
        .into_iter()
        .filter(|p| {
            !["/dev/console", "/dev/ptmx", "/dev/tty"].contains(&p.to_string_lossy().as_ref())
        })
        .filter_map(|p| Device::from_host(&p, &p.display().to_string(), "rwm").ok())
        .collect()
}

/// What the engine resolved on the host for one container's spec.
#[derive(Debug, Clone)]
pub struct SpecInput<'a> {
    /// The container's configuration.
    pub config: &'a ContainerConfig,
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
    /// The absolute cgroup path.
    pub cgroups_path: String,
}

/// Paths of /proc and /sys hidden from a container that is not privileged.
const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/fs/selinux",
    "/sys/dev/block",
];
/// Paths of /proc made read-only in a container that is not privileged.
const READONLY_PATHS: [&str; 6] = [
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// A JSON object of the fields that have a value.
fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_string(), value?)))
            .collect(),
    )
}

fn maps(maps: &[IdMap]) -> Value {
    maps.iter()
        .map(|m| json!({"containerID": m.container_id, "hostID": m.host_id, "size": m.size}))
        .collect()
}

fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Value {
    json!({"destination": destination, "type": kind, "source": source, "options": options})
}

/// Whether `id` is mapped by `maps`.
fn mapped(maps: &[IdMap], id: u32) -> bool {
    maps.is_empty() || crate::engine::container::config::to_host(maps, id).is_some()
}

/// Builds the spec.
pub fn build(input: &SpecInput) -> Result<Spec, String> {
    let c = input.config;
    let ns = &c.namespaces;
    let userns = ns.user != NamespaceMode::Host;
    let mut env = c.env.clone();
    env.retain(|e| !e.starts_with("HOSTNAME="));
    env.push(format!("HOSTNAME={}", c.hostname));

    let all: Vec<&str> = c.capabilities.iter().map(String::as_str).collect();
    let added: Vec<&str> = c
        .cap_add
        .iter()
        .map(String::as_str)
        .filter(|cap| all.contains(cap))
        .collect();
    // Root holds its capabilities in the bounding, effective and permitted sets only: in
    // the inheritable and ambient sets they would survive a switch to another user inside
    // the container (CVE-2022-24769). A user other than root holds, as in Podman, only the
    // ones the client added, in every set, so that they survive its exec.
    let (effective, inheritable): (Vec<&str>, Vec<&str>) = if c.uid == 0 || c.privileged {
        (all.clone(), Vec::new())
    } else {
        (added.clone(), added)
    };
    let capabilities = json!({
        "bounding": all,
        "effective": effective,
        "permitted": effective,
        "inheritable": inheritable,
        "ambient": inheritable,
    });
    let rlimits: Vec<Value> = c
        .ulimits
        .iter()
        .map(|u| json!({"type": u.name, "hard": u.hard, "soft": u.soft}))
        .collect();
    let mut process = json!({
        "terminal": c.tty,
        "user": {"uid": c.uid, "gid": c.gid},
        "args": c.command,
        "env": env,
        "cwd": c.work_dir,
        "capabilities": capabilities,
        "rlimits": rlimits,
        "noNewPrivileges": c.no_new_privileges,
    });
    if !c.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(c.additional_gids);
    }
    if c.oom_score_adj != 0 {
        process["oomScoreAdj"] = json!(c.oom_score_adj);
    }
    if !c.apparmor.is_empty() {
        process["apparmorProfile"] = json!(c.apparmor);
    }

    let sys_options: &[&str] = if c.privileged {
        &["nosuid", "noexec", "nodev", "rw"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let cgroup_options: &[&str] = if c.privileged {
        &["rprivate", "nosuid", "noexec", "nodev", "relatime", "rw"]
    } else {
        &["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"]
    };
    let mut pts_options = vec![
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
    ];
    if mapped(&c.gid_map, 5) {
        pts_options.push("gid=5");
    }
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount("/dev/pts", "devpts", "devpts", &pts_options),
        mount(
            "/dev/shm",
            "bind",
            &input.shm_dir.display().to_string(),
            &["rbind", "nosuid", "noexec", "nodev"],
        ),
    ];
    if ns.ipc == NamespaceMode::Host && userns {
        mounts.push(mount(
            "/dev/mqueue",
            "bind",
            "/dev/mqueue",
            &["rbind", "nosuid", "noexec", "nodev"],
        ));
    } else {
        mounts.push(mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ));
    }
    if ns.net == NamespaceMode::Host && userns {
        // sysfs can only be mounted by the owner of the network namespace.
        mounts.push(mount(
            "/sys",
            "bind",
            "/sys",
            &["rbind", "nosuid", "noexec", "nodev", "ro"],
        ));
    } else {
        mounts.push(mount("/sys", "sysfs", "sysfs", sys_options));
        mounts.push(mount("/sys/fs/cgroup", "cgroup", "cgroup", cgroup_options));
    }
    let etc = |name: &str| input.etc_dir.join(name).display().to_string();
    mounts.push(mount(
        "/etc/hostname",
        "bind",
        &etc("hostname"),
        &["rbind", "rprivate"],
    ));
    mounts.push(mount(
        "/etc/hosts",
        "bind",
        &etc("hosts"),
        &["rbind", "rprivate"],
    ));
    if !c.no_resolv_conf {
        mounts.push(mount(
            "/etc/resolv.conf",
            "bind",
            &etc("resolv.conf"),
            &["rbind", "rprivate"],
        ));
    }
    if !c.init.is_empty() {
        mounts.push(mount(
            crate::engine::container::create::INIT_PATH_IN_CONTAINER,
            "bind",
            &c.init,
            &["bind", "ro"],
        ));
    }
    // The client's mounts, parents before children.
    let mut user_mounts: Vec<(usize, Value)> = Vec::new();
    for (index, m) in c.mounts.iter().enumerate() {
        let options: Vec<&str> = m.options.iter().map(String::as_str).collect();
        let value = match (&m.source, input.mount_sources.get(index).cloned().flatten()) {
            (MountSource::Tmpfs, _) => mount(&m.destination, "tmpfs", "tmpfs", &options),
            (_, Some(source)) => mount(
                &m.destination,
                "bind",
                &source.display().to_string(),
                &options,
            ),
            (other, None) => {
                return Err(format!(
                    "no host path for the mount of {other:?} at {}",
                    m.destination
                ));
            }
        };
        let depth = Path::new(&m.destination).components().count();
        user_mounts.push((depth, value));
    }
    user_mounts.sort_by_key(|(depth, _)| *depth);
    // A client mount replaces a default one at the same place (a volume at /etc/hosts...).
    for (_, m) in &user_mounts {
        mounts.retain(|d| d["destination"] != m["destination"]);
    }
    mounts.extend(user_mounts.into_iter().map(|(_, m)| m));

    let mut namespaces = vec![json!({"type": "mount"})];
    for (kind, mode) in ns.each() {
        let oci_kind = if kind == "net" { "network" } else { kind };
        match mode {
            NamespaceMode::Host => {}
            NamespaceMode::Private => namespaces.push(json!({"type": oci_kind})),
            NamespaceMode::Path(_) | NamespaceMode::Container(_) => {
                let path = input
                    .namespace_paths
                    .get(kind)
                    .ok_or_else(|| format!("no path for the {kind} namespace"))?;
                namespaces.push(json!({"type": oci_kind, "path": path}));
            }
        }
    }

    let r = &c.resources;
    // Each limit only when set: an absent one leaves the kernel's default.
    let given = |set: bool, value: Value| set.then_some(value);
    let memory = object([
        ("limit", given(r.memory > 0, json!(r.memory))),
        (
            "reservation",
            given(r.memory_reservation > 0, json!(r.memory_reservation)),
        ),
        ("swap", given(r.memory_swap != 0, json!(r.memory_swap))),
        ("kernel", given(r.kernel_memory > 0, json!(r.kernel_memory))),
        ("swappiness", r.memory_swappiness.map(|s| json!(s))),
        ("disableOOMKiller", given(r.disable_oom_killer, json!(true))),
    ]);
    let cpu = object([
        ("shares", given(r.cpu_shares > 0, json!(r.cpu_shares))),
        ("quota", given(r.cpu_quota != 0, json!(r.cpu_quota))),
        ("period", given(r.cpu_period > 0, json!(r.cpu_period))),
        (
            "realtimePeriod",
            given(r.cpu_rt_period > 0, json!(r.cpu_rt_period)),
        ),
        (
            "realtimeRuntime",
            given(r.cpu_rt_runtime != 0, json!(r.cpu_rt_runtime)),
        ),
        (
            "cpus",
            given(!r.cpuset_cpus.is_empty(), json!(r.cpuset_cpus)),
        ),
        (
            "mems",
            given(!r.cpuset_mems.is_empty(), json!(r.cpuset_mems)),
        ),
    ]);
    let devices_with = |limits: &[BlockDeviceLimit], key: &str| -> Option<Value> {
        (!limits.is_empty()).then(|| {
            limits
                .iter()
                .map(|l| json!({"major": l.major, "minor": l.minor, key: l.value}))
                .collect()
        })
    };
    let block_io = object([
        ("weight", given(r.blkio_weight > 0, json!(r.blkio_weight))),
        (
            "weightDevice",
            devices_with(&r.blkio_weight_device, "weight"),
        ),
        (
            "throttleReadBpsDevice",
            devices_with(&r.device_read_bps, "rate"),
        ),
        (
            "throttleWriteBpsDevice",
            devices_with(&r.device_write_bps, "rate"),
        ),
        (
            "throttleReadIOPSDevice",
            devices_with(&r.device_read_iops, "rate"),
        ),
        (
            "throttleWriteIOPSDevice",
            devices_with(&r.device_write_iops, "rate"),
        ),
    ]);
    let mut device_rules = vec![json!({"allow": c.privileged, "access": "rwm"})];
    if !c.privileged {
        device_rules.extend(input.devices.iter().map(|d| {
            json!({
                "allow": true,
                "type": d.kind.to_string(),
                "major": d.major,
                "minor": d.minor,
                "access": d.access,
            })
        }));
    }
    let mut resources = json!({"devices": device_rules});
    for (key, value) in [("memory", memory), ("cpu", cpu), ("blockIO", block_io)] {
        if value.as_object().is_some_and(|o| !o.is_empty()) {
            resources[key] = value;
        }
    }
    // -1 is no limit (the runtime writes `max`); 0, in records made before the default
    // limit, leaves the kernel's.
    if r.pids_limit != 0 {
        resources["pids"] = json!({"limit": r.pids_limit});
    }
    let devices: Vec<Value> = input
        .devices
        .iter()
        .map(|d| {
            json!({
                "path": d.path,
                "type": d.kind.to_string(),
                "major": d.major,
                "minor": d.minor,
                "fileMode": d.mode,
                "uid": d.uid,
                "gid": d.gid,
            })
        })
        .collect();

    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": input.cgroups_path,
        "devices": devices,
        "sysctl": c.sysctls,
    });
    if !c.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    if userns {
        linux["uidMappings"] = maps(&c.uid_map);
        linux["gidMappings"] = maps(&c.gid_map);
    }
    if let Some(seccomp) = &input.seccomp {
        linux["seccomp"] = seccomp.clone();
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": input.rootfs, "readonly": c.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
        "annotations": {"io.podman.annotations.autoremove": if c.rm { "TRUE" } else { "FALSE" }},
    });
    if ns.uts == NamespaceMode::Private {
        spec["hostname"] = json!(c.hostname);
    }
    serde_json::from_value(spec).map_err(|e| format!("runtime spec: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::config::{MountSpec, Namespaces, Resources, Ulimit};

    fn config() -> ContainerConfig {
        ContainerConfig {
            command: vec!["sh".into()],
            env: vec!["PATH=/bin".into(), "HOSTNAME=stale".into()],
            work_dir: "/".into(),
            hostname: "box".into(),
            capabilities: vec!["CAP_CHOWN".into(), "CAP_KILL".into()],
            ulimits: vec![Ulimit {
                name: "RLIMIT_NOFILE".into(),
                soft: 10,
                hard: 20,
            }],
            ..Default::default()
        }
    }

    fn input<'a>(c: &'a ContainerConfig) -> SpecInput<'a> {
        SpecInput {
            config: c,
            rootfs: Path::new("/r/merged"),
            etc_dir: Path::new("/run/c"),
            shm_dir: Path::new("/run/c/shm"),
            namespace_paths: BTreeMap::new(),
            mount_sources: c
                .mounts
                .iter()
                .map(|_| Some(PathBuf::from("/src")))
                .collect(),
            devices: Vec::new(),
            seccomp: None,
            cgroups_path: "/podlink/abc".into(),
        }
    }

    fn to_json(spec: &Spec) -> Value {
        serde_json::to_value(spec).unwrap()
    }

    /// A capability set, sorted (the crate keeps them in a hash set).
    fn caps(spec: &Value, set: &str) -> Vec<String> {
        let mut caps: Vec<String> =
            serde_json::from_value(spec["process"]["capabilities"][set].clone()).unwrap();
        caps.sort();
        caps
    }

    #[test]
    fn a_plain_container() {
        let c = config();
        let s = to_json(&build(&input(&c)).unwrap());
        assert_eq!(s["hostname"], "box");
        assert_eq!(s["process"]["env"], json!(["PATH=/bin", "HOSTNAME=box"]));
        assert_eq!(caps(&s, "effective"), ["CAP_CHOWN", "CAP_KILL"]);
        assert_eq!(caps(&s, "permitted"), ["CAP_CHOWN", "CAP_KILL"]);
        assert!(caps(&s, "inheritable").is_empty() && caps(&s, "ambient").is_empty());
        assert_eq!(s["process"]["rlimits"][0]["hard"], 20);
        assert_eq!(s["process"]["noNewPrivileges"], false);
        assert_eq!(s["linux"]["cgroupsPath"], "/podlink/abc");
        let kinds: Vec<&str> = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["mount", "ipc", "pid", "uts", "network", "cgroup"]);
        assert!(s["linux"]["maskedPaths"].as_array().unwrap().len() > 5);
        assert_eq!(
            s["linux"]["resources"]["devices"],
            json!([{"allow": false, "access": "rwm"}])
        );
        let destinations: Vec<&str> = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert!(destinations.contains(&"/etc/resolv.conf"));
        assert!(destinations.contains(&"/dev/shm"));
        assert!(s["linux"].get("uidMappings").is_none());
    }

    #[test]
    fn a_non_root_user_keeps_only_added_capabilities() {
        let mut c = config();
        c.uid = 1000;
        c.cap_add = vec!["CAP_KILL".into()];
        let s = to_json(&build(&input(&c)).unwrap());
        assert_eq!(caps(&s, "bounding"), ["CAP_CHOWN", "CAP_KILL"]);
        assert_eq!(caps(&s, "effective"), ["CAP_KILL"]);
        assert_eq!(caps(&s, "ambient"), ["CAP_KILL"]);
    }

    #[test]
    fn namespaces_mounts_resources_and_maps() {
        let mut c = config();
        c.namespaces = Namespaces {
            net: NamespaceMode::Host,
            pid: NamespaceMode::Container("other".into()),
            user: NamespaceMode::Private,
            uts: NamespaceMode::Host,
            ..Default::default()
        };
        c.uid_map = vec![IdMap {
            container_id: 0,
            host_id: 100_000,
            size: 65536,
        }];
        c.gid_map = c.uid_map.clone();
        c.mounts = vec![
            MountSpec {
                destination: "/data/sub".into(),
                source: MountSource::Bind {
                    source: "/x".into(),
                },
                options: vec!["rbind".into(), "ro".into()],
            },
            MountSpec {
                destination: "/data".into(),
                source: MountSource::Tmpfs,
                options: vec!["rw".into()],
            },
            MountSpec {
                destination: "/etc/hosts".into(),
                source: MountSource::Bind {
                    source: "/y".into(),
                },
                options: vec!["rbind".into()],
            },
        ];
        c.resources = Resources {
            memory: 64 << 20,
            memory_swap: -1,
            cpu_quota: 50_000,
            cpu_period: 100_000,
            pids_limit: 10,
            memory_swappiness: Some(0),
            blkio_weight: 300,
            device_read_bps: vec![BlockDeviceLimit {
                path: "/dev/vda".into(),
                major: 253,
                minor: 0,
                value: 1 << 20,
            }],
            ..Default::default()
        };
        c.privileged = true;
        let mut i = input(&c);
        i.namespace_paths.insert("pid", "/proc/42/ns/pid".into());
        let s = to_json(&build(&i).unwrap());
        assert!(
            s.get("hostname").is_none(),
            "no hostname without a UTS namespace"
        );
        let namespaces = &s["linux"]["namespaces"];
        assert!(
            namespaces
                .as_array()
                .unwrap()
                .contains(&json!({"type": "pid", "path": "/proc/42/ns/pid"}))
        );
        assert!(
            !namespaces
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["type"] == "network")
        );
        assert_eq!(s["linux"]["uidMappings"][0]["hostID"], 100_000);
        let mounts = s["mounts"].as_array().unwrap();
        let at = |d: &str| mounts.iter().position(|m| m["destination"] == d).unwrap();
        assert!(at("/data") < at("/data/sub"), "parents first");
        assert_eq!(
            mounts[at("/etc/hosts")]["source"],
            "/src",
            "the client's /etc/hosts wins"
        );
        assert_eq!(
            mounts
                .iter()
                .filter(|m| m["destination"] == "/etc/hosts")
                .count(),
            1
        );
        assert_eq!(
            mounts[at("/sys")]["type"],
            "bind",
            "sysfs of the host's network"
        );
        let r = &s["linux"]["resources"];
        assert_eq!(r["memory"]["limit"], 64 << 20);
        assert_eq!(r["memory"]["swap"], -1);
        assert_eq!(r["memory"]["swappiness"], 0);
        assert_eq!(r["cpu"]["quota"], 50_000);
        assert_eq!(r["pids"]["limit"], 10);
        assert_eq!(r["blockIO"]["weight"], 300);
        assert_eq!(
            r["blockIO"]["throttleReadBpsDevice"],
            json!([{"major": 253, "minor": 0, "rate": 1 << 20}])
        );
        assert!(r["blockIO"].get("weightDevice").is_none());
        assert!(
            r["cpu"].get("shares").is_none(),
            "unset limits are left out"
        );
        assert_eq!(r["devices"], json!([{"allow": true, "access": "rwm"}]));
        assert!(s["linux"].get("maskedPaths").is_none());
    }

    #[test]
    fn host_devices_are_found() {
        let devices = host_devices();
        assert!(
            devices
                .iter()
                .any(|d| d.path == "/dev/null" && d.kind == 'c')
        );
        assert!(!devices.iter().any(|d| d.path == "/dev/console"));
        let null = Device::from_host(Path::new("/dev/null"), "/dev/n", "r").unwrap();
        assert_eq!((null.major, null.minor), (1, 3));
        assert!(Device::from_host(Path::new("/etc/passwd"), "/x", "r").is_err());
    }
}
