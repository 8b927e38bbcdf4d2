//! The test harness: a real `podlink` daemon on temporary roots and a temporary socket, and
//! small clients to talk to it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use podlink::varlink::client::VarlinkClient;
use serde_json::Value;
use tempfile::TempDir;

pub use crate::leftovers::{TestNetwork, cgroup_dirs, cgroup_parent};
use crate::leftovers::{clean_up_containers, settled_leftovers};

/// How long the harness waits for the daemon to answer or to exit.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A running `podlink serve` with its own storage root, run root and socket.
pub struct TestDaemon {
    child: Option<Child>,
    /// Holds the socket, roots and anything else; removed on drop. Kept short: `sun_path`
    /// is 108 bytes.
    _dir: TempDir,
    pub socket: PathBuf,
    pub root: PathBuf,
    pub runroot: PathBuf,
    /// Why the test leaves containers behind on purpose (`leaves_containers`); without one, a
    /// monitor, mount or cgroup found when the daemon is dropped fails the test.
    leaves: Option<&'static str>,
}

/// The roots of the `TestDaemon`s alive in this process. A restart test starts a second
/// daemon on the roots of the first: what one of them finds there may be the other's, so
/// only the last one dropped looks for leftovers.
static LIVE_ROOTS: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

/// How to start a daemon.
#[derive(Default, Clone)]
pub struct DaemonOptions {
    /// Extra arguments after `serve ADDRESS`.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Address suffix such as `;mode=0660`.
    pub address_suffix: String,
    /// A storage root to reuse (for restart tests); a fresh one otherwise.
    pub root: Option<PathBuf>,
    /// A run root to reuse; a fresh one otherwise.
    pub runroot: Option<PathBuf>,
    /// A file for the daemon's log (its stderr); the test's stderr otherwise.
    pub log: Option<PathBuf>,
}

impl TestDaemon {
    /// Starts a daemon with default options and waits until it answers.
    pub fn start() -> Self {
        Self::start_with(DaemonOptions::default())
    }

    /// Starts a daemon and waits until its socket accepts connections.
    pub fn start_with(options: DaemonOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pl")
            .tempdir()
            .expect("temp dir");
        traversable(dir.path());

        let socket = dir.path().join("sock");
        let root = options
            .root
            .clone()
            .unwrap_or_else(|| dir.path().join("root"));
        let runroot = options
            .runroot
            .clone()
            .unwrap_or_else(|| dir.path().join("run"));
        let mut cmd = daemon_command(&root, &runroot);
        cmd.arg(format!(
            "unix:{}{}",
            socket.display(),
            options.address_suffix
        ))
        .args(&options.args)
        .envs(options.env.iter().map(|(k, v)| (k, v)));
        if let Some(log) = &options.log {
            cmd.stderr(std::fs::File::create(log).expect("daemon log file"));
        }
        let child = cmd.spawn().expect("spawn podlink");
        LIVE_ROOTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((root.clone(), runroot.clone()));
        let mut daemon = TestDaemon {
            child: Some(child),
            _dir: dir,
            socket,
            root,
            runroot,
            leaves: None,
        };
        daemon.wait_ready();
        daemon
    }

    /// The varlink address of the daemon.
    pub fn address(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    fn wait_ready(&mut self) {
        wait_listening(&self.socket, self.child.as_mut().expect("daemon running"));
    }

    /// A generated Rust client on a new connection.
    pub fn client(&self) -> VarlinkClient {
        VarlinkClient::new(connect(&self.address()))
    }

    /// A raw connection for hand-written messages.
    pub fn raw(&self) -> RawConnection {
        RawConnection::connect(&self.socket)
    }

    /// Sends `signal` and waits for the daemon to exit.
    pub fn stop_with(&mut self, signal: Signal) -> ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        let _ = kill(Pid::from_raw(child.id() as i32), signal);
        wait_exit(&mut child, DEADLINE).expect("daemon did not exit after the signal")
    }

    /// Waits for the daemon to exit on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("daemon running");
        let status = wait_exit(child, limit);
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// Says that this test leaves containers behind on purpose (e.g. it kills the daemon to
    /// check they outlive it): they are still cleaned up when the daemon is dropped, but do
    /// not fail the test. `reason` is printed. (No test needs it today: the restart tests
    /// stop what they started once they have checked it survived.)
    #[allow(dead_code)]
    pub fn leaves_containers(&mut self, reason: &'static str) {
        self.leaves = Some(reason);
    }

    /// Whether the daemon is still running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => child.try_wait().expect("try_wait").is_none(),
            None => false,
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            if wait_exit(&mut child, DEADLINE).is_none() {
                let _ = child.kill();
                let _ = child.wait();
                if !panicking {
                    panic!("daemon ignored SIGTERM");
                }
            }
        }
        let shared = {
            let mut live = LIVE_ROOTS.lock().unwrap_or_else(|e| e.into_inner());
            let mine = (self.root.clone(), self.runroot.clone());
            if let Some(at) = live.iter().position(|r| *r == mine) {
                live.remove(at);
            }
            live.iter()
                .any(|(root, runroot)| *root == self.root || *runroot == self.runroot)
        };
        if shared {
            // Another daemon of this test still uses these roots; the last one checks.
            return;
        }
        // Containers outlive the daemon by design, so whatever a test did not stop and remove
        // is still there: wait a moment for what is on its way out (a monitor that reported
        // its container's exit finishes after the reply), then clean up what is left so it
        // does not leak into the host, and fail the test that left it.
        let left = settled_leftovers(&self.root, &self.runroot, false);
        clean_up_containers(&self.root, &self.runroot);
        if left.is_empty() {
            return;
        }
        let list = left.join("\n  ");
        if let Some(reason) = self.leaves {
            eprintln!("left on purpose ({reason}), cleaned up:\n  {list}");
        } else if panicking {
            eprintln!("the failed test left (cleaned up):\n  {list}");
        } else {
            panic!(
                "the test left these behind (cleaned up now; stop and remove containers, or \
                 call `leaves_containers(reason)`):\n  {list}"
            );
        }
    }
}

/// Fails if a daemon left anything of its containers behind: a mount under its roots, a
/// monitor process, a container cgroup, a veth, a network namespace file or an nftables
/// element. What goes off the reply path (a bridged container's teardown, queued) has a
/// moment to go.
pub fn assert_nothing_left(daemon: &TestDaemon) {
    let left = settled_leftovers(&daemon.root, &daemon.runroot, true);
    assert!(left.is_empty(), "left behind:\n  {}", left.join("\n  "));
}

/// Polls `condition` until it holds; fails naming `what` if `limit` passes first.
pub fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `podlink serve` with test roots; the caller adds the address.
pub fn daemon_command(root: &Path, runroot: &Path) -> Command {
    // A network of its own, so tests run in parallel; given back when the last daemon on
    // `root` is dropped (`clean_up_containers`).
    let net = TestNetwork::names(root);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_podlink"));
    cmd.arg("serve")
        .arg("--root")
        .arg(root)
        .arg("--runroot")
        .arg(runroot)
        .arg("--cgroup-parent")
        .arg(cgroup_parent(root))
        .arg("--bridge")
        .arg(&net.bridge)
        .arg("--nft-table")
        .arg(&net.table)
        .arg("--subnet")
        .arg(TestNetwork::subnet(root))
        .env("PODLINK_REGISTRIES_CONF", root.join("no-registries.conf"))
        .env("PODLINK_LOG_LEVEL", "warn")
        .stdin(Stdio::null());
    cmd
}

/// Waits until `socket` accepts connections; fails if `child` exits first or the deadline
/// passes.
pub fn wait_listening(socket: &Path, child: &mut Child) {
    let start = Instant::now();
    while UnixStream::connect(socket).is_err() {
        assert!(
            start.elapsed() < DEADLINE,
            "{} is not listening",
            socket.display()
        );
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("daemon exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends SIGTERM to `child` and checks that it exits 0.
pub fn terminate(child: &mut Child) {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let status = wait_exit(child, DEADLINE).expect("exit after SIGTERM");
    assert!(status.success(), "{status}");
}

/// Waits up to `limit` for `child` to exit.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A varlink connection for the generated client.
pub fn connect(address: &str) -> Arc<RwLock<varlink::Connection>> {
    varlink::Connection::with_address(address).expect("connect to podlink")
}

/// A connection that sends and receives raw varlink messages.
pub struct RawConnection {
    pub stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl RawConnection {
    pub fn connect(path: &Path) -> Self {
        let stream = UnixStream::connect(path).expect("connect");
        stream
            .set_read_timeout(Some(DEADLINE))
            .expect("read timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        RawConnection { stream, reader }
    }

    /// Sends one message (a NUL is appended).
    pub fn send(&mut self, message: &Value) {
        let mut bytes = serde_json::to_vec(message).expect("json");
        bytes.push(0);
        self.send_bytes(&bytes);
    }

    /// Sends bytes as they are.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one reply; `None` when the server closed the connection.
    pub fn recv(&mut self) -> Option<Value> {
        let mut buf = Vec::new();
        let n = self.reader.read_until(0, &mut buf).expect("read reply");
        if n == 0 {
            return None;
        }
        assert_eq!(buf.pop(), Some(0), "reply not NUL-terminated: {buf:?}");
        Some(serde_json::from_slice(&buf).expect("reply is JSON"))
    }

    /// Sends a call and returns its one reply.
    pub fn call(&mut self, method: &str, parameters: Value) -> Value {
        self.send(&serde_json::json!({ "method": method, "parameters": parameters }));
        self.recv().expect("a reply")
    }
}

/// Runs a command, failing the test with its output if it fails.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Path to a test helper script under `tests/`.
pub fn test_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(relative)
}

/// Whether a test that needs root can run. Without root it is skipped with a printed reason,
/// unless `REQUIRE_PRIVILEGED=1`, where skipping is a failure: CI must run every test.
pub fn privileged(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
        "{test} needs root, and REQUIRE_PRIVILEGED=1 forbids skipping it"
    );
    eprintln!("skipping {test}: needs root (REQUIRE_PRIVILEGED=1 makes this a failure)");
    false
}

/// Finds a tool the README's test command installs; fails with the fix if it is missing.
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let home_bin = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo/bin"))
        .unwrap_or_default();
    std::env::split_paths(&path)
        .chain([home_bin])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: run contrib/scripts/setup-test-deps.sh (see README)")
        })
}

/// Gives a temporary directory mode 0711: a container in a user namespace runs as an
/// unprivileged root on the host, which must pass through it to reach its root filesystem
/// (podlink's roots have that mode; a 0700 directory above them would stop it).
pub fn traversable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).expect("chmod");
}

/// Runs a seed example from the contract verbatim, with only its address changed to the
/// test daemon's.
pub fn seed_example(daemon: &TestDaemon, example: &str) -> Value {
    let varlink = require_tool("varlink");
    // The contract's examples use two addresses (one of them an old default).
    let example = example
        .replace("unix:/run/podman/io.podman", &daemon.address())
        .replace("unix:/run/io.podman", &daemon.address());
    let args: Vec<String> = shell_words(&example);
    assert_eq!(args[0], "varlink");
    let out = run_ok(Command::new(varlink).args(&args[1..]));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{example}: not JSON ({e}): {out}"))
}

/// Splits a command line on spaces, keeping single-quoted words whole (enough for the
/// contract's examples).
pub fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for ch in line.chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Calls `method` (without its `io.podman.` prefix) and expects no error; its reply's
/// parameters.
pub fn ok(raw: &mut RawConnection, method: &str, parameters: Value) -> Value {
    let reply = raw.call(&format!("io.podman.{method}"), parameters.clone());
    assert!(
        reply.get("error").is_none(),
        "{method}({parameters}) failed: {reply}"
    );
    reply["parameters"].clone()
}

/// Calls `method` expecting the io.podman error `error`; its parameters.
pub fn fails(raw: &mut RawConnection, method: &str, parameters: Value, error: &str) -> Value {
    let reply = raw.call(&format!("io.podman.{method}"), parameters.clone());
    assert_eq!(
        reply["error"],
        format!("io.podman.{error}"),
        "{method}({parameters}): {reply}"
    );
    reply["parameters"].clone()
}

/// The names in `dir`, sorted (none if it does not exist).
pub fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A field of `/proc/PID/status` (`VmRSS:`, `VmHWM:`...), in KiB.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} for {pid}"))
}

/// Podman 4.3 (`podman`, the path `require_tool` found) on storage of its own under
/// `storage`: the vfs driver (no overlay mounts left behind), cgroupfs, no events.
pub fn podman_on(podman: &Path, storage: &Path) -> Command {
    let mut c = Command::new(podman);
    c.arg("--root")
        .arg(storage.join("root"))
        .arg("--runroot")
        .arg(storage.join("run"))
        .args([
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "none",
        ]);
    c
}

/// Options of a daemon over the roots in `dir` (`root/` and `run/`), for restarts.
pub fn over(dir: &Path) -> DaemonOptions {
    DaemonOptions {
        root: Some(dir.join("root")),
        runroot: Some(dir.join("run")),
        ..Default::default()
    }
}

/// A command of the OCI runtime test daemons use (the service's own choice, or
/// PODLINK_RUNTIME's), on the runtime state of the daemon with run root `runroot`: for
/// driving a container behind the service's back as the service itself would.
pub fn runtime_command(runroot: &Path, what: &podlink::engine::runtime::RuntimeCommand) -> Command {
    let wanted = std::env::var_os("PODLINK_RUNTIME").map(PathBuf::from);
    let runtime = podlink::engine::runtime::select(wanted.as_deref())
        .unwrap()
        .expect("an OCI runtime");
    runtime.command(&runroot.join("runtime"), what)
}
