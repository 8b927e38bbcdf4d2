//! Containers (issue 4, first part): the lifecycle on the real runtime through the monitor.
//! Needs root (overlay mounts, runc).

use std::time::{Duration, Instant};

use podlink::varlink::client::VarlinkClientInterface;
use serde_json::{Value, json};

use crate::fixtures::fixtures;
use crate::util::{DaemonOptions, RawConnection, TestDaemon, privileged};

pub use crate::util::{fails, ok};

/// Waits (up to 20 s) until the log of container `name` holds `needle`.
pub fn wait_for_log(raw: &mut RawConnection, name: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok(raw, "GetContainerLogs", json!({ "name": name }))["container"]
        .to_string()
        .contains(needle)
    {
        assert!(Instant::now() < deadline, "{name} never logged {needle:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A daemon with the busybox fixture imported as `busybox`.
pub fn daemon_with_busybox(options: DaemonOptions) -> TestDaemon {
    let daemon = TestDaemon::start_with(options);
    let mut raw = daemon.raw();
    if ok(&mut raw, "ImageExists", json!({"name": "busybox"}))["exists"] != 0 {
        ok(
            &mut raw,
            "ImportImage",
            json!({
                "source": fixtures().rootfs.display().to_string(),
                "reference": "busybox",
                "changes": ["CMD [\"/bin/sh\"]"],
            }),
        );
    }
    daemon
}

pub fn create(raw: &mut RawConnection, name: &str, command: &[&str], extra: Value) -> String {
    let mut create = json!({"image": "busybox", "name": name, "command": command});
    if let Value::Object(extra) = extra {
        create.as_object_mut().unwrap().extend(extra);
    }
    ok(raw, "CreateContainer", json!({ "create": create }))["container"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn run(raw: &mut RawConnection, name: &str, command: &[&str]) -> i64 {
    create(raw, name, command, json!({}));
    ok(raw, "StartContainer", json!({"name": name}));
    ok(raw, "WaitContainer", json!({"name": name}))["exitcode"]
        .as_i64()
        .unwrap()
}

pub fn inspect(raw: &mut RawConnection, name: &str) -> Value {
    let text = ok(raw, "InspectContainer", json!({"name": name}))["container"]
        .as_str()
        .unwrap()
        .to_string();
    serde_json::from_str(&text).unwrap()
}

pub use crate::util::assert_nothing_left;

#[test]
fn exit_codes_logs_and_states() {
    if !privileged("exit_codes_logs_and_states") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    assert_eq!(run(&mut raw, "zero", &["true"]), 0);
    assert_eq!(run(&mut raw, "one", &["false"]), 1);
    assert_eq!(
        run(
            &mut raw,
            "three",
            &["sh", "-c", "echo out; echo err >&2; exit 3"]
        ),
        3
    );
    let logs = ok(&mut raw, "GetContainerLogs", json!({"name": "three"}))["container"].clone();
    let lines: Vec<String> = serde_json::from_value(logs).unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].ends_with(" stdout F out"), "{lines:?}");
    assert!(lines[1].ends_with(" stderr F err"), "{lines:?}");
    let time = lines[0].split(' ').next().unwrap();
    assert!(humantime::parse_rfc3339(time).is_ok(), "{time}");

    let data = inspect(&mut raw, "three");
    assert_eq!(data["State"]["Status"], "exited");
    assert_eq!(data["State"]["Running"], false);
    assert_eq!(data["State"]["ExitCode"], 3);
    assert!(
        data["State"]["StartedAt"].as_str().unwrap()
            <= data["State"]["FinishedAt"].as_str().unwrap()
    );
    assert_eq!(
        data["Config"]["Cmd"],
        json!(["sh", "-c", "echo out; echo err >&2; exit 3"])
    );

    // The image's CMD when none is given; the environment and user.
    create(
        &mut raw,
        "envy",
        &[
            "sh",
            "-c",
            "echo $GREETING $(id -u):$(id -g) $(pwd) $(hostname)",
        ],
        json!({
            "env": {"GREETING": "hi"}, "user": "app", "work_dir": "/tmp", "hostname": "box"
        }),
    );
    ok(&mut raw, "StartContainer", json!({"name": "envy"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "envy"}))["exitcode"],
        0
    );
    let lines: Vec<String> = serde_json::from_value(
        ok(&mut raw, "GetContainerLogs", json!({"name": "envy"}))["container"].clone(),
    )
    .unwrap();
    assert!(
        lines[0].ends_with(" stdout F hi 1000:1000 /tmp box"),
        "{lines:?}"
    );

    // Listing, getting, existing.
    let list = ok(&mut raw, "ListContainers", json!({}))["containers"].clone();
    assert_eq!(list.as_array().unwrap().len(), 4);
    let got = ok(&mut raw, "GetContainer", json!({"name": "one"}))["container"].clone();
    assert_eq!(got["names"], "one");
    assert_eq!(got["status"], "exited");
    assert_eq!(got["image"], "busybox");
    assert_eq!(
        ok(&mut raw, "ContainerExists", json!({"name": "one"}))["exists"],
        0
    );
    assert_eq!(
        ok(&mut raw, "ContainerExists", json!({"name": "nope"}))["exists"],
        1
    );

    // DeleteStoppedContainers removes them all.
    let mut removed: Vec<String> = serde_json::from_value(
        ok(&mut raw, "DeleteStoppedContainers", json!({}))["containers"].clone(),
    )
    .unwrap();
    removed.sort();
    assert_eq!(removed.len(), 4);
    assert_eq!(
        ok(&mut raw, "ListContainers", json!({}))["containers"],
        json!([])
    );
    assert_nothing_left(&daemon);
}

#[test]
fn stop_kill_and_remove() {
    if !privileged("stop_kill_and_remove") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // SIGTERM ends a process that handles it: 143. (As PID 1 of its namespace, a process
    // with no handler ignores SIGTERM; see "stubborn" below.)
    let id = create(
        &mut raw,
        "sleeper",
        &[
            "sh",
            "-c",
            "trap 'exit 143' TERM; echo ready; sleep 1000 & wait",
        ],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "sleeper"}));
    // PID 1 ignores a signal it has no handler for: the stop below needs the trap set.
    wait_for_log(&mut raw, "sleeper", "ready");
    let data = inspect(&mut raw, &id);
    assert_eq!(data["State"]["Status"], "running");
    assert!(data["State"]["Pid"].as_i64().unwrap() > 1);
    let got = ok(&mut raw, "GetContainer", json!({"name": &id[..10]}))["container"].clone();
    assert_eq!(got["containerrunning"], true);
    assert!(
        got["namespaces"]["pidns"]
            .as_str()
            .unwrap()
            .starts_with("pid:[")
    );
    // Starting a running container, removing it without force: refused.
    let reason = fails(
        &mut raw,
        "StartContainer",
        json!({"name": "sleeper"}),
        "ErrorOccurred",
    );
    assert!(
        reason["reason"].as_str().unwrap().contains("running"),
        "{reason}"
    );
    let reason = fails(
        &mut raw,
        "RemoveContainer",
        json!({"name": "sleeper", "force": false}),
        "ErrorOccurred",
    );
    assert!(
        reason["reason"].as_str().unwrap().contains("running"),
        "{reason}"
    );
    let start = Instant::now();
    assert_eq!(
        ok(
            &mut raw,
            "StopContainer",
            json!({"name": "sleeper", "timeout": 5})
        )["container"],
        id
    );
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "SIGTERM was not enough: {:?}",
        start.elapsed()
    );
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "sleeper"}))["exitcode"],
        143
    );
    // Stopping a stopped container is an error.
    fails(
        &mut raw,
        "StopContainer",
        json!({"name": "sleeper", "timeout": 1}),
        "ErrorOccurred",
    );

    // A process that ignores SIGTERM is killed after the timeout: 137.
    create(&mut raw, "stubborn", &["sleep", "1000"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "stubborn"}));
    let start = Instant::now();
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "stubborn", "timeout": 1}),
    );
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "stubborn"}))["exitcode"],
        137
    );

    // KillContainer with a signal, and restart.
    ok(
        &mut raw,
        "RestartContainer",
        json!({"name": "sleeper", "timeout": 5}),
    );
    assert_eq!(inspect(&mut raw, "sleeper")["State"]["Status"], "running");
    ok(
        &mut raw,
        "KillContainer",
        json!({"name": "sleeper", "signal": 9}),
    );
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "sleeper"}))["exitcode"],
        137
    );

    // Force removal of a running container.
    create(&mut raw, "forced", &["sleep", "1000"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "forced"}));
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "forced", "force": true}),
    );
    fails(
        &mut raw,
        "GetContainer",
        json!({"name": "forced"}),
        "ContainerNotFound",
    );

    // Not found by name, by ID, by ambiguous prefix.
    let reply = fails(
        &mut raw,
        "InspectContainer",
        json!({"name": "ghost"}),
        "ContainerNotFound",
    );
    assert_eq!(reply["name"], "ghost");
    fails(
        &mut raw,
        "StartContainer",
        json!({"name": "f".repeat(64)}),
        "ContainerNotFound",
    );
    let mut ids = vec![id.clone()];
    let shared = loop {
        let id = create(&mut raw, "", &["true"], json!({}));
        if let Some(other) = ids.iter().find(|o| o.as_bytes()[0] == id.as_bytes()[0]) {
            break other.clone();
        }
        ids.push(id);
    };
    let reply = fails(
        &mut raw,
        "GetContainer",
        json!({"name": &shared[..1]}),
        "ContainerNotFound",
    );
    assert!(
        reply["reason"].as_str().unwrap().contains("ambiguous"),
        "{reply}"
    );

    // RemoveImage refuses an image in use, and with force removes its containers too.
    let reason = fails(
        &mut raw,
        "RemoveImage",
        json!({"name": "busybox"}),
        "ErrorOccurred",
    );
    assert!(
        reason["reason"].as_str().unwrap().contains("in use"),
        "{reason}"
    );
    ok(&mut raw, "StartContainer", json!({"name": "stubborn"}));
    ok(
        &mut raw,
        "RemoveImage",
        json!({"name": "busybox", "force": true}),
    );
    assert_eq!(
        ok(&mut raw, "ListContainers", json!({}))["containers"],
        json!([])
    );
    assert_nothing_left(&daemon);
}

#[test]
fn auto_removal_and_create_errors() {
    if !privileged("auto_removal_and_create_errors") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    create(&mut raw, "gone", &["true"], json!({"rm": true}));
    ok(&mut raw, "StartContainer", json!({"name": "gone"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "gone"}))["exitcode"],
        0
    );
    fails(
        &mut raw,
        "GetContainer",
        json!({"name": "gone"}),
        "ContainerNotFound",
    );

    // Names are unique; an absent image is ImageNotFound; an unsupported field is named.
    create(&mut raw, "dup", &["true"], json!({}));
    let reason = fails(
        &mut raw,
        "CreateContainer",
        json!({"create": {"image": "busybox", "name": "dup"}}),
        "ErrorOccurred",
    );
    assert!(
        reason["reason"]
            .as_str()
            .unwrap()
            .contains("already in use"),
        "{reason}"
    );
    let reply = fails(
        &mut raw,
        "CreateContainer",
        json!({"create": {"image": "nosuchimage"}}),
        "ImageNotFound",
    );
    assert_eq!(reply["name"], "nosuchimage");
    let reason = fails(
        &mut raw,
        "CreateContainer",
        json!({"create": {"image": "busybox", "pod": "somepod"}}),
        "ErrorOccurred",
    );
    assert!(
        reason["reason"].as_str().unwrap().contains("pod:"),
        "{reason}"
    );
    // A missing command fails at start with the runtime's own error.
    create(&mut raw, "nocmd", &["/no/such/binary"], json!({}));
    let reply = raw.call("io.podman.StartContainer", json!({"name": "nocmd"}));
    assert_eq!(reply["error"], "io.podman.RuntimeError", "{reply}");
    assert!(
        reply["parameters"]["reason"]
            .as_str()
            .unwrap()
            .contains("/no/such/binary"),
        "{reply}"
    );
    assert_eq!(inspect(&mut raw, "nocmd")["State"]["Status"], "configured");
    ok(&mut raw, "RemoveContainer", json!({"name": "nocmd"}));
    ok(&mut raw, "RemoveContainer", json!({"name": "dup"}));
    assert_nothing_left(&daemon);
}

#[test]
fn containers_outlive_a_killed_service() {
    if !privileged("containers_outlive_a_killed_service") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    crate::util::traversable(dir.path());
    let options = || DaemonOptions {
        root: Some(dir.path().join("root")),
        runroot: Some(dir.path().join("run")),
        ..Default::default()
    };
    let mut daemon = daemon_with_busybox(options());
    let mut raw = daemon.raw();
    create(&mut raw, "long", &["sleep", "1000"], json!({}));
    let short = create(
        &mut raw,
        "short",
        &["sh", "-c", "sleep 1; exit 7"],
        json!({}),
    );
    let frozen = create(&mut raw, "frozen", &["sleep", "1000"], json!({}));
    let adopted = create(&mut raw, "adopted", &["sh", "-c", "exit 5"], json!({}));
    ok(&mut raw, "GetAttachSockets", json!({"name": "adopted"}));
    ok(&mut raw, "StartContainer", json!({"name": "long"}));
    ok(&mut raw, "StartContainer", json!({"name": "short"}));
    ok(&mut raw, "StartContainer", json!({"name": "frozen"}));
    // Frozen behind the service's back, as a service killed in the middle of a commit
    // (which freezes the container) would leave it.
    let state = dir.path().join("run/runtime");
    crate::util::run_ok(
        std::process::Command::new("runc")
            .arg("--root")
            .arg(&state)
            .args(["pause", &frozen]),
    );
    daemon.stop_with(nix::sys::signal::Signal::SIGKILL);
    // As if the service had been killed after the monitor's report but before it saved
    // the state: the record knows nothing of the monitor.
    std::fs::write(
        dir.path()
            .join("root/containers")
            .join(&adopted)
            .join("state.json"),
        "{}",
    )
    .unwrap();
    // "short" exits while the service is down.
    let exit_file = dir
        .path()
        .join("run/containers")
        .join(&short)
        .join("exit.json");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !exit_file.exists() {
        assert!(Instant::now() < deadline, "short did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let daemon = TestDaemon::start_with(options());
    let mut raw = daemon.raw();
    assert_eq!(inspect(&mut raw, "long")["State"]["Status"], "running");
    let short = inspect(&mut raw, "short");
    assert_eq!(short["State"]["Status"], "exited");
    assert_eq!(short["State"]["ExitCode"], 7);
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "short"}))["exitcode"],
        7
    );
    // The monitor nobody recorded is adopted: the container is created, and runs.
    assert_eq!(inspect(&mut raw, "adopted")["State"]["Status"], "created");
    ok(&mut raw, "StartContainer", json!({"name": "adopted"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "adopted"}))["exitcode"],
        5
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "adopted"}));
    // The runtime's word on the frozen one is taken, and it thaws.
    assert_eq!(inspect(&mut raw, "frozen")["State"]["Status"], "paused");
    ok(&mut raw, "UnpauseContainer", json!({"name": "frozen"}));
    assert_eq!(inspect(&mut raw, "frozen")["State"]["Status"], "running");
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "long", "force": true}),
    );
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "frozen", "force": true}),
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "short"}));
    assert_nothing_left(&daemon);
}

#[test]
fn concurrent_clients_create_start_and_remove() {
    if !privileged("concurrent_clients_create_start_and_remove") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let clients = 20;
    let per_client = 10;
    let ids: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let daemon = &daemon;
                s.spawn(move || {
                    let mut client = daemon.client();
                    let mut ids = Vec::new();
                    for n in 0..per_client {
                        let create = podlink::varlink::client::Create {
                            image: "busybox".into(),
                            name: format!("c{c}-{n}"),
                            command: vec!["true".into()],
                            ..Default::default()
                        };
                        let id = client.create_container(create).call().unwrap().container;
                        client.start_container(id.clone()).call().unwrap();
                        assert_eq!(
                            client.wait_container(id.clone()).call().unwrap().exitcode,
                            0
                        );
                        assert_eq!(
                            client
                                .remove_container(id.clone(), false)
                                .call()
                                .unwrap()
                                .container,
                            id
                        );
                        ids.push(id);
                    }
                    ids
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: std::collections::HashSet<&String> = ids.iter().flatten().collect();
    assert_eq!(all.len(), clients * per_client, "duplicated IDs");
    let mut raw = daemon.raw();
    assert_eq!(
        ok(&mut raw, "ListContainers", json!({}))["containers"],
        json!([])
    );
    assert!(
        std::fs::read_dir(daemon.root.join("containers"))
            .unwrap()
            .next()
            .is_none()
    );
    assert_nothing_left(&daemon);
}

/// Pause freezes every process; unpause thaws them; a paused container stops.
#[test]
fn pause_freezes_and_unpause_thaws() {
    if !privileged("pause_freezes_and_unpause_thaws") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // Pause freezes every process; unpause thaws them.
    let id = create(
        &mut raw,
        "ticker",
        &["sh", "-c", "while true; do echo tick; sleep 0.05; done"],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "ticker"}));
    ok(&mut raw, "PauseContainer", json!({"name": "ticker"}));
    assert_eq!(inspect(&mut raw, "ticker")["State"]["Status"], "paused");
    // The freezer froze every process: the cgroup says so (v1), and so does each process.
    let cgroup = format!("{}/{id}", crate::util::cgroup_parent(&daemon.root));
    let freezer = crate::util::cgroup_dirs(&cgroup)
        .into_iter()
        .map(|d| d.join("freezer.state"))
        .find(|f| f.exists());
    let states = |raw: &mut RawConnection| -> Vec<String> {
        let rows: Vec<String> = serde_json::from_value(
            ok(
                raw,
                "ListContainerProcesses",
                json!({"name": "ticker", "opts": ["state"]}),
            )["container"]
                .clone(),
        )
        .unwrap();
        assert_eq!(rows[0], "STATE");
        rows[1..].to_vec()
    };
    if let Some(freezer) = &freezer {
        assert_eq!(std::fs::read_to_string(freezer).unwrap().trim(), "FROZEN");
        // v1's freezer parks every task in uninterruptible sleep.
        let frozen = states(&mut raw);
        assert!(
            !frozen.is_empty() && frozen.iter().all(|s| s == "D"),
            "{frozen:?}"
        );
    }

    let count = |raw: &mut RawConnection| {
        ok(raw, "GetContainerLogs", json!({"name": "ticker"}))["container"]
            .as_array()
            .unwrap()
            .len()
    };
    let frozen = count(&mut raw);
    // Not synchronisation: a running ticker writes every 50 ms; a paused one writes nothing
    // in 400 ms.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(count(&mut raw), frozen, "a paused container wrote output");
    fails(
        &mut raw,
        "PauseContainer",
        json!({"name": "ticker"}),
        "ErrorOccurred",
    );
    ok(&mut raw, "UnpauseContainer", json!({"name": "ticker"}));
    if let Some(freezer) = &freezer {
        assert_eq!(std::fs::read_to_string(freezer).unwrap().trim(), "THAWED");
        let thawed = states(&mut raw);
        assert!(thawed.iter().all(|s| s != "D"), "{thawed:?}");
    }

    let start = Instant::now();
    while count(&mut raw) <= frozen {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no output after unpause"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Stopping a paused container works too.
    ok(&mut raw, "PauseContainer", json!({"name": "ticker"}));
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "ticker", "timeout": 1}),
    );
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// A container's changes, its export, and a commit run as an image.
#[test]
fn changes_export_and_commit() {
    if !privileged("changes_export_and_commit") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // Changes, export and commit.
    create(
        &mut raw,
        "writer",
        &[
            "sh",
            "-c",
            "echo new > /added; echo more >> /etc/passwd; rm /removed; mkdir /d; touch /d/f",
        ],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "writer"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "writer"}))["exitcode"],
        0
    );
    let changes =
        ok(&mut raw, "ListContainerChanges", json!({"name": "writer"}))["container"].clone();
    let has = |kind: &str, path: &str| changes[kind].as_array().unwrap().iter().any(|p| p == path);
    assert!(
        has("added", "/added") && has("added", "/d") && has("added", "/d/f"),
        "{changes}"
    );
    assert!(
        has("changed", "/etc") && has("changed", "/etc/passwd"),
        "{changes}"
    );
    assert!(has("deleted", "/removed"), "{changes}");

    let out = tempfile::tempdir().unwrap();
    let tarball = out.path().join("writer.tar");
    assert_eq!(
        ok(
            &mut raw,
            "ExportContainer",
            json!({"name": "writer", "path": tarball.display().to_string()})
        )["tarfile"],
        tarball.display().to_string()
    );
    let listing = crate::util::run_ok(std::process::Command::new("tar").arg("-tf").arg(&tarball));
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "added"),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "bin/busybox"),
        "{listing}"
    );
    assert!(
        !listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "removed"),
        "{listing}"
    );

    let image = ok(
        &mut raw,
        "Commit",
        json!({
            "name": "writer", "image_name": "committed:1", "changes": ["CMD [\"cat\", \"/added\"]"],
            "author": "tester", "message": "from writer", "pause": true
        }),
    )["image"]
        .as_str()
        .unwrap()
        .to_string();
    let data: Value = serde_json::from_str(
        ok(&mut raw, "InspectImage", json!({"name": "committed:1"}))["image"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(data["Id"], image);
    assert_eq!(data["Author"], "tester");
    assert_eq!(data["Config"]["Cmd"], json!(["cat", "/added"]));
    assert_eq!(data["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    create(&mut raw, "fromcommit", &[], json!({"image": "committed:1"}));
    ok(&mut raw, "StartContainer", json!({"name": "fromcommit"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "fromcommit"}))["exitcode"],
        0
    );
    let logs = ok(&mut raw, "GetContainerLogs", json!({"name": "fromcommit"}))["container"].clone();
    assert!(
        logs[0].as_str().unwrap().ends_with(" stdout F new"),
        "{logs}"
    );
    assert_eq!(
        run(
            &mut raw,
            "whiteout-kept",
            &["sh", "-c", "test ! -e /removed"]
        ),
        1,
        "busybox image still has /removed"
    );
    create(
        &mut raw,
        "whiteout-check",
        &["sh", "-c", "test ! -e /removed && grep -q more /etc/passwd"],
        json!({"image": "committed:1"}),
    );
    ok(
        &mut raw,
        "StartContainer",
        json!({"name": "whiteout-check"}),
    );
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "whiteout-check"}))["exitcode"],
        0
    );
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// Mounting a container's filesystem, and podlink's own records as JSON.
#[test]
fn mounts_and_record_dumps() {
    if !privileged("mounts_and_record_dumps") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    create(
        &mut raw,
        "writer",
        &["sh", "-c", "echo new > /added"],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "writer"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "writer"}))["exitcode"],
        0
    );
    // Mounts.
    let path = ok(&mut raw, "MountContainer", json!({"name": "writer"}))["path"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(std::path::Path::new(&path).join("added").is_file());
    let mounts = ok(&mut raw, "ListContainerMounts", json!({}))["mounts"].clone();
    assert_eq!(
        mounts[inspect(&mut raw, "writer")["Id"].as_str().unwrap()],
        path
    );
    ok(
        &mut raw,
        "UnmountContainer",
        json!({"name": "writer", "force": false}),
    );
    assert!(!std::path::Path::new(&path).join("added").exists());
    assert_eq!(
        ok(&mut raw, "ListContainerMounts", json!({}))["mounts"],
        json!({})
    );

    // podlink's own records as JSON.
    let config: Value = serde_json::from_str(
        ok(&mut raw, "ContainerConfig", json!({"name": "writer"}))["config"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config["name"], "writer");
    let state: Value = serde_json::from_str(
        ok(&mut raw, "ContainerStateData", json!({"name": "writer"}))["config"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(state["status"], "exited");
    let spec: Value = serde_json::from_str(
        ok(
            &mut raw,
            "ContainerArtifacts",
            json!({"name": "writer", "artifactName": "config.json"}),
        )["config"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(spec["ociVersion"].is_string());
    assert!(
        spec["linux"]["cgroupsPath"]
            .as_str()
            .unwrap()
            .starts_with('/')
    );
    let data: Value = serde_json::from_str(
        ok(&mut raw, "ContainerInspectData", json!({"name": "writer"}))["config"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(data["Name"], "writer");
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

#[test]
fn logs_follow_until_the_container_exits() {
    if !privileged("logs_follow_until_the_container_exits") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    create(
        &mut raw,
        "talker",
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do echo line $i; echo oops $i >&2; sleep 0.2; done",
        ],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "talker"}));
    let mut follow = daemon.raw();
    follow.send(&json!({"method": "io.podman.GetContainerLogs", "parameters": {"name": "talker"}, "more": true}));
    let mut lines = Vec::new();
    let mut replies = 0;
    loop {
        let reply = follow.recv().expect("a reply");
        assert!(reply.get("error").is_none(), "{reply}");
        replies += 1;
        lines.extend(
            reply["parameters"]["container"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_string()),
        );
        if reply.get("continues") != Some(&json!(true)) {
            break;
        }
    }
    assert!(
        replies >= 3,
        "lines were not pushed as they came: {replies} replies"
    );
    let stdout: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" stdout F line "))
        .collect();
    let stderr: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" stderr F oops "))
        .collect();
    assert_eq!((stdout.len(), stderr.len()), (5, 5), "{lines:?}");
    // The stream ended because the container exited.
    assert_eq!(inspect(&mut raw, "talker")["State"]["Status"], "exited");
    // The connection goes on.
    assert_eq!(
        follow.call("io.podman.Ping", json!({}))["parameters"]["ping"]["message"],
        "OK"
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "talker"}));
}

#[test]
fn a_slow_stop_holds_up_only_its_own_container() {
    if !privileged("a_slow_stop_holds_up_only_its_own_container") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // Notes SIGTERM and carries on: a stop waits out its whole timeout.
    create(
        &mut raw,
        "slow",
        &[
            "sh",
            "-c",
            "trap 'echo got TERM' TERM; echo ready; while true; do sleep 0.1; done",
        ],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "slow"}));
    // PID 1 ignores a signal it has no handler for: stop once the trap is set.
    wait_for_log(&mut raw, "slow", "ready");
    let stopping = std::thread::scope(|s| {
        let stopper = s.spawn(|| {
            let mut raw = daemon.raw();
            let start = Instant::now();
            ok(
                &mut raw,
                "StopContainer",
                json!({"name": "slow", "timeout": 4}),
            );
            start.elapsed()
        });
        // The container logging the signal means the stop is under way (and holds the
        // container until its timeout).
        wait_for_log(&mut daemon.raw(), "slow", "got TERM");
        // Meanwhile, other clients list, inspect (the stopping one too), and run other
        // containers, without waiting for the stop.
        let start = Instant::now();
        let mut other = daemon.raw();
        let list = ok(&mut other, "ListContainers", json!({}))["containers"].clone();
        assert_eq!(list[0]["status"], "running");
        assert_eq!(inspect(&mut other, "slow")["State"]["Status"], "running");
        assert_eq!(run(&mut other, "quick", &["true"]), 0);
        ok(&mut other, "RemoveContainer", json!({"name": "quick"}));
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "other calls waited for the stop: {:?}",
            start.elapsed()
        );
        // A second call on the stopping container waits its turn, then finds it stopped.
        let reply = other.call(
            "io.podman.StopContainer",
            json!({"name": "slow", "timeout": 1}),
        );
        assert_eq!(reply["error"], "io.podman.ErrorOccurred", "{reply}");
        assert!(
            reply["parameters"]["reason"]
                .as_str()
                .unwrap()
                .contains("exited")
        );
        stopper.join().unwrap()
    });
    assert!(stopping >= Duration::from_secs(4), "{stopping:?}");
    assert_eq!(inspect(&mut raw, "slow")["State"]["ExitCode"], 137);
    ok(&mut raw, "RemoveContainer", json!({"name": "slow"}));
    assert_nothing_left(&daemon);
}
