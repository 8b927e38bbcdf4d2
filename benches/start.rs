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
//! Each bare lifecycle is `create`, `start`, a wait for the process and `delete`
//! (`common::bare_lifecycle`).

use std::path::Path;
use std::time::Duration;

use common::{bare_lifecycle, median, ms};
use podlink::engine::runtime::seccomp_bpf::BPF_ANNOTATION;
use podlink::engine::runtime::{OciRuntime, resolve};
use podlink::varlink::client::VarlinkClientInterface;

#[path = "common/mod.rs"]
mod common;

const ROUNDS: usize = 41;

fn main() {
    if common::skip_unless_root("start", "mounts, runc, crun") {
        return;
    }
    let dir = common::temp_dir("pls");
    let tarball = common::busybox_tarball(dir.path(), &["true", "sh"]);
    let cgroup_parent = format!("/podlink-bench-start-{}", std::process::id());
    // PODLINK_BENCH_RUNTIME=runc runs podlink on runc instead, for comparison.
    let runtime = common::bench_runtime("crun");
    let daemon = common::Daemon::on_runtime(dir.path(), &runtime, &cgroup_parent, &[]);
    let mut client = daemon.client();
    common::import(&mut client, &tarball, "bench");
    // Loopback only, as the bare bundles are.
    let create = |name: String| common::create(name, &["true"], "none");

    // The bundles: podlink's spec for this container, with and without the program.
    let (template, mut spec) =
        common::template_spec(&mut client, dir.path(), create("template".into()));
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
    let with_program = common::bundle(dir.path(), "with-program", &spec);
    spec["annotations"]
        .as_object_mut()
        .expect("annotations")
        .remove(BPF_ANNOTATION);
    let profile_only = common::bundle(dir.path(), "profile-only", &spec);

    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    let runc = OciRuntime::at(&resolve(Path::new("runc")).expect("runc is not installed"));
    let crun = OciRuntime::at(&resolve(Path::new("crun")).expect("crun is not installed"));
    let mut times: [Vec<Duration>; 4] = Default::default();
    // podlink's calls one by one: create, start, wait, remove.
    let mut calls: [Vec<Duration>; 4] = Default::default();
    let containers = dir.path().join("root/containers");
    for round in 0..ROUNDS {
        let id = format!("floor{round}");
        times[0].push(bare_lifecycle(&runc, dir.path(), &profile_only, &id));
        times[1].push(bare_lifecycle(&crun, dir.path(), &profile_only, &id));
        times[2].push(bare_lifecycle(&crun, dir.path(), &with_program, &id));
        let ([start, created, started, waited, end], code) =
            common::api_lifecycle(&mut client, || create(format!("bench{round}")));
        // What podlink does after its replies (a removed container's files are deleted on a
        // thread of its own) is let finish here, off the clock, so that it does not land in
        // the next measurement: the template's directory is then the only one left. (A
        // pause would do it too, but a machine idle for a while runs the next lifecycle
        // measurably slower.)
        while std::fs::read_dir(&containers).map_or(0, |d| d.count()) > 1 {
            std::thread::sleep(Duration::from_micros(200));
        }
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
    common::remove_cgroups(&cgroup_parent, &["floor"]);
}
