//! Container benchmarks (`cargo bench --bench containers`, as root). Not tests: they print
//! figures, each next to a floor measured in the same run.
//!
//! 1. Create+Start+Wait+Remove of a busybox `true` container through the API, against bare
//!    `runc create`, `start`, a wait for the process and `runc delete` of the same bundle:
//!    the `config.json` podlink writes for such a container, over its mounted root
//!    filesystem.
//! 2. `ListContainers` latency with 500 containers.

use std::path::Path;
use std::time::Instant;

use common::{median, ms};
use podlink::engine::runtime::{OciRuntime, resolve};
use podlink::varlink::client::VarlinkClientInterface;

#[path = "common/mod.rs"]
mod common;

const ROUNDS: usize = 40;
const LISTED: usize = 500;

fn main() {
    if common::skip_unless_root("containers", "mounts, runc") {
        return;
    }
    let dir = common::temp_dir("plb");
    let tarball = common::busybox_tarball(dir.path(), &["true", "sh", "sleep"]);

    let runtime = common::bench_runtime("runc");
    let cgroup_parent = format!("/podlink-bench-{}", std::process::id());
    let daemon = common::Daemon::on_runtime(dir.path(), &runtime, &cgroup_parent, &[]);
    let mut client = daemon.client();
    common::import(&mut client, &tarball, "bench");
    // Loopback only, as the floor's bundle then is: the bridge's cost is the network
    // benchmark's subject (`benches/network.rs`), and 500 idle containers here need no
    // addresses.
    let create = |name: String| common::create(name, &["true"], "none");

    // The floor's bundle: the spec podlink writes for this very container, over its mounted
    // root filesystem.
    let (template, mut spec) =
        common::template_spec(&mut client, dir.path(), create("template".into()));
    spec["linux"]["cgroupsPath"] = serde_json::json!(format!("{cgroup_parent}/floor"));
    let bundle = common::bundle(dir.path(), "bundle", &spec);
    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    // The runtime as podlink runs it (see `common::bare_lifecycle`).
    let oci = OciRuntime::at(
        &resolve(Path::new(&runtime)).unwrap_or_else(|| panic!("{runtime} is not installed")),
    );
    let mut floor = Vec::new();
    for round in 0..ROUNDS {
        let id = format!("floor{round}");
        floor.push(common::bare_lifecycle(&oci, dir.path(), &bundle, &id));
    }
    client
        .remove_container(template, true)
        .call()
        .expect("remove template");

    let mut ours = Vec::new();
    for round in 0..ROUNDS {
        let ([start, .., end], code) =
            common::api_lifecycle(&mut client, || create(format!("bench{round}")));
        ours.push(end - start);
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
    common::remove_cgroups(&cgroup_parent, &["floor"]);
}
