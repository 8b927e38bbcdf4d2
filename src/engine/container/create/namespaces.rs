//! Namespace modes from the `*_mode` options; `container:NAME` resolved to an ID.

use std::path::Path;

use super::options::{CreateOptions, invalid};
use crate::engine::container::service::Containers;
use crate::engine::error::Result;
use crate::engine::runtime::spec::input::{NamespaceMode, Namespaces};

impl Containers {
    /// Namespace modes from the `*_mode` options; `container:NAME` is resolved to an ID.
    pub(super) fn namespaces(&self, o: &CreateOptions) -> Result<Namespaces> {
        let parse = |field: &'static str, value: &str, extra: &[&str]| -> Result<NamespaceMode> {
            match value {
                "" | "private" => Ok(NamespaceMode::Private),
                "host" => Ok(NamespaceMode::Host),
                v if extra.contains(&v) => Ok(NamespaceMode::Private),
                v => {
                    if let Some(path) = v.strip_prefix("ns:") {
                        if !Path::new(path).exists() {
                            return Err(invalid(field, format!("{path} does not exist")));
                        }
                        Ok(NamespaceMode::Path(path.to_string()))
                    } else if let Some(target) = v.strip_prefix("container:") {
                        let handle = self
                            .store()
                            .resolve(target)
                            .map_err(|e| invalid(field, e))?;
                        Ok(NamespaceMode::Container(handle.snapshot().id.to_string()))
                    } else {
                        Err(invalid(
                            field,
                            format!(
                                "{v:?} is not a mode: use private, host, ns:PATH or container:ID"
                            ),
                        ))
                    }
                }
            }
        };
        let userns = match o.userns_mode.as_str() {
            "" | "host" => NamespaceMode::Host,
            "keep-id" => {
                return Err(invalid(
                    "create.userns_mode",
                    "keep-id is for rootless Podman; podlink runs as root (use uidmap)",
                ));
            }
            v => parse("create.userns_mode", v, &[])?,
        };
        let net = match o.net_mode.as_str() {
            // A namespace of the container's own: with loopback only ("none"), or on the
            // bridge (the others: "bridge" is Podman's default), which `network.rs` decides.
            "" | "bridge" | "default" | "none" | "private" => NamespaceMode::Private,
            "slirp4netns" => {
                return Err(invalid(
                    "create.net_mode",
                    "slirp4netns is for rootless Podman; podlink runs as root",
                ));
            }
            v if v.starts_with("slirp4netns:") => {
                return Err(invalid(
                    "create.net_mode",
                    "slirp4netns is for rootless Podman",
                ));
            }
            v if v == "host" || v.starts_with("ns:") || v.starts_with("container:") => {
                parse("create.net_mode", v, &[])?
            }
            v => {
                return Err(invalid(
                    "create.net_mode",
                    format!(
                        "{v:?}: no such network mode (use bridge, none, host, ns:PATH or \
                         container:ID; podlink has one network, the default bridge)"
                    ),
                ));
            }
        };
        Ok(Namespaces {
            ipc: parse("create.ipc_mode", &o.ipc_mode, &["none", "shareable"])?,
            pid: parse("create.pid_mode", &o.pid_mode, &[])?,
            uts: parse("create.uts_mode", &o.uts_mode, &[])?,
            net,
            user: userns,
            cgroup: match o.cgroupns_mode.as_str() {
                "" if crate::engine::runtime::cgroups::is_unified() => NamespaceMode::Private,
                "" => NamespaceMode::Host,
                v => parse("create.cgroupns_mode", v, &[])?,
            },
        })
    }
}
