//! Addresses in the subnet: next-fit allocation (so a released address is not handed out
//! again at once, as host-local IPAM did), claims at start-up from the records, releases.
//! The gateway is the subnet's first host address; the network and broadcast addresses are
//! never handed out.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::{NetworkError, Result};

/// The allocations of one subnet. The service keeps one under its lock; it is rebuilt from
/// the container records at every start, so nothing of it is stored.
#[derive(Debug)]
pub struct Ipam {
    network: u32,
    prefix: u8,
    /// Where the next search starts.
    next: u32,
    held: HashMap<Ipv4Addr, String>,
}

impl Ipam {
    /// An empty allocator for `subnet/prefix` (prefix at most 30: config checks it).
    pub fn new(subnet: Ipv4Addr, prefix: u8) -> Ipam {
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        let network = u32::from(subnet) & mask;
        Ipam {
            network,
            prefix,
            next: network + 2,
            held: HashMap::new(),
        }
    }

    /// The first and last address a container may get (after the gateway, before the
    /// broadcast address).
    fn hosts(&self) -> (u32, u32) {
        let size = 1u64 << (32 - u32::from(self.prefix));
        let broadcast = (u64::from(self.network) + size - 1) as u32;
        (self.network + 2, broadcast - 1)
    }

    /// The subnet as `ADDRESS/PREFIX`.
    pub fn subnet(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }

    /// A free address for `owner`, searching on from the last one handed out.
    pub fn allocate(&mut self, owner: &str) -> Result<Ipv4Addr> {
        let (first, last) = self.hosts();
        let count = last.saturating_sub(first) + 1;
        let mut candidate = self.next.clamp(first, last);
        for _ in 0..count {
            let ip = Ipv4Addr::from(candidate);
            if let std::collections::hash_map::Entry::Vacant(slot) = self.held.entry(ip) {
                slot.insert(owner.to_string());
                self.next = if candidate == last {
                    first
                } else {
                    candidate + 1
                };
                return Ok(ip);
            }
            candidate = if candidate == last {
                first
            } else {
                candidate + 1
            };
        }
        Err(NetworkError::Invalid {
            field: "create.network",
            reason: format!("subnet {} has no free address", self.subnet()),
        })
    }

    /// Holds `ip` for `owner` (at start-up, from its record). An address outside the subnet
    /// (the record was made with another `--subnet`) is held all the same, harmlessly.
    pub fn claim(&mut self, owner: &str, ip: Ipv4Addr) {
        self.held.insert(ip, owner.to_string());
    }

    /// Gives back every address `owner` holds.
    pub fn release(&mut self, owner: &str) {
        self.held.retain(|_, o| o != owner);
    }

    /// Whether `ip` is held (by anyone).
    pub fn is_held(&self, ip: Ipv4Addr) -> bool {
        self.held.contains_key(&ip)
    }
}

/// The MAC address of the container end: locally administered (`02:`), unicast, then a
/// fixed byte and the four bytes of the address, so it is stable across restarts.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x50, a, b, c, d]
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn next_fit_skips_gateway_and_broadcast() {
        let mut ipam = Ipam::new(ip("10.1.0.0"), 29);
        let got: Vec<_> = (0..5)
            .map(|i| ipam.allocate(&i.to_string()).unwrap())
            .collect();
        let want: Vec<_> = (2..=6).map(|n| ip(&format!("10.1.0.{n}"))).collect();
        assert_eq!(got, want);
        assert!(ipam.allocate("x").is_err());
        ipam.release("1");
        // Released .3 comes back only after the search wraps.
        assert_eq!(ipam.allocate("y").unwrap(), ip("10.1.0.3"));
    }

    #[test]
    fn exhaustion_names_the_subnet_and_release_reuses() {
        let mut ipam = Ipam::new(ip("10.9.9.4"), 30);
        assert_eq!(ipam.allocate("a").unwrap(), ip("10.9.9.6"));
        let e = ipam.allocate("b").unwrap_err().to_string();
        assert_eq!(e, "create.network: subnet 10.9.9.4/30 has no free address");
        ipam.release("a");
        assert_eq!(ipam.allocate("b").unwrap(), ip("10.9.9.6"));
    }

    #[test]
    fn claims_are_skipped_and_next_fit_goes_on() {
        let mut ipam = Ipam::new(ip("10.88.0.0"), 16);
        ipam.claim("old", ip("10.88.0.2"));
        assert!(ipam.is_held(ip("10.88.0.2")));
        assert_eq!(ipam.allocate("a").unwrap(), ip("10.88.0.3"));
        ipam.release("a");
        assert_eq!(ipam.allocate("b").unwrap(), ip("10.88.0.4"));
        assert_eq!(ipam.subnet(), "10.88.0.0/16");
    }

    #[test]
    fn mac_is_local_unicast_and_from_the_address() {
        let mac = mac_for(ip("10.88.1.2"));
        assert_eq!(mac[0] & 0b11, 0b10);
        assert_eq!(mac_string(mac), "02:50:0a:58:01:02");
    }
}
