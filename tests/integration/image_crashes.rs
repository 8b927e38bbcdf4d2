//! Images (issue 3): a service killed in the middle of an import restarts clean and never
//! lists a partial image. Needs root.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::fixtures::fixtures;
use crate::images::{dir_entries, import, inspect, list_ids};
use crate::util::{DaemonOptions, TestDaemon, fails, privileged};

#[test]
fn a_service_killed_mid_import_restarts_clean() {
    if !privileged("a_service_killed_mid_import_restarts_clean") {
        return;
    }
    // A large tarball: many 1 MiB files, so the import takes a while.
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("big.tar");
    {
        let file = std::fs::File::create(&big).unwrap();
        let mut b = tar::Builder::new(std::io::BufWriter::new(file));
        let chunk = vec![7u8; 1 << 20];
        for i in 0..300 {
            let mut h = tar::Header::new_gnu();
            h.set_size(chunk.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, format!("data/{i:04}"), &chunk[..])
                .unwrap();
        }
        b.into_inner().unwrap();
    }
    let f = fixtures();
    let mut daemon = TestDaemon::start();
    let root = daemon.root.clone();
    let mut raw = daemon.raw();
    let kept = import(&mut raw, &f.rootfs.display().to_string(), "kept");
    raw.send(&json!({"method": "io.podman.ImportImage", "parameters": {"source": big.display().to_string(), "reference": "big"}}));
    // Wait until the import is well under way, then kill the service outright.
    let start = Instant::now();
    loop {
        let staged: usize = dir_entries(&root.join("tmp"))
            .iter()
            .map(|d| dir_entries(&root.join("tmp").join(d).join("diff/data")).len())
            .sum();
        if staged >= 20 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "import did not start"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    daemon.stop_with(nix::sys::signal::Signal::SIGKILL);
    assert!(
        !dir_entries(&root.join("tmp")).is_empty(),
        "the kill came too late to test anything"
    );

    // Restarted on the same roots: the finished image is there, nothing of the other.
    let daemon = TestDaemon::start_with(DaemonOptions {
        root: Some(root.clone()),
        ..Default::default()
    });
    let mut raw = daemon.raw();
    assert_eq!(list_ids(&mut raw), std::slice::from_ref(&kept));
    fails(
        &mut raw,
        "GetImage",
        json!({"name": "big"}),
        "ImageNotFound",
    );
    assert!(
        dir_entries(&root.join("tmp")).is_empty(),
        "staging left behind"
    );
    assert_eq!(
        dir_entries(&root.join("layers")),
        [f.rootfs_diff_id[7..].to_string()]
    );
    assert_eq!(dir_entries(&root.join("images")), [kept]);
    // And the service works on: the same import now completes.
    let id = import(&mut raw, &big.display().to_string(), "big");
    assert_eq!(inspect(&mut raw, "big")["Id"], id);
}

#[test]
fn sigkill_at_random_moments_never_lists_a_partial_image() {
    if !privileged("sigkill_at_random_moments_never_lists_a_partial_image") {
        return;
    }
    let f = fixtures();
    let root_dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    let root: PathBuf = root_dir.path().join("root");
    for round in 0..12u64 {
        let daemon = TestDaemon::start_with(DaemonOptions {
            root: Some(root.clone()),
            ..Default::default()
        });
        let mut raw = daemon.raw();
        let before = list_ids(&mut raw).len();
        raw.send(&json!({"method": "io.podman.ImportImage", "parameters": {
            "source": format!("docker-archive:{}", f.docker_archive.display()), "reference": format!("round{round}")
        }}));
        // Not synchronisation: each round kills the import a little later than the last,
        // to land at different points of it.
        std::thread::sleep(Duration::from_micros(round * 1500));
        let mut daemon = daemon;
        daemon.stop_with(nix::sys::signal::Signal::SIGKILL);
        let daemon = TestDaemon::start_with(DaemonOptions {
            root: Some(root.clone()),
            ..Default::default()
        });
        let mut raw = daemon.raw();
        let ids = list_ids(&mut raw);
        assert!(
            ids.len() == before || ids == [f.layered_id.clone()],
            "round {round}: {ids:?}"
        );
        for id in &ids {
            let data = inspect(&mut raw, id);
            for layer in data["RootFS"]["Layers"].as_array().unwrap() {
                let dir = root.join("layers").join(&layer.as_str().unwrap()[7..]);
                assert!(
                    dir.join("layer.json").is_file() && dir.join("diff").is_dir(),
                    "round {round}"
                );
            }
        }
        assert!(dir_entries(&root.join("tmp")).is_empty());
        let layers = dir_entries(&root.join("layers")).len();
        assert!(
            layers == 0 || layers == 2,
            "round {round}: {layers} layer dirs"
        );
    }
}
