//! Container views → wire structs, and wire arguments → container options
//! (`CreateContainer`, `ContainerRunlabel`).

use crate::varlink::generated as wire;

/// `ListContainers` / `GetContainer` entry.
pub fn container(c: crate::engine::container::view::ContainerSummary) -> wire::ListContainerData {
    let ns = |k: &str| c.namespaces.get(k).cloned().unwrap_or_default();
    wire::ListContainerData {
        namespaces: wire::ContainerNameSpace {
            user: ns("user"),
            uts: ns("uts"),
            pidns: ns("pidns"),
            pid: ns("pid"),
            cgroup: ns("cgroup"),
            net: ns("net"),
            mnt: ns("mnt"),
            ipc: ns("ipc"),
        },
        id: c.id,
        image: c.image,
        imageid: c.image_id,
        command: c.command,
        createdat: c.created,
        runningfor: c.running_for,
        status: c.status,
        ports: c
            .ports
            .iter()
            .map(|p| wire::ContainerPortMappings {
                host_port: p.host_port.to_string(),
                host_ip: p.host_ip.clone(),
                protocol: p.protocol.as_str().to_string(),
                container_port: p.container_port.to_string(),
            })
            .collect(),
        rootfssize: 0,
        rwsize: 0,
        names: c.name,
        labels: c.labels,
        mounts: c
            .mounts
            .into_iter()
            .map(|m| wire::ContainerMount {
                destination: m.destination,
                r#type: m.kind,
                source: m.source,
                options: m.options,
            })
            .collect(),
        containerrunning: c.running,
    }
}

/// `GetContainerStats`'s reply (also `GetPodStats`' entries).
pub fn container_stats(s: crate::engine::container::stats::ContainerStats) -> wire::ContainerStats {
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    wire::ContainerStats {
        id: s.id,
        name: s.name,
        cpu: s.cpu_percent,
        cpu_nano: int(s.cpu_nanos),
        system_nano: int(s.system_nanos),
        mem_usage: int(s.mem_usage),
        mem_limit: int(s.mem_limit),
        mem_perc: s.mem_percent,
        net_input: int(s.net_input),
        net_output: int(s.net_output),
        block_output: int(s.block_output),
        block_input: int(s.block_input),
        pids: int(s.pids),
    }
}

/// `ContainerRunlabel`'s input, with its pull options (`authfile`, `certDir`, `creds`,
/// `signaturePolicyPath`, and `tlsVerify` when the client sent it); malformed `creds` are an
/// error.
pub fn runlabel_options(
    r: wire::Runlabel,
    tls_verify: Option<bool>,
) -> Result<crate::engine::container::runlabel::RunlabelOptions, crate::engine::Error> {
    let registry = super::registries::call_options(tls_verify, &r.certDir, &r.creds, &r.authfile)?;
    Ok(crate::engine::container::runlabel::RunlabelOptions {
        image: r.image,
        label: r.label,
        name: r.name,
        pull: r.pull,
        registry,
        signature_policy: (!r.signaturePolicyPath.is_empty())
            .then(|| std::path::PathBuf::from(r.signaturePolicyPath)),
        display: r.display,
        extra_args: r.extraArgs,
        opts: r.opts,
    })
}

/// `CreateContainer`'s input as engine options: every field, as the client sent it. The
/// engine parses and checks them (and refuses, by name, what it cannot honour).
pub fn create_options(
    create: wire::Create,
) -> crate::engine::container::create::options::CreateOptions {
    use crate::engine::container::create::options::{
        CreateOptions, IdMappingOptions, ResourceOptions,
    };
    use crate::engine::runtime::spec::input::IdMap;
    let wire::Create {
        args,
        cap_add,
        cap_drop,
        conmon_pidfile,
        cgroup_parent,
        command,
        // Asks for what podlink always does: CreateContainer never attaches.
        detach: _,
        devices,
        dns_opt,
        dns_search,
        dns_servers,
        entrypoint,
        env,
        exposed_ports,
        gidmap,
        group_add,
        host_add,
        hostname,
        image,
        image_id,
        init,
        init_path,
        builtin_imgvolumes,
        id_mappings,
        image_volume_type,
        interactive,
        ipc_mode,
        labels,
        log_driver,
        log_driver_opt,
        name,
        net_mode,
        network,
        pid_mode,
        pod,
        privileged,
        publish,
        publish_all,
        // Output options of the CLI; a reply is the same either way.
        quiet: _,
        readonly_rootfs,
        resources: r,
        rm,
        shm_dir,
        stop_signal,
        stop_timeout,
        subuidmap,
        subgidmap,
        subuidname,
        subgidname,
        sys_ctl,
        tmpfs,
        tty,
        uidmap,
        userns_mode,
        user,
        uts_mode,
        volumes,
        work_dir,
        mount_label,
        process_label,
        no_new_privs,
        apparmor_profile,
        seccomp_profile_path,
        security_opts,
    } = create;
    // Later revisions put the image in args[0] and the command after it.
    let (image, command) = if image.is_empty() && image_id.is_empty() && !args.is_empty() {
        let command = if command.is_empty() {
            args[1..].to_vec()
        } else {
            command
        };
        (args[0].clone(), command)
    } else {
        (image, command)
    };
    let id_map = |m: wire::IDMap| IdMap {
        container_id: u32::try_from(m.container_id).unwrap_or(u32::MAX),
        host_id: u32::try_from(m.host_id).unwrap_or(u32::MAX),
        size: u32::try_from(m.size).unwrap_or(0),
    };
    CreateOptions {
        image,
        image_id,
        name,
        command,
        entrypoint: (!entrypoint.is_empty()).then_some(entrypoint),
        env: env.into_iter().collect(),
        work_dir,
        user,
        group_add,
        hostname,
        labels,
        rm,
        stop_signal: i32::try_from(stop_signal).unwrap_or(-1),
        stop_timeout: u64::try_from(stop_timeout).unwrap_or(0),
        readonly_rootfs,
        tty,
        interactive,
        privileged,
        cap_add,
        cap_drop,
        devices,
        tmpfs,
        volumes,
        image_volume_type,
        builtin_imgvolumes,
        shm_dir,
        sysctls: sys_ctl.into_iter().collect(),
        resources: ResourceOptions {
            blkio_weight: r.blkio_weight,
            blkio_weight_device: r.blkio_weight_device,
            cpu_period: r.cpu_period,
            cpu_quota: r.cpu_quota,
            cpu_rt_period: r.cpu_rt_period,
            cpu_rt_runtime: r.cpu_rt_runtime,
            cpu_shares: r.cpu_shares,
            cpus: r.cpus,
            cpuset_cpus: r.cpuset_cpus,
            cpuset_mems: r.cpuset_mems,
            device_read_bps: r.device_read_bps,
            device_read_iops: r.device_read_iops,
            device_write_bps: r.device_write_bps,
            device_write_iops: r.device_write_iops,
            disable_oomkiller: r.disable_oomkiller,
            kernel_memory: r.kernel_memory,
            memory: r.memory,
            memory_reservation: r.memory_reservation,
            memory_swap: r.memory_swap,
            memory_swappiness: r.memory_swappiness,
            oom_score_adj: r.oom_score_adj,
            pids_limit: r.pids_limit,
            shm_size: r.shm_size,
            ulimit: r.ulimit,
        },
        security_opts,
        no_new_privs,
        seccomp_profile_path,
        apparmor_profile,
        mount_label,
        process_label,
        ipc_mode,
        pid_mode,
        uts_mode,
        userns_mode,
        net_mode,
        network,
        uidmap,
        gidmap,
        subuidname,
        subgidname,
        subuidmap,
        subgidmap,
        id_mappings: IdMappingOptions {
            host_uid_mapping: id_mappings.host_uid_mapping,
            host_gid_mapping: id_mappings.host_gid_mapping,
            uid_map: id_map(id_mappings.uid_map),
            gid_map: id_map(id_mappings.gid_map),
        },
        dns_servers,
        dns_search,
        dns_opt,
        host_add,
        init,
        init_path,
        cgroup_parent,
        // Not on the wire: only the pod room sets it.
        cgroupns_mode: String::new(),
        conmon_pidfile,
        log_driver,
        log_driver_opt,
        exposed_ports,
        publish,
        publish_all,
        pod,
    }
}
