//! Fills the inspect document (`inspect.rs`) from a container's record, its store paths and
//! its overlay.

use super::config::ContainerConfig;
use super::inspect::{
    ContainerInspect, Empty, GraphDriver, GraphDriverData, HostConfig, HostPort, InspectConfig,
    InspectDevice, InspectMount, InspectState, InspectUlimit, LogConfig, NetworkSettings, PortMap,
    ThrottleDevice, WeightDevice,
};
use super::record::ContainerRecord;
use super::service::Containers;
use super::status::ContainerStatus;
use super::view::MountSummary;
use crate::engine::error::Result;
use crate::engine::runtime::spec::input::{BlockDeviceLimit, MountSource, NamespaceMode};

impl Containers {
    /// io.podman.InspectContainer (and ContainerInspectData): the fields `podman inspect`
    /// gives.
    pub fn inspect_container(&self, name: &str) -> Result<ContainerInspect> {
        let (_, record) = self.view_container(name)?;
        let c = &record.config;
        let overlay = self.overlay_of(&record);
        let path = |p: std::path::PathBuf| p.display().to_string();
        let run_dir = self.store().run_dir(&record.id);
        Ok(ContainerInspect {
            id: record.id.to_string(),
            created: record.created.clone(),
            path: c.command.first().cloned(),
            args: c.command.iter().skip(1).cloned().collect(),
            state: state(&record),
            image: record.image_id.to_string(),
            image_name: record.image_name.clone(),
            rootfs: String::new(),
            resolv_conf_path: path(run_dir.join("resolv.conf")),
            hostname_path: path(run_dir.join("hostname")),
            hosts_path: path(run_dir.join("hosts")),
            static_dir: path(self.store().dir(&record.id).join(super::bundle::BUNDLE_DIR)),
            oci_runtime: self.runtime_of(&record).map(|r| r.name).unwrap_or_default(),
            conmon_pid_file: c.conmon_pidfile.clone(),
            name: record.name.clone(),
            restart_count: record.state.start_count.saturating_sub(1),
            driver: "overlay".into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: c.apparmor.clone(),
            exec_ids: Vec::new(),
            log_path: c.log_path.clone(),
            mounts: self
                .mount_summaries(&record)
                .into_iter()
                .map(inspect_mount)
                .collect(),
            dependencies: Vec::new(),
            graph_driver: GraphDriver {
                name: "overlay".into(),
                data: GraphDriverData {
                    lower_dir: overlay
                        .lower
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(":"),
                    upper_dir: path(overlay.upper),
                    work_dir: path(overlay.work),
                    merged_dir: path(overlay.merged),
                },
            },
            config: config(&record),
            host_config: host_config(c),
            network_settings: self.network_settings(&record),
            is_infra: c.infra,
        })
    }

    /// `NetworkSettings`: the address while the container's run holds its endpoint (as
    /// Podman 1.x showed its CNI result), the ports always.
    fn network_settings(&self, record: &ContainerRecord) -> NetworkSettings {
        let c = &record.config;
        let mut settings = NetworkSettings {
            bridge: String::new(),
            sandbox_id: String::new(),
            hairpin_mode: false,
            link_local_ipv6_address: String::new(),
            link_local_ipv6_prefix_len: 0,
            ports: port_map(c),
            sandbox_key: String::new(),
            endpoint_id: String::new(),
            gateway: String::new(),
            global_ipv6_address: String::new(),
            global_ipv6_prefix_len: 0,
            ip_address: String::new(),
            ip_prefix_len: 0,
            ipv6_gateway: String::new(),
            mac_address: String::new(),
        };
        if let Some(bridge) = &c.bridge
            && record.status().is_active()
        {
            settings.bridge = self.network().settings().bridge.clone();
            settings.sandbox_key = self.network().netns_path(&record.id).display().to_string();
            settings.gateway = bridge.gateway.to_string();
            settings.ip_address = bridge.ip.to_string();
            settings.ip_prefix_len = bridge.prefix;
            settings.mac_address = bridge.mac.clone();
        }
        settings
    }
}

fn state(record: &ContainerRecord) -> InspectState {
    let status = record.status();
    InspectState {
        oci_version: "1.0.2".into(),
        status: status.as_str().to_string(),
        running: status == ContainerStatus::Running,
        paused: status == ContainerStatus::Paused,
        restarting: false,
        oom_killed: record.state.oom_killed,
        dead: false,
        pid: record.state.pid,
        conmon_pid: record.state.monitor_pid,
        exit_code: record.state.exit_code,
        error: String::new(),
        started_at: record.state.started_at.clone(),
        finished_at: record.state.finished_at.clone(),
    }
}

fn inspect_mount(m: MountSummary) -> InspectMount {
    let rw = !m.options.iter().any(|o| o == "ro");
    let propagation = m
        .options
        .iter()
        .find(|o| o.ends_with("shared") || o.ends_with("slave") || o.ends_with("private"))
        .cloned()
        .unwrap_or_default();
    let volume = m.kind == "volume";
    InspectMount {
        name: if volume {
            m.source.clone()
        } else {
            String::new()
        },
        driver: if volume { "local" } else { "" }.into(),
        kind: m.kind,
        source: m.source,
        destination: m.destination,
        mode: String::new(),
        options: m.options,
        rw,
        propagation,
    }
}

fn config(record: &ContainerRecord) -> InspectConfig {
    let c = &record.config;
    InspectConfig {
        hostname: c.hostname.clone(),
        domainname: String::new(),
        user: c.user.clone(),
        attach_stdin: c.stdin,
        attach_stdout: false,
        attach_stderr: false,
        tty: c.tty,
        open_stdin: c.stdin,
        stdin_once: false,
        env: c.env.clone(),
        cmd: c.cmd.clone(),
        entrypoint: c.entrypoint.clone(),
        image: record.image_name.clone(),
        volumes: c
            .mounts
            .iter()
            .map(|m| (m.destination.clone(), Empty {}))
            .collect(),
        working_dir: c.work_dir.clone(),
        labels: c.labels.clone(),
        annotations: Default::default(),
        stop_signal: c.stop_signal,
        stop_timeout: c.stop_timeout,
        exposed_ports: c
            .exposed_ports
            .iter()
            .map(|p| (p.clone(), Empty {}))
            .collect(),
    }
}

/// A bridged container's published ports, Docker-style.
fn port_map(c: &ContainerConfig) -> PortMap {
    let mut map = PortMap::new();
    for p in c.bridge.iter().flat_map(|b| &b.ports) {
        map.entry(format!("{}/{}", p.container_port, p.protocol.as_str()))
            .or_default()
            .push(HostPort {
                host_ip: p.host_ip.clone(),
                host_port: p.host_port.to_string(),
            });
    }
    map
}

fn host_config(c: &ContainerConfig) -> HostConfig {
    let ns = |mode: &NamespaceMode| mode.describe();
    let r = &c.resources;
    let throttles = |limits: &[BlockDeviceLimit]| {
        limits
            .iter()
            .map(|d| ThrottleDevice {
                path: d.path.clone(),
                rate: d.value,
            })
            .collect()
    };
    HostConfig {
        binds: c
            .mounts
            .iter()
            .filter_map(|m| {
                let source = match &m.source {
                    MountSource::Bind { source } => source,
                    MountSource::Volume { name } => name,
                    _ => return None,
                };
                Some(format!(
                    "{source}:{}:{}",
                    m.destination,
                    m.options.join(",")
                ))
            })
            .collect(),
        container_id_file: String::new(),
        log_config: LogConfig {
            kind: "k8s-file".into(),
            config: Default::default(),
            path: c.log_path.clone(),
        },
        network_mode: match &c.namespaces.net {
            NamespaceMode::Private => "bridge".to_string(),
            other => ns(other),
        },
        port_bindings: port_map(c),
        auto_remove: c.rm,
        cap_add: c.cap_add.clone(),
        cap_drop: c.cap_drop.clone(),
        dns: c.dns_servers.clone(),
        dns_options: c.dns_options.clone(),
        dns_search: c.dns_search.clone(),
        extra_hosts: c
            .hosts_add
            .iter()
            .map(|(n, a)| format!("{n}:{a}"))
            .collect(),
        group_add: c.group_add.clone(),
        ipc_mode: ns(&c.namespaces.ipc),
        cgroup: String::new(),
        cgroup_parent: c.cgroup_parent.clone(),
        oom_score_adj: c.oom_score_adj,
        pid_mode: ns(&c.namespaces.pid),
        privileged: c.privileged,
        readonly_rootfs: c.readonly_rootfs,
        security_opt: security_opts(c),
        tmpfs: c
            .mounts
            .iter()
            .filter(|m| m.source == MountSource::Tmpfs)
            .map(|m| (m.destination.clone(), m.options.join(",")))
            .collect(),
        uts_mode: ns(&c.namespaces.uts),
        userns_mode: ns(&c.namespaces.user),
        shm_size: c.shm_size,
        runtime: "oci".into(),
        init: !c.init.is_empty(),
        sysctls: c.sysctls.clone(),
        cpu_shares: r.cpu_shares,
        memory: r.memory,
        nano_cpus: (r.cpu_quota.max(0) as u64)
            .checked_mul(1_000_000_000)
            .and_then(|n| n.checked_div(r.cpu_period))
            .unwrap_or(0),
        cpu_period: r.cpu_period,
        cpu_quota: r.cpu_quota,
        cpu_realtime_period: r.cpu_rt_period,
        cpu_realtime_runtime: r.cpu_rt_runtime,
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        blkio_weight: r.blkio_weight,
        blkio_weight_device: r
            .blkio_weight_device
            .iter()
            .map(|d| WeightDevice {
                path: d.path.clone(),
                weight: d.value,
            })
            .collect(),
        blkio_device_read_bps: throttles(&r.device_read_bps),
        blkio_device_write_bps: throttles(&r.device_write_bps),
        blkio_device_read_iops: throttles(&r.device_read_iops),
        blkio_device_write_iops: throttles(&r.device_write_iops),
        devices: c
            .devices
            .iter()
            .map(|d| InspectDevice {
                path_on_host: d.host.clone(),
                path_in_container: d.container.clone(),
                cgroup_permissions: d.permissions.clone(),
            })
            .collect(),
        kernel_memory: r.kernel_memory,
        memory_reservation: r.memory_reservation,
        memory_swap: r.memory_swap,
        memory_swappiness: r.memory_swappiness.map(|s| s as i64).unwrap_or(-1),
        oom_kill_disable: r.disable_oom_killer,
        pids_limit: r.pids_limit,
        ulimits: c
            .ulimits
            .iter()
            .map(|u| InspectUlimit {
                name: u.name.clone(),
                soft: u.soft,
                hard: u.hard,
            })
            .collect(),
    }
}

/// The security options of a container, as `podman inspect` lists them.
fn security_opts(c: &ContainerConfig) -> Vec<String> {
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
