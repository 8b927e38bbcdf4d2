//! Ping throughput over the unix socket, with 1 and 8 concurrent clients (`cargo bench`).
//!
//! Each client is the generated Rust client on its own connection, calling `Ping` in a loop
//! for a fixed time. The floor is the same client against a trivial in-process server that
//! answers every message with a canned Ping reply, measured in the same run: the ratio says
//! how much of the socket round trip podlink itself adds. Not a test: it prints figures.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use podlink::varlink::client::{VarlinkClient, VarlinkClientInterface};

#[path = "common/mod.rs"]
mod common;

const RUN: Duration = Duration::from_secs(3);

fn main() {
    let dir = common::temp_dir("plb");
    let daemon = common::Daemon::start(dir.path(), &[]);
    let socket = daemon.socket.clone();

    let floor_socket = dir.path().join("floor");
    start_floor_server(&floor_socket);
    common::wait_for(&floor_socket);

    println!("Ping over a unix socket, generated Rust client, {RUN:?} per figure");
    for clients in [1, 8] {
        let floor = rate(&floor_socket, clients, false);
        let podlink = rate(&socket, clients, false);
        report(&format!("{clients} client(s)"), podlink, floor);
    }
    // The same with every thread of both sides on CPU 0: without the cost of waking a thread
    // on another CPU, which on a virtual machine dominates a one-client round trip.
    let cpu0 = cpu_set(0);
    nix::sched::sched_setaffinity(daemon.pid(), &cpu0).expect("pin podlink");
    let floor = rate(&floor_socket, 1, true);
    let podlink = rate(&socket, 1, true);
    report("1 client, one CPU", podlink, floor);
}

fn report(what: &str, podlink: f64, floor: f64) {
    println!(
        "  {what:<18} podlink {podlink:>9.0} calls/s   floor {floor:>9.0} calls/s   \
         podlink/floor {:.2}",
        podlink / floor
    );
}

fn cpu_set(cpu: usize) -> nix::sched::CpuSet {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).expect("cpu 0 exists");
    set
}

/// Calls per second with `clients` concurrent connections calling Ping for `RUN`; with `pin`,
/// every client thread (and every floor server thread) runs on CPU 0.
fn rate(socket: &Path, clients: usize, pin: bool) -> f64 {
    PIN_FLOOR.store(pin, std::sync::atomic::Ordering::SeqCst);
    let address = format!("unix:{}", socket.display());
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let address = address.clone();
                s.spawn(move || {
                    if pin {
                        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &cpu_set(0))
                            .expect("pin client");
                    }
                    let conn = varlink::Connection::with_address(&address).expect("connect");
                    let mut client = VarlinkClient::new(conn);
                    let mut calls = 0u64;
                    while start.elapsed() < RUN {
                        let reply = client.ping().call().expect("ping");
                        assert_eq!(reply.ping.message, "OK");
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("client")).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

/// A server that does nothing but frame: every NUL-terminated message gets the canned reply.
fn start_floor_server(path: &Path) {
    let listener = UnixListener::bind(path).expect("bind floor");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || echo(stream));
        }
    });
}

/// Set for the one-CPU run: floor connection threads pin themselves to CPU 0 too.
static PIN_FLOOR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn echo(stream: UnixStream) {
    if PIN_FLOOR.load(std::sync::atomic::Ordering::SeqCst) {
        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &cpu_set(0))
            .expect("pin floor");
    }
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let reply = b"{\"parameters\":{\"ping\":{\"message\":\"OK\"}}}\0";
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(0, &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if writer.write_all(reply).is_err() {
                    return;
                }
            }
        }
    }
}
