//! What the benchmarks share: a `podlink serve` on temporary roots, stopped when dropped.
//! (Each bench is its own crate; they take this file with `#[path]`.)

#![allow(dead_code)] // not every bench uses every part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use podlink::varlink::client::VarlinkClient;

/// A running daemon.
pub struct Daemon {
    child: Child,
    /// Its socket.
    pub socket: PathBuf,
}

impl Daemon {
    /// Starts `podlink serve` with roots under `dir` and `args`, and waits until it answers.
    /// `PODLINK_BIN` names another podlink binary to run instead of this build's (to compare
    /// two builds with one benchmark binary, run after run).
    pub fn start(dir: &Path, args: &[&str]) -> Daemon {
        let socket = dir.join("sock");
        let binary = std::env::var_os("PODLINK_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_podlink")));
        let child = Command::new(binary)
            .arg("serve")
            .arg(format!("unix:{}", socket.display()))
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--runroot")
            .arg(dir.join("run"))
            .args(args)
            .env("PODLINK_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("start podlink");
        wait_for(&socket);
        Daemon { child, socket }
    }

    /// Its pid.
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// The generated client on a new connection.
    pub fn client(&self) -> VarlinkClient {
        let address = format!("unix:{}", self.socket.display());
        VarlinkClient::new(varlink::Connection::with_address(&address).expect("connect"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// Waits until `socket` accepts connections.
pub fn wait_for(socket: &Path) {
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} did not start",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The median of some timings.
pub fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A root filesystem tarball of Debian's static busybox with `applets` linked to it, made in
/// `dir`: the image every benchmark imports.
pub fn busybox_tarball(dir: &Path, applets: &[&str]) -> PathBuf {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static is needed");
    for applet in applets {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("link");
    }
    let tarball = dir.join("rootfs.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg("."));
    tarball
}

/// Runs `cmd` (stdin closed), which must succeed.
pub fn run(cmd: &mut Command) {
    let out = cmd.stdin(Stdio::null()).output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
