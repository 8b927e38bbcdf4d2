//! A synchronous rtnetlink client: bridges, veth pairs, addresses, routes and deletions.
//!
//! The service opens one socket in the host's namespace at `Network::open` and keeps it (on
//! this VM kind a netlink deletion by a short-lived process costs 14-22 ms; by a socket that
//! stays open, well under one). A container's end is configured through a socket opened
//! inside its namespace by a thread that joins it just for that (a netlink socket stays in the
//! namespace it was made in, so the thread can exit at once). Every request asks for an ACK
//! and every ACK is checked.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR,
    NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// The loopback device's index in every network namespace (the kernel's LOOPBACK_IFINDEX).
const LOOPBACK_INDEX: u32 = 1;

/// An rtnetlink socket and its next sequence number.
#[derive(Debug)]
pub struct Rtnl {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Rtnl> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        socket.set_ext_ack(true).ok();
        Ok(Rtnl {
            socket,
            seq: 0,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// A socket inside the network namespace of file `netns`: opened by a thread that joins
    /// that namespace and then ends (the socket stays in the namespace it was made in).
    pub fn open_in(netns: &Path) -> io::Result<Rtnl> {
        let file = std::fs::File::open(netns)?;
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(io::Error::from)?;
                Rtnl::open()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
        })
    }

    /// Sends `msg` with `flags` and waits for its ACK (a reply, for a get, comes before it).
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.exchange(msg, NLM_F_ACK | flags)
    }

    /// Sends `msg` as a dump request and collects the replies until the dump's end (the
    /// kernel sends no ACK after a dump).
    fn dump(&mut self, msg: RouteNetlinkMessage) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.exchange(msg, NLM_F_DUMP)
    }

    fn exchange(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.socket.send(&out, 0)?;
        let mut replies = Vec::new();
        loop {
            self.buf.clear();
            let n = match self.socket.recv(&mut self.buf, 0) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => other?,
            };
            let mut offset = 0;
            while offset + 16 <= n {
                let raw = &self.buf[offset..n];
                let len = u32::from_ne_bytes(raw[..4].try_into().expect("4 bytes")) as usize;
                if len < 16 || len > raw.len() {
                    break;
                }
                offset += (len + 3) & !3;
                let reply = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&raw[..len]) {
                    Ok(reply) => reply,
                    // A link (in a dump) with an attribute this crate cannot read: not one
                    // of ours, skipped. An unreadable ACK, though, is an error.
                    Err(e)
                        if !matches!(
                            u16::from_ne_bytes([raw[4], raw[5]]),
                            NLMSG_ERROR | NLMSG_DONE
                        ) =>
                    {
                        log::debug!("rtnetlink: skipped an unreadable message: {e}");
                        continue;
                    }
                    Err(e) => {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                    }
                };
                if reply.header.sequence_number != seq {
                    continue; // a late reply to an earlier request that gave up
                }
                let flags = reply.header.flags;
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(_) => Err(match ext_ack_message(flags, &e.header) {
                                Some(message) => {
                                    let os = e.to_io();
                                    let errno = os.raw_os_error().unwrap_or_default();
                                    io::Error::new(os.kind(), KernelError { errno, message })
                                }
                                None => e.to_io(),
                            }),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
    }

    /// The index of link `name`, or None when there is none.
    pub fn index_of(&mut self, name: &str) -> io::Result<Option<u32>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Makes bridge `name` (unless it exists) and brings it up; returns its index and
    /// whether this call made it.
    pub fn ensure_bridge(&mut self, name: &str) -> io::Result<(u32, bool)> {
        if let Some(index) = self.index_of(name)? {
            self.set_up(index)?;
            return Ok((index, false));
        }
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        let made = match self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
        {
            Ok(_) => true,
            Err(e) if errno(&e) == Some(libc::EEXIST) => false,
            Err(e) => return Err(e),
        };
        let index = self
            .index_of(name)?
            .ok_or_else(|| io::Error::other(format!("bridge {name} vanished after creation")))?;
        if made {
            // Marked as podlink's, on the link itself: only a marked bridge is ever removed
            // (`cni-podman0` is also Podman's CNI default, and an admin may have made it).
            self.set_alias(index, BRIDGE_ALIAS)?;
        }
        Ok((index, made))
    }

    /// Sets link `index`'s alias (`ip link set ... alias`).
    pub fn set_alias(&mut self, index: u32, alias: &str) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes
            .push(LinkAttribute::IfAlias(alias.to_string()));
        self.request(RouteNetlinkMessage::SetLink(msg), 0).map(drop)
    }

    /// Whether link `name` exists and carries podlink's mark ([`BRIDGE_ALIAS`]).
    pub fn is_marked(&mut self, name: &str) -> io::Result<bool> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(replies) => Ok(replies.into_iter().any(|r| match r {
                RouteNetlinkMessage::NewLink(l) => l
                    .attributes
                    .contains(&LinkAttribute::IfAlias(BRIDGE_ALIAS.to_string())),
                _ => false,
            })),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Brings link `index` up.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(msg), 0).map(drop)
    }

    /// Adds `ip/prefix` to link `index` (already there: fine).
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.scope = AddressScope::Universe;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(ip.into()));
        msg.attributes.push(AddressAttribute::Address(ip.into()));
        let size = 1u64 << (32 - u32::from(prefix));
        let net = u64::from(u32::from(ip)) & !(size - 1);
        if prefix < 31 {
            let broadcast = Ipv4Addr::from((net + size - 1) as u32);
            msg.attributes.push(AddressAttribute::Broadcast(broadcast));
        }
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Makes veth pair `host` / `peer`: the host end attached to bridge `bridge` and up, the
    /// peer made directly inside the namespace `netns` with MAC `mac` (still down).
    pub fn create_veth(
        &mut self,
        host: &str,
        bridge: u32,
        peer: &str,
        mac: [u8; 6],
        netns: BorrowedFd<'_>,
    ) -> io::Result<()> {
        // The peer cannot be brought up here: the kernel configures it before the pair is
        // joined, and opening a veth without its peer fails (ENOTCONN). `configure_inside`
        // brings it up.
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        peer_msg
            .attributes
            .push(LinkAttribute::Address(mac.to_vec()));
        peer_msg
            .attributes
            .push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName(host.to_string()));
        msg.attributes.push(LinkAttribute::Controller(bridge));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
    }

    /// Turns hairpin mode on for bridge port `port`: with br_netfilter loaded (Docker loads
    /// it), a container's packet to its own published port is DNATed at the bridge and must
    /// leave by the port it came in by, as CNI's bridge plugin allows for Podman
    /// (`hairpinMode`). (`ip link set PORT type bridge_slave hairpin on`; through netlink
    /// rather than sysfs, which shows the namespace of whoever mounted it.)
    pub fn set_hairpin(&mut self, port: &str) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(port.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        self.request(RouteNetlinkMessage::NewLink(msg), 0).map(drop)
    }

    /// Deletes link `name` (a veth's peer goes with it); returns false when there was none.
    pub fn delete_link(&mut self, name: &str) -> io::Result<bool> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::DelLink(msg), 0) {
            Ok(_) => Ok(true),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The names of the links attached to bridge `bridge`.
    pub fn ports_of(&mut self, bridge: u32) -> io::Result<Vec<String>> {
        let replies = self.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .filter(|l| l.attributes.contains(&LinkAttribute::Controller(bridge)))
            .filter_map(|l| {
                l.attributes.into_iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n),
                    _ => None,
                })
            })
            .collect())
    }

    /// Inside a container's namespace: loopback up, `ip/prefix` on `dev`, `dev` up, and the
    /// default route through `gateway`.
    pub fn configure_inside(
        &mut self,
        dev: &str,
        ip: Ipv4Addr,
        prefix: u8,
        gateway: Ipv4Addr,
    ) -> io::Result<()> {
        self.set_up(LOOPBACK_INDEX)?;
        let index = self
            .index_of(dev)?
            .ok_or_else(|| io::Error::other(format!("{dev} is missing in the namespace")))?;
        self.add_address(index, ip, prefix)?;
        self.set_up(index)?;
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        route.header.table = RouteHeader::RT_TABLE_MAIN;
        route.header.protocol = RouteProtocol::Boot;
        route.header.scope = RouteScope::Universe;
        route.header.kind = RouteType::Unicast;
        route
            .attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        route.attributes.push(RouteAttribute::Oif(index));
        self.request(
            RouteNetlinkMessage::NewRoute(route),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }
}

/// A kernel error with the kernel's own words for it (its extended ACK message).
#[derive(Debug)]
struct KernelError {
    errno: i32,
    message: String,
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let os = io::Error::from_raw_os_error(self.errno);
        write!(f, "{os}: {}", self.message)
    }
}

impl std::error::Error for KernelError {}

/// The errno of a request's failure, with or without the kernel's message.
fn errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
        .or_else(|| e.get_ref()?.downcast_ref::<KernelError>().map(|k| k.errno))
}

/// The kernel's own words for an error (its extended ACK's message attribute), when it sent
/// them: `payload` is the error message after its code (the request, whole or capped to its
/// header, then attributes).
fn ext_ack_message(flags: u16, payload: &[u8]) -> Option<String> {
    const NLM_F_CAPPED: u16 = 0x100;
    const NLM_F_ACK_TLVS: u16 = 0x200;
    const NLMSGERR_ATTR_MSG: u16 = 1;
    if flags & NLM_F_ACK_TLVS == 0 || payload.len() < 16 {
        return None;
    }
    let request_len = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        u32::from_ne_bytes(payload[..4].try_into().ok()?) as usize
    };
    let mut rest = payload.get((request_len + 3) & !3..)?;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]);
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &rest[4..len];
            let text = text.split(|b| *b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        rest = rest.get((len + 3) & !3..).unwrap_or_default();
    }
    None
}

/// Sets `net.ipv4.ip_forward` to 1 and, for `bridge`, `route_localnet` to 1 (so DNAT of
/// traffic to 127.0.0.1 may leave through the bridge, as CNI's portmap plugin does).
pub fn enable_forwarding(bridge: &str) -> io::Result<()> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")?;
    std::fs::write(
        format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"),
        "1",
    )
}

/// The host end's name for endpoint `id`: `veth` and the ID's first 11 characters (15 bytes,
/// the kernel's limit).
pub fn host_veth_name(id: &str) -> String {
    let short: String = id.chars().take(11).collect();
    format!("veth{short}")
}

/// Whether `name` is a host end podlink names ([`host_veth_name`] of a hex ID): what a
/// reconcile or removal may delete from a bridge. Anything else attached (CNI's `veth` and
/// 8 hex digits, an admin's interface) is not podlink's.
pub fn is_podlink_veth(name: &str) -> bool {
    name.strip_prefix("veth").is_some_and(|short| {
        short.len() == 11
            && short
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The alias marking a bridge podlink made.
pub const BRIDGE_ALIAS: &str = "podlink";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_ack_message_is_read_after_the_capped_request() {
        let mut payload = vec![0u8; 16];
        payload[..4].copy_from_slice(&40u32.to_ne_bytes());
        let msg = b"Nexthop has invalid gateway\0";
        let len = (4 + msg.len()) as u16;
        payload.extend_from_slice(&len.to_ne_bytes());
        payload.extend_from_slice(&1u16.to_ne_bytes());
        payload.extend_from_slice(msg);
        assert_eq!(
            ext_ack_message(0x300, &payload).as_deref(),
            Some("Nexthop has invalid gateway")
        );
        assert_eq!(ext_ack_message(0, &payload), None);
        let e = io::Error::other(KernelError {
            errno: libc::EEXIST,
            message: "exists".into(),
        });
        assert_eq!(errno(&e), Some(libc::EEXIST));
        assert!(e.to_string().ends_with(": exists"), "{e}");
        assert_eq!(
            host_veth_name(&"a".repeat(64)),
            format!("veth{}", "a".repeat(11))
        );
    }

    #[test]
    fn only_podlink_veths_are_podlinks() {
        assert!(is_podlink_veth(&host_veth_name(&"0f".repeat(32))));
        // CNI's host ends (veth and 8 hex digits), other names, upper case: not ours.
        for other in [
            "veth1a2b3c4d",
            "eth0",
            "vethABCDEF01234",
            "vethzzzzzzzzzzz",
            "veth",
        ] {
            assert!(!is_podlink_veth(other), "{other}");
        }
    }
}
