//! Pod benchmark (`cargo bench --bench pods`, as root). Not a test: it prints figures.
//!
//! CreatePod (with an infra container) + CreateContainer in it + StartPod, which starts the
//! infra container (`catatonit -P` on the shared empty root filesystem) and then the member,
//! against CreateContainer twice + StartContainer twice of the same busybox `sleep`: what a
//! pod costs over the two containers it amounts to. Rounds alternate, so both see the same
//! machine; medians and their ratio are printed.

use std::time::{Duration, Instant};

use common::{median, ms};
use podlink::varlink::client::{Create, PodCreate, VarlinkClientInterface};

#[path = "common/mod.rs"]
mod common;

const ROUNDS: usize = 15;

fn main() {
    if common::skip_unless_root("pods", "mounts, runc") {
        return;
    }
    let dir = common::temp_dir("plp");
    let tarball = common::busybox_tarball(dir.path(), &["sh", "sleep"]);

    let runtime = common::bench_runtime("runc");
    let cgroup_parent = format!("/podlink-bench-{}", std::process::id());
    let daemon = common::Daemon::on_runtime(dir.path(), &runtime, &cgroup_parent, &[]);
    let mut client = daemon.client();
    common::import(&mut client, &tarball, "bench");
    // The daemon's default network mode (`net_mode` left empty).
    let create = |name: String, pod: &str| Create {
        pod: pod.into(),
        ..common::create(name, &["sleep", "1000"], "")
    };

    let mut pods: Vec<Duration> = Vec::new();
    let mut pairs: Vec<Duration> = Vec::new();
    // The pod's steps: CreatePod, the member's create, StartPod.
    let mut steps: [Vec<Duration>; 3] = Default::default();
    for round in 0..ROUNDS {
        // A pod: its infra container and one member.
        let start = Instant::now();
        let pod = client
            .create_pod(PodCreate {
                name: format!("pod{round}"),
                infra: true,
                ..Default::default()
            })
            .call()
            .expect("create pod")
            .pod;
        steps[0].push(start.elapsed());
        client
            .create_container(create(format!("member{round}"), &pod))
            .call()
            .expect("create member");
        steps[1].push(start.elapsed());
        client.start_pod(pod.clone()).call().expect("start pod");
        pods.push(start.elapsed());
        steps[2].push(start.elapsed());
        client.remove_pod(pod, true).call().expect("remove pod");

        // Two containers.
        let start = Instant::now();
        let mut ids = Vec::new();
        for n in 0..2 {
            ids.push(
                client
                    .create_container(create(format!("pair{round}-{n}"), ""))
                    .call()
                    .expect("create")
                    .container,
            );
        }
        for id in &ids {
            client.start_container(id.clone()).call().expect("start");
        }
        pairs.push(start.elapsed());
        for id in ids {
            client.remove_container(id, true).call().expect("remove");
        }
    }
    let (pod, pair) = (median(&mut pods), median(&mut pairs));
    println!(
        "pod create+start (infra + 1 member, {runtime}): {:.1} ms   2 containers create+start: {:.1} ms   ratio {:.2}   (median of {ROUNDS})",
        ms(pod),
        ms(pair),
        pod.as_secs_f64() / pair.as_secs_f64()
    );
    let [create_pod, create_member, start_pod] = steps.map(|mut s| median(&mut s));
    println!(
        "  pod steps (medians, cumulative): CreatePod {:.1} ms, + member create {:.1} ms, + StartPod {:.1} ms",
        ms(create_pod),
        ms(create_member),
        ms(start_pod)
    );
    drop(daemon);
    common::remove_cgroups(&cgroup_parent, &[]);
}
