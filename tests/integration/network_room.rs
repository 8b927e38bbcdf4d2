//! The network room driven directly (`podlink::engine::network::Network`), without a daemon:
//! real bridges, veths, namespaces and nftables, each test with a bridge, subnet and table of
//! its own, and nothing left after it. Needs root.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use podlink::engine::network::{
    Endpoint, Network, NetworkSettings, PortMapping, ports::parse_publish,
};
use tempfile::TempDir;

use crate::util::privileged;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A bridge, subnet and table of one test; on drop, `remove_all` and a check that nothing is
/// left.
struct Room {
    settings: NetworkSettings,
    _runroot: TempDir,
}

impl Room {
    fn new() -> Room {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Named pl* like the test daemons' roots: contrib/scripts/check-leftovers.sh looks
        // for mounts below those.
        let runroot = tempfile::Builder::new()
            .prefix("plnet")
            .tempdir()
            .expect("tempdir");
        let settings = NetworkSettings {
            bridge: format!("plt{}x{n}", pid % 100_000),
            subnet: Ipv4Addr::new(10, 213, ((pid * 7 + n * 31) % 250) as u8, 0),
            prefix: 24,
            nft_table: format!("plt_{pid}_{n}"),
            netns_dir: runroot.path().join("netns"),
        };
        Room {
            settings,
            _runroot: runroot,
        }
    }

    fn open(&self) -> Network {
        Network::open(self.settings.clone()).expect("open network")
    }

    /// An endpoint ID unique on the host: its first 11 characters name the veth.
    fn id(&self) -> String {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!(
            "{:05x}{n:06x}{}",
            std::process::id() & 0xfffff,
            "0".repeat(53)
        )
    }

    fn endpoint(&self, net: &Network, publish: &[&str]) -> Endpoint {
        let id = self.id();
        let ports: Vec<PortMapping> = publish
            .iter()
            .flat_map(|p| parse_publish("create.publish", p).expect("publish"))
            .collect();
        let address = net.allocate(&id, ports).expect("allocate");
        Endpoint { id, address }
    }

    /// Everything of this room still on the host, one line each.
    fn leftovers(&self) -> Vec<String> {
        let s = &self.settings;
        let mut left = Vec::new();
        if link_exists(&s.bridge) {
            left.push(format!("bridge {}", s.bridge));
        }
        let tables = run("nft", &["list", "tables"]);
        if tables
            .lines()
            .any(|l| l.trim() == format!("table ip {}", s.nft_table))
        {
            left.push(format!("table {}", s.nft_table));
        }
        if s.netns_dir.exists() {
            left.push(format!("netns dir {}", s.netns_dir.display()));
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if mounts.contains(&*s.netns_dir.to_string_lossy()) {
            left.push(format!("mount under {}", s.netns_dir.display()));
        }
        left
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        let net = Network::open(self.settings.clone()).expect("open network");
        net.remove_all().expect("remove_all");
        let left = self.leftovers();
        if !std::thread::panicking() {
            assert!(left.is_empty(), "left behind: {left:?}");
        }
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", "dev", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ip")
        .success()
}

/// Runs `busybox ARGS` inside the namespace file `netns`.
fn inside(netns: &Path, args: &[&str]) -> std::process::Output {
    Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .arg("busybox")
        .args(args)
        .output()
        .expect("nsenter")
}

fn ping(netns: &Path, ip: Ipv4Addr) {
    let out = inside(netns, &["ping", "-c1", "-W2", &ip.to_string()]);
    assert!(
        out.status.success(),
        "ping {ip} from {}: {}{}",
        netns.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A busybox httpd inside `netns` on `port`, serving `body` at /f; killed on drop.
struct Httpd {
    child: Child,
    _dir: TempDir,
}

impl Httpd {
    fn start(netns: &Path, port: u16, body: &str) -> Httpd {
        let dir = TempDir::new().expect("tempdir");
        std::fs::write(dir.path().join("f"), body).expect("write");
        let child = Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args(["busybox", "httpd", "-f", "-p", &port.to_string(), "-h"])
            .arg(dir.path())
            .spawn()
            .expect("httpd");
        Httpd { child, _dir: dir }
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// GET /f from `ip:port`, retried until the server answers (it has just started) or 5 s.
fn get(ip: Ipv4Addr, port: u16) -> std::io::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let attempt = (|| {
            let mut s = TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET /f HTTP/1.0\r\n\r\n")?;
            let mut reply = String::new();
            s.read_to_string(&mut reply)?;
            Ok(reply)
        })();
        match attempt {
            Ok(reply) => return Ok(reply),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn elements_of(room: &Room) -> String {
    let s = &room.settings;
    ["podman_tcp", "podman_tcp_ip", "podman_udp", "podman_udp_ip"]
        .iter()
        .map(|m| run("nft", &["list", "map", "ip", &s.nft_table, m]))
        .collect()
}

#[test]
fn two_endpoints_reach_each_other_and_the_gateway() {
    if !privileged("two_endpoints_reach_each_other_and_the_gateway") {
        return;
    }
    let room = Room::new();
    let net = room.open();
    let a = room.endpoint(&net, &[]);
    let b = room.endpoint(&net, &[]);
    let na = net.setup(&a).expect("setup a");
    let nb = net.setup(&b).expect("setup b");
    assert_eq!(na, net.netns_path(&a.id));
    ping(&na, b.address.ip);
    ping(&nb, a.address.ip);
    ping(&na, room.settings.gateway());
    // The container end has the address and MAC the allocation chose.
    let ifconfig = inside(&na, &["ip", "addr", "show", "eth0"]);
    let text = String::from_utf8_lossy(&ifconfig.stdout);
    assert!(text.contains(&format!("{}/24", a.address.ip)), "{text}");
    assert!(text.contains(&a.address.mac), "{text}");
    net.teardown(&a);
    net.teardown(&b);
    net.settle();
    for e in [&a, &b] {
        assert!(!net.netns_path(&e.id).exists());
        assert!(!link_exists(&format!("veth{}", &e.id[..11])));
    }
    net.release(&a.id);
    net.release(&b.id);
}

#[test]
fn published_ports_reach_a_listener_inside() {
    if !privileged("published_ports_reach_a_listener_inside") {
        return;
    }
    let room = Room::new();
    let net = room.open();
    let e = room.endpoint(&net, &["127.0.0.1::8080", "8081"]);
    let (local, any) = (&e.address.ports[0], &e.address.ports[1]);
    assert_ne!(local.host_port, 0);
    assert_ne!(any.host_port, 0);
    let ns = net.setup(&e).expect("setup");
    let _a = Httpd::start(&ns, 8080, "on 8080");
    let _b = Httpd::start(&ns, 8081, "on 8081");
    let reply = get(Ipv4Addr::LOCALHOST, local.host_port).expect("127.0.0.1 published");
    assert!(reply.ends_with("on 8080"), "{reply}");
    let reply = get(Ipv4Addr::LOCALHOST, any.host_port).expect("published on every address");
    assert!(reply.ends_with("on 8081"), "{reply}");
    let gateway = room.settings.gateway();
    let reply = get(gateway, any.host_port).expect("published on the gateway address");
    assert!(reply.ends_with("on 8081"), "{reply}");
    // Published on 127.0.0.1 only: another local address does not reach it.
    let other =
        TcpStream::connect_timeout(&(gateway, local.host_port).into(), Duration::from_secs(1));
    assert!(
        other.is_err(),
        "127.0.0.1-only port reached through {gateway}"
    );
    // Hairpin: the container reaches its own published port through the gateway address.
    // (busybox nc, not wget: Debian 12's busybox wget crashes here.)
    let mut nc = Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args([
            "busybox",
            "nc",
            "-w",
            "3",
            &gateway.to_string(),
            &any.host_port.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("nc");
    nc.stdin
        .take()
        .expect("stdin")
        .write_all(b"GET /f HTTP/1.0\r\n\r\n")
        .expect("write");
    let out = nc.wait_with_output().expect("nc");
    let reply = String::from_utf8_lossy(&out.stdout);
    assert!(reply.ends_with("on 8081"), "hairpin: {out:?}");
    assert!(elements_of(&room).contains(&any.host_port.to_string()));
    net.teardown(&e);
    net.settle();
    assert!(!elements_of(&room).contains(&format!("{} :", any.host_port)));
    assert!(get(Ipv4Addr::LOCALHOST, local.host_port).is_err());
    net.release(&e.id);
}

#[test]
fn taken_host_ports_are_refused() {
    if !privileged("taken_host_ports_are_refused") {
        return;
    }
    let room = Room::new();
    let net = room.open();
    let listener = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let ports = parse_publish("create.publish", &format!("{port}:80")).expect("parse");
    let err = net
        .allocate(&room.id(), ports)
        .expect_err("taken")
        .to_string();
    assert!(
        err.contains(&port.to_string()) && err.contains("create.publish"),
        "{err}"
    );
    // Held by another endpoint: refused too, and free again once released.
    let a = room.endpoint(&net, &["127.0.0.1::80"]);
    let held = a.address.ports[0].host_port;
    let again = parse_publish("create.publish", &format!("{held}:80")).expect("parse");
    let err = net
        .allocate(&room.id(), again.clone())
        .expect_err("held")
        .to_string();
    assert!(err.contains(&held.to_string()), "{err}");
    net.release(&a.id);
    let b = room.id();
    net.allocate(&b, again).expect("free after release");
    net.release(&b);
}

#[test]
fn a_failed_setup_leaves_nothing() {
    if !privileged("a_failed_setup_leaves_nothing") {
        return;
    }
    let room = Room::new();
    let net = room.open();
    let mut e = room.endpoint(&net, &[]);
    // A gateway outside the subnet: the default route fails after the veth and the
    // namespace were made.
    e.address.gateway = Ipv4Addr::new(192, 0, 2, 1);
    let err = net.setup(&e).expect_err("bad gateway").to_string();
    assert!(err.contains("configure the namespace"), "{err}");
    eprintln!("setup failed as expected: {err}");
    assert!(!net.netns_path(&e.id).exists());
    assert!(!link_exists(&format!("veth{}", &e.id[..11])));
    // The same endpoint with its real gateway then sets up.
    e.address.gateway = room.settings.gateway();
    net.setup(&e).expect("setup");
    net.teardown(&e);
    net.settle();
    net.release(&e.id);
}

#[test]
fn reconcile_after_a_crash_removes_what_no_live_endpoint_owns() {
    if !privileged("reconcile_after_a_crash_removes_what_no_live_endpoint_owns") {
        return;
    }
    let room = Room::new();
    let (kept, lost) = {
        let net = room.open();
        let kept = room.endpoint(&net, &["127.0.0.1::80"]);
        let lost = room.endpoint(&net, &["127.0.0.1::80"]);
        net.setup(&kept).expect("setup kept");
        net.setup(&lost).expect("setup lost");
        (kept, lost)
        // Dropped without teardown: a crash, as far as the host can tell.
    };
    let net = room.open();
    for e in [&kept, &lost] {
        net.claim(&e.id, &e.address);
    }
    net.try_reconcile(std::slice::from_ref(&kept))
        .expect("reconcile");
    assert!(net.netns_path(&kept.id).exists());
    assert!(link_exists(&format!("veth{}", &kept.id[..11])));
    assert!(!net.netns_path(&lost.id).exists());
    assert!(!link_exists(&format!("veth{}", &lost.id[..11])));
    let elements = elements_of(&room);
    assert!(
        elements.contains(&kept.address.ports[0].host_port.to_string()),
        "{elements}"
    );
    assert!(
        !elements.contains(&lost.address.ports[0].host_port.to_string()),
        "{elements}"
    );
    ping(&net.netns_path(&kept.id), room.settings.gateway());
    drop(net);
    // Another crash, then nothing is live.
    let net = room.open();
    net.try_reconcile(&[]).expect("reconcile");
    assert!(!net.netns_path(&kept.id).exists());
    assert!(!link_exists(&format!("veth{}", &kept.id[..11])));
    assert!(!elements_of(&room).contains("127.0.0.1 ."));
    assert!(net.shutdown().expect("shutdown"), "nothing is set up");
    assert!(room.leftovers().is_empty(), "{:?}", room.leftovers());
}

#[test]
fn setup_and_teardown_times() {
    if !privileged("setup_and_teardown_times") {
        return;
    }
    let room = Room::new();
    let net = room.open();
    // The first setup makes the bridge and the table; time the ones after it.
    let first = room.endpoint(&net, &[]);
    net.setup(&first).expect("setup");
    let mut setups = Vec::new();
    let mut teardowns = Vec::new();
    for _ in 0..5 {
        let e = room.endpoint(&net, &["127.0.0.1::80"]);
        let start = Instant::now();
        net.setup(&e).expect("setup");
        setups.push(start.elapsed());
        let start = Instant::now();
        net.teardown(&e);
        net.settle();
        teardowns.push(start.elapsed());
        net.release(&e.id);
    }
    let bare = room.endpoint(&net, &[]);
    let start = Instant::now();
    net.setup(&bare).expect("setup");
    let bare_setup = start.elapsed();
    let start = Instant::now();
    net.teardown(&bare);
    net.settle();
    let bare_teardown = start.elapsed();
    eprintln!(
        "network setup with one published port: {setups:?}; teardown: {teardowns:?}; \
         without ports: setup {bare_setup:?}, teardown {bare_teardown:?}"
    );
    net.teardown(&first);
    net.settle();
}

#[test]
fn a_dropping_forward_policy_gets_tagged_accepts_removed_alone() {
    if !privileged("a_dropping_forward_policy_gets_tagged_accepts_removed_alone") {
        return;
    }
    let room = Room::new();
    let settings = room.settings.clone();
    // In a network namespace of this test's own (a thread's, inherited by the threads and
    // processes it starts), so the host's FORWARD policy is never touched.
    let ids = (room.id(), room.id());
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        let iptables = |args: &[&str]| {
            let out = Command::new("iptables")
                .args(args)
                .output()
                .expect("iptables");
            assert!(out.status.success(), "iptables {args:?}: {out:?}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        iptables(&["-P", "FORWARD", "DROP"]);
        iptables(&["-A", "FORWARD", "-i", "lo", "-j", "ACCEPT"]);
        let net = Network::open(settings.clone()).expect("open");
        let endpoints: Vec<Endpoint> = [ids.0, ids.1]
            .into_iter()
            .map(|id| {
                let address = net.allocate(&id, Vec::new()).expect("allocate");
                Endpoint { id, address }
            })
            .collect();
        let a = net.setup(&endpoints[0]).expect("setup a");
        net.setup(&endpoints[1]).expect("setup b");
        let rules = iptables(&["-S", "FORWARD"]);
        let tag = format!("\"podlink {}\"", settings.bridge);
        assert_eq!(rules.matches(&tag).count(), 2, "{rules}");
        ping(&a, endpoints[1].address.ip);
        for e in &endpoints {
            net.teardown(e);
        }
        net.remove_all().expect("remove_all");
        let rules = iptables(&["-S", "FORWARD"]);
        assert!(!rules.contains(&tag), "{rules}");
        assert!(rules.contains("-P FORWARD DROP") && rules.contains("-A FORWARD -i lo -j ACCEPT"));
    })
    .join()
    .expect("test thread");
}

#[test]
fn a_setup_waits_for_a_queued_teardown_and_a_second_setup_keeps_the_first() {
    if !privileged("a_setup_waits_for_a_queued_teardown_and_a_second_setup_keeps_the_first") {
        return;
    }
    let room = Room::new();
    let net = room.open();
    let e = room.endpoint(&net, &["127.0.0.1::80"]);
    let ns = net.setup(&e).expect("setup");
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let first = inode(&ns);
    assert_eq!(net.setup(&e).expect("again"), ns);
    assert_eq!(
        inode(&ns),
        first,
        "a second setup keeps the namespace in use"
    );
    // A restart: teardown queued, setup at once; the setup waits, then makes a new one.
    net.teardown(&e);
    net.setup(&e).expect("setup after teardown");
    assert_ne!(inode(&ns), first, "a new namespace");
    ping(&ns, room.settings.gateway());
    assert!(elements_of(&room).contains(&format!("{} :", e.address.ports[0].host_port)));
    net.teardown(&e);
    net.settle();
    net.release(&e.id);
}

#[test]
fn a_published_udp_port_reaches_a_listener_inside() {
    if !privileged("a_published_udp_port_reaches_a_listener_inside") {
        return;
    }
    let room = Room::new();
    let net = room.open();
    let e = room.endpoint(&net, &["127.0.0.1::5353/udp"]);
    let host_port = e.address.ports[0].host_port;
    let ns = net.setup(&e).expect("setup");
    // The listener: a socket made by a thread inside the namespace (busybox nc has no UDP;
    // a socket stays in the namespace it was made in).
    let listener = std::thread::spawn(move || {
        let file = std::fs::File::open(&ns).expect("open netns");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        std::net::UdpSocket::bind("0.0.0.0:5353").expect("bind inside")
    })
    .join()
    .expect("listener thread");
    listener
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 64];
    let (n, from) = loop {
        socket
            .send_to(b"over udp", ("127.0.0.1", host_port))
            .expect("send");
        if let Ok(got) = listener.recv_from(&mut buf) {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "no datagram reached the listener"
        );
    };
    assert_eq!(&buf[..n], b"over udp");
    // Masqueraded from 127.0.0.1 to the gateway, which the reply goes back to.
    assert_eq!(from.ip(), std::net::IpAddr::V4(room.settings.gateway()));
    listener.send_to(b"back", from).expect("reply");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let n = socket.recv(&mut buf).expect("the reply");
    assert_eq!(&buf[..n], b"back");
    net.teardown(&e);
    net.settle();
    net.release(&e.id);
}

#[test]
fn shutdown_removes_everything_only_when_it_may() {
    if !privileged("shutdown_removes_everything_only_when_it_may") {
        return;
    }
    let room = Room::new();
    // Never touched: nothing to do.
    let net = room.open();
    net.try_reconcile(&[]).expect("reconcile");
    assert!(!net.shutdown().expect("shutdown"), "nothing was made");
    let e = room.endpoint(&net, &[]);
    net.setup(&e).expect("setup");
    // An endpoint up: everything stays.
    assert!(!net.shutdown().expect("shutdown"));
    assert!(link_exists(&room.settings.bridge));
    net.teardown(&e);
    assert!(net.shutdown().expect("shutdown"), "nothing is up any more");
    assert!(room.leftovers().is_empty(), "{:?}", room.leftovers());
    // Before reconcile, endpoints of an earlier service's containers are unknown.
    let net = room.open();
    let e = room.endpoint(&net, &[]);
    net.setup(&e).expect("setup");
    net.teardown(&e);
    assert!(!net.shutdown().expect("shutdown"), "not reconciled yet");
    assert!(link_exists(&room.settings.bridge));
}

#[test]
fn outbound_traffic_is_masqueraded() {
    if !privileged("outbound_traffic_is_masqueraded") {
        return;
    }
    let room = Room::new();
    let net = room.open();
    let e = room.endpoint(&net, &[]);
    let ns = net.setup(&e).expect("setup");
    // "Outside": a namespace on a /30 of its own behind a veth, with no route back to the
    // subnet: only a masqueraded packet gets an answer.
    let dir = TempDir::new().expect("tempdir");
    let outside = dir.path().join("outside");
    podlink::engine::network::netns::create(&outside).expect("outside netns");
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let host_end = format!("plo{}x{n}", std::process::id() % 100_000);
    let third = (std::process::id() + n * 13) % 250;
    let (near, far) = (format!("10.214.{third}.1"), format!("10.214.{third}.2"));
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("ip");
        assert!(out.status.success(), "ip {args:?}: {out:?}");
    };
    let outside_arg = outside.to_string_lossy().into_owned();
    ip(&[
        "link",
        "add",
        &host_end,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &outside_arg,
    ]);
    ip(&["addr", "add", &format!("{near}/30"), "dev", &host_end]);
    ip(&["link", "set", &host_end, "up"]);
    for args in [
        vec!["ip", "addr", "add", &format!("{far}/30"), "dev", "eth0"],
        vec!["ip", "link", "set", "eth0", "up"],
    ] {
        let out = inside(&outside, &args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    ping(&ns, far.parse().expect("ip"));
    ip(&["link", "del", &host_end]);
    podlink::engine::network::netns::remove(&outside).expect("remove outside");
    net.teardown(&e);
    net.settle();
    net.release(&e.id);
}

/// A bridge podlink did not make (Podman's CNI bridge has the default's name, or an admin
/// made it) is used but never removed, and what else is attached to it (a CNI-named veth
/// here) is never touched: neither by a reconcile nor by `remove_all`.
#[test]
fn a_bridge_podlink_did_not_make_stays_with_what_is_attached() {
    if !privileged("a_bridge_podlink_did_not_make_stays_with_what_is_attached") {
        return;
    }
    let room = Room::new();
    let s = &room.settings;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let foreign = format!("veth{:08x}", (std::process::id() << 8) ^ n);
    let peer = format!("plp{}x{n}", std::process::id() % 100_000);
    let ip = |args: &[&str]| {
        let status = Command::new("ip").args(args).status().expect("ip");
        assert!(status.success(), "ip {args:?}");
    };
    ip(&["link", "add", &s.bridge, "type", "bridge"]);
    ip(&[
        "link", "add", &foreign, "type", "veth", "peer", "name", &peer,
    ]);
    ip(&["link", "set", &foreign, "master", &s.bridge]);
    let net = room.open();
    let e = room.endpoint(&net, &[]);
    let path = net.setup(&e).expect("setup on a bridge found");
    ping(&path, s.gateway());
    net.teardown(&e);
    net.settle();
    net.try_reconcile(&[]).expect("reconcile");
    assert!(
        link_exists(&foreign),
        "a reconcile removed a veth not podlink's"
    );
    net.remove_all().expect("remove_all");
    assert!(
        link_exists(&s.bridge),
        "remove_all removed a bridge podlink did not make"
    );
    assert!(
        link_exists(&foreign),
        "remove_all removed a veth not podlink's"
    );
    drop(net);
    // By hand, as they were made; the room's own check then finds nothing.
    ip(&["link", "del", &foreign]);
    ip(&["link", "del", &s.bridge]);
}
