//! Bridge networking of containers (issue 11): containers on the test daemon's own bridge
//! reach each other and the gateway, published ports reach busybox's httpd inside, the /etc
//! files, the other network modes, the inspect and list documents, teardown when a container
//! exits by itself, and a daemon SIGKILLed with a bridged container running. Real runc and
//! crun, real veths and nftables. Needs root.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::container_options::stdout_of;
use crate::containers::{create, daemon_with_busybox, inspect, ok};
use crate::util::{
    DaemonOptions, RawConnection, TestDaemon, assert_nothing_left, privileged, require_tool,
    run_ok, wait_for,
};

/// The host end of a container's veth (`veth` and the ID's first 11 characters).
fn veth_of(id: &str) -> String {
    format!("veth{}", &id[..11])
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// A port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// busybox httpd serving `text` on port 80 of the container.
const HTTPD: &str = "mkdir -p /www && echo served-by-httpd > /www/index.html && \
                     exec httpd -f -p 80 -h /www";

/// An HTTP GET of `/` at `address`; the response, or `None` while nothing answers.
fn http_get(address: &str) -> Option<String> {
    let mut stream =
        TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    (!response.is_empty()).then_some(response)
}

/// Waits until `address` serves the httpd page.
fn wait_served(address: &str) {
    wait_for(
        &format!("httpd answering on {address}"),
        Duration::from_secs(20),
        || http_get(address).is_some_and(|r| r.contains("served-by-httpd")),
    );
}

/// Starts a container running `command` made with `extra`; its ID.
fn started(raw: &mut RawConnection, name: &str, command: &[&str], extra: Value) -> String {
    let id = create(raw, name, command, extra);
    ok(raw, "StartContainer", json!({ "name": name }));
    id
}

/// Stops and removes container `name`, then waits for its veth to go.
fn stop_and_remove(raw: &mut RawConnection, name: &str, id: &str) {
    ok(raw, "StopContainer", json!({"name": name, "timeout": 0}));
    ok(raw, "RemoveContainer", json!({"name": name, "force": true}));
    wait_for(
        &format!("veth of {name} gone"),
        Duration::from_secs(10),
        || !link_exists(&veth_of(id)),
    );
}

/// Two containers reach each other and the gateway; /etc files; inspect and list documents.
#[test]
fn bridged_containers_reach_each_other_and_the_gateway() {
    if !privileged("bridged_containers_reach_each_other_and_the_gateway") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let a = started(&mut raw, "a", &["sleep", "1000"], json!({}));
    assert!(link_exists(&veth_of(&a)));
    let doc = inspect(&mut raw, "a");
    let settings = &doc["NetworkSettings"];
    let ip = settings["IPAddress"].as_str().unwrap().to_string();
    let gateway = settings["Gateway"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.1"), "{settings}");
    assert_eq!(settings["IPPrefixLen"], 24, "{settings}");
    assert_eq!(
        settings["MacAddress"].as_str().unwrap().len(),
        17,
        "{settings}"
    );
    assert_eq!(
        settings["Bridge"].as_str().unwrap(),
        crate::util::TestNetwork::names(&daemon.root).bridge
    );
    assert!(
        settings["SandboxKey"]
            .as_str()
            .unwrap()
            .starts_with(daemon.runroot.to_str().unwrap()),
        "{settings}"
    );
    assert_eq!(doc["HostConfig"]["NetworkMode"], "bridge");
    let script = format!(
        "ping -c1 -W2 {ip} && ping -c1 -W2 {gateway} && cat /etc/hosts /etc/resolv.conf \
         /etc/hostname"
    );
    let out = stdout_of(
        &mut raw,
        "b",
        &script,
        json!({
            "hostname": "bee",
            "host_add": ["db.example:10.9.9.9"],
            "dns_servers": ["192.0.2.53"],
            "dns_search": ["corp.example"],
            "dns_opt": ["ndots:3"],
        }),
    );
    let b = inspect(&mut raw, "b");
    assert_eq!(
        b["NetworkSettings"]["IPAddress"], "",
        "stopped: no address shown"
    );
    let hosts_start = out.find("127.0.0.1").unwrap();
    let files = &out[hosts_start..];
    assert!(files.contains("\thost.containers.internal\n"), "{files}");
    assert!(
        files.contains(&format!("{gateway}\thost.containers.internal")),
        "{files}"
    );
    assert!(files.contains("\tbee b\n"), "{files}");
    assert!(files.contains("10.9.9.9\tdb.example\n"), "{files}");
    assert!(
        files.contains("search corp.example\nnameserver 192.0.2.53\noptions ndots:3\n"),
        "{files}"
    );
    assert!(files.ends_with("bee\n"), "{files}");
    // A's own /etc/hosts names it at its address; the host's resolv.conf without loopback.
    let hosts = ok(
        &mut raw,
        "ContainerArtifacts",
        json!({"name": "a", "artifactName": "hosts"}),
    );
    let hosts: String = serde_json::from_str(hosts["config"].as_str().unwrap()).unwrap();
    let own = hosts.lines().find(|l| l.starts_with(&format!("{ip}\t")));
    assert_eq!(
        own,
        Some(format!("{ip}\t{} a", &a[..12]).as_str()),
        "{hosts}"
    );
    stop_and_remove(&mut raw, "a", &a);
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// Published ports reach httpd inside: on 127.0.0.1, on every address, with publish_all;
/// a port taken on the host is refused and nothing is held; inspect and ListContainers.
#[test]
fn published_ports_reach_httpd() {
    if !privileged("published_ports_reach_httpd") {
        return;
    }
    published_ports_on(DaemonOptions::default());
}

/// The same on crun.
#[test]
fn published_ports_reach_httpd_on_crun() {
    if !privileged("published_ports_reach_httpd_on_crun") {
        return;
    }
    require_tool("crun");
    published_ports_on(DaemonOptions {
        args: vec!["--runtime".into(), "crun".into()],
        ..Default::default()
    });
}

fn published_ports_on(options: DaemonOptions) {
    let daemon = daemon_with_busybox(options);
    let mut raw = daemon.raw();
    let (loopback, any) = (free_port(), free_port());
    let web = started(
        &mut raw,
        "web",
        &["sh", "-c", HTTPD],
        json!({"publish": [format!("127.0.0.1:{loopback}:80"), format!("{any}:80")]}),
    );
    wait_served(&format!("127.0.0.1:{loopback}"));
    // Published without a host address: reachable on 127.0.0.1 too.
    wait_served(&format!("127.0.0.1:{any}"));
    let doc = inspect(&mut raw, "web");
    assert_eq!(
        doc["NetworkSettings"]["Ports"]["80/tcp"],
        json!([
            {"HostIp": "127.0.0.1", "HostPort": loopback.to_string()},
            {"HostIp": "", "HostPort": any.to_string()},
        ]),
        "{doc}"
    );
    assert_eq!(
        doc["HostConfig"]["PortBindings"],
        doc["NetworkSettings"]["Ports"]
    );
    let list = ok(&mut raw, "ListContainers", json!({}));
    let listed = list["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["names"] == "web")
        .unwrap()
        .clone();
    assert!(
        listed["ports"].as_array().unwrap().contains(&json!({
            "host_port": loopback.to_string(),
            "host_ip": "127.0.0.1",
            "protocol": "tcp",
            "container_port": "80",
        })),
        "{listed}"
    );
    // publish_all: the exposed port gets a host port chosen.
    let all = started(
        &mut raw,
        "all",
        &["sh", "-c", HTTPD],
        json!({"publish_all": true, "exposed_ports": ["80"]}),
    );
    let chosen = inspect(&mut raw, "all")["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(chosen, "0");
    wait_served(&format!("127.0.0.1:{chosen}"));
    // A port taken on the host: refused, naming it, and nothing held.
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port();
    let before = ok(&mut raw, "ListContainers", json!({}))["containers"]
        .as_array()
        .unwrap()
        .len();
    let reply = raw.call(
        "io.podman.CreateContainer",
        json!({"create": {"image": "busybox", "name": "clash", "command": ["true"],
                          "publish": [format!("{taken}:80")]}}),
    );
    assert_eq!(reply["error"], "io.podman.ErrorOccurred", "{reply}");
    assert!(reply.to_string().contains(&taken.to_string()), "{reply}");
    let after = ok(&mut raw, "ListContainers", json!({}))["containers"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);
    // Freed, the same port works.
    drop(holder);
    let clash = started(
        &mut raw,
        "clash",
        &["sh", "-c", HTTPD],
        json!({"publish": [format!("{taken}:80")]}),
    );
    wait_served(&format!("127.0.0.1:{taken}"));
    for (name, id) in [("web", &web), ("all", &all), ("clash", &clash)] {
        stop_and_remove(&mut raw, name, id);
    }
    assert_nothing_left(&daemon);
}

/// none, host, container:ID and ns:PATH; publishing without the bridge, another network,
/// a namespace that does not exist: refused naming the field.
#[test]
fn other_network_modes() {
    if !privileged("other_network_modes") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let owner = started(&mut raw, "owner", &["sleep", "1000"], json!({}));
    let owner_pid = inspect(&mut raw, "owner")["State"]["Pid"].as_i64().unwrap();
    let owner_net = std::fs::read_link(format!("/proc/{owner_pid}/ns/net"))
        .unwrap()
        .display()
        .to_string();
    let host_net = std::fs::read_link("/proc/self/ns/net")
        .unwrap()
        .display()
        .to_string();
    let link = "readlink /proc/self/ns/net";
    let joined = stdout_of(
        &mut raw,
        "joined",
        link,
        json!({"net_mode": "container:owner"}),
    );
    assert_eq!(joined.trim(), owner_net);
    let by_path = stdout_of(
        &mut raw,
        "by_path",
        link,
        json!({"net_mode": format!("ns:/proc/{owner_pid}/ns/net")}),
    );
    assert_eq!(by_path.trim(), owner_net);
    let host = stdout_of(&mut raw, "host", link, json!({"net_mode": "host"}));
    assert_eq!(host.trim(), host_net);
    let none = stdout_of(
        &mut raw,
        "none",
        "cat /proc/net/dev",
        json!({"net_mode": "none"}),
    );
    let interfaces: Vec<&str> = none
        .lines()
        .skip(2)
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(interfaces, ["lo"], "{none}");
    for (name, _) in [("joined", ()), ("by_path", ()), ("host", ()), ("none", ())] {
        assert_eq!(inspect(&mut raw, name)["NetworkSettings"]["IPAddress"], "");
    }
    for (extra, field) in [
        (
            json!({"net_mode": "none", "publish": ["8080:80"]}),
            "publish",
        ),
        (
            json!({"net_mode": "host", "publish_all": true}),
            "publish_all",
        ),
        (json!({"network": "elsewhere"}), "network"),
        (json!({"net_mode": "ns:/nonexistent/net"}), "net_mode"),
        (json!({"net_mode": "container:nonexistent"}), "net_mode"),
        (json!({"publish": ["70000:80"]}), "publish"),
    ] {
        let mut create = json!({"image": "busybox", "command": ["true"]});
        create
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let reply = raw.call("io.podman.CreateContainer", json!({ "create": create }));
        assert_eq!(
            reply["error"], "io.podman.ErrorOccurred",
            "{extra}: {reply}"
        );
        assert!(reply.to_string().contains(field), "{extra}: {reply}");
    }
    // The default network by name.
    create(&mut raw, "named", &["true"], json!({"network": "podman"}));
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    stop_and_remove(&mut raw, "owner", &owner);
    assert_nothing_left(&daemon);
}

/// A container that exits by itself has its endpoint torn down without any call; restart
/// sets it up again; a failed start sets nothing up that stays.
#[test]
fn exits_by_themselves_are_torn_down() {
    if !privileged("exits_by_themselves_are_torn_down") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let id = started(&mut raw, "brief", &["sleep", "1"], json!({}));
    let veth = veth_of(&id);
    assert!(link_exists(&veth));
    wait_for(
        "veth of an exited container gone",
        Duration::from_secs(10),
        || !link_exists(&veth),
    );
    // Restarted: up again, and reachable on its address.
    ok(&mut raw, "StartContainer", json!({"name": "brief"}));
    assert!(link_exists(&veth));
    ok(
        &mut raw,
        "RestartContainer",
        json!({"name": "brief", "timeout": 0}),
    );
    assert!(link_exists(&veth), "restart keeps an endpoint");
    ok(&mut raw, "WaitContainer", json!({"name": "brief"}));
    wait_for("veth gone again", Duration::from_secs(10), || {
        !link_exists(&veth)
    });
    // A start that fails (no such command) leaves no endpoint.
    let bad = create(&mut raw, "bad", &["/no/such/command"], json!({}));
    let reply = raw.call("io.podman.StartContainer", json!({"name": "bad"}));
    assert!(reply["error"].is_string(), "{reply}");
    wait_for(
        "veth of a failed start gone",
        Duration::from_secs(10),
        || !link_exists(&veth_of(&bad)),
    );
    // Only initialized (GetAttachSockets): it has its endpoint already, and its monitor's
    // end tears it down, again without a call.
    let created = create(&mut raw, "created", &["sleep", "1000"], json!({}));
    ok(&mut raw, "GetAttachSockets", json!({"name": "created"}));
    assert!(link_exists(&veth_of(&created)));
    let monitor = inspect(&mut raw, "created")["State"]["ConmonPid"]
        .as_i64()
        .unwrap();
    let pid = inspect(&mut raw, "created")["State"]["Pid"]
        .as_i64()
        .unwrap();
    for pid in [pid, monitor] {
        // The monitor ends with its container, and may be gone (reaped at once by the
        // launcher that forked it) before it is killed too.
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => panic!("kill {pid}: {e}"),
        }
    }
    wait_for(
        "veth of a created container whose monitor died gone",
        Duration::from_secs(10),
        || !link_exists(&veth_of(&created)),
    );
    // With `rm`, one that exits by itself gives its host port back at once (it is removed
    // when a client next looks), free for the next container without anyone looking.
    let port = free_port();
    let publish = json!({"publish": [format!("127.0.0.1:{port}:80")], "rm": true});
    started(&mut raw, "once", &["true"], publish.clone());
    wait_for(
        "the port of an rm container that exited free again",
        Duration::from_secs(10),
        || {
            let create = json!({"image": "busybox", "name": "again", "command": ["true"],
                "publish": publish["publish"]});
            raw.call("io.podman.CreateContainer", json!({ "create": create }))["error"].is_null()
        },
    );
    // ("again", created, goes with the stopped ones.)
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// A daemon SIGKILLed with a bridged container running: the restarted daemon finds it
/// running and reachable, and stopping and removing it later leaves nothing.
#[test]
fn bridged_container_outlives_a_killed_daemon() {
    if !privileged("bridged_container_outlives_a_killed_daemon") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    crate::util::traversable(dir.path());
    let over = || crate::util::over(dir.path());
    let mut first = daemon_with_busybox(over());
    let mut raw = first.raw();
    let port = free_port();
    let id = started(
        &mut raw,
        "survivor",
        &["sh", "-c", HTTPD],
        json!({"publish": [format!("127.0.0.1:{port}:80")]}),
    );
    wait_served(&format!("127.0.0.1:{port}"));
    // Another one dies while no daemon runs: the next start tears its endpoint down.
    let victim = started(&mut raw, "victim", &["sleep", "1000"], json!({}));
    let victim_pid = inspect(&mut raw, "victim")["State"]["Pid"]
        .as_i64()
        .unwrap();
    first.stop_with(Signal::SIGKILL);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim_pid as i32),
        Signal::SIGKILL,
    )
    .unwrap();
    let second = TestDaemon::start_with(over());
    let mut raw = second.raw();
    wait_served(&format!("127.0.0.1:{port}"));
    assert_eq!(inspect(&mut raw, "survivor")["State"]["Status"], "running");
    wait_for("the dead one's veth gone", Duration::from_secs(10), || {
        !link_exists(&veth_of(&victim))
    });
    assert_eq!(inspect(&mut raw, "victim")["State"]["Status"], "exited");
    ok(&mut raw, "RemoveContainer", json!({"name": "victim"}));
    // Its address stays its own: a new container gets another.
    let ip = inspect(&mut raw, "survivor")["NetworkSettings"]["IPAddress"].clone();
    let other = started(&mut raw, "other", &["sleep", "1000"], json!({}));
    assert_ne!(
        inspect(&mut raw, "other")["NetworkSettings"]["IPAddress"],
        ip
    );
    stop_and_remove(&mut raw, "other", &other);
    stop_and_remove(&mut raw, "survivor", &id);
    assert!(http_get(&format!("127.0.0.1:{port}")).is_none());
    drop(first);
    assert_nothing_left(&second);
}

/// The Python varlink package creates a container with a published port.
#[test]
fn python_client_publishes_a_port() {
    if !privileged("python_client_publishes_a_port") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let port = free_port();
    let script = format!(
        r#"
import sys, varlink
with varlink.Client(address=sys.argv[1]) as client, client.open("io.podman") as podman:
    create = {{"image": "busybox", "name": "py", "command": ["sh", "-c", {HTTPD:?}],
              "publish": ["127.0.0.1:{port}:80"]}}
    podman.CreateContainer(create)
    podman.StartContainer("py")
    print("created")
"#
    );
    let out = run_ok(
        Command::new("python3")
            .arg("-c")
            .arg(&script)
            .arg(daemon.address()),
    );
    assert!(out.contains("created"), "{out}");
    wait_served(&format!("127.0.0.1:{port}"));
    let mut raw = daemon.raw();
    let id = inspect(&mut raw, "py")["Id"].as_str().unwrap().to_string();
    stop_and_remove(&mut raw, "py", &id);
    assert_nothing_left(&daemon);
}

/// A removed container's published port serves the next container at once: the new
/// endpoint is not undone by the old one's teardown still queued.
#[test]
fn a_removed_containers_port_serves_the_next_one() {
    if !privileged("a_removed_containers_port_serves_the_next_one") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let port = free_port();
    let publish = json!({"publish": [format!("127.0.0.1:{port}:80")]});
    let mut ids = Vec::new();
    for round in 0..3 {
        let name = format!("web{round}");
        ids.push(started(
            &mut raw,
            &name,
            &["sh", "-c", HTTPD],
            publish.clone(),
        ));
        wait_served(&format!("127.0.0.1:{port}"));
        if round < 2 {
            ok(
                &mut raw,
                "RemoveContainer",
                json!({"name": name, "force": true}),
            );
        }
    }
    // Still served once the removed ones' queued teardowns ran.
    wait_for(
        "removed containers' veths gone",
        Duration::from_secs(10),
        || ids[..2].iter().all(|id| !link_exists(&veth_of(id))),
    );
    let last = ids.pop().unwrap();
    wait_served(&format!("127.0.0.1:{port}"));
    stop_and_remove(&mut raw, "web2", &last);
    assert_nothing_left(&daemon);
}

/// The test daemon's /24 holds 253 containers (the gateway has the first address): the next
/// create is refused naming the field and the subnet, with nothing made; a removal frees an
/// address for the next create, and a restarted daemon holds the same addresses.
#[test]
fn an_exhausted_subnet_refuses_creates() {
    if !privileged("an_exhausted_subnet_refuses_creates") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    crate::util::traversable(dir.path());
    let over = || crate::util::over(dir.path());
    let refused = |raw: &mut RawConnection, name: &str| {
        let reply = crate::util::fails(
            raw,
            "CreateContainer",
            json!({"create": {"image": "busybox", "name": name, "command": ["true"]}}),
            "ErrorOccurred",
        );
        let reason = reply["reason"].as_str().unwrap().to_string();
        assert!(
            reason.contains("create.network") && reason.contains("no free address"),
            "{reason}"
        );
    };
    let mut first = daemon_with_busybox(over());
    let mut raw = first.raw();
    for n in 0..253 {
        create(&mut raw, &format!("c{n}"), &["true"], json!({}));
    }
    refused(&mut raw, "one-too-many");
    let listed = ok(&mut raw, "ListContainers", json!({}))["containers"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(listed, 253, "the refused create left nothing");
    // Containers on no network need no address.
    create(&mut raw, "loopback", &["true"], json!({"net_mode": "none"}));
    // A removal gives its address back.
    ok(&mut raw, "RemoveContainer", json!({"name": "c7"}));
    create(&mut raw, "next", &["true"], json!({}));
    refused(&mut raw, "full-again");
    // After a crash and a restart every record's address is held again.
    first.stop_with(Signal::SIGKILL);
    let second = TestDaemon::start_with(over());
    let mut raw = second.raw();
    refused(&mut raw, "still-full");
    for name in ["loopback", "next"]
        .into_iter()
        .map(String::from)
        .chain((0..253).filter(|n| *n != 7).map(|n| format!("c{n}")))
    {
        ok(&mut raw, "RemoveContainer", json!({ "name": name }));
    }
    create(&mut raw, "room-again", &["true"], json!({}));
    ok(&mut raw, "RemoveContainer", json!({"name": "room-again"}));
    drop(first);
    assert_nothing_left(&second);
}

/// A host port taken on the host after the create (while the container was stopped) fails
/// the start naming it, and the host's listener keeps its traffic; once it is free again
/// the container starts and serves.
#[test]
fn a_port_taken_after_the_create_fails_the_start() {
    if !privileged("a_port_taken_after_the_create_fails_the_start") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let port = free_port();
    let id = create(
        &mut raw,
        "late",
        &["sh", "-c", HTTPD],
        json!({"publish": [format!("127.0.0.1:{port}:80")]}),
    );
    let squatter = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let reply = raw.call("io.podman.StartContainer", json!({"name": "late"}));
    let reason = reply["parameters"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&port.to_string()) && reason.contains("taken on the host"),
        "{reply}"
    );
    // The host's listener still gets its connections.
    let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    squatter.set_nonblocking(false).unwrap();
    let (_accepted, _) = squatter.accept().unwrap();
    drop(squatter);
    wait_for(
        "the failed start's veth gone",
        Duration::from_secs(10),
        || !link_exists(&veth_of(&id)),
    );
    ok(&mut raw, "StartContainer", json!({"name": "late"}));
    wait_served(&format!("127.0.0.1:{port}"));
    stop_and_remove(&mut raw, "late", &id);
    assert_nothing_left(&daemon);
}
