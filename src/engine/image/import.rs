//! io.podman.ImportImage: root filesystem tarballs (a server path or an http(s) URL),
//! `docker-archive:` (the `docker save` / `podman save` format), `oci-archive:` and `oci:`
//! layouts.
//!
//! What an archive says is not trusted: every digest is parsed into a `Digest` before it
//! names a blob or a stored layer, a blob named by its digest must have that digest, and
//! what an import writes is charged to a `Budget` (bytes, tar entries, free space).

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::blobs::{BlobReader, Blobs};
use super::changes;
use super::commit::{NewImage, NewLayer, layer_sizes};
use super::document::{
    OCI_MANIFEST, check_descriptor_digests, config_diff_ids, docker_manifest, oci_manifest,
    rootfs_config,
};
use super::reference::Reference;
use super::service::Images;
use crate::engine::error::{Error, Result};
use crate::engine::id::digest::Digest;
use crate::engine::storage::budget::Budget;

/// `ImportImage`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// A tarball path or URL, or `docker-archive:PATH`, `oci-archive:PATH[:REF]`, `oci:DIR[:REF]`.
    pub source: String,
    /// The name to give the image (optional for archives, which carry their own).
    pub reference: String,
    /// History comment of an imported root filesystem.
    pub message: String,
    /// Dockerfile instructions applied to an imported root filesystem's config.
    pub changes: Vec<String>,
}

/// Where an import comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    Rootfs(PathBuf),
    Url(String),
    DockerArchive(PathBuf),
    OciArchive(PathBuf, Option<String>),
    OciDir(PathBuf, Option<String>),
}

impl Source {
    fn parse(source: &str) -> Result<Self> {
        let split_ref = |rest: &str| match rest.split_once(':') {
            Some((path, r)) if !r.is_empty() => (PathBuf::from(path), Some(r.to_string())),
            _ => (PathBuf::from(rest), None),
        };
        Ok(if let Some(rest) = source.strip_prefix("docker-archive:") {
            Source::DockerArchive(split_ref(rest).0)
        } else if let Some(rest) = source.strip_prefix("oci-archive:") {
            let (path, r) = split_ref(rest);
            Source::OciArchive(path, r)
        } else if let Some(rest) = source.strip_prefix("oci:") {
            let (path, r) = split_ref(rest);
            Source::OciDir(path, r)
        } else if source.starts_with("http://") || source.starts_with("https://") {
            Source::Url(source.to_string())
        } else if source.is_empty() {
            return Err(Error::invalid("source", "no import source given"));
        } else {
            Source::Rootfs(PathBuf::from(source))
        })
    }
}

/// The annotation naming an image in an OCI index.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

impl Images {
    /// io.podman.ImportImage: imports an image; returns its ID (the first one, for an
    /// archive holding several).
    pub fn import_image(&self, options: ImportOptions) -> Result<String> {
        let extra_name = if options.reference.is_empty() {
            None
        } else {
            Some(
                Reference::parse(&options.reference)
                    .map_err(|e| Error::invalid("reference", e.to_string()))?
                    .normalized(),
            )
        };
        match Source::parse(&options.source)? {
            Source::Rootfs(path) => {
                let file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
                self.import_rootfs(file, extra_name, &options)
            }
            Source::Url(url) => {
                let body = self.fetch(&url)?;
                self.import_rootfs(body, extra_name, &options)
            }
            Source::DockerArchive(path) => {
                let budget = self.budget();
                let blobs = Blobs::archive(&path, &self.tmp, &budget)?;
                self.load_docker_archive(&blobs, extra_name, &budget)
            }
            Source::OciArchive(path, r) => {
                let budget = self.budget();
                let blobs = Blobs::archive(&path, &self.tmp, &budget)?;
                self.load_oci(&blobs, r.as_deref(), extra_name, &budget)
            }
            Source::OciDir(path, r) => {
                let budget = self.budget();
                self.load_oci(&Blobs::Dir(path), r.as_deref(), extra_name, &budget)
            }
        }
    }

    fn import_rootfs(
        &self,
        input: impl Read,
        name: Option<String>,
        options: &ImportOptions,
    ) -> Result<String> {
        // The changes are applied once, before spending time on the tarball: bad ones are
        // refused first.
        let mut settings = Map::new();
        changes::apply(&mut settings, &options.changes)
            .map_err(|e| Error::invalid("changes", e.to_string()))?;
        let staged = self.layers.stage(input, &self.budget())?;
        let config = rootfs_config(&staged.record.diff_id, &options.message, settings);
        let manifest = oci_manifest(
            &config,
            &[(staged.record.diff_id.clone(), staged.record.size)],
        );
        self.store_image(NewImage {
            layers: vec![NewLayer::Staged(staged)],
            config,
            manifest,
            manifest_type: OCI_MANIFEST.into(),
            names: name.into_iter().collect(),
        })
    }

    /// Stages the layers of a config: those already stored are reused, others extracted.
    /// Every DiffID is validated first: only then may it name a stored layer. `open` gives
    /// the blob of layer `i`, whose digest is checked once it is extracted.
    fn layers_for<'a>(
        &self,
        config: &[u8],
        budget: &Budget,
        mut open: impl FnMut(usize) -> Result<BlobReader<'a>>,
    ) -> Result<Vec<NewLayer>> {
        let config: Value = serde_json::from_slice(config)
            .map_err(|e| Error::invalid("source", format!("image config is not JSON: {e}")))?;
        let diff_ids = config_diff_ids(&config)?;
        let mut layers = Vec::new();
        for (i, diff_id) in diff_ids.into_iter().enumerate() {
            if self.layers.exists(&diff_id) {
                layers.push(NewLayer::Existing(diff_id));
            } else {
                let mut blob = open(i)?;
                let staged = self.layers.stage(&mut blob, budget)?;
                blob.verify()?;
                layers.push(NewLayer::Staged(staged));
            }
        }
        Ok(layers)
    }

    fn load_docker_archive(
        &self,
        blobs: &Blobs,
        extra_name: Option<String>,
        budget: &Budget,
    ) -> Result<String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry {
            config: String,
            #[serde(default)]
            repo_tags: Option<Vec<String>>,
            layers: Vec<String>,
        }
        let manifest: Vec<Entry> = serde_json::from_slice(&blobs.read("manifest.json")?)
            .map_err(|e| Error::invalid("source", format!("docker-archive manifest.json: {e}")))?;
        let mut first = None;
        for (n, entry) in manifest.iter().enumerate() {
            let config = blobs.read_path(&entry.config)?;
            let layers = self.layers_for(&config, budget, |i| {
                let path = entry.layers.get(i).ok_or_else(|| {
                    Error::invalid(
                        "source",
                        "docker-archive lists fewer layers than its config",
                    )
                })?;
                blobs.open_path(path)
            })?;
            let mut names = Vec::new();
            for tag in entry.repo_tags.iter().flatten() {
                names.push(
                    Reference::parse(tag)
                        .map_err(|e| Error::invalid("source", e.to_string()))?
                        .normalized(),
                );
            }
            if n == 0 {
                names.extend(extra_name.clone());
            }
            let sizes = layer_sizes(&self.layers, &layers)?;
            let manifest = docker_manifest(&config, &sizes);
            let id = self.store_image(NewImage {
                layers,
                config,
                manifest,
                manifest_type: super::document::DOCKER_MANIFEST.into(),
                names,
            })?;
            first.get_or_insert(id);
        }
        first.ok_or_else(|| Error::invalid("source", "docker-archive holds no image"))
    }

    fn load_oci(
        &self,
        blobs: &Blobs,
        wanted: Option<&str>,
        extra_name: Option<String>,
        budget: &Budget,
    ) -> Result<String> {
        let index: Value = serde_json::from_slice(&blobs.read("index.json")?)
            .map_err(|e| Error::invalid("source", format!("OCI index.json: {e}")))?;
        check_descriptor_digests(&index["manifests"])?;
        let index: ImageIndex = serde_json::from_value(index)
            .map_err(|e| Error::invalid("source", format!("OCI index.json: {e}")))?;
        let ref_name = |d: &Descriptor| {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME))
                .cloned()
        };
        let descriptors = index.manifests();
        let chosen: Vec<&Descriptor> = descriptors
            .iter()
            .filter(|d| wanted.is_none() || ref_name(d).as_deref() == wanted)
            .collect();
        let Some(descriptor) = chosen.first() else {
            return Err(Error::invalid(
                "source",
                match wanted {
                    Some(w) => format!("OCI layout has no image named {w:?}"),
                    None => "OCI layout holds no image".into(),
                },
            ));
        };
        let digest = Digest::parse(descriptor.digest().as_ref())?;
        let manifest = blobs.read_blob(&digest)?;
        let parsed: Value = serde_json::from_slice(&manifest)
            .map_err(|e| Error::invalid("source", format!("OCI manifest {digest}: {e}")))?;
        if parsed["manifests"].is_array() {
            return Err(Error::invalid(
                "source",
                "OCI layouts whose index points at another index are not supported",
            ));
        }
        check_descriptor_digests(&json!([parsed["config"]]))?;
        check_descriptor_digests(&parsed["layers"])?;
        let parsed: ImageManifest = serde_json::from_value(parsed)
            .map_err(|e| Error::invalid("source", format!("OCI manifest {digest}: {e}")))?;
        let config = blobs.read_blob(&Digest::parse(parsed.config().digest().as_ref())?)?;
        let layer_digests: Vec<Digest> = parsed
            .layers()
            .iter()
            .map(|l| Digest::parse(l.digest().as_ref()))
            .collect::<std::result::Result<_, _>>()?;
        let layers = self.layers_for(&config, budget, |i| {
            let digest = layer_digests.get(i).ok_or_else(|| {
                Error::invalid("source", "OCI manifest lists fewer layers than its config")
            })?;
            blobs.open_blob(digest)
        })?;
        // Names: the one asked for, else every ref name of this manifest that is a name (a
        // bare tag such as "latest" names nothing by itself).
        let mut names: Vec<String> = extra_name.into_iter().collect();
        if names.is_empty() {
            for d in descriptors
                .iter()
                .filter(|d| d.digest() == descriptor.digest())
            {
                if let Some(r) = ref_name(d).filter(|r| r.contains('/') || r.contains(':'))
                    && let Ok(reference) = Reference::parse(&r)
                {
                    names.push(reference.normalized());
                }
            }
        }
        let manifest_type = parsed
            .media_type()
            .clone()
            .unwrap_or_else(|| descriptor.media_type().clone())
            .to_string();
        self.store_image(NewImage {
            layers,
            config,
            manifest,
            manifest_type,
            names,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(
            Source::parse("/tmp/x.tar").unwrap(),
            Source::Rootfs("/tmp/x.tar".into())
        );
        assert_eq!(
            Source::parse("https://h/x.tgz").unwrap(),
            Source::Url("https://h/x.tgz".into())
        );
        assert_eq!(
            Source::parse("docker-archive:/a.tar").unwrap(),
            Source::DockerArchive("/a.tar".into())
        );
        assert_eq!(
            Source::parse("oci-archive:/a.tar:busybox:1").unwrap(),
            Source::OciArchive("/a.tar".into(), Some("busybox:1".into()))
        );
        assert_eq!(
            Source::parse("oci:/d").unwrap(),
            Source::OciDir("/d".into(), None)
        );
        assert!(Source::parse("").is_err());
    }

    #[test]
    fn descriptor_digests_are_validated() {
        for bad in [
            json!("sha256:../../etc/passwd"),
            json!("md5:abc"),
            json!(null),
            json!(format!("sha256:{}", "A".repeat(64))),
        ] {
            let list = json!([{ "digest": bad.clone() }]);
            assert!(check_descriptor_digests(&list).is_err(), "{bad}");
        }
        let ok = json!([{ "digest": format!("sha256:{}", "a".repeat(64)) }]);
        assert!(check_descriptor_digests(&ok).is_ok());
    }
}
