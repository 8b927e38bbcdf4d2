//! What create asks of the host: DNS servers, extra hosts, the init binary, the cgroup
//! parent, the log path, exposed ports.

use std::path::Path;

use serde_json::Value;

use super::mounts::clean_destination;
use super::options::invalid;
use crate::engine::error::Result;

/// Where an init binary is looked for when `init` is set without `init_path`.
const INIT_CANDIDATES: [&str; 2] = ["/usr/libexec/podman/catatonit", "/usr/bin/catatonit"];

/// DNS servers, each an IP address; `none` alone keeps the image's resolv.conf.
pub(super) fn dns_servers(given: &[String]) -> Result<(Vec<String>, bool)> {
    if given.len() == 1 && given[0] == "none" {
        return Ok((Vec::new(), true));
    }
    for server in given {
        if server.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid(
                "create.dns_servers",
                format!("{server:?} is not an IP address"),
            ));
        }
    }
    Ok((given.to_vec(), false))
}

/// `name:address`, split at the first colon so IPv6 addresses work.
pub(super) fn parse_host(spec: &str) -> Result<(String, String)> {
    let (name, address) = spec
        .split_once(':')
        .ok_or_else(|| invalid("create.host_add", format!("{spec:?}: use NAME:ADDRESS")))?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(invalid(
            "create.host_add",
            format!("{spec:?}: bad host name"),
        ));
    }
    if address.parse::<std::net::IpAddr>().is_err() {
        return Err(invalid(
            "create.host_add",
            format!("{spec:?}: {address:?} is not an IP address"),
        ));
    }
    Ok((name.to_string(), address.to_string()))
}

/// The init binary: `init_path`, or catatonit where Podman (or Debian) puts it.
pub(super) fn init_binary(init_path: &str) -> Result<String> {
    let candidates: Vec<&str> = if init_path.is_empty() {
        INIT_CANDIDATES.to_vec()
    } else {
        vec![init_path]
    };
    candidates
        .iter()
        .find(|p| Path::new(p).is_file())
        .map(|p| p.to_string())
        .ok_or_else(|| {
            invalid(
                "create.init",
                format!(
                    "no init binary at {} (install catatonit, or give init_path)",
                    candidates.join(" or ")
                ),
            )
        })
}

/// The cgroup parent: absolute, without `..`.
pub(super) fn cgroup_parent(given: &str, default: &str) -> Result<String> {
    if given.is_empty() {
        return Ok(default.to_string());
    }
    if given.ends_with(".slice") {
        return Err(invalid(
            "create.cgroup_parent",
            "systemd slices need the systemd cgroup manager; podlink uses cgroupfs paths",
        ));
    }
    let path = clean_destination(
        "create.cgroup_parent",
        &format!("/{}", given.trim_start_matches('/')),
    )?;
    Ok(path.trim_end_matches('/').to_string())
}

/// The log file: the default (`""`) or `path=` from the log options.
pub(super) fn log_path(driver: &str, options: &[String]) -> Result<String> {
    match driver {
        // Podman 1.x's conmon writes json-file containers in the k8s-file format too.
        "" | "k8s-file" | "json-file" => {}
        other => {
            return Err(invalid(
                "create.log_driver",
                format!("{other:?}: podlink writes k8s-file logs only"),
            ));
        }
    }
    let mut path = String::new();
    for option in options {
        match option.split_once('=') {
            Some(("path", p)) if p.starts_with('/') => path = p.to_string(),
            _ => {
                return Err(invalid(
                    "create.log_driver_opt",
                    format!("{option:?}: only path=/ABSOLUTE/PATH is supported"),
                ));
            }
        }
    }
    Ok(path)
}

/// Exposed ports (`80`, `80/tcp`, `53/udp`), the image's and the client's.
pub(super) fn exposed_ports(image: &Value, given: &[String]) -> Result<Vec<String>> {
    let mut ports: Vec<String> = image["ExposedPorts"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for port in given {
        let (number, protocol) = port.split_once('/').unwrap_or((port, "tcp"));
        let range_ok = number
            .split('-')
            .all(|n| n.parse::<u16>().is_ok_and(|n| n > 0));
        if !range_ok || !["tcp", "udp", "sctp"].contains(&protocol) {
            return Err(invalid(
                "create.exposed_ports",
                format!("{port:?} is not a port"),
            ));
        }
        ports.push(format!("{number}/{protocol}"));
    }
    ports.sort();
    ports.dedup();
    Ok(ports)
}
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::container::create::options::strs;

    #[test]
    fn hosts_dns_logs_ports_and_cgroups() {
        assert_eq!(
            parse_host("db:10.0.0.2").unwrap(),
            ("db".into(), "10.0.0.2".into())
        );
        assert_eq!(parse_host("v6:fe80::1").unwrap().1, "fe80::1");
        assert!(parse_host("db:not-an-ip").is_err());
        assert_eq!(dns_servers(&strs(&["none"])).unwrap(), (vec![], true));
        assert!(dns_servers(&strs(&["dns.example"])).is_err());
        assert_eq!(
            log_path("json-file", &strs(&["path=/tmp/l"])).unwrap(),
            "/tmp/l"
        );
        assert!(log_path("journald", &[]).is_err());
        assert!(log_path("", &strs(&["max-size=1m"])).is_err());
        assert_eq!(
            exposed_ports(
                &json!({"ExposedPorts": {"80/tcp": {}}}),
                &strs(&["53/udp", "80"])
            )
            .unwrap(),
            ["53/udp", "80/tcp"]
        );
        assert!(exposed_ports(&json!({}), &strs(&["0"])).is_err());
        assert_eq!(cgroup_parent("", "/podlink").unwrap(), "/podlink");
        assert_eq!(cgroup_parent("mine/sub/", "/podlink").unwrap(), "/mine/sub");
        assert!(cgroup_parent("/a/../b", "/podlink").is_err());
        assert!(cgroup_parent("machine.slice", "/podlink").is_err());
    }
}
