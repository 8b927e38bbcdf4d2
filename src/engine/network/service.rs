//! The [`Network`] service: what the container room calls.
//!
//! Locks: `book` (addresses and ports) is never held with another. `host` (what this service
//! has made on the host) is taken before `rtnl` (the socket); the teardown queue's thread takes
//! them in the same order. Neither is held while waiting on the queue.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::ipam::{self, Ipam};
use super::link::{self, Rtnl};
use super::nft::{self, Element};
use super::ports::{self, PortBook};
use super::teardown::Queue;
use super::{
    BridgeAddress, DEFAULT_NETWORK, Endpoint, NetworkError, NetworkSettings, PortMapping, Result,
    netns,
};

/// The bridge network of one service: its settings, the netlink socket kept open in the
/// host's namespace, the address and port allocations, and the teardown queue.
#[derive(Debug)]
pub struct Network {
    /// Dropped first: its thread finishes the queued teardowns and ends.
    queue: Queue,
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: NetworkSettings,
    table: nft::Table,
    book: Mutex<Book>,
    host: Mutex<Host>,
    rtnl: Mutex<Rtnl>,
}

/// Who holds which address and host ports.
#[derive(Debug)]
struct Book {
    ipam: Ipam,
    ports: PortBook,
}

/// What this service has made on the host.
#[derive(Debug, Default)]
struct Host {
    /// The bridge's index, once it is up with its address, the table written and
    /// forwarding on.
    bridge: Option<u32>,
    /// The endpoints set up, with the nftables elements of their ports.
    active: HashMap<String, Vec<Element>>,
    /// Whether `reconcile` has run: until it has, endpoints of containers that outlived an
    /// earlier service may be up without being in `active`.
    reconciled: bool,
    /// Whether this service made (or found and took over) the bridge and table.
    made: bool,
}

/// A host step's error: the step and why.
fn host(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetworkError {
    let step = step.into();
    move |e| NetworkError::Host {
        step,
        reason: e.to_string(),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The nftables elements of endpoint `e`'s published ports.
fn elements(e: &Endpoint) -> Vec<Element> {
    e.address
        .ports
        .iter()
        .map(|p| Element {
            protocol: p.protocol,
            host_ip: p
                .host_ip
                .parse()
                .ok()
                .filter(|ip: &Ipv4Addr| !ip.is_unspecified()),
            host_port: p.host_port,
            ip: e.address.ip,
            container_port: p.container_port,
        })
        .collect()
}

impl Network {
    /// Opens the network: its netlink socket and its teardown thread. Nothing on the host
    /// changes until the first `setup` (or `reconcile`), so a service that never runs a
    /// bridged container never makes a bridge.
    pub fn open(settings: NetworkSettings) -> Result<Network> {
        let rtnl = Rtnl::open().map_err(host("open an rtnetlink socket"))?;
        let ipam = Ipam::new(settings.subnet, settings.prefix);
        let table = nft::Table {
            name: settings.nft_table.clone(),
            network: DEFAULT_NETWORK.into(),
            bridge: settings.bridge.clone(),
            subnet: ipam.subnet(),
        };
        let inner = Arc::new(Inner {
            book: Mutex::new(Book {
                ipam,
                ports: PortBook::default(),
            }),
            host: Mutex::new(Host::default()),
            rtnl: Mutex::new(rtnl),
            table,
            settings,
        });
        let worker = Arc::clone(&inner);
        let queue = Queue::start(Box::new(move |e: &Endpoint| worker.teardown_now(e)))
            .map_err(host("start the teardown thread"))?;
        Ok(Network { queue, inner })
    }

    /// The settings.
    pub fn settings(&self) -> &NetworkSettings {
        &self.inner.settings
    }

    /// Where the namespace file of endpoint `id` lives.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.inner.netns_path(id)
    }

    /// At start-up, before any create: the addresses and ports the records hold are taken.
    pub fn claim(&self, owner: &str, address: &BridgeAddress) {
        let mut book = lock(&self.inner.book);
        book.ipam.claim(owner, address.ip);
        book.ports.claim(owner, &address.ports);
    }

    /// For a new container: a free address in the subnet (an error naming the subnet when
    /// it is exhausted), and its published ports with every omitted host port chosen; a port
    /// taken on the host, or by another container, is an error naming it. What this returns is
    /// held for `owner` until `release`.
    pub fn allocate(&self, owner: &str, ports: Vec<PortMapping>) -> Result<BridgeAddress> {
        let mut book = lock(&self.inner.book);
        let ports = book.ports.allocate("create.publish", owner, ports)?;
        let ip = match book.ipam.allocate(owner) {
            Ok(ip) => ip,
            Err(e) => {
                book.ports.release(owner);
                return Err(e);
            }
        };
        let s = &self.inner.settings;
        Ok(BridgeAddress {
            network: DEFAULT_NETWORK.into(),
            ip,
            prefix: s.prefix,
            gateway: s.gateway(),
            mac: ipam::mac_string(ipam::mac_for(ip)),
            ports,
        })
    }

    /// Gives back what `allocate` or `claim` held for `owner` (at removal, or when a create
    /// fails after allocating).
    pub fn release(&self, owner: &str) {
        let mut book = lock(&self.inner.book);
        book.ipam.release(owner);
        book.ports.release(owner);
    }

    /// Sets endpoint `e` up: the bridge (once), the namespace file, the veth pair, address,
    /// routes and loopback inside, the nftables elements of its ports. Waits first for a
    /// queued teardown of the same endpoint, or of one that held its address or one of its
    /// host ports (a removed container's, released at once, torn down behind). A host port
    /// that something on the host took since the create is an error naming it. On failure,
    /// whatever was made is undone before the error returns. Returns the namespace file's
    /// path for the runtime to join.
    ///
    /// An endpoint already set up (and not torn down since) is left as it is: its namespace
    /// is in use.
    pub fn setup(&self, e: &Endpoint) -> Result<PathBuf> {
        self.queue.wait_for_conflicts(e);
        let inner = &*self.inner;
        if lock(&inner.host).active.contains_key(&e.id) {
            return Ok(inner.netns_path(&e.id));
        }
        ports::check_free_on_host("create.publish", &e.address.ports)?;
        let bridge = inner.ensure_ready()?;
        let path = inner.netns_path(&e.id);
        let made = inner.setup_endpoint(e, bridge, &path);
        if let Err(err) = made {
            // Undo in teardown's order; what was never made is skipped without error.
            inner.teardown_now(e);
            return Err(err);
        }
        Ok(path)
    }

    /// Queues the teardown of endpoint `e` (its nftables elements, then its veth, then its
    /// namespace file) and returns at once: it runs on the queue's thread, in order. Tearing
    /// down what is not there is not an error.
    pub fn teardown(&self, e: &Endpoint) {
        self.queue.push(e);
    }

    /// Blocks until every queued teardown has run (tests, and a service shutting down).
    pub fn settle(&self) {
        self.queue.settle();
    }

    /// At start-up, after `claim`: brings the host in line with `live`, the endpoints of
    /// containers that still run. podlink's table is rewritten with exactly their elements;
    /// veths on the bridge and namespace files that belong to no live endpoint are removed.
    /// Call it at every start, with no endpoints when no container is bridged: until it has
    /// run, `shutdown` leaves everything in place.
    pub fn reconcile(&self, live: &[Endpoint]) {
        if let Err(e) = self.try_reconcile(live) {
            log::warn!("network reconcile: {e}");
        }
    }

    /// `reconcile`, with its first failure returned instead of logged.
    pub fn try_reconcile(&self, live: &[Endpoint]) -> Result<()> {
        self.inner.reconcile(live)
    }

    /// Removes everything this service's settings name on the host: every veth on the
    /// bridge, every namespace file, the bridge, the table, the iptables accepts and the
    /// namespace directory's mount. For tests, and for `shutdown`.
    pub fn remove_all(&self) -> Result<()> {
        self.queue.settle();
        self.inner.remove_all()
    }

    /// For an orderly shutdown of the service: waits for queued teardowns, then, when this
    /// service made the bridge (or took it over at `reconcile`) and no endpoint is set up any
    /// more, removes everything (`remove_all`) so that a stopped service leaves nothing. With
    /// endpoints still up (containers outlive the service), or before `reconcile` has run
    /// (endpoints of an earlier service's containers are unknown until then), everything
    /// stays for the next start. A service that never touched the network does nothing (no
    /// exec of nft or iptables). Returns whether it removed.
    pub fn shutdown(&self) -> Result<bool> {
        self.queue.settle();
        {
            let host = lock(&self.inner.host);
            if !host.made || !host.reconciled || !host.active.is_empty() {
                return Ok(false);
            }
        }
        self.inner.remove_all().map(|()| true)
    }
}

impl Inner {
    fn netns_path(&self, id: &str) -> PathBuf {
        self.settings.netns_dir.join(id)
    }

    /// The bridge (made when missing) with its address, forwarding on, the table written and
    /// the iptables accepts in place; returns the bridge's index.
    fn ensure_ready(&self) -> Result<u32> {
        let mut host = lock(&self.host);
        if let Some(index) = host.bridge {
            return Ok(index);
        }
        self.make_ready(&mut host)
    }

    fn make_ready(&self, host: &mut Host) -> Result<u32> {
        let s = &self.settings;
        netns::prepare_dir(&s.netns_dir)
            .map_err(host_err(format!("prepare {}", s.netns_dir.display())))?;
        let index = {
            let mut rtnl = lock(&self.rtnl);
            let (index, _made) = rtnl
                .ensure_bridge(&s.bridge)
                .map_err(host_err(format!("create bridge {}", s.bridge)))?;
            rtnl.add_address(index, s.gateway(), s.prefix)
                .map_err(host_err(format!("address bridge {}", s.bridge)))?;
            index
        };
        link::enable_forwarding(&s.bridge).map_err(host_err("enable ip forwarding"))?;
        let all: Vec<Element> = host.active.values().flatten().cloned().collect();
        nft::apply(&self.table.ruleset(&all))
            .map_err(host_err(format!("write nftables table {}", s.nft_table)))?;
        nft::add_forward_accepts(&s.bridge).map_err(host_err(format!(
            "add iptables FORWARD accepts for {}",
            s.bridge
        )))?;
        host.bridge = Some(index);
        host.made = true;
        Ok(index)
    }

    /// Publishes `e`'s ports while its namespace and veth are made: the exec of nft (about
    /// 3 ms) and the netlink work (about 2 ms) overlap. An element that exists before its
    /// address answers only loses packets no one could have sent yet.
    fn setup_endpoint(&self, e: &Endpoint, bridge: u32, path: &Path) -> Result<()> {
        let id = &e.id;
        let elements = elements(e);
        let publish =
            (!elements.is_empty()).then(|| nft::spawn(&self.table.add_elements(&elements)));
        let linked = self.link_endpoint(e, bridge, path);
        let published = publish.map_or(Ok(()), |r| r.and_then(nft::Running::finish));
        // Recorded even when the rest failed, so that the undo removes the elements too.
        let recorded = if published.is_ok() {
            elements
        } else {
            Vec::new()
        };
        lock(&self.host).active.insert(id.clone(), recorded);
        linked?;
        published.map_err(host_err(format!("publish ports of {id}")))
    }

    /// `e`'s namespace file, its veth pair on the bridge, and its end configured inside.
    fn link_endpoint(&self, e: &Endpoint, bridge: u32, path: &Path) -> Result<()> {
        let id = &e.id;
        let a = &e.address;
        // A file left by a crash mid-teardown: a namespace nobody uses any more.
        netns::remove(path).map_err(host_err(format!("remove old netns of {id}")))?;
        netns::create(path).map_err(host_err(format!("create netns for {id}")))?;
        let ns = std::fs::File::open(path).map_err(host_err(format!("open netns of {id}")))?;
        let veth = link::host_veth_name(id);
        let mac = parse_mac(&a.mac).unwrap_or_else(|| ipam::mac_for(a.ip));
        {
            let mut rtnl = lock(&self.rtnl);
            rtnl.delete_link(&veth)
                .map_err(host_err(format!("remove old veth of {id}")))?;
            rtnl.create_veth(&veth, bridge, "eth0", mac, std::os::fd::AsFd::as_fd(&ns))
                .map_err(host_err(format!("create veth pair for {id}")))?;
            rtnl.set_hairpin(&veth)
                .map_err(host_err(format!("set hairpin mode on {veth}")))?;
        }
        Rtnl::open_in(path)
            .and_then(|mut inside| inside.configure_inside("eth0", a.ip, a.prefix, a.gateway))
            .map_err(host_err(format!("configure the namespace of {id}")))
    }

    /// Tears endpoint `e` down now: its elements, its veth, its namespace file (the first two
    /// overlap). Failures are logged: the next start's reconcile removes what is left.
    fn teardown_now(&self, e: &Endpoint) {
        let id = &e.id;
        let published = lock(&self.host).active.remove(id);
        let elements = published.unwrap_or_default();
        // The elements' deletion is started first and runs while the veth goes (each waits
        // for the kernel, about 10 and 20 ms here): a packet DNATed meanwhile to the vanishing
        // address is lost either way.
        let unpublish =
            (!elements.is_empty()).then(|| nft::spawn(&self.table.delete_elements(&elements)));
        if let Err(err) = lock(&self.rtnl).delete_link(&link::host_veth_name(id)) {
            log::warn!("network: remove veth of {id}: {err}");
        }
        if let Some(Err(err)) = unpublish.map(|r| r.and_then(nft::Running::finish)) {
            // One at a time: an element already gone must not keep the others.
            for one in elements.chunks(1) {
                nft::apply(&self.table.delete_elements(one)).ok();
            }
            log::debug!("unpublish ports of {id}: {err}");
        }
        if let Err(err) = netns::remove(&self.netns_path(id)) {
            log::warn!("network: remove netns of {id}: {err}");
        }
    }

    fn reconcile(&self, live: &[Endpoint]) -> Result<()> {
        let s = &self.settings;
        let mut host = lock(&self.host);
        host.active = live.iter().map(|e| (e.id.clone(), elements(e))).collect();
        host.reconciled = true;
        let exists = lock(&self.rtnl)
            .index_of(&s.bridge)
            .map_err(host_err(format!("look up bridge {}", s.bridge)))?
            .is_some();
        if exists || !live.is_empty() {
            host.bridge = None;
            let index = self.make_ready(&mut host)?;
            let keep: Vec<String> = live.iter().map(|e| link::host_veth_name(&e.id)).collect();
            let mut rtnl = lock(&self.rtnl);
            let ports = rtnl
                .ports_of(index)
                .map_err(host_err(format!("list the ports of {}", s.bridge)))?;
            for port in ports
                .iter()
                .filter(|p| !keep.contains(p) && link::is_podlink_veth(p))
            {
                rtnl.delete_link(port)
                    .map_err(host_err(format!("remove stale veth {port}")))?;
            }
        }
        for name in netns::list(&s.netns_dir) {
            if !live.iter().any(|e| e.id == name) {
                netns::remove(&s.netns_dir.join(&name))
                    .map_err(host_err(format!("remove stale netns {name}")))?;
            }
        }
        if !exists && live.is_empty() && s.netns_dir.exists() {
            // A service ran here and its bridge is gone (removed by hand, or a crash in
            // remove_all): its table and the directory's mount are all that may be left.
            netns::release_dir(&s.netns_dir)
                .map_err(host_err(format!("release {}", s.netns_dir.display())))?;
            self.table
                .remove()
                .map_err(host_err(format!("remove nftables table {}", s.nft_table)))?;
        }
        Ok(())
    }

    /// In an order a crash can interrupt anywhere: endpoints first, then the table and the
    /// accepts, then the bridge (while it exists, the next start takes everything over), and
    /// the namespace directory last (while it exists, the next start removes a table left).
    fn remove_all(&self) -> Result<()> {
        let s = &self.settings;
        let mut host = lock(&self.host);
        let bridge = {
            let mut rtnl = lock(&self.rtnl);
            let index = rtnl
                .index_of(&s.bridge)
                .map_err(host_err(format!("look up bridge {}", s.bridge)))?;
            if let Some(index) = index {
                let ports = rtnl
                    .ports_of(index)
                    .map_err(host_err(format!("list the ports of {}", s.bridge)))?;
                for port in ports.iter().filter(|p| link::is_podlink_veth(p)) {
                    rtnl.delete_link(port)
                        .map_err(host_err(format!("remove veth {port}")))?;
                }
            }
            // Only a bridge podlink made (and marked) goes; one it found stays.
            let marked = rtnl
                .is_marked(&s.bridge)
                .map_err(host_err(format!("look up bridge {}", s.bridge)))?;
            if index.is_some() && !marked {
                log::info!(
                    "network: bridge {} was not made by podlink: left in place",
                    s.bridge
                );
            }
            index.filter(|_| marked)
        };
        for name in netns::list(&s.netns_dir) {
            netns::remove(&s.netns_dir.join(&name))
                .map_err(host_err(format!("remove netns {name}")))?;
        }
        host.active.clear();
        self.table
            .remove()
            .map_err(host_err(format!("remove nftables table {}", s.nft_table)))?;
        nft::remove_forward_accepts(&s.bridge);
        if bridge.is_some() {
            lock(&self.rtnl)
                .delete_link(&s.bridge)
                .map_err(host_err(format!("remove bridge {}", s.bridge)))?;
        }
        host.bridge = None;
        host.made = false;
        netns::release_dir(&s.netns_dir)
            .map_err(host_err(format!("release {}", s.netns_dir.display())))
    }
}

/// `host` for `Inner`'s steps (a name that does not shadow the `host` guards).
fn host_err(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetworkError {
    host(step)
}

/// `aa:bb:cc:dd:ee:ff` → bytes.
fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect::<Option<_>>()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trip() {
        let mac = ipam::mac_for(Ipv4Addr::new(10, 88, 0, 9));
        assert_eq!(parse_mac(&ipam::mac_string(mac)), Some(mac));
        assert_eq!(parse_mac("zz"), None);
    }
}
