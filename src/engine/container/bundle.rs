//! A container's bundle: everything on the host its runtime spec refers to (the generated
//! /etc files, /dev/shm, volume directories, shifted ownership, namespaces to join), then
//! the spec itself. Lifecycle calls `Containers::prepare` at every init; nothing here
//! runs the container.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::record::ContainerRecord;
use super::service::Containers;
use crate::engine::error::{Error, Result};
use crate::engine::id::container::ContainerId;
use crate::engine::monitor;
use crate::engine::network::BridgeAddress;
use crate::engine::runtime::seccomp::Seccomp;
use crate::engine::runtime::seccomp_cache;
use crate::engine::runtime::spec::build::build;
use crate::engine::runtime::spec::devices::{Device, host_devices};
use crate::engine::runtime::spec::input::{MountSource, NamespaceMode, SpecInput};
use crate::engine::storage::dirs;
use crate::engine::storage::overlay::{self, Overlay};
use crate::engine::storage::remove_tree;
use crate::engine::volume;

/// The bundle directory inside a container's storage directory.
pub const BUNDLE_DIR: &str = "userdata";
/// The container's /dev/shm on the host, inside its run directory.
pub const SHM_DIR: &str = "shm";
impl Containers {
    /// Everything on the host the spec refers to, then the spec.
    pub(super) fn prepare(
        &self,
        record: &mut ContainerRecord,
        overlay: &Overlay,
        run_dir: &Path,
    ) -> Result<oci_spec::runtime::Spec> {
        let c = record.config.clone();
        // The root of the container's user namespace, on the host.
        let root_uid = c
            .uid_map
            .iter()
            .find(|m| m.container_id == 0)
            .map(|m| m.host_id);
        let root_gid = c
            .gid_map
            .iter()
            .find(|m| m.container_id == 0)
            .map(|m| m.host_id);
        if !c.uid_map.is_empty() && !record.state.rootfs_shifted {
            // Files of the image belong to IDs of the host; in a user namespace they must
            // belong to the mapped IDs. The overlay has metacopy on, so only metadata is
            // copied up, once.
            super::shift::shift_ownership(&overlay.merged, &c.uid_map, &c.gid_map)
                .map_err(|e| Error::io("shift ownership of", &overlay.merged, e))?;
            record.state.rootfs_shifted = true;
            self.store().save(record)?;
        }
        // A container in another's network namespace (a pod member, `container:ID`) has that
        // one's address: its /etc/hosts names it there, as Podman's did by sharing the
        // owner's hosts entries.
        let joined = match &c.namespaces.net {
            NamespaceMode::Container(id) => self
                .store()
                .resolve(id)
                .ok()
                .and_then(|h| h.snapshot().config.bridge.clone()),
            _ => None,
        };
        write_etc_files(record, joined.as_ref(), run_dir)?;
        let mut namespace_paths = BTreeMap::new();
        for (kind, mode) in c.namespaces.each() {
            match mode {
                NamespaceMode::Path(path) => {
                    namespace_paths.insert(kind, path.clone());
                }
                NamespaceMode::Container(id) => {
                    let pid = self.running_pid(id, kind)?;
                    namespace_paths.insert(kind, format!("/proc/{pid}/ns/{kind}"));
                }
                _ => {}
            }
        }
        let shm_dir = self.shm_dir(record, run_dir)?;
        if root_uid.is_some() || root_gid.is_some() {
            // The container's root, unprivileged on the host, must pass through its
            // directories to its root filesystem and the files mounted into it (which
            // become its own); what else is in them stays root's.
            for dir in [self.store().dir(&record.id), run_dir.to_path_buf()] {
                dirs::create_dir_with_mode(&dir, dirs::TRAVERSABLE_DIR_MODE)?;
            }
            let owned = [
                run_dir.join("hostname"),
                run_dir.join("hosts"),
                run_dir.join("resolv.conf"),
            ];
            let shm = shm_dir.starts_with(run_dir).then(|| shm_dir.clone());
            for path in owned.iter().chain(shm.iter()) {
                std::os::unix::fs::chown(path, root_uid, root_gid)
                    .map_err(|e| Error::io("chown", path, e))?;
            }
        }

        let mut mount_sources = Vec::new();
        for (index, m) in c.mounts.iter().enumerate() {
            mount_sources.push(match &m.source {
                MountSource::Bind { source } => Some(PathBuf::from(source)),
                MountSource::Volume { name } => {
                    let owner = root_uid.zip(root_gid);
                    Some(volume::data_dir(self.root(), name, owner)?)
                }
                MountSource::ImageVolume => {
                    let dir = self.store().image_volume(&record.id, index);
                    let volumes = dir.parent().unwrap_or(&dir).to_path_buf();
                    if !dir.exists() {
                        // Filled aside and renamed into place: a failed copy is retried at
                        // the next start rather than left half done.
                        let partial = volumes.join(format!(".{index}.partial"));
                        // What a failed start left; if it cannot go, filling it
                        // below fails and says why.
                        if let Err(e) = remove_tree(&partial) {
                            log::debug!("remove {}: {e}", partial.display());
                        }
                        std::fs::create_dir_all(&partial)
                            .map_err(|e| Error::io("create directory", &partial, e))?;
                        // The image's path, its symlinks resolved inside the root filesystem
                        // (an image could otherwise point a volume at the host's /etc).
                        if let Some(inside) =
                            volume::resolve_in_root(&overlay.merged, &m.destination)
                        {
                            volume::copy_tree(&inside, &partial)
                                .map_err(|e| Error::io("fill image volume from", &inside, e))?;
                        }
                        std::fs::rename(&partial, &dir)
                            .map_err(|e| Error::io("rename", &partial, e))?;
                    }
                    Some(dir)
                }
                MountSource::Tmpfs => None,
            });
        }
        let devices = if c.privileged {
            host_devices()
        } else {
            c.devices
                .iter()
                .map(|d| Device::from_host(Path::new(&d.host), &d.container, &d.permissions))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(|e| Error::invalid("create.devices", format!("devices: {e}")))?
        };
        // The choice create recorded, made again by the same function: a profile removed
        // since create is an error now, not a silent start without a filter.
        let seccomp = Seccomp::choose(&c.seccomp)
            .filter(&c.capabilities)
            .map_err(|e| Error::invalid("create.security_opt", e.to_string()))?;
        let seccomp_bpf = self.seccomp_program(&record.id, seccomp.as_ref());
        let mut config = c.spec_config();
        // Last before the spec: a failure from here on releases the container's run, and
        // with it tears the endpoint down.
        if let Some(netns) = self.setup_network(record)? {
            let netns = netns.display().to_string();
            config.namespaces.net = NamespaceMode::Path(netns.clone());
            namespace_paths.insert("net", netns);
        }
        let input = SpecInput {
            config,
            rootfs: &overlay.merged,
            etc_dir: run_dir,
            shm_dir: &shm_dir,
            namespace_paths,
            mount_sources,
            devices,
            seccomp,
            seccomp_bpf,
            cgroups_path: Self::cgroup_path(record),
        };
        build(&input)
    }

    /// The compiled program of `seccomp`, when the runtime takes one ready (crun), from the
    /// cache under the run root. A profile that cannot be compiled here is left to the
    /// runtime, which compiles it (or says why it cannot) itself.
    fn seccomp_program(&self, id: &str, seccomp: Option<&serde_json::Value>) -> Option<Vec<u8>> {
        let seccomp = seccomp?;
        let runtime = self.runtime_or_err().ok()?;
        if !runtime.enforces_seccomp() {
            // Asked for by name, it is used as it is (`runtime::select`); said, not silent.
            log::warn!(
                "container {id}: {} {} was built without seccomp (no +SECCOMP): the container \
                 runs without its seccomp filter",
                runtime.name,
                runtime.path.display()
            );
            return None;
        }
        if !runtime.takes_seccomp_bpf() {
            return None;
        }
        let cache = self.runroot().join(seccomp_cache::CACHE_DIR);
        seccomp_cache::program(&cache, seccomp)
            .inspect_err(|e| log::warn!("{e}: the runtime compiles it"))
            .ok()?
    }

    /// The pid of container `id`, which must run, for joining its `kind` namespace.
    fn running_pid(&self, id: &str, kind: &str) -> Result<i32> {
        let handle = self.store().resolve(id).map_err(|_| {
            Error::invalid(
                mode_field(kind),
                format!("the container whose {kind} namespace this one joins ({id}) is gone"),
            )
        })?;
        // Its snapshot, not its lock: this runs with our own container locked, and waiting
        // here for an operation on the other one (a stop's timeout) would hold ours too.
        let target = handle.snapshot();
        let alive = target.status().is_active()
            && target.state.pid > 0
            && monitor::read_exit(&self.store().run_dir(&target.id)).is_none()
            && monitor::is_monitor(target.state.monitor_pid, id);
        if !alive {
            return Err(Error::invalid(
                mode_field(kind),
                format!(
                    "the {kind} namespace belongs to container {id}, which is {}: start it first",
                    target.status().as_str()
                ),
            ));
        }
        Ok(target.state.pid)
    }

    /// The host directory mounted at the container's /dev/shm: the client's, the host's, the
    /// one of the container it shares IPC with, or a tmpfs of its own.
    fn shm_dir(&self, record: &ContainerRecord, run_dir: &Path) -> Result<PathBuf> {
        let c = &record.config;
        if !c.shm_dir.is_empty() {
            return Ok(PathBuf::from(&c.shm_dir));
        }
        match &c.namespaces.ipc {
            NamespaceMode::Host => return Ok(PathBuf::from("/dev/shm")),
            NamespaceMode::Container(id) => {
                let id = ContainerId::parse(id)
                    .map_err(|e| Error::invalid("create.ipc_mode", e.to_string()))?;
                return Ok(self.store().run_dir(&id).join(SHM_DIR));
            }
            _ => {}
        }
        let dir = run_dir.join(SHM_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        if !overlay::is_mounted(&dir) {
            let options = format!("mode=1777,size={}", c.shm_size);
            nix::mount::mount(
                Some("shm"),
                &dir,
                Some("tmpfs"),
                nix::mount::MsFlags::MS_NOSUID
                    | nix::mount::MsFlags::MS_NOEXEC
                    | nix::mount::MsFlags::MS_NODEV,
                Some(options.as_str()),
            )
            .map_err(|e| Error::io("mount tmpfs on", &dir, e.into()))?;
        }
        Ok(dir)
    }
}

/// The create option that named the namespace of `kind` to join.
fn mode_field(kind: &str) -> &'static str {
    match kind {
        "ipc" => "create.ipc_mode",
        "pid" => "create.pid_mode",
        "uts" => "create.uts_mode",
        "net" => "create.net_mode",
        "user" => "create.userns_mode",
        "cgroup" => "create.cgroupns_mode",
        _ => "create",
    }
}

/// The files bind-mounted over /etc/hostname, /etc/hosts and /etc/resolv.conf; `joined` is
/// the bridge address of the container whose network namespace this one joins, if any.
pub fn write_etc_files(
    record: &ContainerRecord,
    joined: Option<&BridgeAddress>,
    run_dir: &Path,
) -> Result<()> {
    let c = &record.config;
    let write = |name: &str, text: String| {
        let path = run_dir.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io("write", path, e))
    };
    write("hostname", format!("{}\n", c.hostname))?;
    write("hosts", hosts(record, joined))?;
    let host_net = c.namespaces.net == NamespaceMode::Host;
    write(
        "resolv.conf",
        resolv_conf(
            &host_resolv_conf(),
            host_net,
            &c.dns_servers,
            &c.dns_search,
            &c.dns_options,
        ),
    )
}

/// /etc/hosts: localhost; on the bridge (its own, or that of the container whose network it
/// joins), the address with the container's host name and name, and
/// `host.containers.internal` for the gateway (the host, as Podman names it); elsewhere the
/// host name on 127.0.1.1; then `host_add`'s entries.
fn hosts(record: &ContainerRecord, joined: Option<&BridgeAddress>) -> String {
    let c = &record.config;
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
    let bridge = c.bridge.as_ref().or(joined);
    if let Some(bridge) = bridge {
        let mut names = c.hostname.clone();
        if !record.name.is_empty() && record.name != c.hostname {
            names = format!("{names} {}", record.name);
        }
        hosts.push_str(&format!("{}\t{names}\n", bridge.ip));
        hosts.push_str(&format!("{}\thost.containers.internal\n", bridge.gateway));
    }
    for (name, address) in &c.hosts_add {
        hosts.push_str(&format!("{address}\t{name}\n"));
    }
    if bridge.is_none() {
        hosts.push_str(&format!("127.0.1.1\t{}\n", c.hostname));
    }
    hosts
}

/// systemd-resolved's stub listener (127.0.0.53) answers only in the host's namespace.
const RESOLVED_STUB: &str = "127.0.0.53";
/// Where systemd-resolved lists the servers it forwards to.
const RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";

/// The host's resolv.conf; when it points at systemd-resolved's stub, the servers resolved
/// forwards to instead, as Podman 1.x did.
fn host_resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let stub = host.lines().any(|l| {
        let mut words = l.split_whitespace();
        words.next() == Some("nameserver") && words.next() == Some(RESOLVED_STUB)
    });
    if stub && let Ok(upstream) = std::fs::read_to_string(RESOLVED_UPSTREAM) {
        return upstream;
    }
    host
}

/// The host's resolv.conf with the container's servers, search domains and options in place
/// of the host's (each only when given). Loopback servers of the host are dropped unless the
/// container shares the host's network (`host_net`): they mean nothing inside a network
/// namespace of its own. Podman 1.x then fell back to Google's public servers when none was
/// left; podlink does not send a container's queries to a third party nobody configured, so
/// the file then lists no server (and a client sees that names do not resolve).
fn resolv_conf(
    host: &str,
    host_net: bool,
    servers: &[String],
    search: &[String],
    options: &[String],
) -> String {
    let mut host_servers = Vec::new();
    let mut host_search = Vec::new();
    let mut host_options = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => host_servers.extend(words.map(String::from)),
            Some("search") | Some("domain") => host_search.extend(words.map(String::from)),
            Some("options") => host_options.extend(words.map(String::from)),
            _ => {}
        }
    }
    host_servers.retain(|s| {
        s.parse::<std::net::IpAddr>()
            .map(|ip| host_net || !ip.is_loopback())
            .unwrap_or(false)
    });
    let pick = |given: &[String], host: Vec<String>| {
        if given.is_empty() {
            host
        } else {
            given.to_vec()
        }
    };
    let mut text = String::new();
    let search = pick(search, host_search);
    if !search.is_empty() {
        text.push_str(&format!("search {}\n", search.join(" ")));
    }
    for server in pick(servers, host_servers) {
        text.push_str(&format!("nameserver {server}\n"));
    }
    let options = pick(options, host_options);
    if !options.is_empty() {
        text.push_str(&format!("options {}\n", options.join(" ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_replaces_what_is_given() {
        let host =
            "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch corp\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, false, &[], &[], &[]),
            "search corp\nnameserver 10.0.0.1\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf(host, true, &[], &[], &[]),
            "search corp\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf(
                host,
                false,
                &["1.1.1.1".into()],
                &["a.example".into()],
                &["ndots:2".into()]
            ),
            "search a.example\nnameserver 1.1.1.1\noptions ndots:2\n"
        );
    }
}
