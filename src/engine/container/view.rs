//! What clients read about containers: lists, inspect data, existence, logs. Readers never
//! wait for an operation on a container (see `Containers::view`).

use super::service::Containers;
use std::collections::HashMap;

use serde_json::{Value, json};

use super::config::{MountSource, NamespaceMode};
use super::{ContainerRecord, ContainerStatus};
use crate::engine::error::Result;

/// A container as `ListContainers` and `GetContainer` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSummary {
    /// Full ID.
    pub id: String,
    /// The image as named at creation.
    pub image: String,
    /// The image's ID.
    pub image_id: String,
    /// The command.
    pub command: Vec<String>,
    /// Creation time (RFC 3339).
    pub created: String,
    /// How long ago it was created, in words.
    pub running_for: String,
    /// `running`, `exited`...
    pub status: String,
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// Whether it runs.
    pub running: bool,
    /// Its namespaces (`/proc/PID/ns/*` links) while running.
    pub namespaces: HashMap<String, String>,
    /// Its mounts beyond the defaults.
    pub mounts: Vec<MountSummary>,
}

/// A mount as `ListContainerData` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSummary {
    /// Path in the container.
    pub destination: String,
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Host path, volume name or `tmpfs`.
    pub source: String,
    /// Mount options.
    pub options: Vec<String>,
}

impl Containers {
    /// io.podman.ListContainers: every container, newest first.
    pub fn list_containers(&self) -> Vec<ContainerSummary> {
        let mut list: Vec<ContainerSummary> = self
            .store()
            .all()
            .iter()
            .filter_map(|h| self.view(h))
            .map(|r| self.summary(&r))
            .collect();
        list.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        list
    }

    /// io.podman.GetContainer.
    pub fn get_container(&self, name: &str) -> Result<ContainerSummary> {
        let (_, record) = self.view_container(name)?;
        Ok(self.summary(&record))
    }

    /// io.podman.ContainerExists.
    pub fn container_exists(&self, name: &str) -> bool {
        self.view_container(name).is_ok()
    }

    fn summary(&self, record: &ContainerRecord) -> ContainerSummary {
        let status = record.status();
        let mut namespaces = HashMap::new();
        if status.is_active() && record.state.pid > 0 {
            // Keyed as the wire's ContainerNameSpace: "pidns" is the pid namespace, "pid" the
            // pid.
            for (key, ns) in [
                ("user", "user"),
                ("uts", "uts"),
                ("pidns", "pid"),
                ("cgroup", "cgroup"),
                ("net", "net"),
                ("mnt", "mnt"),
                ("ipc", "ipc"),
            ] {
                if let Ok(link) = std::fs::read_link(format!("/proc/{}/ns/{ns}", record.state.pid))
                {
                    namespaces.insert(key.to_string(), link.display().to_string());
                }
            }
            namespaces.insert("pid".into(), record.state.pid.to_string());
        }
        ContainerSummary {
            id: record.id.to_string(),
            image: record.image_name.clone(),
            image_id: record.image_id.clone(),
            command: record.config.command.clone(),
            created: record.created.clone(),
            running_for: running_for(&record.created),
            status: status.as_str().to_string(),
            name: record.name.clone(),
            labels: record.config.labels.clone(),
            running: status == ContainerStatus::Running,
            namespaces,
            mounts: self.mount_summaries(record),
        }
    }

    fn mount_summaries(&self, record: &ContainerRecord) -> Vec<MountSummary> {
        record
            .config
            .mounts
            .iter()
            .enumerate()
            .map(|(index, m)| {
                let (kind, source) = match &m.source {
                    MountSource::Bind { source } => ("bind", source.clone()),
                    MountSource::Volume { name } => ("volume", name.clone()),
                    MountSource::ImageVolume => (
                        "bind",
                        self.store()
                            .image_volume(&record.id, index)
                            .display()
                            .to_string(),
                    ),
                    MountSource::Tmpfs => ("tmpfs", "tmpfs".to_string()),
                };
                MountSummary {
                    destination: m.destination.clone(),
                    kind: kind.into(),
                    source,
                    options: m.options.clone(),
                }
            })
            .collect()
    }

    /// io.podman.InspectContainer: the fields `podman inspect` gives.
    pub fn inspect_container(&self, name: &str) -> Result<Value> {
        let (_, record) = self.view_container(name)?;
        let c = &record.config;
        let overlay = self.overlay_of(&record);
        let status = record.status();
        let mounts: Vec<Value> = self
            .mount_summaries(&record)
            .into_iter()
            .map(|m| {
                let rw = !m.options.iter().any(|o| o == "ro");
                let propagation = m
                    .options
                    .iter()
                    .find(|o| {
                        o.ends_with("shared") || o.ends_with("slave") || o.ends_with("private")
                    })
                    .cloned()
                    .unwrap_or_default();
                json!({
                    "Type": m.kind,
                    "Name": if m.kind == "volume" { m.source.clone() } else { String::new() },
                    "Source": m.source,
                    "Destination": m.destination,
                    "Driver": if m.kind == "volume" { "local" } else { "" },
                    "Mode": "",
                    "Options": m.options,
                    "RW": rw,
                    "Propagation": propagation,
                })
            })
            .collect();
        let ns = |mode: &NamespaceMode| mode.describe();
        let r = &c.resources;
        let ulimits: Vec<Value> = c
            .ulimits
            .iter()
            .map(|u| json!({"Name": u.name, "Soft": u.soft, "Hard": u.hard}))
            .collect();
        let devices: Vec<Value> = c
            .devices
            .iter()
            .map(|d| {
                json!({
                    "PathOnHost": d.host,
                    "PathInContainer": d.container,
                    "CgroupPermissions": d.permissions,
                })
            })
            .collect();
        let tmpfs: HashMap<&str, String> = c
            .mounts
            .iter()
            .filter(|m| m.source == MountSource::Tmpfs)
            .map(|m| (m.destination.as_str(), m.options.join(",")))
            .collect();
        let exposed: HashMap<&str, Value> = c
            .exposed_ports
            .iter()
            .map(|p| (p.as_str(), json!({})))
            .collect();
        let state = json!({
            "OciVersion": "1.0.2",
            "Status": status.as_str(),
            "Running": status == ContainerStatus::Running,
            "Paused": status == ContainerStatus::Paused,
            "Restarting": false,
            "OOMKilled": record.state.oom_killed,
            "Dead": false,
            "Pid": record.state.pid,
            "ConmonPid": record.state.monitor_pid,
            "ExitCode": record.state.exit_code,
            "Error": "",
            "StartedAt": record.state.started_at,
            "FinishedAt": record.state.finished_at,
        });
        let config_value = json!({
            "Hostname": c.hostname,
            "Domainname": "",
            "User": c.user,
            "AttachStdin": c.stdin,
            "AttachStdout": false,
            "AttachStderr": false,
            "Tty": c.tty,
            "OpenStdin": c.stdin,
            "StdinOnce": false,
            "Env": c.env,
            "Cmd": c.cmd,
            "Entrypoint": c.entrypoint,
            "Image": record.image_name,
            "Volumes": c.mounts.iter().map(|m| (m.destination.clone(), json!({}))).collect::<HashMap<_, _>>(),
            "WorkingDir": c.work_dir,
            "Labels": c.labels,
            "Annotations": {},
            "StopSignal": c.stop_signal,
            "StopTimeout": c.stop_timeout,
            "ExposedPorts": exposed,
        });
        let host_config = json!({
            "Binds": c.mounts.iter().filter_map(|m| match &m.source {
                MountSource::Bind { source } => Some(format!("{source}:{}:{}", m.destination, m.options.join(","))),
                MountSource::Volume { name } => Some(format!("{name}:{}:{}", m.destination, m.options.join(","))),
                _ => None,
            }).collect::<Vec<_>>(),
            "ContainerIDFile": "",
            "LogConfig": {"Type": "k8s-file", "Config": {}, "Path": c.log_path},
            "NetworkMode": match &c.namespaces.net {
                NamespaceMode::Private => "bridge".to_string(),
                other => ns(other),
            },
            "PortBindings": {},
            "AutoRemove": c.rm,
            "CapAdd": c.cap_add,
            "CapDrop": c.cap_drop,
            "Dns": c.dns_servers,
            "DnsOptions": c.dns_options,
            "DnsSearch": c.dns_search,
            "ExtraHosts": c.hosts_add.iter().map(|(n, a)| format!("{n}:{a}")).collect::<Vec<_>>(),
            "GroupAdd": c.group_add,
            "IpcMode": ns(&c.namespaces.ipc),
            "Cgroup": "",
            "CgroupParent": c.cgroup_parent,
            "OomScoreAdj": c.oom_score_adj,
            "PidMode": ns(&c.namespaces.pid),
            "Privileged": c.privileged,
            "ReadonlyRootfs": c.readonly_rootfs,
            "SecurityOpt": security_opts(c),
            "Tmpfs": tmpfs,
            "UTSMode": ns(&c.namespaces.uts),
            "UsernsMode": ns(&c.namespaces.user),
            "ShmSize": c.shm_size,
            "Runtime": "oci",
            "Init": !c.init.is_empty(),
            "Sysctls": c.sysctls,
            "CpuShares": r.cpu_shares,
            "Memory": r.memory,
            "NanoCpus": (r.cpu_quota.max(0) as u64).checked_mul(1_000_000_000).and_then(|n| n.checked_div(r.cpu_period)).unwrap_or(0),
            "CpuPeriod": r.cpu_period,
            "CpuQuota": r.cpu_quota,
            "CpuRealtimePeriod": r.cpu_rt_period,
            "CpuRealtimeRuntime": r.cpu_rt_runtime,
            "CpusetCpus": r.cpuset_cpus,
            "CpusetMems": r.cpuset_mems,
            "BlkioWeight": r.blkio_weight,
            "BlkioWeightDevice": r.blkio_weight_device.iter().map(|d| json!({"Path": d.path, "Weight": d.value})).collect::<Vec<_>>(),
            "BlkioDeviceReadBps": r.device_read_bps.iter().map(|d| json!({"Path": d.path, "Rate": d.value})).collect::<Vec<_>>(),
            "BlkioDeviceWriteBps": r.device_write_bps.iter().map(|d| json!({"Path": d.path, "Rate": d.value})).collect::<Vec<_>>(),
            "BlkioDeviceReadIOps": r.device_read_iops.iter().map(|d| json!({"Path": d.path, "Rate": d.value})).collect::<Vec<_>>(),
            "BlkioDeviceWriteIOps": r.device_write_iops.iter().map(|d| json!({"Path": d.path, "Rate": d.value})).collect::<Vec<_>>(),
            "Devices": devices,
            "KernelMemory": r.kernel_memory,
            "MemoryReservation": r.memory_reservation,
            "MemorySwap": r.memory_swap,
            "MemorySwappiness": r.memory_swappiness.map(|s| s as i64).unwrap_or(-1),
            "OomKillDisable": r.disable_oom_killer,
            "PidsLimit": r.pids_limit,
            "Ulimits": ulimits,
        });
        Ok(json!({
            "Id": record.id,
            "Created": record.created,
            "Path": c.command.first(),
            "Args": c.command.iter().skip(1).collect::<Vec<_>>(),
            "State": state,
            "Image": record.image_id,
            "ImageName": record.image_name,
            "Rootfs": "",
            "ResolvConfPath": self.store().run_dir(&record.id).join("resolv.conf"),
            "HostnamePath": self.store().run_dir(&record.id).join("hostname"),
            "HostsPath": self.store().run_dir(&record.id).join("hosts"),
            "StaticDir": self.store().dir(&record.id).join(super::lifecycle::BUNDLE_DIR),
            "OCIRuntime": self.runtime().map(|r| r.name.clone()).unwrap_or_default(),
            "ConmonPidFile": c.conmon_pidfile,
            "Name": record.name,
            "RestartCount": record.state.start_count.saturating_sub(1),
            "Driver": "overlay",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": c.apparmor,
            "ExecIDs": [],
            "LogPath": c.log_path,
            "Mounts": mounts,
            "Dependencies": [],
            "GraphDriver": {
                "Name": "overlay",
                "Data": {
                    "LowerDir": overlay.lower.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"),
                    "UpperDir": overlay.upper,
                    "WorkDir": overlay.work,
                    "MergedDir": overlay.merged,
                },
            },
            "Config": config_value,
            "HostConfig": host_config,
        }))
    }
}

/// The security options of a container, as `podman inspect` lists them.
fn security_opts(c: &super::config::ContainerConfig) -> Vec<String> {
    let mut opts = Vec::new();
    if c.no_new_privileges {
        opts.push("no-new-privileges".to_string());
    }
    if c.seccomp != "default" {
        opts.push(format!("seccomp={}", c.seccomp));
    }
    if !c.apparmor.is_empty() {
        opts.push(format!("apparmor={}", c.apparmor));
    }
    opts
}

/// "5 seconds", "3 minutes"... since `created`.
fn running_for(created: &str) -> String {
    let Ok(then) = humantime::parse_rfc3339_weak(created) else {
        return String::new();
    };
    let secs = std::time::SystemTime::now()
        .duration_since(then)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match secs {
        0..=59 => format!("{secs} seconds"),
        60..=3599 => format!("{} minutes", secs / 60),
        3600..=86399 => format!("{} hours", secs / 3600),
        _ => format!("{} days", secs / 86400),
    }
}
