//! What Podman 1.x's own clients expect (issue 8): python-podman 0.11 end to end, the
//! inspect document's older `ContainerConfig` name, and `changes` in Podman's `KEY=VALUE`
//! form next to the Dockerfile form. Needs root.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::containers::{create, daemon_with_busybox, ok};
use crate::fixtures::fixtures;
use crate::images::inspect as inspect_image;
use crate::util::{DaemonOptions, TestDaemon, assert_nothing_left, privileged, run_ok, test_file};

/// Where `contrib/scripts/setup-deps.sh test` installs python-podman 0.11.1.1.
const PYTHON_PODMAN: &str = "/opt/podlink-test/python-podman/bin/python";

#[test]
fn python_podman_creates_runs_and_commits() {
    if !privileged("python_podman_creates_runs_and_commits") {
        return;
    }
    assert!(
        Path::new(PYTHON_PODMAN).exists(),
        "{PYTHON_PODMAN} is missing: run contrib/scripts/setup-deps.sh test"
    );
    let daemon = TestDaemon::start();
    let out = run_ok(
        Command::new(PYTHON_PODMAN)
            .arg(test_file("python/podman_client.py"))
            .arg(daemon.address())
            .arg(&fixtures().rootfs),
    );
    assert!(out.contains("python-podman client: ok"), "{out}");
    assert_nothing_left(&daemon);
}

#[test]
fn inspect_image_carries_container_config() {
    if !privileged("inspect_image_carries_container_config") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let data = inspect_image(&mut raw, "busybox");
    assert!(data["Config"].is_object(), "{data}");
    assert_eq!(data["ContainerConfig"], data["Config"], "{data}");
}

#[test]
fn changes_in_podman_and_dockerfile_forms() {
    if !privileged("changes_in_podman_and_dockerfile_forms") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let rootfs = fixtures().rootfs.display().to_string();

    // ImportImage: Podman's form takes the value whole, a JSON array is the array.
    ok(
        &mut raw,
        "ImportImage",
        json!({"source": rootfs, "reference": "podman-form", "changes": [
            "CMD=/usr/bin/zsh", "ENTRYPOINT=/bin/sh date"
        ]}),
    );
    let config = &inspect_image(&mut raw, "podman-form")["Config"];
    assert_eq!(config["Cmd"], json!(["/usr/bin/zsh"]), "{config}");
    assert_eq!(config["Entrypoint"], json!(["/bin/sh date"]), "{config}");
    ok(
        &mut raw,
        "ImportImage",
        json!({"source": rootfs, "reference": "json-form", "changes": [
            r#"CMD=["/bin/sh", "-c", "exit 3"]"#
        ]}),
    );
    let config = &inspect_image(&mut raw, "json-form")["Config"];
    assert_eq!(
        config["Cmd"],
        json!(["/bin/sh", "-c", "exit 3"]),
        "{config}"
    );
    // The Dockerfile form keeps its shell form.
    ok(
        &mut raw,
        "ImportImage",
        json!({"source": rootfs, "reference": "dockerfile-form", "changes": [
            "CMD /usr/bin/zsh"
        ]}),
    );
    let config = &inspect_image(&mut raw, "dockerfile-form")["Config"];
    assert_eq!(
        config["Cmd"],
        json!(["/bin/sh", "-c", "/usr/bin/zsh"]),
        "{config}"
    );

    // Commit: what the committed image runs shows the form. `ENTRYPOINT=["/bin/echo"]` and
    // `CMD=$HOME` run echo with the literal argument `$HOME`: no shell came in between.
    // A container created and never started has no changes, and can be committed.
    create(&mut raw, "source", &["true"], json!({}));
    let changes =
        ok(&mut raw, "ListContainerChanges", json!({"name": "source"}))["container"].clone();
    for kind in ["changed", "added", "deleted"] {
        assert_eq!(changes[kind], json!([]), "{changes}");
    }
    ok(
        &mut raw,
        "Commit",
        json!({"name": "source", "image_name": "echoes", "changes": [
            r#"ENTRYPOINT=["/bin/echo"]"#, "CMD=$HOME"
        ]}),
    );
    let config = &inspect_image(&mut raw, "echoes")["Config"];
    assert_eq!(config["Entrypoint"], json!(["/bin/echo"]), "{config}");
    assert_eq!(config["Cmd"], json!(["$HOME"]), "{config}");
    ok(
        &mut raw,
        "CreateContainer",
        json!({"create": {"image": "echoes", "name": "echo"}}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "echo"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "echo"}))["exitcode"],
        0
    );
    let logs = ok(&mut raw, "GetContainerLogs", json!({"name": "echo"}))["container"].clone();
    assert!(
        logs[0].as_str().unwrap().ends_with(" stdout F $HOME"),
        "{logs}"
    );
    assert_nothing_left(&daemon);
}

/// Clients list or count a container's processes right after StartContainer (the contract's
/// examples, python-podman's `start()` then `processes()`): by then the container runs its
/// command, not the runtime's init still on its way to executing it.
#[test]
fn a_started_container_runs_its_command_when_start_returns() {
    if !privileged("a_started_container_runs_its_command_when_start_returns") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    for n in 0..10 {
        let name = format!("sleeper{n}");
        create(&mut raw, &name, &["sleep", "100"], json!({}));
        ok(&mut raw, "StartContainer", json!({"name": name}));
        let rows = ok(
            &mut raw,
            "ListContainerProcesses",
            json!({"name": name, "opts": ["pid", "args"]}),
        )["container"]
            .clone();
        assert_eq!(rows, json!(["PID\tCOMMAND", "1\tsleep 100"]), "run {n}");
        let stats = ok(&mut raw, "GetContainerStats", json!({"name": name}))["container"].clone();
        assert_eq!(stats["pids"], 1, "run {n}: {stats}");
        ok(
            &mut raw,
            "RemoveContainer",
            json!({"name": name, "force": true}),
        );
    }
    assert_nothing_left(&daemon);
}
