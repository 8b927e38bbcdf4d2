//! Crash consistency (issue 8, items 13 and 14): a daemon SIGKILLed in the middle of
//! RemoveContainer or of a freezing Commit restarts clean, and answers at once while it
//! cleans up in the background. Needs root.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::json;

use crate::containers::{create, daemon_with_busybox, inspect};
use crate::util::{DaemonOptions, TestDaemon, assert_nothing_left, ok, privileged};

/// Options of a daemon over the roots in `dir`, for restarts.
fn over(dir: &Path) -> DaemonOptions {
    DaemonOptions {
        root: Some(dir.join("root")),
        runroot: Some(dir.join("run")),
        ..Default::default()
    }
}

/// Starts a daemon over `dir` and checks it answers Ping within a second of its start.
fn restart_answering(dir: &Path) -> TestDaemon {
    let start = Instant::now();
    let daemon = TestDaemon::start_with(over(dir));
    let mut raw = daemon.raw();
    ok(&mut raw, "Ping", json!({}));
    let took = start.elapsed();
    eprintln!("restarted and answered Ping after {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "Ping answered {took:?} after start"
    );
    daemon
}

/// Fills `dir` with `count` small files.
fn many_files(dir: &Path, count: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        std::fs::write(dir.join(i.to_string()), b"x").unwrap();
    }
}

fn wait_gone(daemon: &mut TestDaemon, paths: &[PathBuf]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(left) = paths.iter().find(|p| p.exists()) {
        assert!(
            Instant::now() < deadline,
            "{} was never removed (the daemon is {})",
            left.display(),
            if daemon.is_running() {
                "running"
            } else {
                "gone"
            }
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fake_id(n: u8) -> String {
    format!("{:02x}", n).repeat(32)
}

#[test]
fn leftovers_of_a_killed_removal_go_in_the_background() {
    if !privileged("leftovers_of_a_killed_removal_go_in_the_background") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    crate::util::traversable(dir.path());
    let mut daemon = daemon_with_busybox(over(dir.path()));
    let mut raw = daemon.raw();
    create(&mut raw, "keeper", &["sleep", "1000"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "keeper"}));
    let victim = create(&mut raw, "victim", &["true"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "victim"}));
    ok(&mut raw, "WaitContainer", json!({"name": "victim"}));
    let storage = dir.path().join("root/containers").join(&victim);
    let run = dir.path().join("run/containers").join(&victim);
    // Many files make the removal slow enough to be killed in the middle of it.
    many_files(&storage.join("diff/many"), 10_000);
    many_files(&run.join("many"), 10_000);
    raw.send(&json!({"method": "io.podman.RemoveContainer", "parameters": {"name": "victim"}}));
    // The record goes first; kill as soon as it is gone.
    let deadline = Instant::now() + Duration::from_secs(20);
    while storage.join("container.json").exists() {
        assert!(Instant::now() < deadline, "the removal never started");
    }
    daemon.stop_with(Signal::SIGKILL);
    eprintln!(
        "killed with the storage dir {} and the run dir {}",
        if storage.exists() { "left" } else { "gone" },
        if run.exists() { "left" } else { "gone" }
    );
    // And in any case, the state a kill leaves, crafted: directories without a record,
    // thousands of files each, and a directory that is no container's (never removed).
    let crafted_run = dir.path().join("run/containers").join(fake_id(0xab));
    let crafted_storage = dir.path().join("root/containers").join(fake_id(0xcd));
    many_files(&crafted_run.join("f"), 20_000);
    many_files(&crafted_storage.join("diff/f"), 20_000);
    let foreign = dir.path().join("run/containers/not-a-container");
    std::fs::create_dir_all(&foreign).unwrap();

    let mut daemon = restart_answering(dir.path());
    let mut raw = daemon.raw();
    wait_gone(&mut daemon, &[storage, run, crafted_run, crafted_storage]);
    assert!(
        foreign.exists(),
        "a directory that is no container's was removed"
    );
    std::fs::remove_dir(&foreign).unwrap();
    let names: Vec<String> = ok(&mut raw, "ListContainers", json!({}))["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["names"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["keeper"]);
    assert_eq!(inspect(&mut raw, "keeper")["State"]["Status"], "running");
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "keeper", "force": true}),
    );
    assert_nothing_left(&daemon);
}
