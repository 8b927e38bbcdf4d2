//! The start path under seccomp (`cargo bench --bench start`, as root; issue 13). Not a test:
//! it prints figures, each next to floors measured in the same alternating loop, round after
//! round, on the same bundle (the `config.json` podlink writes for a busybox `true`
//! container with the default seccomp profile, over its mounted root filesystem):
//!
//! - bare runc with the profile (runc compiles it in `runc init`);
//! - bare crun with the profile (crun compiles it itself);
//! - bare crun given the ready program (`run.oci.seccomp_bpf_data`, as podlink passes it);
//! - podlink over the API, create+start+wait+remove (crun, the program from its cache).
//!
//! Each bare lifecycle is `create`, `start`, a wait for the process and `delete`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{median, ms, run};
use podlink::engine::runtime::seccomp_bpf::BPF_ANNOTATION;
use podlink::engine::runtime::{OciRuntime, RuntimeCommand};
use podlink::varlink::client::{Create, VarlinkClientInterface};

#[path = "common/mod.rs"]
mod common;

const ROUNDS: usize = 41;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("start benchmark skipped: it needs root (mounts, runc, crun)");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("pls")
        .tempdir()
        .expect("temp dir");
    let tarball = common::busybox_tarball(dir.path(), &["true", "sh"]);
    let cgroup_parent = format!("/podlink-bench-start-{}", std::process::id());
    // PODLINK_BENCH_RUNTIME=runc runs podlink on runc instead, for comparison.
    let runtime = std::env::var("PODLINK_BENCH_RUNTIME").unwrap_or_else(|_| "crun".into());
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
        // Loopback only, as the bare bundles are.
        net_mode: "none".into(),
        ..Default::default()
    };

    // The bundles: podlink's spec for this container (GetAttachSockets initializes it
    // without starting it), with and without the program.
    let template = client
        .create_container(create("template".into()))
        .call()
        .expect("create")
        .container;
    client
        .get_attach_sockets(template.clone())
        .call()
        .expect("init");
    let spec_path = dir
        .path()
        .join("root/containers")
        .join(&template)
        .join("userdata/config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&spec_path).expect("podlink's spec")).expect("json");
    if runtime == "crun" {
        assert!(
            spec["annotations"][BPF_ANNOTATION].is_string(),
            "podlink gave crun no program"
        );
    } else {
        // The bundles' program is the one podlink would give crun.
        let program = podlink::engine::runtime::seccomp_bpf::compile(&spec["linux"]["seccomp"])
            .expect("compile");
        spec["annotations"][BPF_ANNOTATION] =
            podlink::engine::runtime::seccomp_bpf::annotation(&program).into();
    }
    spec["linux"]["cgroupsPath"] = serde_json::json!(format!("{cgroup_parent}/floor"));
    let with_program = bundle(dir.path(), "with-program", &spec);
    spec["annotations"]
        .as_object_mut()
        .expect("annotations")
        .remove(BPF_ANNOTATION);
    let profile_only = bundle(dir.path(), "profile-only", &spec);

    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    let runc = OciRuntime::at(&which("runc").expect("runc is not installed"));
    let crun = OciRuntime::at(&which("crun").expect("crun is not installed"));
    let mut times: [Vec<Duration>; 4] = Default::default();
    // podlink's calls one by one: create, start, wait, remove.
    let mut calls: [Vec<Duration>; 4] = Default::default();
    for round in 0..ROUNDS {
        let id = format!("floor{round}");
        times[0].push(bare(&runc, dir.path(), &profile_only, &id));
        times[1].push(bare(&crun, dir.path(), &profile_only, &id));
        times[2].push(bare(&crun, dir.path(), &with_program, &id));
        let start = Instant::now();
        let id = client
            .create_container(create(format!("bench{round}")))
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
        times[3].push(end - start);
        for (i, (from, to)) in [
            (start, created),
            (created, started),
            (started, waited),
            (waited, end),
        ]
        .into_iter()
        .enumerate()
        {
            calls[i].push(to - from);
        }
        assert_eq!(code, 0);
    }
    client
        .remove_container(template, true)
        .call()
        .expect("remove template");
    let [runc_t, crun_t, crun_ready, ours] = times.map(|mut t| median(&mut t));
    println!(
        "create+start+wait+remove of `true` with the default seccomp profile (median of {ROUNDS}, alternating):"
    );
    println!("  bare runc, profile            {:6.1} ms", ms(runc_t));
    println!("  bare crun, profile            {:6.1} ms", ms(crun_t));
    println!("  bare crun, ready program      {:6.1} ms", ms(crun_ready));
    println!("  podlink ({runtime:4})                {:6.1} ms", ms(ours));
    let [c, s, w, r] = calls.map(|mut t| median(&mut t));
    println!(
        "  podlink's calls (medians): create {:.1}  start {:.1}  wait {:.1}  remove {:.1} ms",
        ms(c),
        ms(s),
        ms(w),
        ms(r)
    );
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "  podlink / bare runc {:.2} (target <= 0.5)   podlink / bare crun with the program {:.2} (target <= 1.1)   podlink / bare crun compiling {:.2}",
        ratio(ours, runc_t),
        ratio(ours, crun_ready),
        ratio(ours, crun_t)
    );
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

/// A bundle directory `name` under `dir` with `spec` as its config.json.
fn bundle(dir: &Path, name: &str, spec: &serde_json::Value) -> PathBuf {
    let bundle = dir.join(name);
    std::fs::create_dir_all(&bundle).expect("mkdir");
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(spec).expect("json"),
    )
    .expect("write spec");
    bundle
}

/// One bare lifecycle of container `id` from `bundle`: create, start, wait, delete. The
/// runtime runs as podlink runs it (for crun on a host with hybrid cgroups, in a mount
/// namespace of its own hiding the v2 controllers file).
fn bare(runtime: &OciRuntime, dir: &Path, bundle: &Path, id: &str) -> Duration {
    let state = dir.join(format!("state-{}", runtime.name));
    let pid_file = dir.join("pid");
    let cmd = |what: RuntimeCommand| runtime.command(&state, &what);
    let start = Instant::now();
    // The runtime hands its stdio to the container: not a pipe read to the end here.
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

/// The path of `name` in PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
