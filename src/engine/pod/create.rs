//! CreatePod, and CreateContainer with `pod`: a container joining a pod gets the namespaces
//! the pod shares (its infra container's) and the pod's cgroup.

use std::collections::BTreeMap;

use super::Pods;
use super::invalid;
use super::store::PodRecord;
use crate::engine::container::create::options::CreateOptions;
use crate::engine::container::new_id;
use crate::engine::error::{Error, Result};

/// The namespaces a pod with an infra container shares when `share` is empty.
pub const DEFAULT_SHARE: &[&str] = &["net", "ipc", "uts"];

/// CreatePod's input, as the engine takes it: the wire's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodCreateOptions {
    /// The name; generated when empty.
    pub name: String,
    /// The cgroup parent; the service's default when empty.
    pub cgroup_parent: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Namespaces to share: of net, ipc, uts, pid, cgroup (or `none`).
    pub share: Vec<String>,
    /// Make an infra container.
    pub infra: bool,
    /// Refused, as Podman 1.x refused it.
    pub infra_command: String,
    /// Refused, as Podman 1.x refused it.
    pub infra_image: String,
    /// Ports to publish on the pod's infra container.
    pub publish: Vec<String>,
}

impl Pods<'_> {
    /// io.podman.CreatePod: records a pod (and makes its infra container); returns its ID.
    ///
    /// As Podman 1.x's CreatePod: `infra` false (the zero value) makes a pod without one, and
    /// then `share` and `publish` are refused; `infraCommand` and `infraImage` are refused.
    /// Unlike it, `infra` with an empty `share` shares Podman's CLI default (net, ipc, uts)
    /// rather than failing.
    pub fn create_pod(&self, o: PodCreateOptions) -> Result<String> {
        if !o.infra_command.is_empty() {
            return Err(invalid(
                "CreatePod",
                "create.infraCommand",
                "the infra-command and infra-image options are not supported yet",
            ));
        }
        if !o.infra_image.is_empty() {
            return Err(invalid(
                "CreatePod",
                "create.infraImage",
                "the infra-command and infra-image options are not supported yet",
            ));
        }
        if !o.name.is_empty() {
            validate_name(&o.name)?;
        }
        let mut share = share_list(&o.share)?;
        if !share.is_empty() && !o.infra {
            return Err(invalid(
                "CreatePod",
                "create.share",
                "namespaces are shared on the pod level through an infra container: set infra",
            ));
        }
        if o.infra && share.is_empty() && !o.share.iter().any(|s| s == "none") {
            share = DEFAULT_SHARE.iter().map(|s| s.to_string()).collect();
        }
        if !o.publish.is_empty() && !o.infra {
            return Err(invalid(
                "CreatePod",
                "create.publish",
                "ports are published on the pod's infra container: set infra",
            ));
        }
        if !o.publish.is_empty() && !share.iter().any(|s| s == "net") {
            return Err(invalid(
                "CreatePod",
                "create.publish",
                "ports are published on the pod's network, which it shares only with net in \
                 share",
            ));
        }
        // The infra container's host name is the pod's name, and host names have at most 64
        // bytes: a longer name would make a pod that can never start.
        if o.infra && o.name.len() > MAX_HOSTNAME {
            return Err(invalid(
                "CreatePod",
                "create.name",
                format!(
                    "pod name {:?} is longer than {MAX_HOSTNAME} characters: it is the infra \
                     container's host name",
                    o.name
                ),
            ));
        }
        let cgroup_parent = pod_cgroup_parent(&o.cgroup_parent, self.containers().cgroup_parent())?;
        let id = new_id();
        let mut record = PodRecord::new(id.clone(), o.name.clone());
        record.labels = o.labels;
        record.cgroup_path = format!("{cgroup_parent}/libpod_pod_{id}");
        record.cgroup_parent = cgroup_parent;
        record.share = share;
        record.infra = o.infra;
        record.publish = o.publish.clone();
        // The infra container's ID is chosen now so that the record, written once, names it.
        let infra_id = new_id();
        if o.infra {
            record.infra_id = infra_id.to_string();
        }
        // The record first: a container never names a pod that was not recorded. (A crash
        // before the infra container's record leaves a pod whose infra is missing: its
        // members cannot be made, and RemovePod removes it.)
        let handle = self.store().insert(record)?;
        if !o.infra {
            return Ok(id.to_string());
        }
        let _op = handle.lock(&o.name)?;
        let record = handle.record();
        let infra = CreateOptions {
            name: format!("{}-infra", &id[..12]),
            pod: id.to_string(),
            cgroup_parent: record.cgroup_path.clone(),
            publish: o.publish,
            ..Default::default()
        };
        let made = self
            .containers()
            .create_infra_container(infra_id, infra, &record.name);
        if let Err(e) = made {
            // Nothing of the pod is left: its infra container (if it was recorded), then
            // its record.
            for member in self.members(&id) {
                if let Err(cleanup) = self.containers().remove_container(&member.id, true) {
                    log::warn!("pod {id}: removing its infra container: {cleanup}");
                }
            }
            if let Err(cleanup) = self.store().remove(&handle) {
                return Err(e.with_cleanup("removing the pod's record", cleanup));
            }
            return Err(e);
        }
        Ok(id.to_string())
    }

    /// io.podman.CreateContainer: a container with `pod` joins the namespaces that pod shares
    /// (its infra container's) and goes in its cgroup; one without is an ordinary create.
    /// A namespace mode, published port or cgroup parent that contradicts the pod is refused
    /// by name.
    pub fn create_container(&self, mut o: CreateOptions) -> Result<String> {
        if o.pod.is_empty() {
            return self.containers().create_container(o);
        }
        let handle = self
            .store()
            .resolve(&o.pod)
            .map_err(|e| invalid("CreateContainer", "create.pod", e.to_string()))?;
        let _op = handle.lock(&o.pod)?;
        let pod = handle.record();
        if pod.infra {
            let infra = self.infra_id(&pod)?;
            let join = format!("container:{infra}");
            for (kind, field, mode) in [
                ("net", "create.net_mode", &mut o.net_mode),
                ("ipc", "create.ipc_mode", &mut o.ipc_mode),
                ("uts", "create.uts_mode", &mut o.uts_mode),
                ("pid", "create.pid_mode", &mut o.pid_mode),
                ("cgroup", "create.cgroupns_mode", &mut o.cgroupns_mode),
            ] {
                if !pod.shares(kind) {
                    continue;
                }
                // python-podman's Image.create always sends "bridge": the default, which in
                // a pod sharing its network is the pod's.
                let default = mode.is_empty()
                    || (kind == "net" && ["bridge", "default"].contains(&mode.as_str()));
                if !default && *mode != join {
                    return Err(invalid(
                        "CreateContainer",
                        field,
                        format!(
                            "{mode:?}: the container joins pod {}, which shares its {kind} \
                             namespace",
                            pod.name
                        ),
                    ));
                }
                *mode = join.clone();
            }
            if pod.shares("net") {
                let field = if !o.publish.is_empty() {
                    Some("create.publish")
                } else if o.publish_all {
                    Some("create.publish_all")
                } else {
                    None
                };
                if let Some(field) = field {
                    return Err(invalid(
                        "CreateContainer",
                        field,
                        format!(
                            "pod {} shares its network: ports are published when the pod is \
                             created",
                            pod.name
                        ),
                    ));
                }
            }
        }
        let given = o.cgroup_parent.trim_end_matches('/');
        if !given.is_empty() && given != pod.cgroup_path {
            return Err(invalid(
                "CreateContainer",
                "create.cgroup_parent",
                format!(
                    "a container of pod {} goes in the pod's cgroup {}",
                    pod.name, pod.cgroup_path
                ),
            ));
        }
        o.cgroup_parent = pod.cgroup_path.clone();
        o.pod = pod.id.to_string();
        self.containers().create_container(o)
    }

    /// The ID of the infra container of `pod`, which has one.
    pub(super) fn infra_id(&self, pod: &PodRecord) -> Result<String> {
        // A crash between the pod's record and its infra container's leaves none.
        if self.containers().store().resolve(&pod.infra_id).is_err() {
            return Err(Error::internal(
                "pod",
                format!(
                    "pod {} has lost its infra container {:?}: remove the pod",
                    pod.name, pod.infra_id
                ),
            ));
        }
        Ok(pod.infra_id.clone())
    }
}

/// The namespaces of `share`, checked; `none` (or an empty entry) shares nothing more.
fn share_list(share: &[String]) -> Result<Vec<String>> {
    let mut kinds = Vec::new();
    for kind in share {
        match kind.as_str() {
            "net" | "ipc" | "uts" | "pid" | "cgroup" => {
                if !kinds.contains(kind) {
                    kinds.push(kind.clone());
                }
            }
            "" | "none" => {}
            "mnt" | "user" => {
                return Err(invalid(
                    "CreatePod",
                    "create.share",
                    format!("sharing the {kind} namespace is not supported on the pod level"),
                ));
            }
            other => {
                return Err(invalid(
                    "CreatePod",
                    "create.share",
                    format!(
                        "{other:?} is not a namespace to share: use net, ipc, uts, pid, cgroup \
                         or none"
                    ),
                ));
            }
        }
    }
    Ok(kinds)
}

/// The pod's cgroup parent: the given one as an absolute cgroupfs path, or the default.
fn pod_cgroup_parent(given: &str, default: &str) -> Result<String> {
    if given.is_empty() {
        return Ok(default.to_string());
    }
    let field = "create.cgroupParent";
    if given.ends_with(".slice") {
        return Err(invalid(
            "CreatePod",
            field,
            format!(
                "{given:?}: systemd slices need the systemd cgroup manager; podlink uses cgroupfs paths"
            ),
        ));
    }
    let parts: Vec<&str> = given.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty()
        || parts
            .iter()
            .any(|p| *p == "." || *p == ".." || p.chars().any(|c| c.is_control()))
    {
        return Err(invalid(
            "CreatePod",
            field,
            format!("{given:?} is not a cgroup path"),
        ));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The most bytes a host name has (the kernel's `__NEW_UTS_LEN`).
const MAX_HOSTNAME: usize = 64;

fn validate_name(name: &str) -> Result<()> {
    if crate::engine::container::is_valid_name(name) {
        Ok(())
    } else {
        Err(invalid(
            "CreatePod",
            "create.name",
            format!(
                "pod name {name:?}: names are letters, digits and _ . - and start with a letter \
                 or digit"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_lists_are_checked() {
        assert_eq!(
            share_list(&["net".into(), "ipc".into(), "net".into()]).unwrap(),
            ["net", "ipc"]
        );
        assert!(share_list(&["none".into()]).unwrap().is_empty());
        for bad in ["mnt", "user", "bogus"] {
            let e = share_list(&[bad.into()]).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::Invalid {
                        field: "create.share",
                        ..
                    }
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn cgroup_parents_are_cgroupfs_paths() {
        assert_eq!(
            pod_cgroup_parent("", "/libpod_parent").unwrap(),
            "/libpod_parent"
        );
        assert_eq!(pod_cgroup_parent("a/b/", "/x").unwrap(), "/a/b");
        assert!(pod_cgroup_parent("machine.slice", "/x").is_err());
        assert!(pod_cgroup_parent("/a/../b", "/x").is_err());
    }
}
