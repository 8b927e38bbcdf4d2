//! Published ports: `[ip:][hostPort:]containerPort[/tcp|udp]` (ranges too), the host port
//! chosen when omitted.

use serde::{Deserialize, Serialize};

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// The host address it is published on; empty: every address.
    pub host_ip: String,
    /// The host port; 0 until `Network::allocate` chooses one.
    pub host_port: u16,
    /// The port inside the container.
    pub container_port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

/// Parses one `publish` entry (`[ip:][hostPort:]containerPort[/tcp|udp]`, where either port
/// may be a range `A-B` of the same length as the other) into its mappings, host ports 0
/// where omitted. Errors name `field` and the entry.
pub fn parse_publish(field: &'static str, spec: &str) -> super::Result<Vec<PortMapping>> {
    let _ = (field, spec);
    todo!("network: parse_publish")
}
