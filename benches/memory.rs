//! The daemon's resident memory (`cargo bench --bench memory`, as root: it creates
//! containers): idle, at the peak of a load, and once the load is gone. The load: 300
//! connections open at once, four concurrent calls with a 16 MiB parameter (each answered
//! with an error as large), 500 containers created, listed and removed. Not a test: it prints
//! figures (the integration test `daemon_memory` holds the bound).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use podlink::varlink::client::VarlinkClientInterface;
use serde_json::{Value, json};

#[path = "common/mod.rs"]
mod common;

fn main() {
    if common::skip_unless_root("memory", "containers") {
        return;
    }
    let dir = common::temp_dir("plb");
    let tarball = common::busybox_tarball(dir.path(), &["true"]);
    let cgroup_parent = format!("/podlink-bench-{}", std::process::id());
    let daemon = common::Daemon::start(dir.path(), &["--cgroup-parent", &cgroup_parent]);
    let pid = daemon.pid().as_raw() as u32;
    // Before any call: the code a call runs is not paged in yet.
    let fresh = settled(pid);
    let mut client = daemon.client();
    common::import(&mut client, &tarball, "bench");
    let idle = settled(pid);

    let mut conns: Vec<Raw> = (0..300).map(|_| Raw::connect(&daemon.socket)).collect();
    for c in &mut conns {
        c.send(&json!({"method": "io.podman.Ping"}));
    }
    for c in &mut conns {
        c.recv();
    }
    let with_connections = status(pid, "VmRSS:");
    drop(conns);

    let name = "x".repeat(16 * 1024 * 1024 - 1024);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut raw = Raw::connect(&daemon.socket);
                raw.send(
                    &json!({"method": "io.podman.GetContainer", "parameters": {"name": name}}),
                );
                raw.recv();
            });
        }
    });

    let ids: Vec<String> = (0..500)
        .map(|n| {
            client
                .create_container(common::create(format!("m{n}"), &["true"], "none"))
                .call()
                .expect("create")
                .container
        })
        .collect();
    for _ in 0..3 {
        client.list_containers().call().expect("list");
    }
    let with_containers = status(pid, "VmRSS:");
    for id in ids {
        client.remove_container(id, false).call().expect("remove");
    }
    drop(client);
    let peak = status(pid, "VmHWM:");
    let after = settled(pid);
    println!(
        "podlink resident memory: idle {:.1} MB before any call, {:.1} MB after an import \
         ({:.1} MB anonymous)   300 connections open {:.1} MB   500 containers listed {:.1} MB   \
         peak {:.1} MB   after the load {:.1} MB ({:.1} MB anonymous)",
        mb(fresh.0),
        mb(idle.0),
        mb(idle.1),
        mb(with_connections),
        mb(with_containers),
        mb(peak),
        mb(after.0),
        mb(after.1),
    );
    drop(daemon);
    common::remove_cgroups(&cgroup_parent, &[]);
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1000.0 * 1.024
}

/// VmRSS and RssAnon in KiB, the least of five samples after the daemon's quiet-time trim.
fn settled(pid: u32) -> (u64, u64) {
    std::thread::sleep(Duration::from_millis(400));
    (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            (status(pid, "VmRSS:"), status(pid, "RssAnon:"))
        })
        .fold((u64::MAX, u64::MAX), |(r, a), (r2, a2)| {
            (r.min(r2), a.min(a2))
        })
}

/// A field of /proc/PID/status, in KiB.
fn status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("field")
}

/// A raw varlink connection.
struct Raw {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Raw {
    fn connect(path: &Path) -> Raw {
        let stream = UnixStream::connect(path).expect("connect");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Raw { stream, reader }
    }

    fn send(&mut self, message: &Value) {
        let mut bytes = serde_json::to_vec(message).expect("json");
        bytes.push(0);
        self.stream.write_all(&bytes).expect("write");
    }

    fn recv(&mut self) {
        let mut buf = Vec::new();
        self.reader.read_until(0, &mut buf).expect("reply");
        assert_eq!(buf.last(), Some(&0), "a whole reply");
    }
}
