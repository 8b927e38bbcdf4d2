//! Digests in image archives are identities, checked where they come in (issue 9, item 4):
//! every format podlink reads (docker-archive and oci-archive, plain and gzip-compressed, and
//! `oci:` directory layouts) refuses a malformed digest in a config's `diff_ids` or a blob
//! reference, and a blob whose content does not match its digest, with `ErrorOccurred`
//! naming the digest (docker-archives name blobs by digest since Docker 25: those are
//! checked too); nothing is written outside the store and the store's staging area is left
//! empty. `hostile_images` covers plain archives with malformed digests; this module
//! covers the compressed archives, directory layouts and mismatched content. Needs root.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::fixtures::add_file;
use crate::hostile_images::sha;
use crate::util::{RawConnection, TestDaemon, fails, ok, privileged, sorted_names};

fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        add_file(&mut b, name, data);
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Every path under `dir`, relative to it, with file contents (symlinks not followed).
fn tree(dir: &Path) -> BTreeSet<(PathBuf, Vec<u8>)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            let data = if kind.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            out.insert((path.strip_prefix(dir).unwrap().to_path_buf(), data));
            if kind.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// Where a bad digest goes.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// The config's `rootfs.diff_ids` (both formats).
    DiffId,
    /// The OCI manifest's layer descriptor.
    LayerBlob,
    /// The OCI manifest's config descriptor.
    ConfigBlob,
    /// The OCI index's manifest descriptor.
    ManifestBlob,
}

/// How the image is packed.
#[derive(Debug, Clone, Copy)]
enum Format {
    DockerArchiveGzip,
    OciArchiveGzip,
    OciDir,
}

/// One valid layer and the pieces of an image around it, with `digest` put at `place`.
struct Image {
    layer: Vec<u8>,
    config: Vec<u8>,
    manifest: Vec<u8>,
    index: Vec<u8>,
}

impl Image {
    fn new(place: Option<Place>, digest: &str) -> Self {
        let layer = {
            let mut b = tar::Builder::new(Vec::new());
            add_file(&mut b, "hello", b"hi\n");
            b.into_inner().unwrap()
        };
        let layer_digest = format!("sha256:{}", sha(&layer));
        let diff_id = match place {
            Some(Place::DiffId) => digest.to_string(),
            _ => layer_digest.clone(),
        };
        let config = serde_json::to_vec(&json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))
        .unwrap();
        let pick = |p: Place, good: String| match place {
            Some(q) if std::mem::discriminant(&q) == std::mem::discriminant(&p) => {
                digest.to_string()
            }
            _ => good,
        };
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": pick(Place::ConfigBlob, format!("sha256:{}", sha(&config))),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": pick(Place::LayerBlob, layer_digest),
                "size": layer.len(),
            }],
        }))
        .unwrap();
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": pick(Place::ManifestBlob, format!("sha256:{}", sha(&manifest))),
                "size": manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": "localhost/crafted:latest"},
            }],
        }))
        .unwrap();
        Image {
            layer,
            config,
            manifest,
            index,
        }
    }

    /// The OCI layout's files, each blob stored under its digest.
    fn oci_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = vec![
            (
                "oci-layout".to_string(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            ("index.json".to_string(), self.index.clone()),
        ];
        for blob in [&self.layer, &self.config, &self.manifest] {
            files.push((format!("blobs/sha256/{}", sha(blob)), blob.clone()));
        }
        files
    }

    fn docker_files(&self) -> Vec<(String, Vec<u8>)> {
        let manifest = serde_json::to_vec(&json!([{
            "Config": "config.json",
            "RepoTags": ["localhost/crafted:latest"],
            "Layers": ["layer.tar"],
        }]))
        .unwrap();
        vec![
            ("manifest.json".to_string(), manifest),
            ("config.json".to_string(), self.config.clone()),
            ("layer.tar".to_string(), self.layer.clone()),
        ]
    }

    /// A docker-archive as Docker 25 and later write it: members named by their digest.
    fn docker_blob_files(&self) -> Vec<(String, Vec<u8>)> {
        let manifest = serde_json::to_vec(&json!([{
            "Config": format!("blobs/sha256/{}", sha(&self.config)),
            "RepoTags": ["localhost/crafted:latest"],
            "Layers": [format!("blobs/sha256/{}", sha(&self.layer))],
        }]))
        .unwrap();
        let mut files = vec![("manifest.json".to_string(), manifest)];
        for blob in [&self.layer, &self.config] {
            files.push((format!("blobs/sha256/{}", sha(blob)), blob.clone()));
        }
        files
    }

    /// Writes the image in `format` under `dir` (named `name`); the import source.
    fn write(&self, format: Format, dir: &Path, name: &str) -> String {
        match format {
            Format::DockerArchiveGzip => {
                let path = dir.join(format!("{name}.tar.gz"));
                std::fs::write(&path, gzip(&tar_of(&self.docker_files()))).unwrap();
                format!("docker-archive:{}", path.display())
            }
            Format::OciArchiveGzip => {
                let path = dir.join(format!("{name}.tar.gz"));
                std::fs::write(&path, gzip(&tar_of(&self.oci_files()))).unwrap();
                format!("oci-archive:{}", path.display())
            }
            Format::OciDir => {
                let path = dir.join(name);
                for (file, data) in self.oci_files() {
                    let at = path.join(file);
                    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
                    std::fs::write(at, data).unwrap();
                }
                format!("oci:{}", path.display())
            }
        }
    }
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

/// The store, its staging area and a sentinel directory beside it, before and after.
struct Watch {
    root: PathBuf,
    sentinel: PathBuf,
    sentinel_before: BTreeSet<(PathBuf, Vec<u8>)>,
    layers: Vec<String>,
    images: Vec<String>,
}

impl Watch {
    fn new(daemon: &TestDaemon) -> Self {
        // A directory beside the store dressed as a layer, which `../../x`-style digests
        // would reach from `layers/` or `images/`.
        let sentinel = daemon.root.parent().unwrap().join("x");
        std::fs::create_dir_all(sentinel.join("diff")).unwrap();
        std::fs::write(
            sentinel.join("layer.json"),
            br#"{"version":1,"diff_id":"sha256:../../x","size":0}"#,
        )
        .unwrap();
        std::fs::write(sentinel.join("precious"), b"keep me\n").unwrap();
        Watch {
            root: daemon.root.clone(),
            sentinel_before: tree(&sentinel),
            sentinel,
            layers: sorted_names(&daemon.root.join("layers")),
            images: sorted_names(&daemon.root.join("images")),
        }
    }

    fn check(&self, case: &str) {
        assert_eq!(
            sorted_names(&self.root.join("tmp")),
            Vec::<String>::new(),
            "{case}: the store's tmp is not empty"
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
        assert_eq!(
            tree(&self.sentinel),
            self.sentinel_before,
            "{case}: the sentinel beside the store changed"
        );
    }
}

const FORMATS: [Format; 3] = [
    Format::DockerArchiveGzip,
    Format::OciArchiveGzip,
    Format::OciDir,
];

fn malformed(work: &Path) -> Vec<String> {
    let hex = sha(b"some content");
    vec![
        "sha256:../../x".to_string(),
        format!("sha256:{}", work.join("x").display()),
        work.join("x").display().to_string(),
        format!("sha256:{}", hex.to_uppercase()),
        format!("sha256:{}", &hex[..63]),
        format!("sha256:{hex}00"),
    ]
}

#[test]
fn malformed_digests_are_refused_in_compressed_archives_and_directory_layouts() {
    if !privileged("malformed_digests_are_refused_in_compressed_archives_and_directory_layouts") {
        return;
    }
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let work = tempfile::tempdir().unwrap();
    let watch = Watch::new(&daemon);
    for (n, digest) in malformed(work.path()).iter().enumerate() {
        for format in FORMATS {
            let places: &[Place] = match format {
                Format::DockerArchiveGzip => &[Place::DiffId],
                _ => &[
                    Place::DiffId,
                    Place::LayerBlob,
                    Place::ConfigBlob,
                    Place::ManifestBlob,
                ],
            };
            for place in places {
                let case = format!("{format:?} {place:?} {digest}");
                let source = Image::new(Some(*place), digest).write(
                    format,
                    work.path(),
                    &format!("{n}-{place:?}-{format:?}"),
                );
                let reason = refused(&mut raw, &source);
                assert!(reason.contains(digest.as_str()), "{case}: {reason}");
                watch.check(&case);
            }
        }
    }
    assert_eq!(ok(&mut raw, "ListImages", json!({}))["images"], json!([]));
}

#[test]
fn blobs_whose_content_does_not_match_their_digest_are_refused() {
    if !privileged("blobs_whose_content_does_not_match_their_digest_are_refused") {
        return;
    }
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let work = tempfile::tempdir().unwrap();
    let watch = Watch::new(&daemon);
    let good = Image::new(None, "");
    // Each blob in turn stored under a digest its content does not have: the name the
    // manifest (or index) gives it is a well-formed digest of something else.
    let blobs = [
        ("layer", good.layer.clone()),
        ("config", good.config.clone()),
        ("manifest", good.manifest.clone()),
    ];
    for (what, blob) in &blobs {
        for format in [
            Format::DockerArchiveGzip,
            Format::OciArchiveGzip,
            Format::OciDir,
        ] {
            if matches!(format, Format::DockerArchiveGzip) && *what == "manifest" {
                continue; // a docker-archive's manifest.json is not a blob
            }
            let case = format!("{format:?} {what}");
            let mut tampered = blob.clone();
            // Trailing white space: the JSON documents stay valid JSON, the layer a valid tar.
            tampered.extend_from_slice(b"\n");
            let mut files = match format {
                Format::DockerArchiveGzip => good.docker_blob_files(),
                _ => good.oci_files(),
            };
            for (name, data) in files.iter_mut() {
                if *name == format!("blobs/sha256/{}", sha(blob)) {
                    *data = tampered.clone();
                }
            }
            let source = match format {
                Format::DockerArchiveGzip => {
                    let path = work.path().join(format!("{what}-docker.tar.gz"));
                    std::fs::write(&path, gzip(&tar_of(&files))).unwrap();
                    format!("docker-archive:{}", path.display())
                }
                Format::OciArchiveGzip => {
                    let path = work.path().join(format!("{what}.tar.gz"));
                    std::fs::write(&path, gzip(&tar_of(&files))).unwrap();
                    format!("oci-archive:{}", path.display())
                }
                _ => {
                    let dir = work.path().join(format!("{what}-dir"));
                    for (file, data) in files {
                        let at = dir.join(file);
                        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
                        std::fs::write(at, data).unwrap();
                    }
                    format!("oci:{}", dir.display())
                }
            };
            let reason = refused(&mut raw, &source);
            let digest = format!("sha256:{}", sha(blob));
            assert!(reason.contains(&digest), "{case}: {reason}");
            watch.check(&case);
        }
    }
    assert_eq!(ok(&mut raw, "ListImages", json!({}))["images"], json!([]));
    // The same image untampered imports, in each format.
    for format in FORMATS {
        let source = good.write(format, work.path(), &format!("good-{format:?}"));
        let id = ok(
            &mut raw,
            "ImportImage",
            json!({"source": source, "reference": ""}),
        )["image"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(id, sha(&good.config), "{format:?}");
    }
    let _: Value = ok(&mut raw, "ImagesPrune", json!({"all": true}));
}
