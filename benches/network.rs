//! Bridge networking benchmark (`cargo bench --bench network`, as root). Not a test: it
//! prints figures, each next to its floor measured in the same run.
//!
//! 1. Create+Start+Wait+Remove of a busybox `true` container through the API on the bridge
//!    (the default, `net_mode` bridge) against the same with `net_mode: none`, rounds
//!    interleaved: the difference is what the network adds to a container's life (issue 11's
//!    target: at most 10 ms).
//! 2. Teardown, measured apart (it runs off the reply path): from a StopContainer call, and
//!    from a KillContainer call (the exit then noticed by the daemon's exit watcher), to the
//!    container's veth gone from the host, with the time of the reply.
//!
//! The daemon gets a bridge, subnet and nftables table of its own, removed at the end.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{median, ms};
use podlink::varlink::client::VarlinkClientInterface;

#[path = "common/mod.rs"]
mod common;

const ROUNDS: usize = 40;
const TEARDOWNS: usize = 15;
const BRIDGE: &str = "plbench0";
const TABLE: &str = "plbench";
const SUBNET: &str = "10.176.0.0/24";

fn main() {
    if common::skip_unless_root("network", "veths, nftables, runc") {
        return;
    }
    let dir = common::temp_dir("plb");
    let tarball = common::busybox_tarball(dir.path(), &["true", "sh", "sleep"]);

    let runtime = common::bench_runtime("runc");
    let cgroup_parent = format!("/podlink-bench-{}", std::process::id());
    let daemon = common::Daemon::on_runtime(
        dir.path(),
        &runtime,
        &cgroup_parent,
        &["--bridge", BRIDGE, "--subnet", SUBNET, "--nft-table", TABLE],
    );
    let mut client = daemon.client();
    common::import(&mut client, &tarball, "bench");

    // One of each first, so the bridge and the table exist before the timed rounds.
    let (mut bridged, mut bare) = (Vec::new(), Vec::new());
    for round in 0..=ROUNDS {
        for (mode, times) in [("bridge", &mut bridged), ("none", &mut bare)] {
            let ([start, .., end], code) = common::api_lifecycle(&mut client, || {
                common::create(format!("{mode}{round}"), &["true"], mode)
            });
            if round > 0 {
                times.push(end - start);
            }
            assert_eq!(code, 0);
        }
    }
    let (bridged, bare) = (median(&mut bridged), median(&mut bare));
    println!(
        "create+start+wait+remove of `true` ({runtime}): bridge {:.1} ms   net_mode none {:.1} ms   \
         added {:.1} ms   ratio {:.2}   (median of {ROUNDS}, interleaved)",
        ms(bridged),
        ms(bare),
        ms(bridged) - ms(bare),
        bridged.as_secs_f64() / bare.as_secs_f64()
    );

    // Teardown after a stop (queued while the stop deletes the runtime's state, so usually
    // done by the reply), and after a kill: the exit noticed by the daemon's exit watcher,
    // the container refreshed, its endpoint torn down on the queue.
    for how in ["StopContainer", "KillContainer"] {
        let mut teardowns = Vec::new();
        for round in 0..TEARDOWNS {
            let id = client
                .create_container(common::create(
                    format!("down{round}"),
                    &["sleep", "1000"],
                    "bridge",
                ))
                .call()
                .expect("create")
                .container;
            client.start_container(id.clone()).call().expect("start");
            let veth = Path::new("/sys/class/net").join(format!("veth{}", &id[..11]));
            assert!(veth.exists(), "no veth {}", veth.display());
            let asked = Instant::now();
            if how == "StopContainer" {
                client.stop_container(id.clone(), 0).call().expect("stop");
            } else {
                client.kill_container(id.clone(), 9).call().expect("kill");
            }
            let replied = asked.elapsed();
            while veth.exists() {
                assert!(asked.elapsed() < Duration::from_secs(10), "veth stays");
                std::thread::sleep(Duration::from_micros(100));
            }
            teardowns.push((asked.elapsed(), replied));
            client.wait_container(id.clone()).call().expect("wait");
            client.remove_container(id, false).call().expect("remove");
        }
        teardowns.sort();
        let (gone, replied) = teardowns[teardowns.len() / 2];
        println!(
            "{how}: call to veth gone median {:.1} ms (that round's reply after {:.1} ms)   \
             max {:.1} ms   (of {TEARDOWNS})",
            ms(gone),
            ms(replied),
            ms(teardowns.last().unwrap().0)
        );
    }

    drop(daemon);
    let _ = Command::new("ip").args(["link", "del", BRIDGE]).output();
    let _ = Command::new("nft")
        .args(["delete", "table", "ip", TABLE])
        .output();
    common::remove_cgroups(&cgroup_parent, &[]);
}
