//! Containers (issue 4): pause and unpause; a container's filesystem (changes, export,
//! commit, mount) and podlink's own records of it as JSON. Needs root.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::containers::{create, daemon_with_busybox, fails, inspect, ok, run};
use crate::util::{DaemonOptions, RawConnection, assert_nothing_left, privileged};

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
