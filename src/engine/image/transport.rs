//! Getting images in: root filesystem tarballs (a server path or an http(s) URL),
//! `docker-archive:` (the `docker save` / `podman save` format), `oci-archive:` and `oci:`
//! layouts; and out, in `export`.
//!
//! What an archive says is not trusted: every digest is parsed into a `Digest` before it
//! names a blob or a stored layer, and what an import writes is charged to a `Budget`
//! (bytes, tar entries, free space). An http(s) source has connect and read timeouts.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::reference::Reference;
use super::{
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST, Images, NewImage, NewLayer, OCI_MANIFEST,
    hex_digest, oci_manifest, rootfs_config,
};
use crate::engine::error::{Error, Result};
use crate::engine::storage::budget::{Budget, Charged, Limits};
use crate::engine::storage::digest::{Digest, DigestError};
use crate::engine::storage::{self, archive};

mod export;
pub use export::ExportOptions;

/// How imports are bounded (daemon flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSettings {
    /// Bytes, entries and free space.
    pub limits: Limits,
    /// How long connecting to an http(s) source may take.
    pub connect_timeout: Duration,
    /// How long an http(s) source may send nothing, while the reply is awaited or read.
    pub read_timeout: Duration,
}

impl Default for ImportSettings {
    fn default() -> Self {
        ImportSettings {
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// A malformed digest in an archive or a record: the import's error (ErrorOccurred),
/// naming the digest.
impl From<DigestError> for Error {
    fn from(e: DigestError) -> Self {
        Error::InvalidArgument(e.to_string())
    }
}

/// The DiffIDs an image config lists (`rootfs.diff_ids`), each validated.
pub(super) fn config_diff_ids(config: &Value) -> Result<Vec<Digest>> {
    let diff_ids = &config["rootfs"]["diff_ids"];
    if diff_ids.is_null() {
        return Ok(Vec::new());
    }
    let list = diff_ids.as_array().ok_or_else(|| {
        Error::InvalidArgument("image config: rootfs.diff_ids is not an array".into())
    })?;
    list.iter()
        .map(|v| match v.as_str() {
            Some(s) => Digest::parse(s).map_err(|e| {
                Error::InvalidArgument(format!("image config lists layer {s:?}: {e}"))
            }),
            None => Err(Error::InvalidArgument(format!(
                "image config: rootfs.diff_ids holds {v}, not a digest"
            ))),
        })
        .collect()
}

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
            return Err(Error::InvalidArgument("no import source given".into()));
        } else {
            Source::Rootfs(PathBuf::from(source))
        })
    }
}

impl Images {
    /// Imports an image; returns its ID (the first one, for an archive holding several).
    pub fn import(&self, options: ImportOptions) -> Result<String> {
        let extra_name = if options.reference.is_empty() {
            None
        } else {
            Some(
                Reference::parse(&options.reference)
                    .map_err(Error::InvalidArgument)?
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

    /// A fresh budget for one import, under the configured limits.
    pub(super) fn budget(&self) -> Budget {
        Budget::new(&self.tmp, self.settings.limits.clone())
    }

    /// The body of an http(s) source, with the connect and read timeouts: a server that
    /// stalls makes the import fail with an error naming the URL and the timeout.
    fn fetch(&self, url: &str) -> Result<impl Read + use<>> {
        let connect = self.settings.connect_timeout;
        let read = self.settings.read_timeout;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_resolve(Some(connect))
            .timeout_connect(Some(connect))
            .timeout_per_read(Some(read))
            .build()
            .into();
        let response = agent.get(url).call().map_err(|e| {
            Error::InvalidArgument(match &e {
                ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => format!(
                    "fetch {url}: no connection within {} (--http-connect-timeout)",
                    humantime::format_duration(connect)
                ),
                ureq::Error::Timeout(_) => format!(
                    "fetch {url}: no data for {} (--http-read-timeout)",
                    humantime::format_duration(read)
                ),
                _ => format!("fetch {url}: {e}"),
            })
        })?;
        Ok(TimedBody {
            inner: response.into_body().into_reader(),
            url: url.to_string(),
            read,
        })
    }

    fn import_rootfs(
        &self,
        input: impl Read,
        name: Option<String>,
        options: &ImportOptions,
    ) -> Result<String> {
        // Refuse bad changes before spending time on the tarball.
        super::changes::apply(&mut serde_json::Map::new(), &options.changes)
            .map_err(Error::InvalidArgument)?;
        let staged = self.layers.stage(input, &self.budget())?;
        let config = rootfs_config(&staged.record.diff_id, &options.message, &options.changes)?;
        let manifest = oci_manifest(
            &config,
            &[(staged.record.diff_id.clone(), staged.record.size)],
        );
        self.commit(NewImage {
            layers: vec![NewLayer::Staged(staged)],
            config,
            manifest,
            manifest_type: OCI_MANIFEST.into(),
            names: name.into_iter().collect(),
        })
    }

    /// Stages the layers of a config: those already stored are reused, others extracted.
    /// Every DiffID is validated first: only then may it name a stored layer.
    fn layers_for<'a>(
        &self,
        config: &[u8],
        budget: &Budget,
        mut open: impl FnMut(usize) -> Result<Box<dyn Read + 'a>>,
    ) -> Result<Vec<NewLayer>> {
        let config: Value = serde_json::from_slice(config)
            .map_err(|e| Error::InvalidArgument(format!("image config is not JSON: {e}")))?;
        let diff_ids = config_diff_ids(&config)?;
        let mut layers = Vec::new();
        for (i, diff_id) in diff_ids.into_iter().enumerate() {
            if self.layers.exists(&diff_id) {
                layers.push(NewLayer::Existing(diff_id));
            } else {
                layers.push(NewLayer::Staged(self.layers.stage(open(i)?, budget)?));
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
            .map_err(|e| Error::InvalidArgument(format!("docker-archive manifest.json: {e}")))?;
        let mut first = None;
        for (n, entry) in manifest.iter().enumerate() {
            let config = blobs.read(&entry.config)?;
            let layers = self.layers_for(&config, budget, |i| {
                let path = entry.layers.get(i).ok_or_else(|| {
                    Error::InvalidArgument(
                        "docker-archive lists fewer layers than its config".into(),
                    )
                })?;
                blobs.open(path)
            })?;
            let mut names = Vec::new();
            for tag in entry.repo_tags.iter().flatten() {
                names.push(
                    Reference::parse(tag)
                        .map_err(Error::InvalidArgument)?
                        .normalized(),
                );
            }
            if n == 0 {
                names.extend(extra_name.clone());
            }
            let sizes = layer_sizes(&self.layers, &layers)?;
            let manifest = docker_manifest(&config, &sizes);
            let id = self.commit(NewImage {
                layers,
                config,
                manifest,
                manifest_type: DOCKER_MANIFEST.into(),
                names,
            })?;
            first.get_or_insert(id);
        }
        first.ok_or_else(|| Error::InvalidArgument("docker-archive holds no image".into()))
    }

    fn load_oci(
        &self,
        blobs: &Blobs,
        wanted: Option<&str>,
        extra_name: Option<String>,
        budget: &Budget,
    ) -> Result<String> {
        let index: Value = serde_json::from_slice(&blobs.read("index.json")?)
            .map_err(|e| Error::InvalidArgument(format!("OCI index.json: {e}")))?;
        let descriptors = index["manifests"].as_array().cloned().unwrap_or_default();
        let ref_name = |d: &Value| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .map(str::to_string)
        };
        let chosen: Vec<&Value> = descriptors
            .iter()
            .filter(|d| wanted.is_none() || ref_name(d).as_deref() == wanted)
            .collect();
        let Some(descriptor) = chosen.first() else {
            return Err(Error::InvalidArgument(match wanted {
                Some(w) => format!("OCI layout has no image named {w:?}"),
                None => "OCI layout holds no image".into(),
            }));
        };
        let digest = descriptor["digest"].as_str().unwrap_or_default();
        let manifest = blobs.read(&blob_path(digest)?)?;
        let parsed: Value = serde_json::from_slice(&manifest)
            .map_err(|e| Error::InvalidArgument(format!("OCI manifest {digest}: {e}")))?;
        if parsed["manifests"].is_array() {
            return Err(Error::InvalidArgument(
                "OCI layouts whose index points at another index are not supported".into(),
            ));
        }
        let config = blobs.read(&blob_path(
            parsed["config"]["digest"].as_str().unwrap_or_default(),
        )?)?;
        let layer_digests: Vec<String> = parsed["layers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l["digest"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let layers = self.layers_for(&config, budget, |i| {
            let digest = layer_digests.get(i).ok_or_else(|| {
                Error::InvalidArgument("OCI manifest lists fewer layers than its config".into())
            })?;
            blobs.open(&blob_path(digest)?)
        })?;
        // Names: the one asked for, else every ref name of this manifest that is a name (a
        // bare tag such as "latest" names nothing by itself).
        let mut names: Vec<String> = extra_name.into_iter().collect();
        if names.is_empty() {
            for d in descriptors
                .iter()
                .filter(|d| d["digest"] == descriptor["digest"])
            {
                if let Some(r) = ref_name(d).filter(|r| r.contains('/') || r.contains(':'))
                    && let Ok(reference) = Reference::parse(&r)
                {
                    names.push(reference.normalized());
                }
            }
        }
        let manifest_type = parsed["mediaType"]
            .as_str()
            .or(descriptor["mediaType"].as_str())
            .unwrap_or(OCI_MANIFEST)
            .to_string();
        self.commit(NewImage {
            layers,
            config,
            manifest,
            manifest_type,
            names,
        })
    }
}

/// Sizes of the layers of a new image.
fn layer_sizes(
    store: &storage::layers::LayerStore,
    layers: &[NewLayer],
) -> Result<Vec<(Digest, u64)>> {
    layers
        .iter()
        .map(|l| match l {
            NewLayer::Staged(s) => Ok((s.record.diff_id.clone(), s.record.size)),
            NewLayer::Existing(diff_id) => Ok((diff_id.clone(), store.record(diff_id)?.size)),
        })
        .collect()
}

/// A Docker schema 2 manifest for `config` and uncompressed layers.
fn docker_manifest(config: &[u8], layers: &[(Digest, u64)]) -> Vec<u8> {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {
            "mediaType": DOCKER_CONFIG,
            "digest": format!("sha256:{}", hex_digest(config)),
            "size": config.len(),
        },
        "layers": layers.iter().map(|(digest, size)| json!({
            "mediaType": DOCKER_LAYER,
            "digest": digest,
            "size": size,
        })).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&manifest).expect("a JSON value serializes")
}

/// `blobs/sha256/<hex>` for a digest, refusing anything that is not a sha256 digest (the
/// digest comes from the archive and becomes a path).
fn blob_path(digest: &str) -> Result<String> {
    Ok(format!("blobs/sha256/{}", Digest::parse(digest)?.hex()))
}

/// The files of an archive or layout, by path.
enum Blobs {
    /// A tar file (decompressed to a temporary file first if it was compressed) and where
    /// each member's data starts.
    Tar {
        file: File,
        path: PathBuf,
        members: HashMap<String, (u64, u64)>,
    },
    /// A directory.
    Dir(PathBuf),
}

/// JSON members larger than this are refused rather than read into memory.
const MAX_JSON: u64 = 64 * 1024 * 1024;

impl Blobs {
    fn archive(path: &Path, tmp: &Path, budget: &Budget) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let mut head = [0u8; 6];
        let n = file
            .read(&mut head)
            .map_err(|e| Error::io("read", path, e))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("read", path, e))?;
        let compression = archive::Compression::detect(&head[..n])
            .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?;
        if compression != archive::Compression::None {
            // Members must be found by offset: decompress once into an unlinked temporary file.
            let temp = tmp.join(storage::unique_name("archive"));
            let mut plain = File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&temp)
                .map_err(|e| Error::io("create", &temp, e))?;
            let _ = std::fs::remove_file(&temp);
            let input = archive::decompress(file).map_err(|e| Error::io("decompress", path, e))?;
            let mut input = Charged {
                inner: input,
                budget,
            };
            io::copy(&mut input, &mut plain).map_err(|e| match budget.exceeded() {
                Some(what) => Error::InvalidArgument(budget.error(what)),
                None => Error::io("decompress", path, e),
            })?;
            plain
                .seek(SeekFrom::Start(0))
                .map_err(|e| Error::io("rewind", &temp, e))?;
            file = plain;
        }
        let mut members = HashMap::new();
        {
            let mut archive = tar::Archive::new(&file);
            let entries = archive
                .entries_with_seek()
                .map_err(|e| Error::io("read", path, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::io("read", path, e))?;
                // Each member costs memory here: the count is bounded as a layer's is.
                budget
                    .charge_entry()
                    .map_err(|e| Error::InvalidArgument(e.to_string()))?;
                let name = entry.path().map_err(|e| Error::io("read", path, e))?;
                let name = archive::clean_path(&name.to_string_lossy())
                    .map_err(|e| Error::InvalidArgument(e.to_string()))?;
                if entry.header().entry_type().is_file() {
                    members.insert(
                        name.to_string_lossy().into_owned(),
                        (entry.raw_file_position(), entry.size()),
                    );
                }
            }
        }
        Ok(Blobs::Tar {
            file,
            path: path.to_path_buf(),
            members,
        })
    }

    fn open(&self, name: &str) -> Result<Box<dyn Read + '_>> {
        let clean = archive::clean_path(name).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        match self {
            Blobs::Tar {
                file,
                path,
                members,
            } => {
                let key = clean.to_string_lossy();
                let (offset, size) = *members.get(key.as_ref()).ok_or_else(|| {
                    Error::InvalidArgument(format!("{} has no member {name:?}", path.display()))
                })?;
                let mut handle = file.try_clone().map_err(|e| Error::io("open", path, e))?;
                // Clones share the file offset; each reader seeks before it reads, and the
                // members are read one after the other.
                handle
                    .seek(SeekFrom::Start(offset))
                    .map_err(|e| Error::io("read", path, e))?;
                Ok(Box::new(handle.take(size)))
            }
            Blobs::Dir(dir) => {
                let path = dir.join(clean);
                let file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
                Ok(Box::new(file))
            }
        }
    }

    fn read(&self, name: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open(name)?
            .take(MAX_JSON)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", name, e))?;
        Ok(bytes)
    }
}

/// The body of an http(s) response; a read that times out says which URL and timeout.
struct TimedBody<R> {
    inner: R,
    url: String,
    read: Duration,
}

impl<R: Read> Read for TimedBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let timed_out = matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) || e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)));
            if timed_out {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "fetch {}: no data for {} (--http-read-timeout)",
                        self.url,
                        humantime::format_duration(self.read)
                    ),
                )
            } else {
                io::Error::new(e.kind(), format!("fetch {}: {e}", self.url))
            }
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
    fn blob_paths_refuse_traversal() {
        assert!(blob_path("sha256:../../etc/passwd").is_err());
        assert!(blob_path("md5:abc").is_err());
        let ok = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            blob_path(&ok).unwrap(),
            format!("blobs/sha256/{}", "a".repeat(64))
        );
    }
}
