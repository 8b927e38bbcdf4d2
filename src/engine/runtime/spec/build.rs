//! Builds the OCI runtime spec (`config.json`) of a container from a [`SpecInput`]: its
//! configuration and what the engine resolved on the host (namespace paths, volume
//! directories, devices).
//!
//! The spec is written as JSON and read back through `oci_spec::runtime::Spec`, so every name
//! and shape is checked against the crate's types before a runtime sees it. Building it with
//! the crate's builders instead would take several times the code for the ~60 fields set
//! here, and the unit tests below pin the result either way.

use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use super::input::{IdMap, NamespaceMode, SpecInput};
use crate::engine::error::{Error, Result};
use crate::engine::runtime::seccomp_bpf;

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

/// ID maps as the spec writes them.
fn maps(maps: &[IdMap]) -> Value {
    maps.iter()
        .map(|m| json!({"containerID": m.container_id, "hostID": m.host_id, "size": m.size}))
        .collect()
}

/// Builds the spec. Its failures are the engine's own (a mount or namespace the engine did
/// not resolve, a shape the spec's types refuse), never the client's.
pub fn build(input: &SpecInput) -> Result<Spec> {
    let c = &input.config;
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

    let mounts = super::mounts::mounts(input)?;

    let mut namespaces = vec![json!({"type": "mount"})];
    for (kind, mode) in ns.each() {
        let oci_kind = if kind == "net" { "network" } else { kind };
        match mode {
            NamespaceMode::Host => {}
            NamespaceMode::Private => namespaces.push(json!({"type": oci_kind})),
            NamespaceMode::Path(_) | NamespaceMode::Container(_) => {
                let path = input.namespace_paths.get(kind).ok_or_else(|| {
                    Error::internal("runtime spec", format!("no path for the {kind} namespace"))
                })?;
                namespaces.push(json!({"type": oci_kind, "path": path}));
            }
        }
    }

    let resources = super::resources::resources(input);
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
    if let Some(program) = &input.seccomp_bpf {
        spec["annotations"][seccomp_bpf::BPF_ANNOTATION] = json!(seccomp_bpf::annotation(program));
    }
    if ns.uts == NamespaceMode::Private {
        spec["hostname"] = json!(c.hostname);
    }
    serde_json::from_value(spec).map_err(|e| Error::internal("runtime spec", e))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::engine::runtime::spec::input::{
        BlockDeviceLimit, MountSource, MountSpec, Namespaces, Resources, SpecConfig, Ulimit,
    };

    fn config() -> SpecConfig {
        SpecConfig {
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

    fn input(c: &SpecConfig) -> SpecInput<'static> {
        SpecInput {
            config: c.clone(),
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
            seccomp_bpf: None,
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
}
