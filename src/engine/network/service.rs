//! The [`Network`] service: what the container room calls.

use std::path::PathBuf;

use super::{BridgeAddress, Endpoint, NetworkSettings, PortMapping, Result};

/// The bridge network of one service: its settings, the netlink socket kept open in the
/// host's namespace, the address and port allocations, and the teardown queue.
#[derive(Debug)]
pub struct Network {
    settings: NetworkSettings,
}

impl Network {
    /// Opens the network: nothing on the host changes until the first `setup` (or
    /// `reconcile`), so a service that never runs a bridged container never makes a bridge.
    pub fn open(settings: NetworkSettings) -> Result<Network> {
        Ok(Network { settings })
    }

    /// The settings.
    pub fn settings(&self) -> &NetworkSettings {
        &self.settings
    }

    /// Where the namespace file of endpoint `id` lives.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.settings.netns_dir.join(id)
    }

    /// At start-up, before any create: the addresses and ports the records hold are taken.
    pub fn claim(&self, owner: &str, address: &BridgeAddress) {
        let _ = (owner, address);
        todo!("network: claim")
    }

    /// For a new container: a free address in the subnet (an error naming the subnet when
    /// it is exhausted), and its published ports with every omitted host port chosen; a port
    /// taken on the host, or by another container, is an error naming it. What this returns is
    /// held for `owner` until `release`.
    pub fn allocate(&self, owner: &str, ports: Vec<PortMapping>) -> Result<BridgeAddress> {
        let _ = (owner, ports);
        todo!("network: allocate")
    }

    /// Gives back what `allocate` or `claim` held for `owner` (at removal, or when a create
    /// fails after allocating).
    pub fn release(&self, owner: &str) {
        let _ = owner;
        todo!("network: release")
    }

    /// Sets endpoint `e` up: the bridge (once), the namespace file, the veth pair, address,
    /// routes and loopback inside, the nftables elements of its ports. Waits first for a
    /// teardown of the same endpoint still queued. On failure, whatever was made is undone
    /// before the error returns. Returns the namespace file's path for the runtime to join.
    pub fn setup(&self, e: &Endpoint) -> Result<PathBuf> {
        let _ = e;
        todo!("network: setup")
    }

    /// Queues the teardown of endpoint `e` (its nftables elements, then its veth, then its
    /// namespace file) and returns at once: it runs on the queue's thread, in order. Tearing
    /// down what is not there is not an error.
    pub fn teardown(&self, e: &Endpoint) {
        let _ = e;
        todo!("network: teardown")
    }

    /// Blocks until every queued teardown has run (tests, and a service shutting down).
    pub fn settle(&self) {
        todo!("network: settle")
    }

    /// At start-up, after `claim`: brings the host in line with `live`, the endpoints of
    /// containers that still run. podlink's table is rewritten with exactly their elements;
    /// veths on the bridge and namespace files that belong to no live endpoint are removed.
    pub fn reconcile(&self, live: &[Endpoint]) {
        let _ = live;
        todo!("network: reconcile")
    }
}
