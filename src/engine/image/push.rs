//! io.podman.PushImage: a stored image to a registry.
//!
//! Each layer goes up the cheapest way that works: a blob the registry already has in the
//! target repository (asked with `HEAD`) is not sent; one it has in another repository, as
//! recorded when it was pulled or pushed there (`storage::origins`), is mounted across; only
//! then is it uploaded, gzipped (on every core, and for a layer over 8 MiB while it uploads:
//! see `push_gzipped`). Layers always go to a registry compressed, whatever `compress` says,
//! as they did from Podman 1.x: its `compress` forced compression for `dir:` destinations
//! only, and a registry given uncompressed layers stores three times the bytes.
//! The config follows, and the manifest last, in the format asked for (`oci`, or `v2s2` /
//! `docker` for Docker schema 2; by default the image's own).

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use super::document::{
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST, OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP,
    OCI_MANIFEST, pushed_manifest,
};
use super::export::gzip_options;
use super::reference::Reference;
use super::service::Images;
use crate::engine::error::{Error, Result};
use crate::engine::id::digest::Digest;
use crate::engine::registry::{CallOptions, Client, policy};
use crate::engine::storage::origins::LayerOrigin;
use crate::engine::storage::pgzip::GzipReader;

/// Docker's gzip layer type.
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Layers larger than this (as stored) are gzipped while they upload; smaller ones first, to
/// go up in one request whose digest is asked for before (the registry client's own
/// threshold for one-request uploads).
const STREAM_OVER: u64 = 8 << 20;
/// The most gzip blobs of a layer known in other registries that are asked for before it is
/// gzipped and uploaded.
const MAX_ELSEWHERE: usize = 4;

/// PushImage's input.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// The local image: a name, ID or ID prefix.
    pub name: String,
    /// Where to: `[docker://]REGISTRY/REPO[:TAG]`; empty: the image's name.
    pub destination: String,
    /// TLS, certificates and credentials for this call.
    pub call: CallOptions,
    /// A signature policy file to check is readable; `None`: none.
    pub signature_policy: Option<PathBuf>,
    /// The call's `compress`: accepted, and changes nothing (see the module doc).
    pub compress: bool,
    /// `oci`, `v2s2` (or `docker`), or empty for the image's own format.
    pub format: String,
    /// Sign the image with this key (not supported: an error).
    pub sign_by: String,
}

/// How a layer's blob is compressed, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Other,
}

fn compression_of(media_type: &str) -> Compression {
    if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
        Compression::Gzip
    } else if media_type.ends_with(".tar") {
        Compression::None
    } else {
        Compression::Other
    }
}

/// The manifest format of a push: (manifest, config, plain layer, gzip layer) media types.
struct Format {
    manifest: &'static str,
    config: &'static str,
    plain: &'static str,
    gzip: &'static str,
}

const OCI: Format = Format {
    manifest: OCI_MANIFEST,
    config: OCI_CONFIG,
    plain: OCI_LAYER,
    gzip: OCI_LAYER_GZIP,
};
const DOCKER: Format = Format {
    manifest: DOCKER_MANIFEST,
    config: DOCKER_CONFIG,
    plain: DOCKER_LAYER,
    gzip: DOCKER_LAYER_GZIP,
};

impl Format {
    fn layer_type(&self, compression: Compression) -> Option<&'static str> {
        match compression {
            Compression::None => Some(self.plain),
            Compression::Gzip => Some(self.gzip),
            Compression::Other => None,
        }
    }
}

impl Images {
    /// io.podman.PushImage: pushes the image and returns its ID.
    pub fn push(&self, options: &PushOptions) -> Result<String> {
        if !options.sign_by.is_empty() {
            return Err(Error::invalid(
                "signBy",
                format!(
                    "podlink cannot sign images (asked to sign with {:?})",
                    options.sign_by
                ),
            ));
        }
        let image = self.resolve(&options.name)?;
        let destination = match options.destination.trim() {
            "" => image.record.names.first().cloned().ok_or_else(|| {
                Error::invalid("tag", "the image has no name: give a destination")
            })?,
            d => d.strip_prefix("docker://").unwrap_or(d).to_string(),
        };
        let reference =
            Reference::parse(&destination).map_err(|e| Error::invalid("tag", e.to_string()))?;
        let Some(registry) = reference.domain.clone().filter(|d| d != "localhost") else {
            return Err(Error::invalid(
                "tag",
                format!("{destination:?} names no registry to push to"),
            ));
        };
        if let Some(policy) = &options.signature_policy {
            // A push checks nothing against the policy (it governs what is pulled), but a
            // policy that cannot be read is the caller's mistake and is said so.
            policy::validate(policy).map_err(|e| Error::invalid("signaturePolicy", e))?;
        }
        let format = match options.format.as_str() {
            "oci" => &OCI,
            "v2s2" | "docker" => &DOCKER,
            "" if image.record.manifest_type == DOCKER_MANIFEST => &DOCKER,
            "" => &OCI,
            other => {
                return Err(Error::invalid(
                    "format",
                    format!("{other:?} is not a manifest format: use oci or v2s2"),
                ));
            }
        };
        let full = reference.repository();
        let repo = full
            .strip_prefix(&format!("{registry}/"))
            .unwrap_or(&full)
            .to_string();
        let conf = self.registry.conf()?;
        let client = Client::open(&self.registry, &conf, &registry, &options.call)?;
        let mut layers = Vec::new();
        for diff_id in &image.record.layers {
            layers.push(self.push_layer(&client, &repo, diff_id, format)?);
        }
        let config = self.config_bytes(&image)?;
        let config_digest = Digest::of(&config);
        if !client.blob_exists(&repo, &config_digest)? {
            let bytes = config.clone();
            client.upload_blob(&repo, &config_digest, config.len() as u64, &move || {
                Ok(Box::new(std::io::Cursor::new(bytes.clone())))
            })?;
        }
        let manifest = pushed_manifest(format.manifest, format.config, &config, &layers);
        let tag = match (&reference.tag, &reference.digest) {
            (Some(tag), _) => tag.clone(),
            (None, Some(digest)) => digest.clone(),
            (None, None) => super::reference::DEFAULT_TAG.to_string(),
        };
        let digest = client.put_manifest(&repo, &tag, format.manifest, &manifest)?;
        log::info!("pushed {} as {full}:{tag} ({digest})", image.record.id);
        Ok(image.record.id.to_string())
    }

    /// Makes layer `diff_id` present in `repo`; returns its (media type, digest, size) there.
    fn push_layer(
        &self,
        client: &Client,
        repo: &str,
        diff_id: &Digest,
        format: &Format,
    ) -> Result<(String, Digest, u64)> {
        let registry = client.registry();
        // Compressed blobs known to hold this layer, usable in this format.
        let known: Vec<(LayerOrigin, &'static str)> = self
            .origins
            .lock()
            .unwrap()
            .list(diff_id)
            .into_iter()
            .filter(|o| o.registry == registry)
            .filter_map(|o| {
                let compression = compression_of(&o.media_type);
                let usable = compression != Compression::None;
                let media_type = format.layer_type(compression).filter(|_| usable)?;
                Some((o, media_type))
            })
            .collect();
        let mut reused = None;
        for (origin, media_type) in &known {
            // Only a shortcut: a registry that will not say, or will not mount (Harbor and
            // ECR refuse some mounts), gets the layer uploaded instead.
            let found = client
                .blob_exists(repo, &origin.digest)
                .and_then(|here| {
                    Ok(here
                        || (origin.repository != repo
                            && client.mount_blob(repo, &origin.digest, &origin.repository)?))
                })
                .unwrap_or_else(|e| {
                    log::info!("{e}; uploading layer {diff_id} instead");
                    false
                });
            if found {
                log::debug!("layer {diff_id}: {} is in {repo} already", origin.digest);
                reused = Some((*media_type, origin.digest.clone(), origin.size));
                break;
            }
        }
        let (media_type, digest, size) = match reused {
            Some(reused) => reused,
            None => {
                let (digest, size) = self.push_gzipped(client, repo, diff_id, &known)?;
                (format.gzip, digest, size)
            }
        };
        self.note_origin(
            diff_id,
            LayerOrigin {
                registry: registry.to_string(),
                repository: repo.to_string(),
                digest: digest.clone(),
                media_type: media_type.to_string(),
                size,
            },
        );
        Ok((media_type.to_string(), digest, size))
    }

    /// Uploads layer `diff_id` gzipped; returns the blob's (digest, size).
    ///
    /// A small layer is gzipped first (into a temporary file), so that `repo` can be asked
    /// for the blob before it is sent, in one request. A larger one is gzipped while it is
    /// sent: the upload proceeds while the next chunks compress, and no temporary file is
    /// written and read back (on the registry benchmark, 2 cores and loopback, about 7%
    /// quicker; more where the network, not the CPU, is the limit). Its digest is known only
    /// at the end, so `repo` is asked beforehand for the layer's gzip blobs recorded in other
    /// registries: podlink gzips a layer the same way every time, so one it pushed elsewhere
    /// has the digest it would upload. Those recorded in this registry (`known`) were asked
    /// for already. A blob `repo` has that no record names is uploaded again (the registry
    /// keeps one copy).
    fn push_gzipped(
        &self,
        client: &Client,
        repo: &str,
        diff_id: &Digest,
        known: &[(LayerOrigin, &'static str)],
    ) -> Result<(Digest, u64)> {
        if self.layers.record(diff_id)?.size <= STREAM_OVER {
            let (file, size, digest) = self.gzip_layer(diff_id)?;
            if !client.blob_exists(repo, &digest)? {
                client.upload_blob(repo, &digest, size, &|| {
                    let mut f = file.try_clone()?;
                    f.seek(SeekFrom::Start(0))?;
                    Ok(Box::new(f) as Box<dyn Read + Send>)
                })?;
            }
            return Ok((digest, size));
        }
        let registry = client.registry();
        let mut elsewhere: Vec<LayerOrigin> = self.origins.lock().unwrap().list(diff_id);
        elsewhere.retain(|o| {
            o.registry != registry
                && compression_of(&o.media_type) == Compression::Gzip
                && !known.iter().any(|(k, _)| k.digest == o.digest)
        });
        let mut asked = Vec::new();
        for origin in elsewhere {
            if asked.len() == MAX_ELSEWHERE {
                break;
            }
            if asked.contains(&origin.digest) {
                continue;
            }
            if client.blob_exists(repo, &origin.digest)? {
                log::debug!("layer {diff_id}: {} is in {repo} already", origin.digest);
                return Ok((origin.digest, origin.size));
            }
            asked.push(origin.digest);
        }
        let (digest, size) = client.upload_streamed(repo, &|| {
            let tarball = self
                .layers
                .tarball(diff_id)
                .map_err(std::io::Error::other)?;
            let gzip = GzipReader::new(tarball, gzip_options())?;
            Ok(Box::new(gzip) as Box<dyn Read + Send>)
        })?;
        Ok((digest, size))
    }
}
