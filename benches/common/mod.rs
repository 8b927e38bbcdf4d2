//! What the benchmarks share: a `podlink serve` on temporary roots, stopped when dropped, and
//! the setup most of them repeat (the root check, the busybox image, the floor's bundle, a bare
//! runtime lifecycle, the cgroups left behind). (Each bench is its own crate; they take this
//! file with `#[path]`.)

#![allow(dead_code)] // not every bench uses every part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use podlink::engine::runtime::{OciRuntime, RuntimeCommand};
use podlink::varlink::client::{Create, VarlinkClient, VarlinkClientInterface};

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

    /// Starts `podlink serve` as [`Daemon::start`] does, on `runtime` with containers'
    /// cgroups under `cgroup_parent`, and `args` after those.
    pub fn on_runtime(dir: &Path, runtime: &str, cgroup_parent: &str, args: &[&str]) -> Daemon {
        let mut all = vec!["--runtime", runtime, "--cgroup-parent", cgroup_parent];
        all.extend_from_slice(args);
        Daemon::start(dir, &all)
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

/// Whether this bench must be skipped for want of root: if so, says so (`{bench} benchmark
/// skipped: it needs root ({needs})`).
pub fn skip_unless_root(bench: &str, needs: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    println!("{bench} benchmark skipped: it needs root ({needs})");
    true
}

/// A temporary directory named `prefix…`, removed when dropped.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
}

/// The runtime the daemon runs containers on: `PODLINK_BENCH_RUNTIME`, else `default`.
pub fn bench_runtime(default: &str) -> String {
    std::env::var("PODLINK_BENCH_RUNTIME").unwrap_or_else(|_| default.into())
}

/// Imports `tarball` over the API as image `name`, without changes; its ID.
pub fn import(client: &mut VarlinkClient, tarball: &Path, name: &str) -> String {
    client
        .import_image(
            tarball.display().to_string(),
            name.into(),
            String::new(),
            vec![],
        )
        .call()
        .expect("import")
        .image
}

/// A container `name` of the imported image `bench` running `command`, with `net_mode`.
pub fn create(name: String, command: &[&str], net_mode: &str) -> Create {
    Create {
        image: "bench".into(),
        name,
        command: command.iter().map(|s| s.to_string()).collect(),
        net_mode: net_mode.into(),
        ..Default::default()
    }
}

/// The floor's bundle spec: the `config.json` podlink writes for container `create` (created
/// here, then initialized without being started by GetAttachSockets), over its mounted root
/// filesystem, read from the daemon's roots under `dir`. The container's ID (to remove it
/// when done) and the spec.
pub fn template_spec(
    client: &mut VarlinkClient,
    dir: &Path,
    create: Create,
) -> (String, serde_json::Value) {
    let template = client
        .create_container(create)
        .call()
        .expect("create")
        .container;
    client
        .get_attach_sockets(template.clone())
        .call()
        .expect("init");
    let spec_path = dir
        .join("root/containers")
        .join(&template)
        .join("userdata/config.json");
    let spec =
        serde_json::from_slice(&std::fs::read(&spec_path).expect("podlink's spec")).expect("json");
    (template, spec)
}

/// One life of a container over the API: CreateContainer of what `create` makes (made on the
/// clock), StartContainer, WaitContainer and RemoveContainer. The instants before the create
/// and after each call, and the container's exit code.
pub fn api_lifecycle(
    client: &mut VarlinkClient,
    create: impl FnOnce() -> Create,
) -> ([Instant; 5], i64) {
    let start = Instant::now();
    let id = client
        .create_container(create())
        .call()
        .expect("create")
        .container;
    let created = Instant::now();
    client.start_container(id.clone()).call().expect("start");
    let started = Instant::now();
    let code = client
        .wait_container(id.clone())
        .call()
        .expect("wait")
        .exitcode;
    let waited = Instant::now();
    client.remove_container(id, false).call().expect("remove");
    let end = Instant::now();
    ([start, created, started, waited, end], code)
}

/// A bundle directory `name` under `dir` with `spec` as its config.json.
pub fn bundle(dir: &Path, name: &str, spec: &serde_json::Value) -> PathBuf {
    let bundle = dir.join(name);
    std::fs::create_dir_all(&bundle).expect("mkdir");
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(spec).expect("json"),
    )
    .expect("write spec");
    bundle
}

/// One bare lifecycle of container `id` from `bundle`: create, start, a wait for the process
/// (the caller is the child subreaper) and delete; its state under `dir`. The runtime runs as
/// podlink runs it: for crun on a host with hybrid cgroups, in a mount namespace of its own
/// hiding the v2 controllers file (without which crun refuses to run at all), set up in the
/// child itself, with no extra process.
pub fn bare_lifecycle(runtime: &OciRuntime, dir: &Path, bundle: &Path, id: &str) -> Duration {
    let state = dir.join(format!("state-{}", runtime.name));
    let pid_file = dir.join("pid");
    let cmd = |what: RuntimeCommand| runtime.command(&state, &what);
    let start = Instant::now();
    // The runtime hands its stdio to the container: it must not be a pipe read to the end
    // here, or this would wait for the container rather than for `create`.
    let log = std::fs::File::create(dir.join("create.err")).expect("log");
    let status = cmd(RuntimeCommand::Create {
        bundle,
        pid_file: &pid_file,
        console_socket: None,
        id,
    })
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(log)
    .status()
    .expect("runtime create");
    assert!(
        status.success(),
        "{} create: {}",
        runtime.name,
        std::fs::read_to_string(dir.join("create.err")).unwrap_or_default()
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid");
    run(&mut cmd(RuntimeCommand::Start(id)));
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    run(&mut cmd(RuntimeCommand::Delete { id, force: false }));
    start.elapsed()
}

/// Removes the cgroup `cgroup_parent` (and its `children` first) from every hierarchy, once
/// the daemon is gone.
pub fn remove_cgroups(cgroup_parent: &str, children: &[&str]) {
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let parent = hierarchy.path().join(cgroup_parent.trim_start_matches('/'));
        for child in children {
            let _ = std::fs::remove_dir(parent.join(child));
        }
        let _ = std::fs::remove_dir(&parent);
    }
}
