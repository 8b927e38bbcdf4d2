//! The image documents podlink writes and reads: media types, the manifests it makes for
//! imported and committed images, the config of an imported root filesystem, and the layer
//! list (`rootfs.diff_ids`) read from any config.
//!
//! The documents podlink writes are `json!` values serialised in a fixed key order: their
//! bytes are digested (the manifest's digest is the image's Digest, the config's its ID), so
//! the same image must always produce the same bytes.

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::engine::error::{Error, Result};
use crate::engine::storage::digest::{Digest, DigestError};
use crate::engine::time::now_rfc3339;

/// Media types podlink writes.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker uncompressed layer.
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// A malformed digest in an archive or a record: the import's error (ErrorOccurred),
/// naming the digest. The archive is the `source` argument's content.
impl From<DigestError> for Error {
    fn from(e: DigestError) -> Self {
        Error::invalid("source", e.to_string())
    }
}

/// Hex SHA-256 of `bytes`.
pub fn hex_digest(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The DiffIDs an image config lists (`rootfs.diff_ids`), each validated.
pub(super) fn config_diff_ids(config: &Value) -> Result<Vec<Digest>> {
    let diff_ids = &config["rootfs"]["diff_ids"];
    if diff_ids.is_null() {
        return Ok(Vec::new());
    }
    let list = diff_ids
        .as_array()
        .ok_or_else(|| Error::invalid("source", "image config: rootfs.diff_ids is not an array"))?;
    list.iter()
        .map(|v| match v.as_str() {
            Some(s) => Digest::parse(s).map_err(|e| {
                Error::invalid("source", format!("image config lists layer {s:?}: {e}"))
            }),
            None => Err(Error::invalid(
                "source",
                format!("image config: rootfs.diff_ids holds {v}, not a digest"),
            )),
        })
        .collect()
}

/// A manifest of `manifest_type` (`media_type`s for config and layers) for `config` and
/// uncompressed `layers` (diff ID, size).
fn manifest(
    manifest_type: &str,
    config_type: &str,
    layer_type: &str,
    config: &[u8],
    layers: &[(Digest, u64)],
) -> Vec<u8> {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {
            "mediaType": config_type,
            "digest": format!("sha256:{}", hex_digest(config)),
            "size": config.len(),
        },
        "layers": layers.iter().map(|(digest, size)| json!({
            "mediaType": layer_type,
            "digest": digest,
            "size": size,
        })).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&manifest).expect("a JSON value serializes")
}

/// An OCI manifest for `config` and uncompressed `layers` (diff ID, size).
pub fn oci_manifest(config: &[u8], layers: &[(Digest, u64)]) -> Vec<u8> {
    manifest(OCI_MANIFEST, OCI_CONFIG, OCI_LAYER, config, layers)
}

/// A Docker schema 2 manifest for `config` and uncompressed layers.
pub(super) fn docker_manifest(config: &[u8], layers: &[(Digest, u64)]) -> Vec<u8> {
    manifest(DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER, config, layers)
}

/// The config of an image made from one root filesystem tarball, with the container
/// settings `settings` (the import's changes, already applied).
pub(super) fn rootfs_config(
    diff_id: &Digest,
    message: &str,
    settings: Map<String, Value>,
) -> Vec<u8> {
    let created = now_rfc3339();
    let mut history = json!({
        "created": created,
        "created_by": format!("/bin/sh -c #(nop) ADD file:{} in / ", diff_id.hex()),
    });
    if !message.is_empty() {
        history["comment"] = json!(message);
    }
    let config = json!({
        "created": created,
        "architecture": go_arch(),
        "os": "linux",
        "config": settings,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [history],
    });
    serde_json::to_vec(&config).expect("a JSON value serializes")
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
