//! The `create_container` entry point: the image resolved, every option resolved into a
//! [`ContainerConfig`] step by step, the record inserted.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::caps::capabilities;
use super::host::{cgroup_parent, dns_servers, exposed_ports, init_binary, log_path, parse_host};
use super::idmap::id_maps;
use super::mounts::{mounts, parse_device};
use super::network::published_ports;
use super::options::{CreateOptions, invalid};
use super::process::{
    DEFAULT_STOP_TIMEOUT, command, environment, image_labels, is_signal, signal_number,
};
use super::resources::{DEFAULT_SHM_SIZE, resources, sysctls, ulimits};
use super::user::{resolve_group, resolve_user};
use crate::engine::container::bundle::BUNDLE_DIR;
use crate::engine::container::config::ContainerConfig;
use crate::engine::container::names::new_id;
use crate::engine::container::new_record;
use crate::engine::container::service::Containers;
use crate::engine::error::{Error, Result};
use crate::engine::id::container::ContainerId;
use crate::engine::monitor::LOG_FILE;
use crate::engine::runtime::spec::input::{INIT_PATH_IN_CONTAINER, IdMap, NamespaceMode};

impl Containers {
    /// io.podman.CreateContainer: records a new container; returns its ID. A container of a
    /// pod comes with `pod` already the pod's ID and its namespaces set by the pod room.
    pub fn create_container(&self, options: CreateOptions) -> Result<String> {
        self.create_from(options, None)
    }

    /// Records a new container of an image, or (`infra`: its root filesystem, host name and
    /// ID, which the pod's record holds already) a pod's infra container, which has none.
    pub(in crate::engine::container) fn create_from(
        &self,
        options: CreateOptions,
        infra: Option<(PathBuf, String, ContainerId)>,
    ) -> Result<String> {
        // After a restart: not before the records are read and the addresses and ports they
        // hold claimed, or this create could be given one of them.
        self.store().wait_open();
        let image_name = options.image_name().to_string();
        let (image_id, image_config, layers, lower) = match &infra {
            Some((rootfs, _, _)) => (
                crate::engine::container::infra::infra_image_id(),
                Value::Null,
                Vec::new(),
                vec![rootfs.clone()],
            ),
            None => {
                let image = self.images().resolve(&image_name)?;
                if !options.image.is_empty()
                    && !options.image_id.is_empty()
                    && !image
                        .record
                        .id
                        .starts_with(options.image_id.trim_start_matches("sha256:"))
                {
                    return Err(invalid(
                        "create.image_id",
                        format!("{} is not the ID of {:?}", options.image_id, options.image),
                    ));
                }
                let lower: Vec<PathBuf> = image
                    .record
                    .layers
                    .iter()
                    .rev()
                    .map(|l| self.images().layers().diff_dir(l))
                    .collect();
                let config = image.config["config"].clone();
                (
                    image.record.id.clone(),
                    config,
                    image.record.layers.clone(),
                    lower,
                )
            }
        };
        let image_config = &image_config;
        let id = match &infra {
            Some((_, _, id)) => id.clone(),
            None => new_id(),
        };
        // An empty name is generated when the record goes in, under the store's lock, so two
        // creates cannot pick the same one.
        if !options.name.is_empty() {
            validate_name(&options.name)?;
        }
        let name = options.name.clone();
        let mut config = self.resolve_config(&id, image_config, &lower, &options)?;
        let ports = published_ports(&config, &options)?;
        if options.image.is_empty() {
            config.labels.extend(image_labels(image_config));
        }
        config.pod = options.pod.clone();
        if let Some((_, hostname, _)) = &infra {
            config.infra = true;
            config.hostname = hostname.clone();
        }
        let mut record = new_record(id.clone(), name, image_id.clone());
        record.image_name = match infra {
            Some(_) => crate::engine::container::infra::INFRA_IMAGE_NAME.to_string(),
            None => image_name,
        };
        record.layers = layers;
        record.config = config;
        if record.config.log_path.is_empty() {
            // With the container's storage, as Podman keeps it: it lasts across reboots,
            // and does not fill the run root's memory.
            record.config.log_path = self
                .store()
                .dir(&id)
                .join(BUNDLE_DIR)
                .join(LOG_FILE)
                .display()
                .to_string();
        }
        let infra = record.config.infra;
        if let Some(ports) = ports {
            // Last: nothing after it refuses an option, so only a failing insert gives it back.
            record.config.bridge = Some(self.network().allocate(&id, ports)?);
        }
        let handle = match self.store().insert(record) {
            Ok(handle) => handle,
            Err(e) => {
                self.network().release(&id);
                return Err(e);
            }
        };
        // A RemoveImage that ran meanwhile saw no container using the image: if the image
        // went, so does the container, rather than stay unable to start.
        if !infra && self.images().resolve(&image_id).is_err() {
            let record = handle.lock();
            self.remove_locked(&handle, &record)?;
            return Err(Error::ImageNotFound {
                name: options.image_name().to_string(),
                reason: "the image was removed while the container was created".into(),
            });
        }
        Ok(id.to_string())
    }

    /// Resolves every option into the container's configuration, one concern at a time;
    /// the order matters where a step reads what an earlier one decided (namespaces before
    /// the host name, sysctls and ID maps; capabilities before seccomp).
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
        resolve_process(&mut c, id, image, lower, o)?;
        if o.hostname.is_empty()
            && let NamespaceMode::Container(target) = &c.namespaces.uts
        {
            // A UTS namespace joined is its owner's host name (a pod's members: the pod's).
            c.hostname = self
                .store()
                .resolve(target)?
                .snapshot()
                .config
                .hostname
                .clone();
        }
        self.resolve_sandbox(&mut c, image, o)?;
        self.security(o, &mut c)?;
        self.resolve_user_namespace(&mut c, o)?;
        resolve_host_files(&mut c, image, o)?;
        Ok(c)
    }

    /// Capabilities, devices, mounts, /dev/shm, sysctls, limits and the cgroup.
    fn resolve_sandbox(
        &self,
        c: &mut ContainerConfig,
        image: &Value,
        o: &CreateOptions,
    ) -> Result<()> {
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
            n => {
                return Err(invalid(
                    "create.resources.shm_size",
                    format!("{n} is negative"),
                ));
            }
        };
        if !o.shm_dir.is_empty() {
            if !Path::new(&o.shm_dir).is_dir() {
                return Err(invalid(
                    "create.shm_dir",
                    format!("{} is not a directory on the server", o.shm_dir),
                ));
            }
            c.shm_dir = o.shm_dir.clone();
        }
        c.sysctls = sysctls(&o.sysctls, &c.namespaces)?;
        c.ulimits = ulimits(&o.resources.ulimit)?;
        c.cgroup_parent = cgroup_parent(&o.cgroup_parent, self.cgroup_parent())?;
        // crun 1.8 sets a v1 weight only through CFQ's `blkio.weight`: checked at create, as
        // a start would fail on a host with BFQ only.
        let cfq_only = self
            .runtime_or_err()
            .is_ok_and(|r| r.kind() == crate::engine::runtime::RuntimeKind::Crun);
        c.resources = resources(&o.resources, &c.cgroup_parent, cfq_only)?;
        c.oom_score_adj = match o.resources.oom_score_adj {
            n @ -1000..=1000 => n as i32,
            n => {
                return Err(invalid(
                    "create.resources.oom_score_adj",
                    format!("{n} is not in -1000..1000"),
                ));
            }
        };
        Ok(())
    }

    /// The ID maps, and the user namespace they need: maps of a joined namespace are its
    /// owner's; maps given make the namespace private; a private one needs maps.
    fn resolve_user_namespace(&self, c: &mut ContainerConfig, o: &CreateOptions) -> Result<()> {
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
                        "create.uidmap",
                        format!(
                            "ID maps need a private user namespace, not {}",
                            other.describe()
                        ),
                    ));
                }
            }
        } else if c.namespaces.user == NamespaceMode::Private {
            return Err(invalid(
                "create.userns_mode",
                "a private user namespace needs uidmap, gidmap or subuidname",
            ));
        }
        Ok(())
    }
}

/// What runs and as whom (the command is resolved before): host name, environment, working directory, user and
/// groups, labels, stop signal and timeout.
fn resolve_process(
    c: &mut ContainerConfig,
    id: &str,
    image: &Value,
    lower: &[PathBuf],
    o: &CreateOptions,
) -> Result<()> {
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
        return Err(invalid("create.work_dir", "must be an absolute path"));
    };
    c.user = if o.user.is_empty() {
        image["User"].as_str().unwrap_or_default().to_string()
    } else {
        o.user.clone()
    };
    (c.uid, c.gid, c.additional_gids) = resolve_user(&c.user, lower)?;
    for group in &o.group_add {
        let gid = resolve_group("create.group_add", group, lower)?;
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
        n if is_signal(n.into()) => n,
        n => {
            return Err(invalid(
                "create.stop_signal",
                format!("{n} is not a signal"),
            ));
        }
    };
    c.stop_timeout = if o.stop_timeout == 0 {
        DEFAULT_STOP_TIMEOUT
    } else {
        o.stop_timeout
    };
    Ok(())
}

/// DNS, extra hosts, the init, the monitor's pid file, the log and exposed ports.
fn resolve_host_files(c: &mut ContainerConfig, image: &Value, o: &CreateOptions) -> Result<()> {
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
            return Err(invalid(
                "create.init",
                "an init needs a private PID namespace",
            ));
        }
        c.init = init_binary(&o.init_path)?;
        let mut command = vec![INIT_PATH_IN_CONTAINER.to_string(), "--".into()];
        command.extend(std::mem::take(&mut c.command));
        c.command = command;
    }
    if !o.conmon_pidfile.is_empty() {
        if !o.conmon_pidfile.starts_with('/') {
            return Err(invalid("create.conmon_pidfile", "must be an absolute path"));
        }
        c.conmon_pidfile = o.conmon_pidfile.clone();
    }
    c.log_path = log_path(&o.log_driver, &o.log_driver_opt)?;
    c.exposed_ports = exposed_ports(image, &o.exposed_ports)?;
    Ok(())
}

fn validate_name(name: &str) -> Result<()> {
    if crate::engine::container::is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::invalid(
            "create.name",
            format!(
                "container name {name:?}: names are letters, digits and _ . - and start with a \
                 letter or digit"
            ),
        ))
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
        Err(invalid(
            "create.hostname",
            format!("{name:?} is not a host name"),
        ))
    }
}
