//! Container records on disk whose ID is corrupt (or crafted): the daemon reports them, does
//! not load them, never builds a path from them, and serves its other containers as usual.
//! Needs root.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::containers::{create, daemon_with_busybox, run};
use crate::fixtures::fixtures;
use crate::hostile_images::{daemon_dir, import};
use crate::util::{
    DaemonOptions, TestDaemon, assert_nothing_left, fails, ok, privileged, wait_for,
};

/// The names of the containers a daemon lists, sorted.
fn listed(daemon: &TestDaemon) -> Vec<String> {
    let mut names: Vec<String> = ok(&mut daemon.raw(), "ListContainers", json!({}))["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["names"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// Every file under `dir` with its content, to show nothing there was touched.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in paths_under(dir) {
        let content = std::fs::read(&entry).unwrap_or_default();
        out.push((entry.display().to_string(), content));
    }
    out.sort();
    out
}

/// `dir` and every path below it (symlinks not followed).
fn paths_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(paths_under(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

#[test]
fn a_record_with_a_corrupt_id_is_logged_not_listed_not_followed() {
    if !privileged("a_record_with_a_corrupt_id_is_logged_not_listed_not_followed") {
        return;
    }
    let mut first = daemon_with_busybox(DaemonOptions::default());
    let mut raw = first.raw();
    let id = create(&mut raw, "pointer", &["true"], json!({}));
    create(&mut raw, "bystander", &["true"], json!({}));
    first.stop_with(Signal::SIGTERM);

    // A sentinel beside the store, where `../../victim` from a container's directory leads,
    // shaped like a container's directories so that a followed ID would find something.
    let holder = first.root.parent().unwrap().to_path_buf();
    let victim = holder.join("victim");
    for file in ["data/keep", "userdata/keep", "container.json"] {
        std::fs::create_dir_all(victim.join(file).parent().unwrap()).unwrap();
        std::fs::write(victim.join(file), b"keep").unwrap();
    }
    let before = snapshot(&victim);

    let record_path = first
        .root
        .join("containers")
        .join(&id)
        .join("container.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    let absolute = victim.display().to_string();
    for bad in [
        "../../victim",
        absolute.as_str(),
        &id.to_uppercase(),
        &id[..63],
        &format!("{id}0"),
    ] {
        record["id"] = json!(bad);
        let written = serde_json::to_vec(&record).unwrap();
        std::fs::write(&record_path, &written).unwrap();
        let log = holder.join("daemon.log");
        let daemon = TestDaemon::start_with(DaemonOptions {
            root: Some(first.root.clone()),
            runroot: Some(first.runroot.clone()),
            log: Some(log.clone()),
            ..Default::default()
        });

        // Not listed, not found by any of its names; the other container is.
        assert_eq!(listed(&daemon), ["bystander"], "{bad}");
        let mut raw = daemon.raw();
        for name in [bad, &id, "pointer"] {
            fails(
                &mut raw,
                "InspectContainer",
                json!({"name": name}),
                "ContainerNotFound",
            );
            fails(
                &mut raw,
                "RemoveContainer",
                json!({"name": name, "force": true}),
                "ContainerNotFound",
            );
        }

        // Other containers work: the loaded one runs, a new one is created, run and removed.
        ok(&mut raw, "StartContainer", json!({"name": "bystander"}));
        assert_eq!(
            ok(&mut raw, "WaitContainer", json!({"name": "bystander"}))["exitcode"],
            0
        );
        assert_eq!(run(&mut raw, "newcomer", &["true"]), 0);
        ok(&mut raw, "RemoveContainer", json!({"name": "newcomer"}));
        ok(&mut raw, "DeleteStoppedContainers", json!({}));
        assert_eq!(listed(&daemon), Vec::<String>::new(), "{bad}");

        // Nothing the bad ID points at was touched, and the record itself is left as it was
        // (it may be a client's data, for an administrator to look at).
        assert_eq!(snapshot(&victim), before, "{bad}: the sentinel changed");
        assert_eq!(
            std::fs::read(&record_path).unwrap(),
            written,
            "{bad}: record changed"
        );
        // Reported, naming the record and the ID it holds.
        let bad_quoted = format!("{bad:?}");
        wait_for(
            &format!("{bad}: the corrupt record logged"),
            Duration::from_secs(10),
            || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                text.lines()
                    .any(|l| l.contains(&id) && l.contains(&bad_quoted))
            },
        );

        // The next round starts with a bystander again.
        create(&mut raw, "bystander", &["true"], json!({}));
        assert_nothing_left(&daemon);
    }
}

/// Paths are built from a container record's ID: a record on disk whose ID is not the 64 hex
/// digits of its own directory is reported and left alone, never followed.
#[test]
fn a_container_record_with_a_corrupt_id_is_reported_not_followed() {
    if !privileged("a_container_record_with_a_corrupt_id_is_reported_not_followed") {
        return;
    }
    let mut daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    import(&mut raw, &fixtures().rootfs, "busybox");
    let id = ok(
        &mut raw,
        "CreateContainer",
        json!({"create": {"image": "busybox", "name": "victim-pointer", "command": ["true"]}}),
    )["container"]
        .as_str()
        .unwrap()
        .to_string();
    daemon.stop_with(nix::sys::signal::Signal::SIGTERM);
    let victim = daemon_dir(&daemon).join("victim");
    std::fs::create_dir_all(victim.join("data")).unwrap();
    std::fs::write(victim.join("data/keep"), b"keep").unwrap();
    let record_path = daemon
        .root
        .join("containers")
        .join(&id)
        .join("container.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    for bad in ["../../victim", &id.to_uppercase(), &id[..63]] {
        record["id"] = json!(bad);
        std::fs::write(&record_path, serde_json::to_vec(&record).unwrap()).unwrap();
        let daemon2 = TestDaemon::start_with(DaemonOptions {
            root: Some(daemon.root.clone()),
            runroot: Some(daemon.runroot.clone()),
            ..Default::default()
        });
        let mut raw = daemon2.raw();
        assert_eq!(
            ok(&mut raw, "ListContainers", json!({}))["containers"],
            json!([]),
            "{bad}"
        );
        for name in [bad, &id, "victim-pointer"] {
            fails(
                &mut raw,
                "RemoveContainer",
                json!({"name": name, "force": true}),
                "ContainerNotFound",
            );
        }
        ok(&mut raw, "DeleteStoppedContainers", json!({}));
        assert!(victim.join("data/keep").exists(), "{bad}: victim removed");
        assert!(
            record_path.exists(),
            "{bad}: the corrupt record was deleted"
        );
        drop(daemon2);
    }
    // Mended, the container is back.
    record["id"] = json!(id);
    std::fs::write(&record_path, serde_json::to_vec(&record).unwrap()).unwrap();
    let daemon3 = TestDaemon::start_with(DaemonOptions {
        root: Some(daemon.root.clone()),
        runroot: Some(daemon.runroot.clone()),
        ..Default::default()
    });
    let mut raw = daemon3.raw();
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "victim-pointer"}),
    );
    assert_nothing_left(&daemon3);
}
