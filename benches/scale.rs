//! Scale benchmark (`cargo bench --bench scale`, as root): what the store's size costs.
//! Not a test: it prints figures.
//!
//! The store grows to 500, 2,000 and 10,000 containers (created over the API, never started;
//! the 10,000 step only with `PODLINK_BENCH_SCALE_10K=1`, as filling it takes minutes). At
//! each size:
//!
//! - CreateContainer with a name and without one (the name generated), median and p99 of
//!   `SAMPLES` each;
//! - ListContainers: median and p99 of `LISTS` calls, timed from the call's first byte sent
//!   to the reply's last byte read, unparsed (the generated client's parsing is the client's
//!   cost, not the server's), and per container;
//! - restart to the first answered Ping: SIGTERM, wait for the daemon to go, spawn a new one
//!   on the same roots, and time from the spawn until a Ping is answered (its socket is polled
//!   every 0.2 ms); then how long until a ListContainers (which waits for every record to be
//!   read, not for reconciliation) is answered, from the same spawn.
//!
//! Filling is done by `FILLERS` clients in parallel, without names half of the time, so the
//! generated names fill up as they do for a user who never names containers.
//! `PODLINK_BIN` runs another podlink binary (for before/after figures).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::ms;
use podlink::varlink::client::{VarlinkClient, VarlinkClientInterface};

#[path = "common/mod.rs"]
mod common;

const SAMPLES: usize = 40;
const LISTS: usize = 60;
const RESTARTS: usize = 5;
const FILLERS: usize = 4;

fn main() {
    if common::skip_unless_root("scale", "overlay mounts") {
        return;
    }
    let dir = common::temp_dir("plscale");
    let tarball = common::busybox_tarball(dir.path(), &["true"]);
    let mut daemon = Server::start(dir.path());
    common::import(&mut daemon.client(), &tarball, "bench");

    let mut sizes = vec![500, 2_000];
    if std::env::var_os("PODLINK_BENCH_SCALE_10K").is_some_and(|v| v == "1") {
        sizes.push(10_000);
    }
    println!("scale: containers created (not started), runc, --net none");
    let mut count = 0;
    for size in sizes {
        let fill_start = Instant::now();
        fill(&daemon.socket, count, size - 2 * SAMPLES);
        count = size - 2 * SAMPLES;
        let filled = fill_start.elapsed();
        let mut client = daemon.client();
        let mut named = Vec::new();
        let mut unnamed = Vec::new();
        for n in 0..SAMPLES {
            let start = Instant::now();
            create(&mut client, format!("named-{size}-{n}"));
            named.push(start.elapsed());
            let start = Instant::now();
            create(&mut client, String::new());
            unnamed.push(start.elapsed());
        }
        count += 2 * SAMPLES;
        println!(
            "{size} containers (filled in {:.1} s):",
            filled.as_secs_f64()
        );
        println!(
            "  create named     median {:7.2} ms   p99 {:7.2} ms",
            ms(pct(&mut named, 50)),
            ms(pct(&mut named, 99))
        );
        println!(
            "  create unnamed   median {:7.2} ms   p99 {:7.2} ms",
            ms(pct(&mut unnamed, 50)),
            ms(pct(&mut unnamed, 99))
        );

        let mut raw = RawClient::connect(&daemon.socket);
        let mut lists = Vec::new();
        let mut bytes = 0;
        for _ in 0..LISTS {
            let start = Instant::now();
            bytes = raw.call("io.podman.ListContainers").len();
            lists.push(start.elapsed());
        }
        let listed = client
            .list_containers()
            .call()
            .expect("list")
            .containers
            .len();
        assert_eq!(listed, size, "ListContainers lists every container");
        let median = pct(&mut lists, 50);
        println!(
            "  ListContainers   median {:7.2} ms   p99 {:7.2} ms   {:.2} µs/container   ({} KiB)",
            ms(median),
            ms(pct(&mut lists, 99)),
            median.as_secs_f64() * 1e6 / size as f64,
            bytes / 1024
        );

        let mut pings = Vec::new();
        let mut lists = Vec::new();
        for _ in 0..RESTARTS {
            daemon.stop();
            let (ping, list) = daemon.restart();
            pings.push(ping);
            lists.push(list);
        }
        println!(
            "  restart: first Ping median {:7.2} ms   max {:7.2} ms;   first ListContainers median {:7.2} ms",
            ms(pct(&mut pings, 50)),
            ms(pct(&mut pings, 100)),
            ms(pct(&mut lists, 50))
        );
    }
    daemon.stop();
}

/// A `podlink serve` on the roots under a directory, which can be stopped and started again.
struct Server {
    dir: PathBuf,
    socket: PathBuf,
    child: Option<Child>,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut server = Server {
            dir: dir.to_path_buf(),
            socket: dir.join("sock"),
            child: None,
        };
        server.restart();
        server
    }

    fn client(&self) -> VarlinkClient {
        let address = format!("unix:{}", self.socket.display());
        VarlinkClient::new(varlink::Connection::with_address(&address).expect("connect"))
    }

    /// Starts the daemon; how long after the spawn it answered its first Ping, and its first
    /// ListContainers.
    fn restart(&mut self) -> (Duration, Duration) {
        let binary = std::env::var_os("PODLINK_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_podlink")));
        let _ = std::fs::remove_file(&self.socket);
        let start = Instant::now();
        let child = Command::new(binary)
            .arg("serve")
            .arg(format!("unix:{}", self.socket.display()))
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .args(["--runtime", "runc"])
            .env("PODLINK_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("start podlink");
        self.child = Some(child);
        let mut raw = loop {
            if let Ok(stream) = UnixStream::connect(&self.socket) {
                break RawClient(stream);
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "podlink did not start"
            );
            std::thread::sleep(Duration::from_micros(200));
        };
        raw.call("io.podman.Ping");
        let ping = start.elapsed();
        raw.call("io.podman.ListContainers");
        (ping, start.elapsed())
    }

    /// SIGTERM, and waits for it to exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A varlink connection that sends calls without parameters and returns the raw replies.
struct RawClient(UnixStream);

impl RawClient {
    fn connect(socket: &Path) -> RawClient {
        RawClient(UnixStream::connect(socket).expect("connect"))
    }

    /// The reply to `method`, up to (without) its NUL terminator; it must not be an error.
    fn call(&mut self, method: &str) -> Vec<u8> {
        let mut message = format!("{{\"method\":\"{method}\"}}").into_bytes();
        message.push(0);
        self.0.write_all(&message).expect("send");
        let mut reply = Vec::with_capacity(1 << 16);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = self.0.read(&mut buf).expect("read reply");
            assert!(n > 0, "{method}: connection closed");
            reply.extend_from_slice(&buf[..n]);
            if reply.last() == Some(&0) {
                reply.pop();
                break;
            }
        }
        assert!(
            !reply.starts_with(b"{\"error\""),
            "{method}: {}",
            String::from_utf8_lossy(&reply)
        );
        reply
    }
}

/// Creates containers `from..to` with `FILLERS` clients at once, every other one unnamed.
fn fill(socket: &Path, from: usize, to: usize) {
    std::thread::scope(|scope| {
        for filler in 0..FILLERS {
            scope.spawn(move || {
                let address = format!("unix:{}", socket.display());
                let mut client = VarlinkClient::new(
                    varlink::Connection::with_address(&address).expect("connect"),
                );
                for n in (from..to).filter(|n| n % FILLERS == filler) {
                    let name = if n % 2 == 0 {
                        String::new()
                    } else {
                        format!("fill{n}")
                    };
                    create(&mut client, name);
                }
            });
        }
    });
}

fn create(client: &mut VarlinkClient, name: String) {
    client
        .create_container(common::create(name, &["true"], "none"))
        .call()
        .expect("create");
}

/// The `p`th percentile (0-100) of some timings.
fn pct(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    v[((v.len() - 1) * p / 100).min(v.len() - 1)]
}
