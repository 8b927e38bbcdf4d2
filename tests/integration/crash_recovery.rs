//! Crash consistency (issue 8, items 13 and 14): a daemon SIGKILLed in the middle of
//! RemoveContainer or of a freezing Commit restarts clean, and answers at once while it
//! cleans up in the background. And the work left for after a reply (issue 13: a removed
//! container's files, an exited one's unmount) gets done, before an orderly stop too.
//! Needs root.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::containers::{create, daemon_with_busybox, inspect, wait_for_log};
use crate::util::{
    DaemonOptions, TestDaemon, assert_nothing_left, ok, over, privileged, sorted_names,
};

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
    // Generous: on a loaded host, removing 20,000 files has taken 10 s.
    let start = Instant::now();
    while let Some(left) = paths.iter().find(|p| p.exists()) {
        assert!(
            start.elapsed() < Duration::from_secs(180),
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
    eprintln!("leftovers removed {:?} after the restart", start.elapsed());
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

/// The runtime's word on a container: "running", "paused"...
fn runtime_status(daemon: &TestDaemon, id: &str) -> String {
    let state = podlink::engine::runtime::RuntimeCommand::State(id);
    let out = crate::util::runtime_command(&daemon.runroot, &state)
        .output()
        .unwrap();
    let state: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    state["status"].as_str().unwrap_or("unknown").to_string()
}

/// A running container with a large file in its changes, so a commit reads for a while.
fn big_writer(raw: &mut crate::util::RawConnection, name: &str) -> String {
    let id = create(
        raw,
        name,
        &[
            "sh",
            "-c",
            "dd if=/dev/urandom of=/big bs=1M count=400 2>/dev/null; echo written; \
             while true; do date > /tick; sleep 0.05; done",
        ],
        json!({}),
    );
    ok(raw, "StartContainer", json!({ "name": name }));
    wait_for_log(raw, name, "written");
    id
}

#[test]
fn removed_containers_files_are_deleted_before_a_stopping_service_exits() {
    if !privileged("removed_containers_files_are_deleted_before_a_stopping_service_exits") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = daemon_with_busybox(over(dir.path()));
    let mut raw = daemon.raw();
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = create(&mut raw, &format!("gone{i}"), &["true"], json!({}));
        ok(&mut raw, "StartContainer", json!({"name": id}));
        ok(&mut raw, "WaitContainer", json!({"name": id}));
        ids.push(id);
    }
    for id in &ids {
        ok(&mut raw, "RemoveContainer", json!({"name": id}));
    }
    // Deleted off the calls' path, but before an orderly stop ends the process.
    daemon.stop_with(Signal::SIGTERM);
    for id in &ids {
        for base in [&daemon.root, &daemon.runroot] {
            let path = base.join("containers").join(id);
            assert!(!path.exists(), "{} is left", path.display());
        }
    }
}

/// Whether something is mounted on `path`.
fn mounted(path: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == path.to_str())
}

#[test]
fn exited_root_filesystems_are_unmounted_after_the_reply() {
    if !privileged("exited_root_filesystems_are_unmounted_after_the_reply") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon_with_busybox(over(dir.path()));
    let mut raw = daemon.raw();
    let merged = |id: &str| daemon.root.join("containers").join(id).join("merged");
    let id = create(&mut raw, "again", &["true"], json!({}));
    for round in 0..3 {
        ok(&mut raw, "StartContainer", json!({"name": id}));
        ok(&mut raw, "WaitContainer", json!({"name": id}));
        // Exited: not listed as mounted, whether its unmount has run yet or not.
        let mounts = ok(&mut raw, "ListContainerMounts", json!({}))["mounts"].clone();
        assert_eq!(mounts, json!({}), "round {round}");
    }
    let wait_unmounted = |id: &str| {
        let path = merged(id);
        crate::util::wait_for(
            "an exited container's unmount",
            Duration::from_secs(10),
            || !mounted(&path),
        )
    };
    wait_unmounted(&id);
    // Started again at once after an exit, a container keeps its root filesystem: the
    // unmount queued at the exit finds it used since, and leaves it.
    let long = create(&mut raw, "long", &["sleep", "100"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": long}));
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": long, "timeout": 0}),
    );
    ok(&mut raw, "StartContainer", json!({"name": long}));
    // Unmounts run in order: once a later exit's is done, so is the one the stop queued.
    let marker = create(&mut raw, "marker", &["true"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": marker}));
    ok(&mut raw, "WaitContainer", json!({"name": marker}));
    wait_unmounted(&marker);
    assert!(
        merged(&long).join("bin/busybox").exists(),
        "unmounted under a running container"
    );
    let mounts = ok(&mut raw, "ListContainerMounts", json!({}))["mounts"].clone();
    assert_eq!(mounts[&long], json!(merged(&long).display().to_string()));
    for name in [long, marker, id] {
        ok(
            &mut raw,
            "RemoveContainer",
            json!({"name": name, "force": true}),
        );
    }
    assert_nothing_left(&daemon);
}

#[test]
fn commit_without_pause_does_not_freeze() {
    if !privileged("commit_without_pause_does_not_freeze") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let id = big_writer(&mut raw, "busy");
    let address = daemon.socket.clone();
    let commit = std::thread::spawn(move || {
        let mut raw = crate::util::RawConnection::connect(&address);
        raw.call(
            "io.podman.Commit",
            json!({"name": "busy", "image_name": "unpaused:1", "pause": false}),
        )
    });
    let mut seen = Vec::new();
    while !commit.is_finished() {
        seen.push(runtime_status(&daemon, &id));
    }
    let reply = commit.join().unwrap();
    assert!(reply.get("error").is_none(), "{reply}");
    eprintln!("{} looks at the runtime during the commit", seen.len());
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|s| s == "running"),
        "the container was frozen during a commit without pause: {seen:?}"
    );
    assert!(
        !daemon
            .runroot
            .join("containers")
            .join(&id)
            .join("frozen-by-podlink")
            .exists()
    );
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "busy", "force": true}),
    );
    ok(&mut raw, "RemoveImage", json!({"name": "unpaused:1"}));
    assert_nothing_left(&daemon);
}

#[test]
fn a_commit_killed_while_frozen_is_thawed_at_restart() {
    if !privileged("a_commit_killed_while_frozen_is_thawed_at_restart") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    crate::util::traversable(dir.path());
    let mut daemon = daemon_with_busybox(over(dir.path()));
    let mut raw = daemon.raw();
    // One the client paused: it stays paused across the restart.
    create(&mut raw, "napper", &["sleep", "1000"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "napper"}));
    ok(&mut raw, "PauseContainer", json!({"name": "napper"}));
    let id = big_writer(&mut raw, "busy");
    let marker = dir
        .path()
        .join("run/containers")
        .join(&id)
        .join("frozen-by-podlink");
    raw.send(&json!({
        "method": "io.podman.Commit",
        "parameters": {"name": "busy", "image_name": "killed:1", "pause": true}
    }));
    let deadline = Instant::now() + Duration::from_secs(20);
    while runtime_status(&daemon, &id) != "paused" {
        assert!(
            Instant::now() < deadline,
            "the commit never froze the container"
        );
    }
    daemon.stop_with(Signal::SIGKILL);
    assert_eq!(runtime_status(&daemon, &id), "paused");
    assert!(marker.exists(), "the freeze was not recorded");

    let daemon = restart_answering(dir.path());
    let mut raw = daemon.raw();
    assert_eq!(inspect(&mut raw, "busy")["State"]["Status"], "running");
    assert_eq!(runtime_status(&daemon, &id), "running");
    assert!(!marker.exists(), "the marker is left");
    assert_eq!(inspect(&mut raw, "napper")["State"]["Status"], "paused");
    ok(&mut raw, "UnpauseContainer", json!({"name": "napper"}));
    for name in ["busy", "napper"] {
        ok(
            &mut raw,
            "RemoveContainer",
            json!({"name": name, "force": true}),
        );
    }
    assert_nothing_left(&daemon);
}

/// Every regular file under `dir` (symlinks not followed) that holds `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file()
                && std::fs::read(entry.path())
                    .is_ok_and(|data| data.windows(needle.len()).any(|w| w == needle))
            {
                found.push(entry.path());
            }
        }
    }
    found
}

#[test]
fn a_container_swapping_symlinks_cannot_lead_an_unpaused_commit_out() {
    if !privileged("a_container_swapping_symlinks_cannot_lead_an_unpaused_commit_out") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // A host directory the container's symlink names (the container cannot see it).
    let host = tempfile::Builder::new().prefix("plhost").tempdir().unwrap();
    let secret = format!("HOST-SECRET-{}", std::process::id());
    std::fs::write(host.path().join("secret"), &secret).unwrap();
    let id = create(&mut raw, "swapper", &["sleep", "1000"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "swapper"}));
    // What a container swapping a directory and a symlink as fast as it can does to its
    // upper directory, done from here: a shell in the container is far too slow to hit the
    // reader's window, one rename(RENAME_EXCHANGE) a loop is not.
    let upper = daemon.root.join("containers").join(&id).join("diff");
    std::fs::create_dir(upper.join("d")).unwrap();
    std::fs::write(upper.join("d/secret"), "inner").unwrap();
    std::os::unix::fs::symlink(host.path(), upper.join("l")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, upper) = (stop.clone(), upper.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                nix::fcntl::renameat2(
                    nix::fcntl::AT_FDCWD,
                    &upper.join("d"),
                    nix::fcntl::AT_FDCWD,
                    &upper.join("l"),
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                )
                .unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let mut committed = 0;
    for i in 0..30 {
        let reply = raw.call(
            "io.podman.Commit",
            json!({"name": "swapper", "image_name": format!("swap:{i}"), "pause": false}),
        );
        // A swap seen mid-read may fail the commit (ELOOP); it must never succeed with host
        // files in it.
        if reply.get("error").is_none() {
            committed += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    eprintln!("{committed} of 30 commits went through, {swaps} swaps");
    let leaked = files_holding(&daemon.root.join("layers"), secret.as_bytes());
    assert!(
        leaked.is_empty(),
        "host files in committed layers: {leaked:?}"
    );
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "swapper", "force": true}),
    );
    for i in 0..30 {
        let _ = raw.call(
            "io.podman.RemoveImage",
            json!({"name": format!("swap:{i}")}),
        );
    }
    assert_nothing_left(&daemon);
}

/// A gzipped tarball of `count` empty files: small to send, long to unpack.
fn many_entries_tarball(path: &Path, count: usize) {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for i in 0..count {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("d{}/f{i}", i % 100), &[][..])
            .unwrap();
    }
    std::fs::write(path, b.into_inner().unwrap().finish().unwrap()).unwrap();
}

#[test]
fn image_store_leftovers_go_after_the_service_answers() {
    if !privileged("image_store_leftovers_go_after_the_service_answers") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    crate::util::traversable(dir.path());
    let root = dir.path().join("root");
    let mut daemon = daemon_with_busybox(over(dir.path()));
    let mut raw = daemon.raw();
    let busybox = ok(&mut raw, "GetImage", json!({"name": "busybox"}))["image"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // A real crash first: a daemon killed while it unpacks an import leaves its staging
    // directory, `tmp/layer-*` holding a `diff/`.
    let tarball = dir.path().join("many.tar.gz");
    many_entries_tarball(&tarball, 200_000);
    raw.send(&json!({
        "method": "io.podman.ImportImage",
        "parameters": {"source": tarball.display().to_string(), "reference": "many"}
    }));
    let deadline = Instant::now() + Duration::from_secs(60);
    let killed = loop {
        let staged = sorted_names(&root.join("tmp"))
            .into_iter()
            .map(|n| root.join("tmp").join(n))
            .find(|s| sorted_names(&s.join("diff")).len() >= 50);
        if let Some(staged) = staged {
            break staged;
        }
        assert!(Instant::now() < deadline, "the import never staged a layer");
        std::thread::sleep(Duration::from_millis(5));
    };
    daemon.stop_with(Signal::SIGKILL);
    let name = killed.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("layer-"), "{name}");
    assert!(killed.join("diff").is_dir());
    assert!(
        !killed.join("layer.json").exists(),
        "the import got to its end"
    );

    // And the shapes crashes leave, crafted big: a staging directory with 50,000 files, a
    // layer directory whose record a killed removal took (40,000 files), a complete layer
    // no image uses, and an image directory without its record.
    let staged = root.join("tmp/layer-crafted");
    many_files(&staged.join("diff"), 50_000);
    let recordless = root.join("layers").join(fake_id(0xee));
    many_files(&recordless.join("diff/many"), 40_000);
    let orphan = root.join("layers").join(fake_id(0xef));
    many_files(&orphan.join("diff"), 10);
    std::fs::write(
        orphan.join("layer.json"),
        json!({"version": 1, "diff_id": format!("sha256:{}", fake_id(0xef)), "size": 0})
            .to_string(),
    )
    .unwrap();
    let incomplete = root.join("images").join(fake_id(0xdd));
    std::fs::create_dir_all(&incomplete).unwrap();
    std::fs::write(incomplete.join("config.json"), "{}").unwrap();

    let mut daemon = restart_answering(dir.path());
    let mut raw = daemon.raw();
    wait_gone(
        &mut daemon,
        &[killed, staged, recordless, orphan, incomplete],
    );
    // They went out of the way at once; what holds them must empty too.
    let start = Instant::now();
    while !sorted_names(&root.join("trash")).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the trash was never emptied: {:?}",
            sorted_names(&root.join("trash"))
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("trash emptied {:?} after the restart", start.elapsed());

    // The complete image is still there and runs.
    let ids: Vec<String> = ok(&mut raw, "ListImages", json!({}))["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids, [busybox]);
    create(&mut raw, "after", &["true"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "after"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "after"}))["exitcode"],
        0
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "after"}));
    assert_eq!(sorted_names(&root.join("tmp")), Vec::<String>::new());
    assert_nothing_left(&daemon);
}
