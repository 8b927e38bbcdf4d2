//! Container benchmarks (`cargo bench --bench containers`, as root). Not tests: they print
//! figures, each next to a floor measured in the same run.
//!
//! 1. Create+Start+Wait+Remove of a busybox `true` container through the API, against bare
//!    `runc create`, `start`, a wait for the process and `runc delete` of the same bundle:
//!    the `config.json` podlink writes for such a container, over its mounted root
//!    filesystem.
//! 2. `ListContainers` latency with 500 containers.

use std::process::Stdio;
use std::time::Instant;

use common::{median, ms, run};
use podlink::engine::runtime::RuntimeCommand;
use podlink::varlink::client::{Create, VarlinkClientInterface};

#[path = "common/mod.rs"]
mod common;

const ROUNDS: usize = 40;
const LISTED: usize = 500;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("containers benchmark skipped: it needs root (mounts, runc)");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("plb")
        .tempdir()
        .expect("temp dir");
    let tarball = common::busybox_tarball(dir.path(), &["true", "sh", "sleep"]);

    let runtime = std::env::var("PODLINK_BENCH_RUNTIME").unwrap_or_else(|_| "runc".into());
    let cgroup_parent = format!("/podlink-bench-{}", std::process::id());
    let daemon = common::Daemon::start(
        dir.path(),
        &["--runtime", &runtime, "--cgroup-parent", &cgroup_parent],
    );
    let mut client = daemon.client();
    client
        .import_image(
            tarball.display().to_string(),
            "bench".into(),
            String::new(),
            vec![],
        )
        .call()
        .expect("import");
    let create = |name: String| Create {
        image: "bench".into(),
        name,
        command: vec!["true".into()],
        // Loopback only, as the floor's bundle then is: the bridge's cost is the network
        // benchmark's subject (`benches/network.rs`), and 500 idle containers here need no
        // addresses.
        net_mode: "none".into(),
        ..Default::default()
    };

    // The floor's bundle: the spec podlink writes for this very container, over its mounted
    // root filesystem (GetAttachSockets initializes a container without starting it).
    let template = client
        .create_container(create("template".into()))
        .call()
        .expect("create")
        .container;
    client
        .get_attach_sockets(template.clone())
        .call()
        .expect("init");
    let bundle = dir.path().join("bundle");
    std::fs::create_dir_all(&bundle).expect("mkdir");
    let spec_path = dir
        .path()
        .join("root/containers")
        .join(&template)
        .join("userdata/config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&spec_path).expect("podlink's spec")).expect("json");
    spec["linux"]["cgroupsPath"] = serde_json::json!(format!("{cgroup_parent}/floor"));
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(&spec).expect("json"),
    )
    .expect("write spec");
    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    let state = dir.path().join("floor-state");
    // The runtime as podlink runs it: for crun on a host with hybrid cgroups, in a mount
    // namespace of its own that hides the v2 controllers file (without which crun refuses
    // to run at all), set up in the child itself, with no extra process.
    let oci = podlink::engine::runtime::OciRuntime::at(
        &which(&runtime).unwrap_or_else(|| panic!("{runtime} is not installed")),
    );
    let runtime_cmd = |what: RuntimeCommand| oci.command(&state, &what);
    let mut floor = Vec::new();
    for round in 0..ROUNDS {
        let id = format!("floor{round}");
        let pid_file = dir.path().join("pid");
        let start = Instant::now();
        // The runtime hands its stdio to the container: it must not be a pipe read to the
        // end here, or this would wait for the container rather than for `create`.
        let log = std::fs::File::create(dir.path().join("create.err")).expect("log");
        let status = runtime_cmd(RuntimeCommand::Create {
            bundle: &bundle,
            pid_file: &pid_file,
            console_socket: None,
            id: &id,
        })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .status()
        .expect("runtime create");
        assert!(
            status.success(),
            "create: {}",
            std::fs::read_to_string(dir.path().join("create.err")).unwrap_or_default()
        );

        let pid: i32 = std::fs::read_to_string(&pid_file)
            .expect("pid")
            .trim()
            .parse()
            .expect("pid");
        run(&mut runtime_cmd(RuntimeCommand::Start(&id)));
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        run(&mut runtime_cmd(RuntimeCommand::Delete {
            id: &id,
            force: false,
        }));
        floor.push(start.elapsed());
    }
    client
        .remove_container(template, true)
        .call()
        .expect("remove template");

    let mut ours = Vec::new();
    for round in 0..ROUNDS {
        let start = Instant::now();
        let id = client
            .create_container(create(format!("bench{round}")))
            .call()
            .expect("create")
            .container;
        client.start_container(id.clone()).call().expect("start");
        let code = client
            .wait_container(id.clone())
            .call()
            .expect("wait")
            .exitcode;
        client.remove_container(id, false).call().expect("remove");
        ours.push(start.elapsed());
        assert_eq!(code, 0);
    }
    let (floor, ours) = (median(&mut floor), median(&mut ours));
    println!(
        "create+start+wait+remove of `true` ({runtime}): podlink {:.1} ms   bare {runtime} {:.1} ms   ratio {:.2}   (median of {ROUNDS})",
        ms(ours),
        ms(floor),
        ours.as_secs_f64() / floor.as_secs_f64()
    );

    for n in 0..LISTED {
        client
            .create_container(create(format!("idle{n}")))
            .call()
            .expect("create");
    }
    let mut times = Vec::new();
    for _ in 0..100 {
        let start = Instant::now();
        let list = client.list_containers().call().expect("list").containers;
        times.push(start.elapsed());
        assert_eq!(list.len(), LISTED);
    }
    times.sort();
    println!(
        "ListContainers with {LISTED} containers: median {:.2} ms   p99 {:.2} ms",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 99 / 100])
    );
    client.delete_stopped_containers().call().expect("clean up");
    drop(daemon);
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let parent = hierarchy.path().join(cgroup_parent.trim_start_matches('/'));
        let _ = std::fs::remove_dir(parent.join("floor"));
        let _ = std::fs::remove_dir(&parent);
    }
}

/// The path of `name` in PATH.
fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
