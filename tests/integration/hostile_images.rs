//! Hostile images (issue 8, item 1): crafted digests that try to name paths, in archives and
//! in records on disk; and the helpers of hostile_imports.rs (archives, `Untouched`). Needs
//! root.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::fixtures::{add_file, fixtures};
use crate::util::{DaemonOptions, RawConnection, TestDaemon, fails, ok, privileged, sorted_names};

pub fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Every path under `dir`, relative to it (symlinks not followed).
pub fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            out.insert(path.strip_prefix(dir).unwrap().to_path_buf());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    out
}

pub fn import(raw: &mut RawConnection, source: &Path, reference: &str) -> String {
    ok(
        raw,
        "ImportImage",
        json!({"source": source.display().to_string(), "reference": reference}),
    )["image"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Imports `source` expecting ErrorOccurred; the reason.
pub fn refused(raw: &mut RawConnection, source: &str) -> String {
    fails(
        raw,
        "ImportImage",
        json!({"source": source, "reference": "refused"}),
        "ErrorOccurred",
    )["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub fn image_ids(raw: &mut RawConnection) -> Vec<String> {
    let mut ids: Vec<String> = ok(raw, "ListImages", json!({}))["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

pub fn config(diff_ids: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        add_file(&mut b, name, data);
    }
    b.into_inner().unwrap()
}

/// A docker-archive: `config` and the layer files, listed under `layer_paths`.
pub fn docker_archive(path: &Path, config: &[u8], layers: &[(&str, &[u8])], layer_paths: &[&str]) {
    let manifest = serde_json::to_vec(&json!([{
        "Config": "config.json",
        "RepoTags": ["localhost/crafted:latest"],
        "Layers": layer_paths,
    }]))
    .unwrap();
    let mut files: Vec<(&str, &[u8])> = vec![("manifest.json", &manifest), ("config.json", config)];
    files.extend_from_slice(layers);
    std::fs::write(path, tar_of(&files)).unwrap();
}

/// An oci-archive holding `blobs` under their digests, a manifest (as given, so it may
/// name digests that are not there) and an index pointing at it, or at `index_digest`.
pub fn oci_archive(path: &Path, manifest: &Value, blobs: &[&[u8]], index_digest: Option<&str>) {
    let manifest = serde_json::to_vec(manifest).unwrap();
    let manifest_digest = format!("sha256:{}", sha(&manifest));
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": index_digest.unwrap_or(&manifest_digest),
            "size": manifest.len(),
        }],
    }))
    .unwrap();
    let names: Vec<String> = blobs
        .iter()
        .chain([&&manifest[..]])
        .map(|b| format!("blobs/sha256/{}", sha(b)))
        .collect();
    let mut files: Vec<(&str, &[u8])> = vec![
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
        ("index.json", &index),
    ];
    for (name, blob) in names.iter().zip(blobs.iter().chain([&&manifest[..]])) {
        files.push((name, blob));
    }
    std::fs::write(path, tar_of(&files)).unwrap();
}

pub fn oci_manifest(config: &[u8], config_digest: Option<&str>, layers: &[String]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.map(str::to_string).unwrap_or_else(|| format!("sha256:{}", sha(config))),
            "size": config.len(),
        },
        "layers": layers.iter().map(|d| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": d,
            "size": 1,
        })).collect::<Vec<_>>(),
    })
}

/// What a test checks after a refused import: no image but `images`, nothing staged, the
/// layers as they were, and nothing changed outside the store.
pub struct Untouched {
    root: PathBuf,
    layers: Vec<String>,
    images: Vec<String>,
    /// The daemon's temporary directory holds the store and run roots beside anything a
    /// test puts there; only its own entries are compared (the run root is the service's).
    top: (PathBuf, Vec<String>),
    outside: Vec<(PathBuf, BTreeSet<PathBuf>)>,
}

impl Untouched {
    pub fn snapshot(daemon: &TestDaemon, outside: &[&Path]) -> Self {
        let top = daemon.root.parent().unwrap().to_path_buf();
        Untouched {
            root: daemon.root.clone(),
            layers: sorted_names(&daemon.root.join("layers")),
            images: sorted_names(&daemon.root.join("images")),
            top: (top.clone(), sorted_names(&top)),
            outside: outside.iter().map(|d| (d.to_path_buf(), tree(d))).collect(),
        }
    }

    pub fn check(&self, raw: &mut RawConnection, case: &str) {
        assert_eq!(
            sorted_names(&self.root.join("tmp")),
            Vec::<String>::new(),
            "{case}: staging left"
        );
        assert_eq!(
            sorted_names(&self.root.join("layers")),
            self.layers,
            "{case}: layers"
        );
        assert_eq!(
            sorted_names(&self.root.join("images")),
            self.images,
            "{case}: images"
        );
        assert_eq!(image_ids(raw), self.images, "{case}: listed images");
        assert_eq!(
            sorted_names(&self.top.0),
            self.top.1,
            "{case}: {}",
            self.top.0.display()
        );
        for (dir, before) in &self.outside {
            assert_eq!(&tree(dir), before, "{case}: {} changed", dir.display());
        }
    }
}

/// The daemon's temporary directory, which holds its store and run roots.
pub fn daemon_dir(daemon: &TestDaemon) -> PathBuf {
    daemon.root.parent().unwrap().to_path_buf()
}

#[test]
fn a_diff_id_naming_a_path_inside_another_layer_is_refused() {
    if !privileged("a_diff_id_naming_a_path_inside_another_layer_is_refused") {
        return;
    }
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let work = tempfile::tempdir().unwrap();
    // Image A: a layer holding p/layer.json and p/diff -> /.
    let a_tar = {
        let mut b = tar::Builder::new(Vec::new());
        add_file(
            &mut b,
            "p/layer.json",
            br#"{"version":1,"diff_id":"sha256:x","size":0}"#,
        );
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "p/diff", "/").unwrap();
        b.into_inner().unwrap()
    };
    let a_path = work.path().join("a.tar");
    std::fs::write(&a_path, &a_tar).unwrap();
    let a_id = import(&mut raw, &a_path, "a");
    let crafted = format!("sha256:{}/diff/p", sha(&a_tar));
    // Image B lists that "layer" and ships none.
    let b_config = config(&[&crafted]);
    let docker = work.path().join("b-docker.tar");
    docker_archive(&docker, &b_config, &[], &[]);
    let oci = work.path().join("b-oci.tar");
    oci_archive(
        &oci,
        &oci_manifest(&b_config, None, &[]),
        &[&b_config],
        None,
    );

    let untouched = Untouched::snapshot(&daemon, &[work.path()]);
    for source in [
        format!("docker-archive:{}", docker.display()),
        format!("oci-archive:{}", oci.display()),
    ] {
        let reason = refused(&mut raw, &source);
        assert!(reason.contains(&crafted), "{source}: {reason}");
        untouched.check(&mut raw, &source);
    }
    assert_eq!(image_ids(&mut raw), [a_id]);
}

#[test]
fn a_dot_dot_diff_id_is_refused_and_removal_stays_in_the_store() {
    if !privileged("a_dot_dot_diff_id_is_refused_and_removal_stays_in_the_store") {
        return;
    }
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let work = tempfile::tempdir().unwrap();
    // ROOT/layers/../../victim: a directory beside the store, dressed as a layer.
    let victim = daemon_dir(&daemon).join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(
        victim.join("layer.json"),
        br#"{"version":1,"diff_id":"sha256:../../victim","size":0}"#,
    )
    .unwrap();
    std::fs::write(victim.join("precious"), b"keep me\n").unwrap();
    let crafted = "sha256:../../victim";
    let b_config = config(&[crafted]);
    let docker = work.path().join("docker.tar");
    docker_archive(&docker, &b_config, &[], &[]);
    let oci = work.path().join("oci.tar");
    oci_archive(
        &oci,
        &oci_manifest(&b_config, None, &[]),
        &[&b_config],
        None,
    );
    let untouched = Untouched::snapshot(&daemon, &[work.path(), &victim]);
    for source in [
        format!("docker-archive:{}", docker.display()),
        format!("oci-archive:{}", oci.display()),
    ] {
        let reason = refused(&mut raw, &source);
        assert!(reason.contains(crafted), "{source}: {reason}");
        untouched.check(&mut raw, &source);
    }
    // Removing and pruning images afterwards touches nothing outside the store.
    let id = import(&mut raw, &fixtures().rootfs, "busybox");
    ok(&mut raw, "RemoveImage", json!({"name": id}));
    import(&mut raw, &fixtures().rootfs, "busybox");
    ok(&mut raw, "ImagesPrune", json!({"all": true}));
    assert_eq!(
        std::fs::read(victim.join("precious")).unwrap(),
        b"keep me\n"
    );
    assert!(victim.join("layer.json").exists());
}

#[test]
fn malformed_digests_are_refused_wherever_they_appear() {
    if !privileged("malformed_digests_are_refused_wherever_they_appear") {
        return;
    }
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let work = tempfile::tempdir().unwrap();
    let layer = tar_of(&[("hello", b"hi\n")]);
    let layer_digest = format!("sha256:{}", sha(&layer));
    let hex = sha(b"some content");
    // A directory dressed as a layer, outside the store, for digests that are absolute paths.
    let fake = work.path().join("fake");
    std::fs::create_dir_all(fake.join("diff")).unwrap();
    std::fs::write(
        fake.join("layer.json"),
        br#"{"version":1,"diff_id":"sha256:x","size":0}"#,
    )
    .unwrap();
    let bad = [
        fake.display().to_string(),
        format!("sha256:{}", fake.display()),
        format!("sha256:{}", hex.to_uppercase()),
        format!("sha256:{}", &hex[..63]),
        format!("sha256:{hex}0"),
        format!("sha256:{}/etc", &hex[..60]),
        "sha256:/etc/shadow".to_string(),
        "/etc/shadow".to_string(),
        format!("sha256:{}:abc", &hex[..60]),
        format!("sha512:{hex}"),
        "sha256:../../x".to_string(),
    ];
    let untouched = Untouched::snapshot(&daemon, &[work.path()]);
    for (n, digest) in bad.iter().enumerate() {
        let good_config = config(&[&layer_digest]);
        let bad_config = config(&[digest]);
        let mut cases: Vec<(String, PathBuf)> = Vec::new();
        let mut add = |kind: &str, path: PathBuf| cases.push((kind.to_string(), path));
        // In a config's diff_ids, from either archive format.
        let p = work.path().join(format!("{n}-docker-diffid.tar"));
        docker_archive(&p, &bad_config, &[("l.tar", &layer)], &["l.tar"]);
        add("docker-archive", p);
        let p = work.path().join(format!("{n}-oci-diffid.tar"));
        let m = oci_manifest(&bad_config, None, std::slice::from_ref(&layer_digest));
        oci_archive(&p, &m, &[&bad_config, &layer], None);
        add("oci-archive", p);
        // As a layer's blob digest, the config's digest, the index's manifest digest.
        let p = work.path().join(format!("{n}-oci-layer.tar"));
        let m = oci_manifest(&good_config, None, std::slice::from_ref(digest));
        oci_archive(&p, &m, &[&good_config, &layer], None);
        add("oci-archive", p);
        let p = work.path().join(format!("{n}-oci-config.tar"));
        let m = oci_manifest(
            &good_config,
            Some(digest),
            std::slice::from_ref(&layer_digest),
        );
        oci_archive(&p, &m, &[&good_config, &layer], None);
        add("oci-archive", p);
        let p = work.path().join(format!("{n}-oci-index.tar"));
        let m = oci_manifest(&good_config, None, std::slice::from_ref(&layer_digest));
        oci_archive(&p, &m, &[&good_config, &layer], Some(digest));
        add("oci-archive", p);
        for (kind, path) in cases {
            let source = format!("{kind}:{}", path.display());
            let reason = refused(&mut raw, &source);
            assert!(
                reason.contains(digest.as_str()),
                "{source} ({digest}): {reason}"
            );
        }
    }
    // A docker-archive's layer paths that leave the archive name nothing.
    let good_config = config(&[&layer_digest]);
    for (n, path) in ["../../x", "/etc/shadow", "../l.tar"].iter().enumerate() {
        let p = work.path().join(format!("docker-path-{n}.tar"));
        docker_archive(&p, &good_config, &[("l.tar", &layer)], &[path]);
        refused(&mut raw, &format!("docker-archive:{}", p.display()));
    }
    // The archives written above are the only change in the work directory.
    let mut expected = untouched;
    expected.outside[0].1 = tree(work.path());
    expected.check(&mut raw, "malformed digests");
}

#[test]
fn corrupt_records_on_disk_are_reported_never_followed() {
    if !privileged("corrupt_records_on_disk_are_reported_never_followed") {
        return;
    }
    let mut first = TestDaemon::start();
    let root = first.root.clone();
    let victim = daemon_dir(&first).join("victim2");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(
        victim.join("layer.json"),
        br#"{"version":1,"diff_id":"sha256:../../victim2","size":0}"#,
    )
    .unwrap();
    std::fs::write(victim.join("precious"), b"keep me\n").unwrap();
    let id = import(&mut first.raw(), &fixtures().rootfs, "tampered");
    first.stop_with(nix::sys::signal::Signal::SIGTERM);
    // The image's record now lists a "layer" outside the store.
    let record_path = root.join("images").join(&id).join("image.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    record["layers"] = json!(["sha256:../../victim2"]);
    std::fs::write(&record_path, serde_json::to_vec(&record).unwrap()).unwrap();

    let daemon = TestDaemon::start_with(DaemonOptions {
        root: Some(root.clone()),
        ..Default::default()
    });
    let mut raw = daemon.raw();
    assert_eq!(image_ids(&mut raw), Vec::<String>::new());
    fails(
        &mut raw,
        "RemoveImage",
        json!({"name": id}),
        "ImageNotFound",
    );
    ok(&mut raw, "ImagesPrune", json!({"all": true}));
    assert_eq!(
        std::fs::read(victim.join("precious")).unwrap(),
        b"keep me\n"
    );
    // The record is left for an administrator, not deleted.
    assert!(record_path.exists());
}
