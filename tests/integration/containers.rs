//! Containers (issue 4, first part): the lifecycle on the real runtime through the monitor,
//! and the helpers every container test module uses. Needs root (overlay mounts, runc).

use std::time::{Duration, Instant};

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
    // A container whose files go with its exit has its root filesystem mounted `volatile`
    // (no sync at the unmount, as Podman does for `--rm`); any other, not.
    let overlay_options = |id: &str| {
        let merged = daemon.root.join("containers").join(id).join("merged");
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(merged.to_str().unwrap()))
            .map(|l| l.rsplit(' ').next().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    for (name, rm) in [("transient", true), ("kept", false)] {
        let id = create(&mut raw, name, &["sleep", "100"], json!({"rm": rm}));
        ok(&mut raw, "StartContainer", json!({"name": name}));
        let options = overlay_options(&id);
        assert!(options.contains("upperdir="), "{options}");
        // Newer kernels say `fsync=volatile`.
        let volatile = options
            .split(',')
            .any(|o| o == "volatile" || o == "fsync=volatile");
        assert_eq!(volatile, rm, "{options}");
        ok(
            &mut raw,
            "RemoveContainer",
            json!({"name": name, "force": true}),
        );
    }

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
    let pause = podlink::engine::runtime::RuntimeCommand::Pause(&frozen);
    crate::util::run_ok(&mut crate::util::runtime_command(
        &dir.path().join("run"),
        &pause,
    ));
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
