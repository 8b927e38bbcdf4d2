//! The image documents podlink writes and reads: media types, the manifests it makes for
//! imported and committed images, the config of an imported root filesystem, and the layer
//! list (`rootfs.diff_ids`) read from any config.
//!
//! Manifests and indexes are `oci-spec`'s image types. What podlink writes goes through
//! `to_json`, which sorts the keys: those bytes are digested (the manifest's digest is the
//! image's Digest), so the same image must always produce the same bytes, and they are the
//! bytes podlink has always written. Configs stay `serde_json::Value`: they are kept byte
//! for byte, containers read them as JSON, and `ImageConfiguration` would refuse configs
//! podlink and Podman accept (no `architecture`, no `os`).

use std::collections::HashMap;

use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType, SCHEMA_VERSION};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::engine::error::{Error, Result};
use crate::engine::id::digest::{Digest, DigestError};
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

/// A JSON object of strings as a map (`Labels` in an image config); other values give none,
/// and a value that is not a string reads as empty.
pub fn string_map(value: &Value) -> HashMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A malformed digest in an archive or a record: the import's error (ErrorOccurred),
/// naming the digest. The archive is the `source` argument's content.
impl From<DigestError> for Error {
    fn from(e: DigestError) -> Self {
        Error::invalid("source", e.to_string())
    }
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

/// `value` as JSON with its keys sorted (see the module doc).
pub(super) fn to_json(value: &impl Serialize) -> Vec<u8> {
    let value = serde_json::to_value(value).expect("an image document serializes");
    serde_json::to_vec(&value).expect("a JSON value serializes")
}

/// `digest` as `oci-spec` spells it.
pub(super) fn oci_digest(digest: &Digest) -> oci_spec::image::Digest {
    digest
        .as_str()
        .parse()
        .expect("a validated sha256 digest is an OCI digest")
}

/// A descriptor of `size` bytes of `media_type` content with `digest`.
pub(super) fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(MediaType::from(media_type), size, oci_digest(digest))
}

/// Every descriptor digest in `list` (a JSON array of descriptors, as read), validated
/// before the document is parsed into `oci-spec`'s types: a malformed digest is refused
/// with an error naming it.
pub(super) fn check_descriptor_digests(list: &Value) -> Result<()> {
    for d in list.as_array().into_iter().flatten() {
        Digest::parse(d["digest"].as_str().unwrap_or_default())?;
    }
    Ok(())
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
    let layers: Vec<(String, Digest, u64)> = layers
        .iter()
        .map(|(digest, size)| (layer_type.to_string(), digest.clone(), *size))
        .collect();
    pushed_manifest(manifest_type, config_type, config, &layers)
}

/// A manifest of `manifest_type` whose config has `config_type`, for layers given as
/// (media type, blob digest, size): what a push uploads.
pub(super) fn pushed_manifest(
    manifest_type: &str,
    config_type: &str,
    config: &[u8],
    layers: &[(String, Digest, u64)],
) -> Vec<u8> {
    let manifest = ImageManifestBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::from(manifest_type))
        .config(descriptor(
            config_type,
            &Digest::of(config),
            config.len() as u64,
        ))
        .layers(
            layers
                .iter()
                .map(|(media_type, digest, size)| descriptor(media_type, digest, *size))
                .collect::<Vec<_>>(),
        )
        .build()
        .expect("a manifest with every field set");
    to_json(&manifest)
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

pub(super) fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
