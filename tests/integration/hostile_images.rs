//! Hostile images and imports (issue 8, items 1-4 and 12): crafted digests that try to name
//! paths, private store directories, import limits, overlayfs attributes in image content,
//! and http sources that stall. Needs root.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::fixtures::{add_file, fixtures};
use crate::util::{
    DaemonOptions, RawConnection, TestDaemon, assert_nothing_left, fails, ok, privileged,
    sorted_names,
};

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Every path under `dir`, relative to it (symlinks not followed).
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
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

fn import(raw: &mut RawConnection, source: &Path, reference: &str) -> String {
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
fn refused(raw: &mut RawConnection, source: &str) -> String {
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

fn image_ids(raw: &mut RawConnection) -> Vec<String> {
    let mut ids: Vec<String> = ok(raw, "ListImages", json!({}))["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn config(diff_ids: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        add_file(&mut b, name, data);
    }
    b.into_inner().unwrap()
}

/// A docker-archive: `config` and the layer files, listed under `layer_paths`.
fn docker_archive(path: &Path, config: &[u8], layers: &[(&str, &[u8])], layer_paths: &[&str]) {
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
fn oci_archive(path: &Path, manifest: &Value, blobs: &[&[u8]], index_digest: Option<&str>) {
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

fn oci_manifest(config: &[u8], config_digest: Option<&str>, layers: &[String]) -> Value {
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
struct Untouched {
    root: PathBuf,
    layers: Vec<String>,
    images: Vec<String>,
    /// The daemon's temporary directory holds the store and run roots beside anything a
    /// test puts there; only its own entries are compared (the run root is the service's).
    top: (PathBuf, Vec<String>),
    outside: Vec<(PathBuf, BTreeSet<PathBuf>)>,
}

impl Untouched {
    fn snapshot(daemon: &TestDaemon, outside: &[&Path]) -> Self {
        let top = daemon.root.parent().unwrap().to_path_buf();
        Untouched {
            root: daemon.root.clone(),
            layers: sorted_names(&daemon.root.join("layers")),
            images: sorted_names(&daemon.root.join("images")),
            top: (top.clone(), sorted_names(&top)),
            outside: outside.iter().map(|d| (d.to_path_buf(), tree(d))).collect(),
        }
    }

    fn check(&self, raw: &mut RawConnection, case: &str) {
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
fn daemon_dir(daemon: &TestDaemon) -> PathBuf {
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

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Runs `argv` as user and group 65534 with no supplementary groups; whether it succeeded.
/// Through a shell: setpriv itself still holds root's capabilities when it executes its
/// command (only the exec drops them), so it could reach any path; the shell cannot.
fn as_nobody(argv: &[&str]) -> bool {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["/bin/sh", "-c", "exec \"$@\"", "sh"])
        .args(argv)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn store_directories_are_private_and_fixed_at_start() {
    if !privileged("store_directories_are_private_and_fixed_at_start") {
        return;
    }
    let f = fixtures();
    let mut first = TestDaemon::start();
    let root = first.root.clone();
    let id = import(&mut first.raw(), &f.rootfs, "busybox");
    let layer = root.join("layers").join(&f.rootfs_diff_id[7..]);
    let private = [
        root.join("layers"),
        layer.clone(),
        root.join("images"),
        root.join("images").join(&id),
        root.join("tmp"),
    ];
    for dir in &private {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    // A host user can pass through the roots but reach nothing in a layer.
    let busybox = layer.join("diff/bin/busybox");
    let root_s = root.display().to_string();
    assert!(as_nobody(&["stat", &root_s]), "setpriv does not work here");
    assert!(!as_nobody(&["stat", &busybox.display().to_string()]));
    assert!(!as_nobody(&[&busybox.display().to_string(), "true"]));
    // (The same file, copied where the user can reach it, runs.)
    let copy = daemon_dir(&first).join("busybox-copy");
    std::fs::copy(&busybox, &copy).unwrap();
    assert!(as_nobody(&[&copy.display().to_string(), "true"]));

    // A store made with open directories is fixed when the service starts.
    first.stop_with(nix::sys::signal::Signal::SIGTERM);
    for dir in &private {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert!(as_nobody(&["stat", &busybox.display().to_string()]));
    let daemon = TestDaemon::start_with(DaemonOptions {
        root: Some(root.clone()),
        ..Default::default()
    });
    for dir in &private {
        assert_eq!(mode(dir), 0o700, "{} after restart", dir.display());
    }
    assert!(!as_nobody(&["stat", &busybox.display().to_string()]));
    assert_eq!(image_ids(&mut daemon.raw()), [id]);
}

/// A gzipped tarball holding one file of `size` zero bytes.
fn gzip_bomb(size: u64) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut b = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    b.append_data(&mut h, "zeros", std::io::repeat(0).take(size))
        .unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn imports_past_the_limits_are_refused_and_cleaned_up() {
    if !privileged("imports_past_the_limits_are_refused_and_cleaned_up") {
        return;
    }
    let daemon = TestDaemon::start_with(DaemonOptions {
        args: [
            "--import-max-bytes",
            "8388608",
            "--import-max-entries",
            "1000",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    });
    let mut raw = daemon.raw();
    let work = tempfile::tempdir().unwrap();
    let untouched = Untouched::snapshot(&daemon, &[]);

    // A small gzip that unpacks to 32 MiB, as a root filesystem and as a docker-archive.
    let bomb = gzip_bomb(32 << 20);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let path = work.path().join("bomb.tar.gz");
    std::fs::write(&path, &bomb).unwrap();
    let reason = refused(&mut raw, &path.display().to_string());
    assert!(reason.contains("--import-max-bytes"), "{reason}");
    untouched.check(&mut raw, "gzip bomb");

    let archive = {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&bomb[..])
            .read_to_end(&mut plain)
            .unwrap();
        let config = config(&[&format!("sha256:{}", sha(&plain))]);
        let tar = work.path().join("bomb-docker.tar");
        docker_archive(&tar, &config, &[("l.tar", &plain)], &["l.tar"]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&std::fs::read(&tar).unwrap()).unwrap();
        let path = work.path().join("bomb-docker.tar.gz");
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        path
    };
    let reason = refused(&mut raw, &format!("docker-archive:{}", archive.display()));
    assert!(reason.contains("--import-max-bytes"), "{reason}");
    untouched.check(&mut raw, "compressed docker-archive bomb");

    // Many entries in a small tarball.
    let many = {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut b = tar::Builder::new(gz);
        for i in 0..2000 {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_mode(0o644);
            b.append_data(&mut h, format!("f{i}"), &[][..]).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    };
    let path = work.path().join("many.tar.gz");
    std::fs::write(&path, &many).unwrap();
    let reason = refused(&mut raw, &path.display().to_string());
    assert!(reason.contains("--import-max-entries"), "{reason}");
    untouched.check(&mut raw, "many entries");

    // An ordinary image still fits.
    import(&mut raw, &fixtures().rootfs, "busybox");

    // A filesystem that would drop below the reserve.
    let daemon = TestDaemon::start_with(DaemonOptions {
        args: ["--import-min-free", "18446744073709551615"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    });
    let mut raw = daemon.raw();
    let untouched = Untouched::snapshot(&daemon, &[]);
    let reason = refused(&mut raw, &fixtures().rootfs.display().to_string());
    assert!(reason.contains("--import-min-free"), "{reason}");
    untouched.check(&mut raw, "free space");
}

#[test]
fn overlay_attributes_in_image_content_are_dropped() {
    if !privileged("overlay_attributes_in_image_content_are_dropped") {
        return;
    }
    let f = fixtures();
    let rootfs = std::fs::read(&f.rootfs).unwrap();
    // Layer 2 marks /etc opaque (it would hide the base layer's /etc) and gives a file a
    // redirect, beside an ordinary attribute that stays.
    let layer2 = {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("SCHILY.xattr.trusted.overlay.opaque", &b"y"[..])])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "etc/", &[][..]).unwrap();
        b.append_pax_extensions([
            ("SCHILY.xattr.trusted.overlay.redirect", &b"/bin"[..]),
            ("SCHILY.xattr.user.kept", &b"yes"[..]),
        ])
        .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(6);
        b.append_data(&mut h, "etc/motd", &b"hello\n"[..]).unwrap();
        b.into_inner().unwrap()
    };
    let config = config(&[&f.rootfs_diff_id, &format!("sha256:{}", sha(&layer2))]);
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("xattrs.tar");
    docker_archive(
        &archive,
        &config,
        &[("l1.tar", &rootfs), ("l2.tar", &layer2)],
        &["l1.tar", "l2.tar"],
    );
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    ok(
        &mut raw,
        "ImportImage",
        json!({"source": format!("docker-archive:{}", archive.display()), "reference": "xattrs"}),
    );
    let diff = daemon.root.join("layers").join(sha(&layer2)).join("diff");
    assert_eq!(
        xattr::get(diff.join("etc"), "trusted.overlay.opaque").unwrap(),
        None
    );
    assert_eq!(
        xattr::get(diff.join("etc/motd"), "trusted.overlay.redirect").unwrap(),
        None
    );
    assert_eq!(
        xattr::get(diff.join("etc/motd"), "user.kept").unwrap(),
        Some(b"yes".to_vec())
    );
    // A container sees both layers' /etc.
    ok(
        &mut raw,
        "CreateContainer",
        json!({"create": {"image": "xattrs", "name": "x", "command": ["cat", "/etc/passwd", "/etc/motd"]}}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "x"}));
    let code = ok(&mut raw, "WaitContainer", json!({"name": "x"}))["exitcode"].clone();
    let logs = ok(&mut raw, "GetContainerLogs", json!({"name": "x"}))["container"].to_string();
    assert_eq!(code, 0, "{logs}");
    assert!(
        logs.contains("root:x:0:0") && logs.contains("hello"),
        "{logs}"
    );
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "x", "force": true}),
    );
    assert_nothing_left(&daemon);
}

/// An http server on 127.0.0.1 that reads each request and then stalls: on `/nothing` it
/// sends nothing, on `/body` headers and a few bytes of a body it never finishes.
struct StallingServer {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StallingServer {
    fn start() -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_secs(5)))
                            .unwrap();
                        let mut request = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => request.extend_from_slice(&buf[..n]),
                            }
                        }
                        if String::from_utf8_lossy(&request).contains("/body") {
                            let _ = stream.write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n\x1f\x8b",
                            );
                        }
                        held.push(stream);
                    }
                    // Polling for the stop flag: this is the server's accept loop, not a
                    // test waiting on a condition.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        StallingServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for StallingServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_stalled_http_source_times_out() {
    if !privileged("a_stalled_http_source_times_out") {
        return;
    }
    let server = StallingServer::start();
    let daemon = TestDaemon::start_with(DaemonOptions {
        args: ["--http-read-timeout", "1"].map(String::from).to_vec(),
        ..Default::default()
    });
    let mut raw = daemon.raw();
    let untouched = Untouched::snapshot(&daemon, &[]);
    for path in ["nothing", "body"] {
        let url = format!("http://127.0.0.1:{}/{path}", server.port);
        let start = Instant::now();
        let reason = refused(&mut raw, &url);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(10), "{url}: took {took:?}");
        assert!(
            reason.contains(&url) && reason.contains("--http-read-timeout"),
            "{url}: {reason}"
        );
        untouched.check(&mut raw, &url);
    }
}

/// A listening socket on 127.0.0.1 whose accept queue is full: one more connection is
/// neither accepted nor refused (the kernel drops its SYNs), so connecting to it hangs.
/// Returns the listener (never accepting), the connections filling its queue, and its port.
fn full_listener() -> (std::net::TcpListener, Vec<std::net::TcpStream>, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    // std listens with a backlog of 128: the queue holds that many and one more.
    for _ in 0..1000 {
        match std::net::TcpStream::connect_timeout(&address, Duration::from_millis(300)) {
            Ok(stream) => fillers.push(stream),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return (listener, fillers, address.port());
            }
            Err(e) => panic!("connect to the full listener: {e}"),
        }
    }
    panic!("the kernel accepted every connection: cannot make a connect hang here");
}

#[test]
fn a_source_that_never_answers_the_connection_times_out() {
    if !privileged("a_source_that_never_answers_the_connection_times_out") {
        return;
    }
    let (_listener, _fillers, port) = full_listener();
    let daemon = TestDaemon::start_with(DaemonOptions {
        args: ["--http-connect-timeout", "1"].map(String::from).to_vec(),
        ..Default::default()
    });
    let mut raw = daemon.raw();
    let untouched = Untouched::snapshot(&daemon, &[]);
    let url = format!("http://127.0.0.1:{port}/rootfs.tar");
    let start = Instant::now();
    let reason = refused(&mut raw, &url);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        reason.contains(&url) && reason.contains("--http-connect-timeout"),
        "{reason}"
    );
    untouched.check(&mut raw, &url);
}

/// A container in a user namespace keeps its directories traversable (its mapped root must
/// reach its root filesystem), so a host user can reach its mounted root filesystem. A
/// world-writable device node shipped in the image must not open from there: the overlay
/// is mounted `nodev`, as containers/storage's usual `mountopt` has it.
#[test]
fn device_nodes_in_a_mounted_root_filesystem_do_not_open_from_the_host() {
    if !privileged("device_nodes_in_a_mounted_root_filesystem_do_not_open_from_the_host") {
        return;
    }
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let rootfs = std::fs::read(&fixtures().rootfs).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Char);
    h.set_mode(0o666);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    h.set_size(0);
    b.append_data(&mut h, "opennull", &[][..]).unwrap();
    let devices = b.into_inner().unwrap();
    let (a, d) = (
        format!("sha256:{}", sha(&rootfs)),
        format!("sha256:{}", sha(&devices)),
    );
    let archive = daemon_dir(&daemon).join("devices.tar");
    docker_archive(
        &archive,
        &config(&[&a, &d]),
        &[("rootfs.tar", &rootfs), ("devices.tar", &devices)],
        &["rootfs.tar", "devices.tar"],
    );
    ok(
        &mut raw,
        "ImportImage",
        json!({"source": format!("docker-archive:{}", archive.display()), "reference": "devices"}),
    );
    let id = ok(
        &mut raw,
        "CreateContainer",
        json!({"create": {"image": "devices", "name": "mapped", "command": ["sleep", "60"],
            "uidmap": ["0:100000:65536"]}}),
    )["container"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&mut raw, "StartContainer", json!({"name": "mapped"}));
    let merged = daemon.root.join("containers").join(&id).join("merged");
    let node = merged.join("opennull").display().to_string();
    assert!(
        as_nobody(&["test", "-c", &node]),
        "the host user does not reach {node}: the test shows nothing"
    );
    assert!(
        !as_nobody(&["sh", "-c", "echo x > \"$1\"", "sh", &node]),
        "a host user opened a device node in a container's root filesystem"
    );
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "mapped", "timeout": 0}),
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "mapped"}));
    assert_nothing_left(&daemon);
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
