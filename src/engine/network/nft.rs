//! podlink's nftables table (family `ip`): masquerade of the subnet, DNAT of published ports
//! through maps (one element per published port, so publishing or unpublishing is one `add
//! element` or `delete element`), and the forward accepts; plus, where the host's iptables
//! `FORWARD` policy is DROP, the accept rules Podman adds, tagged so only they are removed.
//!
//! Applied by exec of `nft -f -`, each change in one transaction: nftables' netlink protocol
//! (nf_tables batches of table, chain, set, element and expression messages, each
//! expression's registers by hand) is far more code than the rtnetlink of `link.rs`, and the
//! exec costs about 5 ms on this VM kind, paid only by endpoints that publish ports.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use super::ports::Protocol;

/// One DNAT element: traffic to the host's `host_port` (on `host_ip`, or on every local
/// address) goes to `ip:container_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The protocol.
    pub protocol: Protocol,
    /// The host address, or None for every local address.
    pub host_ip: Option<Ipv4Addr>,
    /// The host port.
    pub host_port: u16,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// The port inside.
    pub container_port: u16,
}

/// What podlink's table is made of for one network.
#[derive(Debug, Clone)]
pub struct Table {
    /// The table's name (family `ip`).
    pub name: String,
    /// The network's name: the maps are `<network>_tcp`, `<network>_tcp_ip`, ….
    pub network: String,
    /// The bridge.
    pub bridge: String,
    /// The subnet as `ADDRESS/PREFIX`.
    pub subnet: String,
}

impl Table {
    /// The map an element lives in.
    fn map_of(&self, e: &Element) -> String {
        let ip = if e.host_ip.is_some() { "_ip" } else { "" };
        format!("{}_{}{ip}", self.network, e.protocol.as_str())
    }

    /// `key : value` of an element.
    fn element_text(e: &Element) -> String {
        match e.host_ip {
            Some(h) => format!("{h} . {} : {} . {}", e.host_port, e.ip, e.container_port),
            None => format!("{} : {} . {}", e.host_port, e.ip, e.container_port),
        }
    }

    /// The key alone, for a deletion.
    fn key_text(e: &Element) -> String {
        match e.host_ip {
            Some(h) => format!("{h} . {}", e.host_port),
            None => e.host_port.to_string(),
        }
    }

    /// The whole table with `elements`, replacing whatever table of that name there is (the
    /// `add` first makes the `delete` valid when there is none).
    pub fn ruleset(&self, elements: &[Element]) -> String {
        let Table {
            name,
            network: n,
            bridge: br,
            subnet,
        } = self;
        let mut out = format!("add table ip {name}\ndelete table ip {name}\ntable ip {name} {{\n");
        for proto in ["tcp", "udp"] {
            out += &format!(
                "  map {n}_{proto} {{ type inet_service : ipv4_addr . inet_service; }}\n\
                 \x20 map {n}_{proto}_ip {{ type ipv4_addr . inet_service : ipv4_addr . inet_service; }}\n"
            );
        }
        out += &format!(
            "  chain published {{\n\
             \x20   dnat ip to ip daddr . tcp dport map @{n}_tcp_ip\n\
             \x20   dnat ip to tcp dport map @{n}_tcp\n\
             \x20   dnat ip to ip daddr . udp dport map @{n}_udp_ip\n\
             \x20   dnat ip to udp dport map @{n}_udp\n\
             \x20 }}\n\
             \x20 chain prerouting {{ type nat hook prerouting priority dstnat; policy accept;\n\
             \x20   fib daddr type local jump published\n\
             \x20 }}\n\
             \x20 chain output {{ type nat hook output priority -100; policy accept;\n\
             \x20   fib daddr type local jump published\n\
             \x20 }}\n\
             \x20 chain postrouting {{ type nat hook postrouting priority srcnat; policy accept;\n\
             \x20   ip saddr {subnet} ip daddr != {subnet} masquerade\n\
             \x20   oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade\n\
             \x20   oifname \"{br}\" ct status dnat ip saddr {subnet} masquerade\n\
             \x20 }}\n\
             \x20 chain forward {{ type filter hook forward priority filter; policy accept;\n\
             \x20   iifname \"{br}\" accept\n\
             \x20   oifname \"{br}\" accept\n\
             \x20 }}\n}}\n"
        );
        out += &self.add_elements(elements);
        out
    }

    /// `add element` lines for `elements`.
    pub fn add_elements(&self, elements: &[Element]) -> String {
        elements
            .iter()
            .map(|e| {
                format!(
                    "add element ip {} {} {{ {} }}\n",
                    self.name,
                    self.map_of(e),
                    Self::element_text(e)
                )
            })
            .collect()
    }

    /// `delete element` lines for `elements`.
    pub fn delete_elements(&self, elements: &[Element]) -> String {
        elements
            .iter()
            .map(|e| {
                format!(
                    "delete element ip {} {} {{ {} }}\n",
                    self.name,
                    self.map_of(e),
                    Self::key_text(e)
                )
            })
            .collect()
    }

    /// Removes the table (none: fine).
    pub fn remove(&self) -> std::io::Result<()> {
        let name = &self.name;
        apply(&format!("add table ip {name}\ndelete table ip {name}\n"))
    }
}

/// Runs `nft -f -` with `script` as one transaction; the error carries nft's stderr.
pub fn apply(script: &str) -> std::io::Result<()> {
    spawn(script)?.finish()
}

/// An `nft -f -` started by [`spawn`]: the caller may do other work while it runs (a
/// deletion of set elements waits for the kernel's RCU grace period, about 10 ms here).
#[derive(Debug)]
pub struct Running {
    child: std::process::Child,
}

/// Starts `nft -f -` with `script` (written at once: scripts are far below a pipe's size).
pub fn spawn(script: &str) -> std::io::Result<Running> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("run nft: {e}")))?;
    let written = child
        .stdin
        .take()
        .expect("stdin was piped")
        .write_all(script.as_bytes());
    if let Err(e) = written {
        child.kill().ok();
        child.wait().ok();
        return Err(e);
    }
    Ok(Running { child })
}

impl Running {
    /// Waits for nft; its failure carries its stderr.
    pub fn finish(self) -> std::io::Result<()> {
        let out = self.child.wait_with_output()?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(std::io::Error::other(format!(
            "nft -f - ({}): {}",
            out.status,
            stderr.trim()
        )))
    }
}

/// The iptables accept rules for `bridge` (Podman's, tagged with a comment so that only
/// these are ever removed).
fn iptables_rules(bridge: &str) -> [Vec<String>; 2] {
    let tag = format!("podlink {bridge}");
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    [
        s(&[
            "FORWARD",
            "-i",
            bridge,
            "-m",
            "comment",
            "--comment",
            &tag,
            "-j",
            "ACCEPT",
        ]),
        s(&[
            "FORWARD",
            "-o",
            bridge,
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-m",
            "comment",
            "--comment",
            &tag,
            "-j",
            "ACCEPT",
        ]),
    ]
}

/// Runs iptables with `op` and `rule`; Ok(false) when it ran and said no.
fn iptables(op: &str, rule: &[String]) -> std::io::Result<bool> {
    let out = Command::new("iptables")
        .arg("-w")
        .arg(op)
        .args(rule)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    Ok(out.status.success())
}

/// Whether the host's iptables `FORWARD` policy drops (no iptables: it does not).
fn forward_policy_drops() -> bool {
    Command::new("iptables")
        .args(["-w", "-S", "FORWARD"])
        .stderr(Stdio::null())
        .output()
        .map(|o| forward_drops(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or(false)
}

/// Whether `iptables -S FORWARD` output has a DROP policy.
fn forward_drops(listing: &str) -> bool {
    listing.lines().any(|l| l.trim() == "-P FORWARD DROP")
}

/// Where the FORWARD policy is DROP, inserts the accept rules for `bridge` unless they are
/// there; returns whether any were added.
pub fn add_forward_accepts(bridge: &str) -> std::io::Result<bool> {
    if !forward_policy_drops() {
        return Ok(false);
    }
    let mut added = false;
    for rule in iptables_rules(bridge) {
        if !iptables("-C", &rule)? {
            if !iptables("-I", &rule)? {
                return Err(std::io::Error::other(format!(
                    "iptables -I {} failed",
                    rule.join(" ")
                )));
            }
            added = true;
        }
    }
    Ok(added)
}

/// Removes podlink's accept rules for `bridge` (every copy; none: fine). Nothing else in
/// FORWARD is touched.
pub fn remove_forward_accepts(bridge: &str) {
    if Command::new("iptables").arg("--version").output().is_err() {
        return;
    }
    for rule in iptables_rules(bridge) {
        for _ in 0..8 {
            if !matches!(iptables("-D", &rule), Ok(true)) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            name: "podlink".into(),
            network: "podman".into(),
            bridge: "cni-podman0".into(),
            subnet: "10.88.0.0/16".into(),
        }
    }

    #[test]
    fn elements_go_to_the_map_of_their_protocol_and_address() {
        let t = table();
        let any = Element {
            protocol: Protocol::Tcp,
            host_ip: None,
            host_port: 8080,
            ip: Ipv4Addr::new(10, 88, 0, 2),
            container_port: 80,
        };
        let local = Element {
            protocol: Protocol::Udp,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            ..any.clone()
        };
        assert_eq!(
            t.add_elements(&[any.clone(), local.clone()]),
            "add element ip podlink podman_tcp { 8080 : 10.88.0.2 . 80 }\n\
             add element ip podlink podman_udp_ip { 127.0.0.1 . 8080 : 10.88.0.2 . 80 }\n"
        );
        assert_eq!(
            t.delete_elements(&[any, local]),
            "delete element ip podlink podman_tcp { 8080 }\n\
             delete element ip podlink podman_udp_ip { 127.0.0.1 . 8080 }\n"
        );
    }

    #[test]
    fn ruleset_replaces_the_table_and_names_bridge_and_subnet() {
        let text = table().ruleset(&[]);
        assert!(text.starts_with("add table ip podlink\ndelete table ip podlink\n"));
        assert!(text.contains("ip saddr 10.88.0.0/16 ip daddr != 10.88.0.0/16 masquerade"));
        assert!(text.contains("oifname \"cni-podman0\" ip saddr 127.0.0.0/8 masquerade"));
        assert!(text.contains("iifname \"cni-podman0\" accept"));
    }

    #[test]
    fn forward_policy_is_read_from_the_listing() {
        assert!(forward_drops("-P FORWARD DROP\n-A FORWARD -j DOCKER\n"));
        assert!(!forward_drops("-P FORWARD ACCEPT\n"));
        assert!(
            iptables_rules("br0")[1]
                .join(" ")
                .contains("--comment podlink br0")
        );
    }
}
