//! Hostile containers and what clients expect (issue 8, items 5, 8, 9, 17 and 18): a
//! 10,000-deep tree, a fork bomb, 100,000 environment entries, counted mounts on a running
//! container, and checkpoint where CRIU cannot work. Needs root.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::Mode;
use serde_json::{Value, json};

use crate::containers::{create, daemon_with_busybox, fails, inspect, ok, wait_for_log};
use crate::util::{
    DaemonOptions, RawConnection, assert_nothing_left, cgroup_dirs, cgroup_parent, privileged,
    require_tool, seed_example,
};

/// How deep the tree a container makes goes: past 1,900 levels the recursive walks
/// overflowed a connection thread's stack and the daemon died.
const DEPTH: usize = 10_000;

/// Makes a chain of `depth` directories named `d` under `dir`, with a file `f` at the
/// bottom, through descriptors (its full path is far past PATH_MAX): what a shell loop of
/// `mkdir d; cd d` inside the container makes, minus minutes of busybox.
pub fn deep_chain(dir: &Path, depth: usize) {
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY;
    let mut current = open(dir, flags, Mode::empty()).unwrap();
    for _ in 0..depth {
        nix::sys::stat::mkdirat(&current, "d", Mode::from_bits_truncate(0o755)).unwrap();
        current = openat(&current, "d", flags, Mode::empty()).unwrap();
    }
    let f = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
    drop(openat(&current, "f", f, Mode::from_bits_truncate(0o644)).unwrap());
}

/// The directory of the cgroup `path` in the v1 hierarchy (or v2) holding `file`.
fn cgroup_file(daemon: &crate::util::TestDaemon, id: &str, file: &str) -> PathBuf {
    let path = format!("{}/{id}", cgroup_parent(&daemon.root));
    cgroup_dirs(&path)
        .into_iter()
        .map(|d| d.join(file))
        .find(|f| f.exists())
        .unwrap_or_else(|| panic!("no {file} for {path}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn status(raw: &mut RawConnection, name: &str) -> String {
    inspect(raw, name)["State"]["Status"]
        .as_str()
        .unwrap()
        .to_string()
}

fn is_mounted(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path))
}

#[test]
fn a_10000_deep_tree_is_listed_committed_exported_and_removed() {
    if !privileged("a_10000_deep_tree_is_listed_committed_exported_and_removed") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // Each reply is about 100 MB (10,000 paths of up to 20,000 bytes) and the commit
    // unpacks a layer as deep: more than the harness's 20 s per reply in a debug build.
    raw.stream
        .set_read_timeout(Some(Duration::from_secs(600)))
        .unwrap();
    let id = create(&mut raw, "deep", &["sleep", "1000"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "deep"}));
    // What the container wrote lands in its upper directory.
    deep_chain(
        &daemon.root.join("containers").join(&id).join("diff"),
        DEPTH,
    );
    let daemon_pid = daemon.pid();

    let started = Instant::now();
    let changes = ok(&mut raw, "ListContainerChanges", json!({"name": "deep"}));
    let added = changes["container"]["added"].as_array().unwrap();
    assert_eq!(added.len(), DEPTH + 1, "each level and the file");
    assert_eq!(added[0], "/d");
    let deepest = added.iter().map(|p| p.as_str().unwrap().len()).max();
    assert_eq!(deepest, Some(2 * DEPTH + 2), "/d/.../d/f");
    drop(changes);
    eprintln!("ListContainerChanges: {:?}", started.elapsed());

    let started = Instant::now();
    let image = ok(
        &mut raw,
        "Commit",
        json!({"name": "deep", "image_name": "deep-image", "changes": [], "pause": true}),
    );
    eprintln!("Commit: {:?}", started.elapsed());
    assert!(image["image"].as_str().is_some(), "{image}");

    let out = tempfile::tempdir().unwrap();
    let tarball = out.path().join("deep.tar");
    let started = Instant::now();
    ok(
        &mut raw,
        "ExportContainer",
        json!({"name": "deep", "path": tarball.display().to_string()}),
    );
    eprintln!("ExportContainer: {:?}", started.elapsed());
    // GNU tar reads it back: the deepest entry is there under its whole name.
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tarball)
        .output()
        .unwrap();
    assert!(listing.status.success());
    let deepest = format!("./{}f", "d/".repeat(DEPTH));
    assert!(
        String::from_utf8_lossy(&listing.stdout)
            .lines()
            .any(|l| l == deepest)
    );

    let started = Instant::now();
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "deep", "force": true}),
    );
    eprintln!("RemoveContainer: {:?}", started.elapsed());
    ok(&mut raw, "RemoveImage", json!({"name": "deep-image"}));
    // Its files go on the daemon's reclaim thread, after the reply.
    let storage = daemon.root.join("containers").join(&id);
    crate::util::wait_for(
        "the container's files deleted",
        Duration::from_secs(60),
        || !storage.exists(),
    );
    assert_eq!(ok(&mut raw, "Ping", json!({}))["ping"]["message"], "OK");
    assert_eq!(daemon.pid(), daemon_pid);
    assert_nothing_left(&daemon);
}

#[test]
fn a_fork_bomb_stops_at_the_default_process_limit() {
    if !privileged("a_fork_bomb_stops_at_the_default_process_limit") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // The inner shell forks until a fork fails (busybox sh then gives up); the outer one
    // says so and becomes a `sleep` without forking.
    let bomb = "sh -c 'i=0; while [ $i -lt 3000 ]; do sleep 1000 & i=$((i+1)); done' \
                2>/dev/null; echo forked; exec sleep 1000";
    let id = create(&mut raw, "bomb", &["sh", "-c", bomb], json!({}));
    assert_eq!(
        inspect(&mut raw, "bomb")["HostConfig"]["PidsLimit"],
        2048,
        "the default limit is shown"
    );
    ok(&mut raw, "StartContainer", json!({"name": "bomb"}));
    let max = cgroup_file(&daemon, &id, "pids.max");
    assert_eq!(read(&max), "2048");
    wait_for_log(&mut raw, "bomb", "forked");
    // The limit held: forks failed at 2,048 (the inner shell has gone since).
    let current: u64 = read(&cgroup_file(&daemon, &id, "pids.current"))
        .parse()
        .unwrap();
    assert!((2040..=2048).contains(&current), "{current} processes");
    let events = read(&cgroup_file(&daemon, &id, "pids.events"));
    let refused: u64 = events.trim_start_matches("max ").parse().unwrap();
    assert!(refused > 0, "no fork was refused: {events}");
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "bomb", "timeout": 0}),
    );

    // -1 lifts the limit.
    let id = create(
        &mut raw,
        "unlimited",
        &["sleep", "1000"],
        json!({"resources": {"pids_limit": -1}}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "unlimited"}));
    assert_eq!(read(&cgroup_file(&daemon, &id, "pids.max")), "max");
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "unlimited", "timeout": 0}),
    );
    for name in ["bomb", "unlimited"] {
        ok(&mut raw, "RemoveContainer", json!({ "name": name }));
    }
    assert_nothing_left(&daemon);
}

#[test]
fn huge_environments_are_refused_quickly_and_large_ones_are_fast() {
    if !privileged("huge_environments_are_refused_quickly_and_large_ones_are_fast") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let env = |n: usize| -> Value {
        (0..n)
            .map(|i| (format!("E{i}"), Value::from(format!("v{i}"))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    // Timed from the send of a message made beforehand to its reply, as the daemon's CPU
    // time (every thread's, from /proc): the daemon's own work, whatever else the two cores
    // run meanwhile (the rest of the suite, in CI). Wall time is bounded too, loosely.
    let pid = daemon.pid();
    let call = |raw: &mut RawConnection, create: Value| -> (Value, Duration, Duration) {
        let mut message = serde_json::to_vec(
            &json!({"method": "io.podman.CreateContainer", "parameters": {"create": create}}),
        )
        .unwrap();
        message.push(0);
        let (started, cpu) = (Instant::now(), cpu_time(pid));
        raw.send_bytes(&message);
        let reply = raw.recv().unwrap();
        (reply, cpu_time(pid) - cpu, started.elapsed())
    };
    // One second, as the issue asks, for an optimized build. In a debug build (the test
    // suite's) merely decoding a 2 MB message through the generated code takes 0.4-0.9 s
    // on a 2-core machine; the quadratic merge this guards against took minutes.
    let limit = Duration::from_secs(if cfg!(debug_assertions) { 2 } else { 1 });
    let wall_limit = Duration::from_secs(15);
    let huge = env(100_000);
    let (reply, cpu, elapsed) = call(
        &mut raw,
        json!({"image": "busybox", "name": "huge", "command": ["true"], "env": huge}),
    );
    assert_eq!(reply["error"], "io.podman.ErrorOccurred", "{reply}");
    let error = &reply["parameters"];
    eprintln!("100,000 entries refused in {elapsed:?} ({cpu:?} of the daemon's CPU)");
    assert!(
        cpu < limit && elapsed < wall_limit,
        "{cpu:?} CPU, {elapsed:?}"
    );
    let reason = error.to_string();
    assert!(
        reason.contains("env") && reason.contains("100000") && reason.contains("32768"),
        "{reason}"
    );

    let large = env(30_000);
    let (reply, cpu, elapsed) = call(
        &mut raw,
        json!({"image": "busybox", "name": "large",
            "command": ["sh", "-c", "echo last=$E29999"], "env": large}),
    );
    assert!(reply.get("error").is_none(), "{reply}");
    eprintln!("30,000 entries created in {elapsed:?} ({cpu:?} of the daemon's CPU)");
    assert!(
        cpu < limit && elapsed < wall_limit,
        "{cpu:?} CPU, {elapsed:?}"
    );
    ok(&mut raw, "StartContainer", json!({"name": "large"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "large"}))["exitcode"],
        0
    );
    wait_for_log(&mut raw, "large", "last=v29999");
    ok(&mut raw, "RemoveContainer", json!({"name": "large"}));
    assert_nothing_left(&daemon);
}

#[test]
fn unmount_releases_a_client_mount_of_a_running_container() {
    if !privileged("unmount_releases_a_client_mount_of_a_running_container") {
        return;
    }
    require_tool("varlink");
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    create(&mut raw, "jolly_shannon", &["sleep", "1000"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "jolly_shannon"}));
    let path = ok(&mut raw, "MountContainer", json!({"name": "jolly_shannon"}))["path"]
        .as_str()
        .unwrap()
        .to_string();
    // The contract's own example, verbatim.
    let reply = seed_example(
        &daemon,
        r#"varlink call -m unix:/run/podman/io.podman/io.podman.UnmountContainer '{"name": "jolly_shannon", "force": false}'"#,
    );
    assert_eq!(reply, json!({}));
    assert_eq!(status(&mut raw, "jolly_shannon"), "running");
    assert!(is_mounted(&path), "the container's own mount stays");
    assert!(std::fs::metadata(Path::new(&path).join("bin/busybox")).is_ok());
    // No client mount left: the container's own is refused while it runs.
    fails(
        &mut raw,
        "UnmountContainer",
        json!({"name": "jolly_shannon", "force": false}),
        "ErrorOccurred",
    );
    assert_eq!(status(&mut raw, "jolly_shannon"), "running");
    assert!(is_mounted(&path));

    // Mounts are counted: two mounts, two unmounts.
    for _ in 0..2 {
        ok(&mut raw, "MountContainer", json!({"name": "jolly_shannon"}));
    }
    ok(
        &mut raw,
        "UnmountContainer",
        json!({"name": "jolly_shannon", "force": false}),
    );
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "jolly_shannon", "timeout": 0}),
    );
    // Stopped, it stays mounted for the client's mount still held...
    assert!(is_mounted(&path));
    let mounts = ok(&mut raw, "ListContainerMounts", json!({}))["mounts"].clone();
    assert_eq!(mounts.as_object().unwrap().len(), 1, "{mounts}");
    // ... until it is released; after that unmount works as before (nothing to release).
    for _ in 0..2 {
        ok(
            &mut raw,
            "UnmountContainer",
            json!({"name": "jolly_shannon", "force": false}),
        );
        assert!(!is_mounted(&path));
    }
    ok(&mut raw, "MountContainer", json!({"name": "jolly_shannon"}));
    assert!(is_mounted(&path));
    ok(
        &mut raw,
        "UnmountContainer",
        json!({"name": "jolly_shannon", "force": false}),
    );
    assert!(!is_mounted(&path));
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "jolly_shannon"}),
    );
    assert_nothing_left(&daemon);
}

/// Why `criu check` fails here, or None where it passes.
fn criu_failure() -> Option<String> {
    let criu = require_tool("criu");
    let out = std::process::Command::new(criu)
        .arg("check")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    if out.status.success() && !text.contains("Error") {
        return None;
    }
    let first = text
        .lines()
        .find(|l| l.contains("Error"))
        .unwrap_or(text.trim());
    // The reason after CRIU's "Error (file:line): " prefix.
    Some(
        first
            .split("): ")
            .last()
            .unwrap_or(first)
            .trim()
            .to_string(),
    )
}

#[test]
fn checkpoint_where_criu_cannot_work_says_why_and_leaves_the_container_running() {
    if !privileged("checkpoint_where_criu_cannot_work_says_why_and_leaves_the_container_running") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    create(
        &mut raw,
        "ticker",
        &[
            "sh",
            "-c",
            "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done",
        ],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "ticker"}));
    wait_for_log(&mut raw, "ticker", "tick 1");
    let checkpoint = json!({"name": "ticker", "keep": false, "leave_running": false,
        "tcp_established": false});
    match criu_failure() {
        Some(reason) => {
            eprintln!(
                "checkpoint and restore not tried: CRIU cannot work here ({reason}); \
                 checking that the error says so"
            );
            let error = fails(&mut raw, "ContainerCheckpoint", checkpoint, "ErrorOccurred");
            let text = error.to_string();
            assert!(
                text.contains("CRIU") && text.contains(&reason),
                "{reason:?} not in {text}"
            );
            // Untouched: still running, still writing.
            assert_eq!(status(&mut raw, "ticker"), "running");
            let count = |raw: &mut RawConnection| {
                ok(raw, "GetContainerLogs", json!({"name": "ticker"}))["container"]
                    .as_array()
                    .unwrap()
                    .len()
            };
            let before = count(&mut raw);
            let deadline = Instant::now() + Duration::from_secs(10);
            while count(&mut raw) <= before {
                assert!(Instant::now() < deadline, "the container stopped writing");
                std::thread::sleep(Duration::from_millis(20));
            }
            // Restoring a container that was never checkpointed is refused.
            fails(
                &mut raw,
                "ContainerRestore",
                json!({"name": "ticker", "keep": false, "tcp_established": false}),
                "ErrorOccurred",
            );
        }
        None => {
            // CRIU works here: checkpoint stops the container, restore brings it back.
            ok(&mut raw, "ContainerCheckpoint", checkpoint);
            assert_eq!(status(&mut raw, "ticker"), "exited");
            ok(
                &mut raw,
                "ContainerRestore",
                json!({"name": "ticker", "keep": false, "tcp_established": false}),
            );
            assert_eq!(status(&mut raw, "ticker"), "running");
            let before = ok(&mut raw, "GetContainerLogs", json!({"name": "ticker"}))["container"]
                .as_array()
                .unwrap()
                .len();
            let deadline = Instant::now() + Duration::from_secs(10);
            while ok(&mut raw, "GetContainerLogs", json!({"name": "ticker"}))["container"]
                .as_array()
                .unwrap()
                .len()
                <= before
            {
                assert!(
                    Instant::now() < deadline,
                    "the restored container writes nothing"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "ticker", "timeout": 0}),
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "ticker"}));
    assert_nothing_left(&daemon);
}

/// The CPU time process `pid` has used, every thread's (utime + stime of /proc/PID/stat, in
/// clock ticks of 10 ms: Linux's USER_HZ is 100 on every architecture).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}
