//! Images pushed into test registries: the offline busybox fixture, or any OCI layout, as it
//! is (OCI, uncompressed layers) or with gzip layers (as OCI or Docker schema 2), by skopeo;
//! and manifest lists and OCI image indexes of three platforms, uploaded blob by blob and PUT
//! by digest over HTTP (skopeo's `oci:` layouts cannot hold Docker manifests, so one path
//! serves both kinds).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::fixtures::{add_file, fixtures};
use crate::registries::Registry;
use crate::registry_http::nonce;
use crate::util::{require_tool, run_ok};

/// The reference of the busybox image in `fixtures().dir.join("layout")`.
pub const BUSYBOX_REF: &str = "busybox:latest";

/// Docker's manifest list type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's schema 2 manifest type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The OCI image index type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The OCI image manifest type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The platforms of a list fixture, in its order.
pub const LIST_PLATFORMS: [&str; 3] = ["linux/arm64", "linux/amd64", "linux/arm/v7"];

/// A pushed manifest list or image index.
#[derive(Clone, Debug)]
pub struct ListFixture {
    /// The list's digest (its tag points to it too).
    pub digest: String,
    /// `DOCKER_LIST` or `OCI_INDEX`.
    pub media_type: String,
    /// One entry per platform, in `LIST_PLATFORMS` order.
    pub entries: Vec<ListEntry>,
}

/// One platform image of a `ListFixture`.
#[derive(Clone, Debug)]
pub struct ListEntry {
    /// `os/arch` or `os/arch/variant`.
    pub platform: String,
    /// The image manifest's digest.
    pub digest: String,
    /// `DOCKER_MANIFEST` or `OCI_MANIFEST`.
    pub media_type: String,
    /// The image ID a pull of this entry gives: its config digest, hex.
    pub image_id: String,
}

impl ListFixture {
    /// The entry for `platform` (`linux/arm64`...).
    pub fn entry(&self, platform: &str) -> &ListEntry {
        self.entries
            .iter()
            .find(|e| e.platform == platform)
            .unwrap_or_else(|| panic!("no {platform} in the list"))
    }

    /// The image ID of the linux/amd64 entry: the busybox fixture's (`fixtures().layered_id`).
    pub fn amd64_image_id(&self) -> &str {
        &self.entry("linux/amd64").image_id
    }
}

/// Which kind of list to push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// A Docker manifest list of schema 2 images with gzip layers.
    Docker,
    /// An OCI image index of OCI images with uncompressed layers.
    Oci,
}

impl Registry {
    /// Copies `layout_ref` of an OCI layout to `repo_tag` with skopeo: as it is
    /// (`--preserve-digests`: OCI manifest, layers uncompressed) or with gzip layers
    /// (`compress`, see `gzip_copy`). The pushed manifest's digest.
    pub fn push_layout(
        &self,
        layout: &Path,
        layout_ref: &str,
        repo_tag: &str,
        compress: bool,
    ) -> String {
        let source = if compress {
            format!("dir:{}", gzip_copy(layout, layout_ref, "oci").display())
        } else {
            format!("oci:{}:{layout_ref}", layout.display())
        };
        self.skopeo_push(&source, repo_tag, &["--preserve-digests"])
    }

    /// Pushes the busybox fixture as it is: OCI manifest, two uncompressed layers.
    pub fn push_busybox(&self, repo_tag: &str) -> String {
        self.push_layout(&fixtures().dir.join("layout"), BUSYBOX_REF, repo_tag, false)
    }

    /// Pushes the busybox fixture as Docker schema 2 with gzip layers (same config, so the
    /// same image ID).
    pub fn push_busybox_v2s2_gzip(&self, repo_tag: &str) -> String {
        let converted = gzip_copy(&fixtures().dir.join("layout"), BUSYBOX_REF, "v2s2");
        let source = format!("dir:{}", converted.display());
        self.skopeo_push(&source, repo_tag, &["--preserve-digests"])
    }

    /// `skopeo copy` of `source` to `repo_tag` here, with `extra` flags; the manifest digest.
    pub fn skopeo_push(&self, source: &str, repo_tag: &str, extra: &[&str]) -> String {
        let digest_file = tempfile::NamedTempFile::new_in(self.dir()).expect("digest file");
        run_ok(
            Command::new(require_tool("skopeo"))
                .args(["--insecure-policy", "copy", "-q"])
                .args(extra)
                .args(self.skopeo_args("dest-"))
                .arg("--digestfile")
                .arg(digest_file.path())
                .arg(source)
                .arg(format!("docker://{}/{repo_tag}", self.host())),
        );
        std::fs::read_to_string(digest_file.path())
            .expect("read digest file")
            .trim()
            .to_string()
    }

    /// Pushes a Docker manifest list of three platforms (see `push_list`).
    pub fn push_manifest_list(&self, repo_tag: &str) -> ListFixture {
        self.push_list(repo_tag, ListKind::Docker)
    }

    /// Pushes an OCI image index of three platforms (see `push_list`).
    pub fn push_image_index(&self, repo_tag: &str) -> ListFixture {
        self.push_list(repo_tag, ListKind::Oci)
    }

    /// Pushes a list of `LIST_PLATFORMS` to `repo:tag`: linux/arm64 (a one-layer image whose
    /// config says arm64, labelled `platform=linux/arm64`, with the marker file
    /// `/etc/platform`), linux/amd64 (the busybox fixture) and linux/arm/v7 (like arm64).
    /// Each image is uploaded and PUT by digest, then the list under the tag.
    pub fn push_list(&self, repo_tag: &str, kind: ListKind) -> ListFixture {
        let (repo, tag) = repo_tag
            .rsplit_once(':')
            .filter(|(r, _)| !r.is_empty())
            .unwrap_or_else(|| panic!("{repo_tag}: want repo:tag"));
        let (manifest_type, list_type) = match kind {
            ListKind::Docker => (DOCKER_MANIFEST, DOCKER_LIST),
            ListKind::Oci => (OCI_MANIFEST, OCI_INDEX),
        };
        let mut entries = Vec::new();
        let mut descriptors = Vec::new();
        for platform in LIST_PLATFORMS {
            let image = platform_image(platform, kind);
            for blob in &image.blobs {
                self.put_blob_bytes(repo, blob);
            }
            let digest = format!("sha256:{:x}", Sha256::digest(&image.manifest));
            self.put_manifest(repo, &digest, &image.manifest, manifest_type);
            let mut parts = platform.split('/');
            let mut platform_json = json!({
                "os": parts.next().expect("os"),
                "architecture": parts.next().expect("arch"),
            });
            if let Some(variant) = parts.next() {
                platform_json["variant"] = json!(variant);
            }
            descriptors.push(json!({
                "mediaType": manifest_type,
                "digest": digest,
                "size": image.manifest.len(),
                "platform": platform_json,
            }));
            entries.push(ListEntry {
                platform: platform.to_string(),
                digest,
                media_type: manifest_type.to_string(),
                image_id: image.config_hex,
            });
        }
        let list = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": list_type,
            "manifests": descriptors,
        }))
        .expect("list json");
        let digest = self.put_manifest(repo, tag, &list, list_type);
        ListFixture {
            digest,
            media_type: list_type.to_string(),
            entries,
        }
    }
}

/// A `dir:` copy of `layout_ref` with gzip layers and a `format` (`oci` or `v2s2`)
/// manifest, made once next to the layout.
///
/// Compressing on the way to the registry (`--dest-compress` on a `docker://` copy) is not
/// enough: skopeo reuses a blob the registry already has, so once the uncompressed layers are
/// there (pushed to any repository of it: skopeo remembers where in its blob-info cache) it
/// pushes them again instead of gzip. A `dir:` copy that is already compressed, pushed with
/// `--preserve-digests`, can only upload what it holds.
pub fn gzip_copy(layout: &Path, layout_ref: &str, format: &str) -> PathBuf {
    let name = layout.file_name().expect("layout name").to_string_lossy();
    let tag = layout_ref.replace([':', '/'], "_");
    let copy = layout.with_file_name(format!("{name}.{tag}.{format}-gzip"));
    if copy.join("manifest.json").exists() {
        return copy;
    }
    let building = layout.with_file_name(format!(".{name}.building-{}", nonce()));
    run_ok(
        Command::new(require_tool("skopeo"))
            .args(["--insecure-policy", "copy", "-q", "--format", format])
            .args(["--dest-compress", "--dest-compress-format", "gzip"])
            .arg(format!("oci:{}:{layout_ref}", layout.display()))
            .arg(format!("dir:{}", building.display())),
    );
    if std::fs::rename(&building, &copy).is_err() {
        // Another test made the same copy first.
        std::fs::remove_dir_all(&building).expect("remove duplicate copy");
    }
    copy
}

/// A platform image ready to upload.
struct PlatformImage {
    manifest: Vec<u8>,
    /// The config and the layers.
    blobs: Vec<Vec<u8>>,
    config_hex: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The image for one platform of a list, in `kind`'s formats.
fn platform_image(platform: &str, kind: ListKind) -> PlatformImage {
    let (config, layers): (Vec<u8>, Vec<Vec<u8>>) = if platform == "linux/amd64" {
        busybox_blobs()
    } else {
        marker_image(platform)
    };
    let (config_type, layer_type) = match kind {
        ListKind::Docker => (
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
        ListKind::Oci => (
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar",
        ),
    };
    let layers: Vec<Vec<u8>> = match kind {
        ListKind::Docker => layers.iter().map(|l| gzip(l)).collect(),
        ListKind::Oci => layers,
    };
    let descriptor = |media_type: &str, bytes: &[u8]| {
        let digest = format!("sha256:{}", sha256_hex(bytes));
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    };
    let manifest_type = match kind {
        ListKind::Docker => DOCKER_MANIFEST,
        ListKind::Oci => OCI_MANIFEST,
    };
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": descriptor(config_type, &config),
        "layers": layers.iter().map(|l| descriptor(layer_type, l)).collect::<Vec<_>>(),
    }))
    .expect("manifest json");
    let config_hex = sha256_hex(&config);
    let mut blobs = vec![config];
    blobs.extend(layers);
    PlatformImage {
        manifest,
        blobs,
        config_hex,
    }
}

/// The busybox fixture's config and (uncompressed) layers, read from its OCI layout.
fn busybox_blobs() -> (Vec<u8>, Vec<Vec<u8>>) {
    let layout = fixtures().dir.join("layout");
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        std::fs::read(layout.join("blobs/sha256").join(hex)).expect("read layout blob")
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("index json");
    let manifest: Value = serde_json::from_slice(&blob(
        index["manifests"][0]["digest"]
            .as_str()
            .expect("manifest digest"),
    ))
    .expect("manifest json");
    let config = blob(
        manifest["config"]["digest"]
            .as_str()
            .expect("config digest"),
    );
    let layers = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| blob(l["digest"].as_str().expect("layer digest")))
        .collect();
    (config, layers)
}

/// A one-layer image for a non-amd64 platform: `/etc/platform` holds the platform, the label
/// `platform` says it too, and the config names its architecture (and variant).
fn marker_image(platform: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut layer = tar::Builder::new(Vec::new());
    add_file(
        &mut layer,
        "etc/platform",
        format!("{platform}\n").as_bytes(),
    );
    let layer = layer.into_inner().expect("marker layer");
    let mut parts = platform.split('/');
    let os = parts.next().expect("os");
    let arch = parts.next().expect("arch");
    let mut config = json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": arch,
        "os": os,
        "config": {"Cmd": ["/bin/sh"], "Labels": {"platform": platform}},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&layer))]},
        "history": [{
            "created": "2024-01-01T00:00:00Z",
            "created_by": format!("fixture: {platform} marker"),
        }],
    });
    if let Some(variant) = parts.next() {
        config["variant"] = json!(variant);
    }
    (
        serde_json::to_vec(&config).expect("config json"),
        vec![layer],
    )
}

/// gzip with a fixed header (mtime 0), so the same layer always has the same digest; cached
/// per process (the busybox layers are compressed once).
fn gzip(bytes: &[u8]) -> Vec<u8> {
    type Cache = std::sync::Mutex<Vec<(String, Vec<u8>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = sha256_hex(bytes);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, gz)) = cache.iter().find(|(k, _)| *k == key) {
        return gz.clone();
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    let gz = encoder.finish().expect("gzip");
    cache.push((key, gz.clone()));
    gz
}
