//! The network of a new container: whether it goes on the bridge (`net_mode` bridge, the
//! default as in Podman 1.x), the `network` named, and the ports it publishes (`publish`,
//! `publish_all` over its exposed ports). The address and host ports are allocated by
//! `create_container` once every other option is resolved, so a refused option never holds
//! an address.

use super::options::{CreateOptions, invalid};
use crate::engine::container::config::ContainerConfig;
use crate::engine::error::Result;
use crate::engine::network::{DEFAULT_NETWORK, PortMapping, Protocol, ports};
use crate::engine::runtime::spec::input::NamespaceMode;

/// `net_mode` values that put a container on the default bridge.
const BRIDGE_MODES: [&str; 4] = ["", "bridge", "default", "private"];

/// `network` values that name the default network: Podman 1.x's name, and the ones podlink
/// accepted before it had a bridge.
const DEFAULT_NETWORK_NAMES: [&str; 4] = ["", DEFAULT_NETWORK, "bridge", "default"];

/// Whether `net_mode` puts the container on the bridge.
pub(super) fn wants_bridge(net_mode: &str) -> bool {
    BRIDGE_MODES.contains(&net_mode)
}

/// The ports a bridged container publishes, host ports still 0 where they are to be chosen;
/// `None` when it is not bridged (then publishing is an error naming the field).
pub(super) fn published_ports(
    c: &ContainerConfig,
    o: &CreateOptions,
) -> Result<Option<Vec<PortMapping>>> {
    if !DEFAULT_NETWORK_NAMES.contains(&o.network.as_str()) {
        return Err(invalid(
            "create.network",
            format!(
                "{:?}: no such network (podlink has one, {DEFAULT_NETWORK:?}, and no way to \
                 create others)",
                o.network
            ),
        ));
    }
    let bridged = wants_bridge(&o.net_mode) && c.namespaces.net == NamespaceMode::Private;
    if !bridged {
        if !o.publish.is_empty() || o.publish_all {
            let field = if o.publish.is_empty() {
                "create.publish_all"
            } else {
                "create.publish"
            };
            return Err(invalid(
                field,
                format!(
                    "ports are published on the bridge network, not with net_mode {:?}",
                    o.net_mode
                ),
            ));
        }
        return Ok(None);
    }
    let mut mappings = Vec::new();
    for spec in &o.publish {
        mappings.extend(ports::parse_publish("create.publish", spec)?);
    }
    if o.publish_all {
        for exposed in &c.exposed_ports {
            for (port, protocol) in exposed_port(exposed)? {
                let taken = mappings
                    .iter()
                    .any(|m| m.container_port == port && m.protocol == protocol);
                if !taken {
                    mappings.push(PortMapping {
                        host_ip: String::new(),
                        host_port: 0,
                        container_port: port,
                        protocol,
                    });
                }
            }
        }
    }
    Ok(Some(mappings))
}

/// The ports of one exposed port as create recorded it (`80/tcp`, `8000-8002/udp`).
fn exposed_port(exposed: &str) -> Result<Vec<(u16, Protocol)>> {
    let bad = |why: &str| {
        invalid(
            "create.publish_all",
            format!("exposed port {exposed:?}: {why}"),
        )
    };
    let (number, protocol) = exposed.split_once('/').unwrap_or((exposed, "tcp"));
    let protocol = match protocol {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => return Err(bad("only tcp and udp ports can be published")),
    };
    let (first, last) = number.split_once('-').unwrap_or((number, number));
    let (Ok(first), Ok(last)) = (first.parse::<u16>(), last.parse::<u16>()) else {
        return Err(bad("not a port"));
    };
    if first == 0 || last < first {
        return Err(bad("not a port range"));
    }
    Ok((first..=last).map(|p| (p, protocol)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_ports_expand_to_published_ones() {
        assert_eq!(exposed_port("80/tcp").unwrap(), [(80, Protocol::Tcp)]);
        assert_eq!(
            exposed_port("53-54/udp").unwrap(),
            [(53, Protocol::Udp), (54, Protocol::Udp)]
        );
        assert!(exposed_port("9/sctp").is_err());
        assert!(exposed_port("0/tcp").is_err());
        assert!(wants_bridge("") && wants_bridge("bridge") && !wants_bridge("none"));
    }
}
