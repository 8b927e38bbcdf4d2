//! Images (issue 3): import of every format and compression, export and round trips, changes,
//! tag/remove/prune/exists, name resolution, and exports read by skopeo and podman; and the
//! helpers of image_content.rs (tarballs, whiteouts, metadata) and image_crashes.rs. All
//! against the running daemon; these need root.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use podlink::varlink::client::VarlinkClientInterface;
use serde_json::{Value, json};

use crate::fixtures::{add_file, fixtures, write_file};
use crate::util::{RawConnection, TestDaemon, fails, ok, privileged, require_tool, run_ok};

pub fn import(raw: &mut RawConnection, source: &str, reference: &str) -> String {
    let id = ok(
        raw,
        "ImportImage",
        json!({"source": source, "reference": reference}),
    )["image"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");
    id
}

pub fn inspect(raw: &mut RawConnection, name: &str) -> Value {
    let text = ok(raw, "InspectImage", json!({"name": name}))["image"]
        .as_str()
        .unwrap()
        .to_string();
    serde_json::from_str(&text).unwrap()
}

pub fn list_ids(raw: &mut RawConnection) -> Vec<String> {
    let images = ok(raw, "ListImages", json!({}))["images"]
        .as_array()
        .unwrap()
        .clone();
    images
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn dir_entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn import_every_format_and_compression() {
    if !privileged("import_every_format_and_compression") {
        return;
    }
    let f = fixtures();
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let mut layers = HashSet::new();
    let sources = [
        f.rootfs.clone(),
        f.compressed("gz"),
        f.compressed("zst"),
        f.compressed("xz"),
    ];
    for (n, source) in sources.iter().enumerate() {
        let name = format!("rootfs{n}");
        let id = import(&mut raw, &source.display().to_string(), &name);
        let data = inspect(&mut raw, &name);
        assert_eq!(data["Id"], id);
        assert_eq!(
            data["RepoTags"],
            json!([format!("localhost/{name}:latest")])
        );
        layers.insert(data["RootFS"]["Layers"].clone());
    }
    // Every compression of the same tarball is the same layer, stored once.
    assert_eq!(layers, HashSet::from([json!([f.rootfs_diff_id])]));
    assert_eq!(dir_entries(&daemon.root.join("layers")).len(), 1);
    let diff = daemon
        .root
        .join("layers")
        .join(&f.rootfs_diff_id[7..])
        .join("diff");
    assert!(diff.join("bin/busybox").is_file());
    assert_eq!(
        std::fs::read_link(diff.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );

    // docker-archive and oci-archive written by skopeo: same image, same ID (the config
    // digest), names from the archive.
    let id = import(
        &mut raw,
        &format!("docker-archive:{}", f.docker_archive.display()),
        "",
    );
    assert_eq!(id, f.layered_id);
    let data = inspect(&mut raw, "docker.io/library/busybox:latest");
    assert_eq!(data["Id"], f.layered_id);
    assert_eq!(data["RootFS"]["Layers"], json!(f.layered_diff_ids));
    assert_eq!(data["Labels"]["fixture"], "yes");
    // "busybox" is docker.io/library/busybox:latest when nothing else answers to it.
    assert_eq!(inspect(&mut raw, "busybox")["Id"], f.layered_id);
    ok(&mut raw, "RemoveImage", json!({"name": f.layered_id}));
    let id = import(
        &mut raw,
        &format!("oci-archive:{}", f.oci_archive.display()),
        "",
    );
    assert_eq!(id, f.layered_id);
    assert_eq!(
        inspect(&mut raw, &id)["RepoTags"],
        json!(["docker.io/library/busybox:latest"])
    );

    // The generated Rust client sees the same list.
    let mut client = daemon.client();
    let images = client.list_images().call().unwrap().images;
    assert_eq!(images.len(), 5);
    assert_eq!(client.get_info().call().unwrap().info.store.images, 5);
    assert!(
        images
            .iter()
            .any(|i| i.id == f.layered_id && i.labels["fixture"] == "yes")
    );
}

#[test]
fn import_from_an_http_url() {
    if !privileged("import_from_an_http_url") {
        return;
    }
    let f = fixtures();
    let python = require_tool("python3");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut server = Command::new(python)
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(&f.dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "http server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let url = format!("http://127.0.0.1:{port}/rootfs.tar.gz");
    let id = import(&mut raw, &url, "fromweb:1");
    assert_eq!(
        inspect(&mut raw, "fromweb:1")["RootFS"]["Layers"],
        json!([f.rootfs_diff_id])
    );
    let missing = fails(
        &mut raw,
        "ImportImage",
        json!({"source": format!("http://127.0.0.1:{port}/nope.tar")}),
        "ErrorOccurred",
    );
    assert!(
        missing["reason"].as_str().unwrap().contains("404"),
        "{missing}"
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(list_ids(&mut raw), [id]);
}

#[test]
fn round_trips_keep_the_image_id_and_exports_load_elsewhere() {
    if !privileged("round_trips_keep_the_image_id_and_exports_load_elsewhere") {
        return;
    }
    let f = fixtures();
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let out = tempfile::tempdir().unwrap();
    let rootfs_id = import(
        &mut raw,
        &f.rootfs.display().to_string(),
        "quay.io/test/rootfs:v1",
    );
    let layered = import(
        &mut raw,
        &format!("docker-archive:{}", f.docker_archive.display()),
        "",
    );
    let skopeo = require_tool("skopeo");
    for id in [&rootfs_id, &layered] {
        let destinations = [
            (
                format!("{}/{id}-plain.tar", out.path().display()),
                false,
                "docker-archive",
            ),
            (
                format!("docker-archive:{}/{id}-docker.tar", out.path().display()),
                false,
                "docker-archive",
            ),
            (
                format!("docker-archive:{}/{id}-docker-gz.tar", out.path().display()),
                true,
                "docker-archive",
            ),
            (
                format!("oci-archive:{}/{id}-oci.tar", out.path().display()),
                false,
                "oci-archive",
            ),
            (
                format!("oci-archive:{}/{id}-oci-gz.tar", out.path().display()),
                true,
                "oci-archive",
            ),
            (
                format!("oci:{}/{id}-dir", out.path().display()),
                false,
                "oci",
            ),
        ];
        for (destination, compress, transport) in destinations {
            let reply = ok(
                &mut raw,
                "ExportImage",
                json!({
                    "name": id, "destination": destination, "compress": compress, "tags": ["extra/tag:exported"]
                }),
            );
            assert_eq!(reply["image"], *id);
            let path = destination
                .split_once(':')
                .filter(|(t, _)| !t.starts_with('/'))
                .map_or(destination.as_str(), |(_, p)| p);
            // skopeo reads every export and sees the same config (hence image ID) and layers.
            let source = format!("{transport}:{path}");
            let config_raw =
                run_ok(Command::new(&skopeo).args(["inspect", "--raw", "--config", &source]));
            assert_eq!(
                sha256_hex(config_raw.as_bytes()),
                *id,
                "{source}: config digest is the image ID"
            );
            let layers: Value =
                serde_json::from_str(&run_ok(Command::new(&skopeo).args(["inspect", &source])))
                    .unwrap();
            let expected = if *id == layered { 2 } else { 1 };
            assert_eq!(
                layers["Layers"].as_array().unwrap().len(),
                expected,
                "{layers}"
            );
            // And podlink itself loads it back as the same image.
            let again = ok(
                &mut raw,
                "ImportImage",
                json!({"source": match transport {
                    "oci" => format!("oci:{path}"),
                    t => format!("{t}:{path}"),
                }}),
            )["image"]
                .clone();
            assert_eq!(again, json!(id), "{destination}");
        }
    }
    // The extra tag was written into the archives and read back as a name.
    assert!(inspect(&mut raw, "extra/tag:exported")["Id"].is_string());

    // Podman 4.3 loads docker-archives and oci-archives with the same image ID; the gzipped
    // ones first, so Go's gzip reads their (parallel-compressed) layers.
    let podman = require_tool("podman");
    let storage = tempfile::tempdir().unwrap();
    for (kind, id) in [
        ("docker-gz", &layered),
        ("oci-gz", &rootfs_id),
        ("docker", &layered),
        ("oci", &rootfs_id),
    ] {
        let archive = format!("{}/{id}-{kind}.tar", out.path().display());
        let podman_cmd = || crate::util::podman_on(&podman, storage.path());
        run_ok(podman_cmd().args(["load", "-q", "-i", &archive]));
        let ids = run_ok(podman_cmd().args(["images", "--no-trunc", "-q"]));
        assert!(ids.contains(id.as_str()), "podman images: {ids}, want {id}");
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn changes_and_message_show_in_inspect_and_history() {
    if !privileged("changes_and_message_show_in_inspect_and_history") {
        return;
    }
    let f = fixtures();
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let changes = json!([
        "CMD [\"/bin/echo\", \"hi\"]",
        "ENTRYPOINT /bin/sh -c",
        "ENV GREETING=hello PATH=/bin",
        "EXPOSE 8080",
        "LABEL org.example=yes version=\"1 0\"",
        "ONBUILD RUN true",
        "STOPSIGNAL SIGINT",
        "USER app",
        "VOLUME /data",
        "WORKDIR /srv"
    ]);
    let id = ok(&mut raw, "ImportImage", json!({
        "source": f.rootfs.display().to_string(), "reference": "changed", "message": "imported for a test", "changes": changes
    }))["image"].as_str().unwrap().to_string();
    let data = inspect(&mut raw, "changed");
    let config = &data["Config"];
    assert_eq!(config["Cmd"], json!(["/bin/echo", "hi"]));
    assert_eq!(config["Entrypoint"], json!(["/bin/sh", "-c", "/bin/sh -c"]));
    assert_eq!(config["Env"], json!(["GREETING=hello", "PATH=/bin"]));
    assert_eq!(config["ExposedPorts"], json!({"8080/tcp": {}}));
    assert_eq!(
        config["Labels"],
        json!({"org.example": "yes", "version": "1 0"})
    );
    assert_eq!(config["OnBuild"], json!(["RUN true"]));
    assert_eq!(config["StopSignal"], "SIGINT");
    assert_eq!(config["User"], "app");
    assert_eq!(config["Volumes"], json!({"/data": {}}));
    assert_eq!(config["WorkingDir"], "/srv");
    assert_eq!(data["Labels"]["org.example"], "yes");
    assert_eq!(data["Comment"], "imported for a test");
    assert_eq!(data["Architecture"], "amd64");
    assert_eq!(data["Os"], "linux");
    assert_eq!(data["RepoTags"], json!(["localhost/changed:latest"]));
    assert!(data["Digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        data["RepoDigests"],
        json!([format!(
            "localhost/changed@{}",
            data["Digest"].as_str().unwrap()
        )])
    );
    assert!(data["Size"].as_u64().unwrap() > 1_000_000);
    assert!(data["Created"].as_str().unwrap().ends_with('Z'));

    let history = ok(&mut raw, "HistoryImage", json!({"name": "changed"}))["history"].clone();
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["id"], id);
    assert_eq!(history[0]["comment"], "imported for a test");
    assert_eq!(history[0]["tags"], json!(["localhost/changed:latest"]));
    assert!(
        history[0]["createdBy"]
            .as_str()
            .unwrap()
            .contains("ADD file:")
    );

    // A bad change is refused before anything is stored.
    let reason = fails(
        &mut raw,
        "ImportImage",
        json!({"source": f.rootfs.display().to_string(), "changes": ["RUN rm -rf /"]}),
        "ErrorOccurred",
    );
    assert!(
        reason["reason"].as_str().unwrap().contains("RUN"),
        "{reason}"
    );
    assert_eq!(list_ids(&mut raw), [id]);

    // A layered image's history: newest first, one entry per step.
    import(
        &mut raw,
        &format!("docker-archive:{}", f.docker_archive.display()),
        "",
    );
    let history = ok(
        &mut raw,
        "HistoryImage",
        json!({"name": "docker.io/library/busybox"}),
    )["history"]
        .clone();
    let steps: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["createdBy"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["fixture: whiteouts", "fixture: busybox rootfs"]);
    assert_eq!(history[0]["id"], f.layered_id);
    assert_eq!(history[1]["id"], "<missing>");
    assert_eq!(history[0]["comment"], "layer two");
}

#[test]
fn tag_remove_prune_and_exists() {
    if !privileged("tag_remove_prune_and_exists") {
        return;
    }
    let f = fixtures();
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let source = f.rootfs.display().to_string();
    let a = import(&mut raw, &source, "a");
    assert_eq!(
        ok(&mut raw, "ImageExists", json!({"name": "a"}))["exists"],
        0
    );
    assert_eq!(
        ok(&mut raw, "ImageExists", json!({"name": "nope"}))["exists"],
        1
    );
    assert_eq!(
        ok(&mut raw, "ImageExists", json!({"name": &a[..12]}))["exists"],
        0
    );

    assert_eq!(
        ok(&mut raw, "TagImage", json!({"name": "a", "tagged": "b:2"}))["image"],
        a
    );
    assert_eq!(
        ok(&mut raw, "GetImage", json!({"name": "b:2"}))["image"]["repoTags"],
        json!(["localhost/a:latest", "localhost/b:2"])
    );
    // Removing by one of two names only untags.
    assert_eq!(
        ok(&mut raw, "RemoveImage", json!({"name": "b:2"}))["image"],
        a
    );
    assert_eq!(
        ok(&mut raw, "GetImage", json!({"name": a}))["image"]["repoTags"],
        json!(["localhost/a:latest"])
    );
    fails(
        &mut raw,
        "GetImage",
        json!({"name": "b:2"}),
        "ImageNotFound",
    );

    // Tagging a name another image holds moves it; the other becomes dangling.
    let b = import(&mut raw, &source, "b");
    ok(&mut raw, "TagImage", json!({"name": b, "tagged": "a"}));
    assert_eq!(
        ok(&mut raw, "GetImage", json!({"name": "a"}))["image"]["id"],
        b
    );
    assert_eq!(
        ok(&mut raw, "GetImage", json!({"name": a}))["image"]["repoTags"],
        json!([])
    );

    // Prune: dangling only, then every unused image.
    let c = import(&mut raw, &source, "c");
    assert_eq!(ok(&mut raw, "ImagesPrune", json!({}))["pruned"], json!([a]));
    let mut left = list_ids(&mut raw);
    left.sort();
    let mut want = vec![b.clone(), c.clone()];
    want.sort();
    assert_eq!(left, want);
    let mut pruned: Vec<String> =
        serde_json::from_value(ok(&mut raw, "ImagesPrune", json!({"all": true}))["pruned"].clone())
            .unwrap();
    pruned.sort();
    assert_eq!(pruned, want);
    assert!(list_ids(&mut raw).is_empty());
    // No image, no layer left.
    assert!(dir_entries(&daemon.root.join("layers")).is_empty());
    assert!(dir_entries(&daemon.root.join("images")).is_empty());

    // DeleteUnusedImages removes every image no container uses, and RemoveImage by ID.
    let d = import(&mut raw, &source, "d");
    let e = import(&mut raw, &source, "");
    assert_eq!(
        ok(
            &mut raw,
            "RemoveImage",
            json!({"name": format!("sha256:{e}"), "force": false})
        )["image"],
        e
    );
    assert_eq!(
        ok(&mut raw, "DeleteUnusedImages", json!({}))["images"],
        json!([d])
    );
    fails(&mut raw, "RemoveImage", json!({"name": d}), "ImageNotFound");
    let reply = fails(
        &mut raw,
        "InspectImage",
        json!({"name": "gone"}),
        "ImageNotFound",
    );
    assert_eq!(reply["name"], "gone");
}

#[test]
fn name_resolution_and_ambiguity() {
    if !privileged("name_resolution_and_ambiguity") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tiny = {
        let mut b = tar::Builder::new(Vec::new());
        add_file(&mut b, "hello", b"hi\n");
        write_file(dir.path(), "tiny.tar", &b.into_inner().unwrap())
    };
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let tiny = tiny.display().to_string();
    let app_local = import(&mut raw, &tiny, "app");
    let app_quay = import(&mut raw, &tiny, "quay.io/team/app:latest");
    let app_docker = import(&mut raw, &tiny, "docker.io/app");
    // Full names, short names, localhost first, docker.io/NAME as docker.io/library/NAME.
    assert_eq!(inspect(&mut raw, "app")["Id"], app_local);
    assert_eq!(inspect(&mut raw, "localhost/app:latest")["Id"], app_local);
    assert_eq!(inspect(&mut raw, "quay.io/team/app")["Id"], app_quay);
    assert_eq!(
        inspect(&mut raw, "docker.io/library/app:latest")["Id"],
        app_docker
    );
    assert_eq!(inspect(&mut raw, "docker.io/app")["Id"], app_docker);
    ok(
        &mut raw,
        "TagImage",
        json!({"name": app_docker, "tagged": "docker.io/library/app:v1"}),
    );
    assert_eq!(inspect(&mut raw, "app:v1")["Id"], app_docker);
    // Without the localhost image, "app" matches two repositories: ambiguous.
    ok(&mut raw, "RemoveImage", json!({"name": app_local}));
    let reply = fails(
        &mut raw,
        "GetImage",
        json!({"name": "app"}),
        "ImageNotFound",
    );
    assert_eq!(reply["name"], "app");
    let reason = reply["reason"].as_str().unwrap();
    assert!(
        reason.contains("ambiguous") && reason.contains("quay.io/team/app:latest"),
        "{reason}"
    );
    assert!(reason.contains("docker.io/library/app:latest"), "{reason}");
    assert_eq!(
        ok(&mut raw, "ImageExists", json!({"name": "app"}))["exists"],
        1
    );
    // IDs: full, sha256:-prefixed, a unique prefix; an ambiguous prefix is not found.
    assert_eq!(
        inspect(&mut raw, &format!("sha256:{app_quay}"))["Id"],
        app_quay
    );
    let mut ids = vec![app_quay.clone(), app_docker.clone()];
    // Import until two IDs share a first character (at most 17 images, by pigeonhole).
    let shared = loop {
        let id = import(&mut raw, &tiny, "");
        if let Some(other) = ids.iter().find(|o| o.as_bytes()[0] == id.as_bytes()[0]) {
            break (other.clone(), id);
        }
        ids.push(id);
    };
    let prefix = &shared.0[..1];
    let reply = fails(
        &mut raw,
        "InspectImage",
        json!({"name": prefix}),
        "ImageNotFound",
    );
    let reason = reply["reason"].as_str().unwrap();
    assert!(
        reason.contains("ambiguous") && reason.contains(&shared.0) && reason.contains(&shared.1),
        "{reason}"
    );
    let unique = (1..64)
        .map(|n| &shared.1[..n])
        .find(|p| !shared.0.starts_with(p))
        .unwrap();
    assert_eq!(inspect(&mut raw, unique)["Id"], shared.1);
}
