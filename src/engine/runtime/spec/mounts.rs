//! The spec's mounts: the defaults every container gets (/proc, /dev, /sys, the generated
//! /etc files, the init binary), then the client's, parents before children.

use std::path::Path;

use serde_json::{Value, json};

use super::input::{INIT_PATH_IN_CONTAINER, IdMap, MountSource, NamespaceMode, SpecInput, to_host};
use crate::engine::error::{Error, Result};

fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Value {
    json!({"destination": destination, "type": kind, "source": source, "options": options})
}

/// Whether `id` is mapped by `maps`.
fn mapped(maps: &[IdMap], id: u32) -> bool {
    maps.is_empty() || to_host(maps, id).is_some()
}

/// Every mount of the spec, in order.
pub(super) fn mounts(input: &SpecInput) -> Result<Vec<Value>> {
    let c = &input.config;
    let ns = &c.namespaces;
    let userns = ns.user != NamespaceMode::Host;
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
    // The network namespace is not the user namespace's own when it is the host's, one
    // joined by path (a bridged container's, made by the service) or another container's
    // that is not in the same user namespace.
    let foreign_net = match &ns.net {
        NamespaceMode::Private => false,
        NamespaceMode::Container(_) => !matches!(ns.user, NamespaceMode::Container(_)),
        _ => true,
    };
    if foreign_net && userns {
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
            INIT_PATH_IN_CONTAINER,
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
                return Err(Error::internal(
                    "runtime spec",
                    format!(
                        "no host path for the mount of {other:?} at {}",
                        m.destination
                    ),
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
    Ok(mounts)
}
