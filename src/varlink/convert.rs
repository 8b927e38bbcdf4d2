//! Engine views → wire structs (and, as methods land, wire arguments → engine options).

use std::time::Duration;

use super::generated as wire;
use crate::engine::system::{SystemInfo, VersionInfo};

/// The interface revision: 1 for the io.podman varlink API.
const REMOTE_API_VERSION: i64 = 1;

/// `GetVersion`'s reply.
pub fn version(v: VersionInfo) -> wire::Version {
    wire::Version {
        version: v.version,
        go_version: v.compiler,
        git_commit: v.git_commit,
        built: v.built,
        os_arch: v.os_arch,
        remote_api_version: REMOTE_API_VERSION,
    }
}

/// `GetInfo`'s reply.
pub fn info(info: SystemInfo, version: VersionInfo) -> wire::PodmanInfo {
    let SystemInfo {
        host,
        store,
        registries,
        insecure_registries,
    } = info;
    wire::PodmanInfo {
        host: wire::InfoHost {
            buildah_version: String::new(),
            distribution: wire::InfoDistribution {
                distribution: host.distribution,
                version: host.distribution_version,
            },
            mem_free: host.mem_free,
            mem_total: host.mem_total,
            swap_free: host.swap_free,
            swap_total: host.swap_total,
            arch: host.arch,
            cpus: host.cpus,
            hostname: host.hostname,
            kernel: host.kernel,
            os: host.os,
            uptime: uptime(host.uptime),
        },
        registries,
        insecure_registries,
        store: wire::InfoStore {
            containers: store.containers,
            images: store.images,
            graph_driver_name: store.driver,
            graph_driver_options: String::new(),
            graph_root: store.graph_root,
            graph_status: wire::InfoGraphStatus {
                backing_filesystem: store.backing_filesystem,
                native_overlay_diff: store.native_overlay_diff.to_string(),
                supports_d_type: store.supports_d_type.to_string(),
            },
            run_root: store.run_root,
        },
        podman: wire::InfoPodmanBinary {
            compiler: version.compiler.clone(),
            go_version: version.compiler,
            podman_version: version.version,
            git_commit: version.git_commit,
        },
    }
}

/// Uptime as Podman printed it: `1h 2m 3.45s (Approximately 0.04 days)`.
fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    let s = (secs % 60) as f64 + f64::from(d.subsec_millis()) / 1000.0;
    let days = d.as_secs_f64() / 86400.0;
    format!("{h}h {m}m {s:.2}s (Approximately {days:.2} days)")
}

/// `ListImages` / `GetImage` entry.
pub fn image(image: crate::engine::image::ImageSummary) -> wire::ImageInList {
    wire::ImageInList {
        id: image.id,
        parentId: String::new(),
        repoTags: image.repo_tags,
        repoDigests: image.repo_digests,
        created: image.created,
        size: image.size,
        virtualSize: image.size,
        containers: image.containers,
        labels: image.labels,
        isParent: false,
    }
}

/// `HistoryImage` entry.
pub fn history(entry: crate::engine::image::HistoryEntry) -> wire::ImageHistory {
    wire::ImageHistory {
        id: entry.id,
        created: entry.created,
        createdBy: entry.created_by,
        tags: entry.tags,
        size: entry.size,
        comment: entry.comment,
    }
}

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
        ports: Vec::new(),
        rootfssize: 0,
        rwsize: 0,
        names: c.name,
        labels: c.labels,
        mounts: Vec::new(),
        containerrunning: c.running,
    }
}

/// `CreateContainer`'s input as engine options. Every field podlink does not honour yet must
/// be left at its zero value: one that is set is refused, by name, rather than ignored.
pub fn create_options(
    create: wire::Create,
) -> crate::engine::Result<crate::engine::container::create::CreateOptions> {
    use crate::engine::Error;
    let wire::Create {
        args,
        command,
        entrypoint,
        env,
        hostname,
        image,
        labels,
        name,
        rm,
        stop_signal,
        stop_timeout,
        user,
        work_dir,
        readonly_rootfs,
        // Accepted without effect: they ask for what podlink does anyway (a detached
        // container, quiet output) or name a log driver podlink always uses.
        detach: _,
        quiet: _,
        log_driver,
        resources,
        id_mappings,
        ..
    } = create.clone();
    let unsupported = unsupported_create_fields(&create, &resources, &id_mappings);
    if let Some(field) = unsupported.first() {
        return Err(Error::InvalidArgument(format!(
            "CreateContainer: the field {field:?} is not supported by podlink yet"
        )));
    }
    if !log_driver.is_empty() && log_driver != "k8s-file" {
        return Err(Error::InvalidArgument(format!(
            "CreateContainer: log_driver {log_driver:?}: only k8s-file is supported"
        )));
    }
    let (image, command) = if image.is_empty() && !args.is_empty() {
        (
            args[0].clone(),
            if command.is_empty() {
                args[1..].to_vec()
            } else {
                command
            },
        )
    } else {
        (image, command)
    };
    Ok(crate::engine::container::create::CreateOptions {
        image,
        name,
        command,
        entrypoint: (!entrypoint.is_empty()).then_some(entrypoint),
        env: env.into_iter().collect(),
        work_dir,
        user,
        hostname,
        labels,
        rm,
        stop_signal: i32::try_from(stop_signal).unwrap_or(-1),
        stop_timeout: u64::try_from(stop_timeout).unwrap_or(0),
        readonly_rootfs,
    })
}

/// The names of set fields podlink cannot honour yet.
fn unsupported_create_fields(
    c: &wire::Create,
    r: &wire::CreateResourceConfig,
    m: &wire::IDMappingOptions,
) -> Vec<&'static str> {
    let mut set = Vec::new();
    let mut check = |name: &'static str, is_set: bool| {
        if is_set {
            set.push(name);
        }
    };
    check("cap_add", !c.cap_add.is_empty());
    check("cap_drop", !c.cap_drop.is_empty());
    check("conmon_pidfile", !c.conmon_pidfile.is_empty());
    check("cgroup_parent", !c.cgroup_parent.is_empty());
    check("devices", !c.devices.is_empty());
    check("dns_opt", !c.dns_opt.is_empty());
    check("dns_search", !c.dns_search.is_empty());
    check("dns_servers", !c.dns_servers.is_empty());
    check("exposed_ports", !c.exposed_ports.is_empty());
    check("gidmap", !c.gidmap.is_empty());
    check("group_add", !c.group_add.is_empty());
    check("host_add", !c.host_add.is_empty());
    check("image_id", !c.image_id.is_empty());
    check("init", c.init);
    check("init_path", !c.init_path.is_empty());
    check("builtin_imgvolumes", !c.builtin_imgvolumes.is_empty());
    check(
        "id_mappings",
        m.host_uid_mapping || m.host_gid_mapping || m.uid_map.size != 0 || m.gid_map.size != 0,
    );
    check("image_volume_type", !c.image_volume_type.is_empty());
    check("interactive", c.interactive);
    check("ipc_mode", !c.ipc_mode.is_empty());
    check("log_driver_opt", !c.log_driver_opt.is_empty());
    check("net_mode", !c.net_mode.is_empty());
    check("network", !c.network.is_empty());
    check("pid_mode", !c.pid_mode.is_empty());
    check("pod", !c.pod.is_empty());
    check("privileged", c.privileged);
    check("publish", !c.publish.is_empty());
    check("publish_all", c.publish_all);
    check("resources", *r != wire::CreateResourceConfig::default());
    check("shm_dir", !c.shm_dir.is_empty());
    check("subuidmap", !c.subuidmap.is_empty());
    check("subgidmap", !c.subgidmap.is_empty());
    check("subuidname", !c.subuidname.is_empty());
    check("subgidname", !c.subgidname.is_empty());
    check("sys_ctl", !c.sys_ctl.is_empty());
    check("tmpfs", !c.tmpfs.is_empty());
    check("tty", c.tty);
    check("uidmap", !c.uidmap.is_empty());
    check("userns_mode", !c.userns_mode.is_empty());
    check("uts_mode", !c.uts_mode.is_empty());
    check("volumes", !c.volumes.is_empty());
    check("mount_label", !c.mount_label.is_empty());
    check("process_label", !c.process_label.is_empty());
    check("no_new_privs", c.no_new_privs);
    check("apparmor_profile", !c.apparmor_profile.is_empty());
    check("seccomp_profile_path", !c.seccomp_profile_path.is_empty());
    check("security_opts", !c.security_opts.is_empty());
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_like_podman() {
        assert_eq!(
            uptime(Duration::from_millis(3_723_450)),
            "1h 2m 3.45s (Approximately 0.04 days)"
        );
        assert_eq!(
            uptime(Duration::ZERO),
            "0h 0m 0.00s (Approximately 0.00 days)"
        );
    }
}
