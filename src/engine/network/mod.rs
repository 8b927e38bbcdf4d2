//! Bridge networking, native and in-process: the default network as Podman 1.x's CNI
//! configuration made it (a bridge, a subnet, masquerade for outbound traffic), a veth pair and
//! a network namespace per container (or per pod), and published ports.
//!
//! Speed is why it is in-process: measured for a bridge plus one published port, netavark took
//! 47-53 ms to set up and 249-252 ms to tear down, Podman 1.x's CNI chain 91-94 / 256-258 ms,
//! while netlink from a process that keeps its socket open took 4.7-5.0 ms and 15-39 ms (every
//! deletion by a short-lived process costs 14-22 ms on this VM kind).
//!
//! - `link.rs`: the rtnetlink client (bridge, veth pairs, addresses, routes, deletions) on one
//!   socket in the host's namespace that the service keeps open, and sockets opened inside a
//!   container's namespace for its end.
//! - `netns.rs`: network namespaces as files (`RUNROOT/netns/<id>`, bind mounts of a namespace
//!   made by a thread of the service), so they outlive any process and the runtime joins them
//!   by path.
//! - `nft.rs`: podlink's nftables table (masquerade, one map element per published port, the
//!   forward accepts), applied with `nft -f -` in one transaction.
//! - `ipam.rs`: addresses in the subnet. Allocation is podlink's own: an address belongs to a
//!   container from its create to its removal and is stored in its record (so it is crash-safe:
//!   the allocator is rebuilt from the records at every start).
//! - `ports.rs`: `publish` specs parsed, host ports checked free and chosen.
//! - `teardown.rs`: the ordered queue that tears endpoints down off the callers' reply paths.
//! - `error.rs`: the room's own error.
//!
//! What stays on the host: the bridge, the table and the directory's mount stay while the
//! service runs (as Podman's bridge did), endpoints go at teardown. `Network::shutdown` (an
//! orderly stop of the service) removes everything when no endpoint is set up any more, and
//! leaves it all for the next start's `reconcile` when containers outlive the service;
//! `Network::remove_all` removes everything unconditionally (tests).
//!
//! Measured on this VM kind (tests/integration/network_room.rs, `setup_and_teardown_times`):
//! setup of an endpoint with one published port 5.1-5.6 ms (2 ms without ports: the rest is
//! the exec of `nft`), teardown 18-30 ms (most of it the kernel's veth deletion).
//!
//! This room sits beside storage: the container room drives it and it imports nothing above
//! the leaves.

pub mod error;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod nft;
pub mod ports;
pub mod service;
pub mod teardown;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use error::{NetworkError, Result};
pub use ports::{PortMapping, Protocol};
pub use service::Network;

/// The one network name clients may give (`network` of Create): Podman 1.x's default.
pub const DEFAULT_NETWORK: &str = "podman";

/// Which bridge, subnet and table a service uses. Tests run many services at once, each with
/// a bridge, subnet and table of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSettings {
    /// The bridge (at most 15 bytes): `cni-podman0`.
    pub bridge: String,
    /// The subnet's first address: `10.88.0.0`.
    pub subnet: Ipv4Addr,
    /// The subnet's prefix length: 16.
    pub prefix: u8,
    /// podlink's nftables table (family `ip`): `podlink`.
    pub nft_table: String,
    /// Where namespace files live: `RUNROOT/netns`.
    pub netns_dir: PathBuf,
}

impl NetworkSettings {
    /// Podman 1.x's defaults, with namespace files under `runroot`.
    pub fn defaults(runroot: &std::path::Path) -> Self {
        NetworkSettings {
            bridge: "cni-podman0".into(),
            subnet: Ipv4Addr::new(10, 88, 0, 0),
            prefix: 16,
            nft_table: "podlink".into(),
            netns_dir: runroot.join("netns"),
        }
    }

    /// The gateway: the subnet's first host address, held by the bridge.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.subnet) + 1)
    }
}

/// A container's (or pod's) place on the bridge, decided at create and kept in its record
/// until removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeAddress {
    /// The network's name (`podman`).
    pub network: String,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The gateway (the bridge's address).
    pub gateway: Ipv4Addr,
    /// The container end's MAC address (`aa:bb:...`), derived from the address.
    pub mac: String,
    /// Published ports, host ports already chosen.
    pub ports: Vec<PortMapping>,
}

/// One endpoint to set up or tear down: a container (or pod infra) by ID, with its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The owner's ID (a container's; for a pod, its infra container's).
    pub id: String,
    /// Its address and ports.
    pub address: BridgeAddress,
}
