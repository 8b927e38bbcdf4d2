//! ListContainerChanges and Commit against hostile trees: symlinks in an image's layers
//! never lead the reading out to the host, and a container's deep tree is refused at a
//! bound instead of costing memory that grows with the square of its depth. Needs root.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::containers::{create, daemon_with_busybox};
use crate::fixtures::fixtures;
use crate::hostile_containers::deep_chain;
use crate::util::{
    DaemonOptions, RawConnection, TestDaemon, assert_nothing_left, fails, ok, privileged,
};

/// A tarball of symlinks (name, target).
fn symlinks_tar(links: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, target) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_mtime(1_700_000_000);
        b.append_link(&mut h, name, target).unwrap();
    }
    b.into_inner().unwrap()
}

/// A docker-archive of the busybox root filesystem and a layer with `a -> /` and
/// `b -> /etc`.
fn image_with_host_symlinks(path: &Path) {
    let rootfs = std::fs::read(&fixtures().rootfs).unwrap();
    let links = symlinks_tar(&[("a", "/"), ("b", "/etc")]);
    let links_id = format!("sha256:{:x}", Sha256::digest(&links));
    let config = serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [fixtures().rootfs_diff_id, links_id]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!([{
        "Config": "config.json",
        "RepoTags": ["localhost/linky:latest"],
        "Layers": ["rootfs.tar", "links.tar"],
    }]))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("manifest.json", &manifest),
        ("config.json", &config),
        ("rootfs.tar", &rootfs),
        ("links.tar", &links),
    ] {
        crate::fixtures::add_file(&mut b, name, data);
    }
    std::fs::write(path, b.into_inner().unwrap()).unwrap();
}

fn paths(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn symlinks_in_image_layers_do_not_lead_changes_to_the_host() {
    if !privileged("symlinks_in_image_layers_do_not_lead_changes_to_the_host") {
        return;
    }
    let daemon = TestDaemon::start_with(DaemonOptions::default());
    let mut raw = daemon.raw();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("linky.tar");
    image_with_host_symlinks(&archive);
    ok(
        &mut raw,
        "ImportImage",
        json!({"source": format!("docker-archive:{}", archive.display()), "reference": "linky"}),
    );
    // overlayfs makes `/a` and `/b` opaque directories over the whiteouts of the links.
    let script =
        "rm /a && mkdir /a && touch /a/x && mkdir /a/etc && rm /b && mkdir /b && echo done";
    let create = json!({"image": "linky", "name": "linky", "command": ["sh", "-c", script]});
    ok(&mut raw, "CreateContainer", json!({ "create": create }));
    ok(&mut raw, "StartContainer", json!({"name": "linky"}));
    let code = ok(&mut raw, "WaitContainer", json!({"name": "linky"}))["exitcode"].as_i64();
    assert_eq!(code, Some(0));

    let changes =
        ok(&mut raw, "ListContainerChanges", json!({"name": "linky"}))["container"].clone();
    let (added, changed, deleted) = (
        paths(&changes["added"]),
        paths(&changes["changed"]),
        paths(&changes["deleted"]),
    );
    let all: Vec<&String> = added.iter().chain(&changed).chain(&deleted).collect();
    for path in &all {
        assert!(
            ["/a", "/a/x", "/a/etc", "/b"].contains(&path.as_str())
                || !(path.starts_with("/a/") || path.starts_with("/b/")),
            "a host path in the changes: {path} ({changes})"
        );
    }
    // The image has no /a/etc (its /a is a symlink): the container added it.
    assert!(added.contains(&"/a/etc".to_string()), "{changes}");
    assert!(added.contains(&"/a/x".to_string()), "{changes}");
    assert!(changed.contains(&"/a".to_string()), "{changes}");
    assert!(changed.contains(&"/b".to_string()), "{changes}");

    ok(
        &mut raw,
        "Commit",
        json!({"name": "linky", "image_name": "linky-committed", "changes": [], "pause": false}),
    );
    let tarball = dir.path().join("export.tar");
    ok(
        &mut raw,
        "ExportContainer",
        json!({"name": "linky", "path": tarball.display().to_string()}),
    );
    let mut under: Vec<String> = tar::Archive::new(std::fs::File::open(&tarball).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .map(|p| p.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|p| p.starts_with("a/") || p.starts_with("b/"))
        .collect();
    under.sort();
    assert_eq!(under, ["a/etc", "a/x"]);
    // The committed image holds the same: a container of it sees no host file.
    let create = json!({"image": "linky-committed", "name": "again",
                        "command": ["sh", "-c", "ls -A /a /b"]});
    ok(&mut raw, "CreateContainer", json!({ "create": create }));
    ok(&mut raw, "StartContainer", json!({"name": "again"}));
    ok(&mut raw, "WaitContainer", json!({"name": "again"}));
    let logs = ok(&mut raw, "GetContainerLogs", json!({"name": "again"}))["container"].to_string();
    assert!(!logs.contains("passwd") && !logs.contains("proc"), "{logs}");

    for name in ["linky", "again"] {
        ok(
            &mut raw,
            "RemoveContainer",
            json!({"name": name, "force": true}),
        );
    }
    for name in ["linky-committed", "linky"] {
        ok(&mut raw, "RemoveImage", json!({"name": name}));
    }
    assert_nothing_left(&daemon);
}

fn reason(raw: &mut RawConnection, method: &str, parameters: Value) -> String {
    let started = Instant::now();
    let reply = fails(raw, method, parameters, "ErrorOccurred");
    let took = started.elapsed();
    eprintln!("{method}: refused in {took:?}");
    assert!(took < Duration::from_secs(30), "{method} took {took:?}");
    reply["reason"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_20000_deep_tree_is_refused_by_changes_and_commit_and_removed() {
    if !privileged("a_20000_deep_tree_is_refused_by_changes_and_commit_and_removed") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    raw.stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let id = create(&mut raw, "deeper", &["sleep", "1000"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "deeper"}));
    deep_chain(
        &daemon.root.join("containers").join(&id).join("diff"),
        20_000,
    );
    let pid = daemon.pid();

    let why = reason(&mut raw, "ListContainerChanges", json!({"name": "deeper"}));
    assert!(why.contains("limit"), "{why}");
    let why = reason(
        &mut raw,
        "Commit",
        json!({"name": "deeper", "image_name": "deeper-image", "changes": [], "pause": true}),
    );
    assert!(why.contains("limit"), "{why}");
    // Without the bound, the paths alone (20,000 of up to 40,000 bytes) take 400 MB, and
    // the reply several times that.
    let peak = crate::util::status_kib(pid, "VmHWM:");
    eprintln!("daemon peak RSS: {} MiB", peak / 1024);
    assert!(peak < 768 * 1024, "peak RSS {peak} KiB");

    assert_eq!(ok(&mut raw, "Ping", json!({}))["ping"]["message"], "OK");
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "deeper", "force": true}),
    );
    // Its files go on the daemon's reclaim thread, after the reply.
    let storage = daemon.root.join("containers").join(&id);
    crate::util::wait_for(
        "the container's files deleted",
        Duration::from_secs(60),
        || !storage.exists(),
    );
    assert_eq!(daemon.pid(), pid);
    assert_eq!(ok(&mut raw, "Ping", json!({}))["ping"]["message"], "OK");
    let images = ok(&mut raw, "ListImages", json!({}))["images"].to_string();
    assert!(!images.contains("deeper-image"), "{images}");
    assert_nothing_left(&daemon);
}
