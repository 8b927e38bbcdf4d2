//! Published ports: `[ip:][hostPort:]containerPort[/tcp|udp]` (ranges too), the host port
//! chosen when omitted, and the book of host ports held per owner.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};

use super::{NetworkError, Result};

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

impl PortMapping {
    /// The host address as an address: `0.0.0.0` for every address.
    pub fn host_addr(&self) -> Ipv4Addr {
        self.host_ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
    }
}

/// Parses one `publish` entry (`[ip:][hostPort:]containerPort[/tcp|udp]`, where either port
/// may be a range `A-B` of the same length as the other) into its mappings, host ports 0
/// where omitted. Errors name `field` and the entry.
pub fn parse_publish(field: &'static str, spec: &str) -> super::Result<Vec<PortMapping>> {
    let bad = |why: String| NetworkError::Invalid {
        field,
        reason: format!("{spec:?}: {why}"),
    };
    let (rest, protocol) = match spec.rsplit_once('/') {
        None => (spec, Protocol::Tcp),
        Some((rest, "tcp")) => (rest, Protocol::Tcp),
        Some((rest, "udp")) => (rest, Protocol::Udp),
        Some((_, other)) => return Err(bad(format!("unknown protocol {other:?} (tcp or udp)"))),
    };
    if rest.contains('[') || rest.matches(':').count() > 2 {
        let ip = rest.rsplitn(3, ':').last().unwrap_or(rest);
        return Err(bad(format!(
            "host address {ip} is IPv6: only IPv4 host addresses are supported"
        )));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts[..] {
        [c] => ("", "", c),
        [h, c] => ("", h, c),
        [ip, h, c] => (ip, h, c),
        _ => unreachable!("at most two colons were checked above"),
    };
    let host_ip = match ip {
        "" | "0.0.0.0" => String::new(),
        ip => {
            let addr: Ipv4Addr = ip
                .parse()
                .map_err(|_| bad(format!("host address {ip:?} is not an IPv4 address")))?;
            addr.to_string()
        }
    };
    let (c_first, c_last) = parse_range(container, "container port").map_err(bad)?;
    let host_range = match host {
        "" => None,
        h => Some(parse_range(h, "host port").map_err(bad)?),
    };
    if let Some((h_first, h_last)) = host_range
        && h_last - h_first != c_last - c_first
    {
        return Err(bad(format!(
            "host ports {h_first}-{h_last} and container ports {c_first}-{c_last} differ in length"
        )));
    }
    Ok((0..=c_last - c_first)
        .map(|i| PortMapping {
            host_ip: host_ip.clone(),
            host_port: host_range.map_or(0, |(first, _)| first + i),
            container_port: c_first + i,
            protocol,
        })
        .collect())
}

/// `A` or `A-B` with 1 ≤ A ≤ B ≤ 65535; on error, why, naming `what` (the kind of port).
fn parse_range(text: &str, what: &str) -> std::result::Result<(u16, u16), String> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0);
    let range = match text.split_once('-') {
        None => port(text).map(|p| (p, p)),
        Some((a, b)) => port(a).zip(port(b)).filter(|(a, b)| a <= b),
    };
    range.ok_or_else(|| format!("{what} {text:?} is not a port (1-65535) or a range A-B"))
}

/// Host ports held, per protocol, host address (`0.0.0.0`: every address) and port, with
/// their owners. The service keeps one under its lock.
#[derive(Debug, Default)]
pub struct PortBook {
    held: HashMap<(Protocol, Ipv4Addr, u16), String>,
}

impl PortBook {
    /// Takes `ports` for `owner` without checking the host (start-up: records already hold
    /// them, and the owner's own DNAT may be what answers on them).
    pub fn claim(&mut self, owner: &str, ports: &[PortMapping]) {
        for p in ports {
            self.held
                .insert((p.protocol, p.host_addr(), p.host_port), owner.to_string());
        }
    }

    /// Chooses every omitted host port and checks every given one (free in the book and on
    /// the host), then holds them all for `owner`. Nothing is held when it fails.
    pub fn allocate(
        &mut self,
        field: &'static str,
        owner: &str,
        mut ports: Vec<PortMapping>,
    ) -> Result<Vec<PortMapping>> {
        // Every mapping is checked on the host under the service's lock (creates and
        // removals wait meanwhile), and becomes an nftables element: a bound keeps one
        // client's `1-65535:1-65535` from stalling everyone.
        if ports.len() > MAX_MAPPINGS {
            return Err(NetworkError::Invalid {
                field,
                reason: format!(
                    "{} published ports: at most {MAX_MAPPINGS} per container",
                    ports.len()
                ),
            });
        }
        let mut taken: HashSet<(Protocol, Ipv4Addr, u16)> = HashSet::new();
        for p in ports.iter_mut().filter(|p| p.host_port != 0) {
            let key = (p.protocol, p.host_addr(), p.host_port);
            if let Some(holder) = self
                .holder(key)
                .or_else(|| taken.contains(&key).then_some(owner))
            {
                return Err(NetworkError::Invalid {
                    field,
                    reason: format!(
                        "host port {} ({}) is already published by container {holder}",
                        show(p),
                        p.protocol.as_str()
                    ),
                });
            }
            check_on_host(field, p)?;
            taken.insert(key);
        }
        for p in ports.iter_mut().filter(|p| p.host_port == 0) {
            p.host_port = self
                .free_port(p.protocol, p.host_addr(), &taken)
                .map_err(|e| NetworkError::Invalid {
                    field,
                    reason: format!(
                        "no free host port for container port {}: {e}",
                        p.container_port
                    ),
                })?;
            taken.insert((p.protocol, p.host_addr(), p.host_port));
        }
        for key in taken {
            self.held.insert(key, owner.to_string());
        }
        Ok(ports)
    }

    /// Gives back every port `owner` holds.
    pub fn release(&mut self, owner: &str) {
        self.held.retain(|_, o| o != owner);
    }

    /// Who holds `key`, counting a port held on every address as held on each, and a port
    /// held on one address as held for every address.
    fn holder(&self, (proto, ip, port): (Protocol, Ipv4Addr, u16)) -> Option<&str> {
        if ip.is_unspecified() {
            return self
                .held
                .iter()
                .find(|((p, _, n), _)| *p == proto && *n == port)
                .map(|(_, o)| o.as_str());
        }
        [ip, Ipv4Addr::UNSPECIFIED]
            .iter()
            .find_map(|ip| self.held.get(&(proto, *ip, port)))
            .map(String::as_str)
    }

    /// A port the host hands out for `ip` that nobody in the book holds.
    fn free_port(
        &self,
        proto: Protocol,
        ip: Ipv4Addr,
        taken: &HashSet<(Protocol, Ipv4Addr, u16)>,
    ) -> std::io::Result<u16> {
        for _ in 0..64 {
            let port = probe(proto, ip, 0)?;
            let key = (proto, ip, port);
            if self.holder(key).is_none() && !taken.contains(&key) {
                return Ok(port);
            }
        }
        Err(std::io::Error::other("every port the host offered is held"))
    }
}

/// Checks that each of `ports` is free on the host (a socket of its protocol binds to its
/// host address and port): at create, and again at every start, since anything on the host
/// may have taken a port since, and the DNAT would silently take its traffic.
pub fn check_free_on_host(field: &'static str, ports: &[PortMapping]) -> Result<()> {
    ports.iter().try_for_each(|p| check_on_host(field, p))
}

fn check_on_host(field: &'static str, p: &PortMapping) -> Result<()> {
    let Err(e) = probe(p.protocol, p.host_addr(), p.host_port) else {
        return Ok(());
    };
    let reason = if e.kind() == std::io::ErrorKind::AddrNotAvailable {
        format!("host address {} is not an address of this host", p.host_ip)
    } else {
        format!(
            "host port {} ({}) is taken on the host: {e}",
            show(p),
            p.protocol.as_str()
        )
    };
    Err(NetworkError::Invalid { field, reason })
}

/// The most ports one container (or pod) publishes.
pub const MAX_MAPPINGS: usize = 4096;

/// `ip:port`, or `port` for every address.
fn show(p: &PortMapping) -> String {
    match p.host_ip.as_str() {
        "" => p.host_port.to_string(),
        ip => format!("{ip}:{}", p.host_port),
    }
}

/// Binds (and at once closes) a socket of `proto` on `ip:port`; returns the port bound (the
/// one the kernel chose when `port` is 0). A port some process listens on fails here.
fn probe(proto: Protocol, ip: Ipv4Addr, port: u16) -> std::io::Result<u16> {
    let addr = SocketAddrV4::new(ip, port);
    let bound = match proto {
        Protocol::Tcp => TcpListener::bind(addr)?.local_addr()?,
        Protocol::Udp => UdpSocket::bind(addr)?.local_addr()?,
    };
    Ok(bound.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: &str = "create.publish";

    fn one(spec: &str) -> PortMapping {
        let mut v = parse_publish(F, spec).expect(spec);
        assert_eq!(v.len(), 1, "{spec}");
        v.remove(0)
    }

    fn err(spec: &str) -> String {
        parse_publish(F, spec).expect_err(spec).to_string()
    }

    #[test]
    fn forms() {
        let m = one("80");
        assert_eq!(
            (m.host_ip.as_str(), m.host_port, m.container_port),
            ("", 0, 80)
        );
        assert_eq!(m.protocol, Protocol::Tcp);
        let m = one("8080:80/udp");
        assert_eq!(
            (m.host_port, m.container_port, m.protocol),
            (8080, 80, Protocol::Udp)
        );
        let m = one("127.0.0.1:8080:80/tcp");
        assert_eq!((m.host_ip.as_str(), m.host_port), ("127.0.0.1", 8080));
        let m = one("127.0.0.1::80");
        assert_eq!((m.host_ip.as_str(), m.host_port), ("127.0.0.1", 0));
        let m = one("0.0.0.0:81:80");
        assert_eq!((m.host_ip.as_str(), m.host_port), ("", 81));
        let v = parse_publish(F, "9000-9002:8000-8002").unwrap();
        let pairs: Vec<_> = v.iter().map(|m| (m.host_port, m.container_port)).collect();
        assert_eq!(pairs, [(9000, 8000), (9001, 8001), (9002, 8002)]);
        let v = parse_publish(F, "8000-8001/udp").unwrap();
        assert!(
            v.iter()
                .all(|m| m.host_port == 0 && m.protocol == Protocol::Udp)
        );
    }

    #[test]
    fn errors_name_the_field_and_entry() {
        for (spec, needle) in [
            ("0", "container port \"0\""),
            ("65536", "container port"),
            ("80/sctp", "unknown protocol"),
            ("9000-9001:80", "differ in length"),
            ("9000:80-81", "differ in length"),
            ("[::1]:80:80", "IPv6"),
            ("::1:80:80", "IPv6"),
            ("300.1.1.1:80:80", "not an IPv4 address"),
            ("x:80", "host port \"x\""),
            ("90-80", "container port"),
        ] {
            let e = err(spec);
            assert!(e.starts_with(F), "{spec}: {e}");
            assert!(e.contains(needle), "{spec}: {e}");
            assert!(e.contains(spec), "{spec}: {e}");
        }
    }

    #[test]
    fn book_holds_and_chooses() {
        let mut book = PortBook::default();
        let ports = parse_publish(F, "127.0.0.1::80").unwrap();
        let got = book.allocate(F, "a", ports).unwrap();
        let port = got[0].host_port;
        assert_ne!(port, 0);
        // The same port on every address conflicts with one on 127.0.0.1.
        let again = parse_publish(F, &format!("{port}:81")).unwrap();
        let e = book
            .allocate(F, "b", again.clone())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&port.to_string()) && e.contains("container a"),
            "{e}"
        );
        // The other protocol is free.
        let udp = parse_publish(F, &format!("127.0.0.1:{port}:81/udp")).unwrap();
        book.allocate(F, "b", udp).unwrap();
        book.release("a");
        book.allocate(F, "c", again).unwrap();
    }

    #[test]
    fn port_taken_on_the_host_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut book = PortBook::default();
        for spec in [format!("127.0.0.1:{port}:80"), format!("{port}:80")] {
            let e = book
                .allocate(F, "a", parse_publish(F, &spec).unwrap())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&port.to_string()) && e.contains("taken on the host"),
                "{e}"
            );
        }
        // An address the host does not have.
        let e = book
            .allocate(F, "a", parse_publish(F, "192.0.2.7:8080:80").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("192.0.2.7 is not an address of this host"),
            "{e}"
        );
        // Two entries of one request asking for the same port.
        let mut twice = parse_publish(F, "127.0.0.1:1:80").unwrap();
        twice.extend(parse_publish(F, "127.0.0.1:1:81").unwrap());
        drop(listener);
        assert!(book.allocate(F, "a", twice).is_err());
    }

    #[test]
    fn too_many_mappings_are_refused_at_once() {
        let mut book = PortBook::default();
        let all = parse_publish(F, "1-65535:1-65535").unwrap();
        let started = std::time::Instant::now();
        let e = book.allocate(F, "a", all).unwrap_err().to_string();
        assert!(
            e.contains("65535 published ports") && e.contains("4096"),
            "{e}"
        );
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        assert!(book.held.is_empty());
    }
}
