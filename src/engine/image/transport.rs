//! Getting images in and out: root filesystem tarballs (a server path or an http(s) URL),
//! `docker-archive:` (the `docker save` / `podman save` format), `oci-archive:` and `oci:`
//! layouts.
//!
//! Layers always go out as the exact tarballs they came in as (see `storage::archive`), so an
//! exported image keeps its DiffIDs and its config byte for byte, hence its image ID.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::reference::Reference;
use super::{
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST, Image, Images, NewImage, NewLayer, OCI_LAYER,
    OCI_LAYER_GZIP, OCI_MANIFEST, hex_digest, oci_manifest, rootfs_config,
};
use crate::engine::storage::budget::{Budget, Charged, Limits};
use crate::engine::storage::digest::{Digest, DigestError};
use crate::engine::storage::{self, archive};
use crate::engine::{Error, Result};

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

/// `ExportImage`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// `docker-archive:PATH`, `oci-archive:PATH`, `oci:DIR`, or a plain path (docker-archive).
    pub destination: String,
    /// Gzip the layers.
    pub compress: bool,
    /// Extra names written into the archive.
    pub tags: Vec<String>,
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

/// Where an export goes.
#[derive(Debug, PartialEq, Eq)]
enum Destination {
    DockerArchive(PathBuf, Option<String>),
    OciArchive(PathBuf, Option<String>),
    OciDir(PathBuf, Option<String>),
}

impl Destination {
    fn parse(destination: &str) -> Result<Self> {
        let split_ref = |rest: &str| -> (PathBuf, Option<String>) {
            match rest.split_once(':') {
                Some((path, r)) if !r.is_empty() => (PathBuf::from(path), Some(r.to_string())),
                _ => (PathBuf::from(rest), None),
            }
        };
        let (kind, rest) = match destination.split_once(':') {
            Some(("docker-archive", rest)) => ("docker-archive", rest),
            Some(("oci-archive", rest)) => ("oci-archive", rest),
            Some(("oci", rest)) => ("oci", rest),
            _ => ("docker-archive", destination),
        };
        let (path, r) = if kind == "docker-archive" && rest == destination {
            (PathBuf::from(rest), None)
        } else {
            split_ref(rest)
        };
        if path.as_os_str().is_empty() {
            return Err(Error::InvalidArgument("no export destination given".into()));
        }
        Ok(match kind {
            "oci-archive" => Destination::OciArchive(path, r),
            "oci" => Destination::OciDir(path, r),
            _ => Destination::DockerArchive(path, r),
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
            .timeout_connect(Some(connect))
            .timeout_per_read(Some(read))
            .build()
            .into();
        let response = agent.get(url).call().map_err(|e| {
            Error::InvalidArgument(match &e {
                ureq::Error::Timeout(ureq::Timeout::Connect) => format!(
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

    /// Exports image `name`; returns its ID.
    pub fn export(&self, name: &str, options: ExportOptions) -> Result<String> {
        let image = self.resolve(name)?;
        let destination = Destination::parse(&options.destination)?;
        // Names asked for (the destination's own reference, then `tags`) come first, then the
        // image's own: the OCI formats carry only the first.
        let (Destination::DockerArchive(_, extra)
        | Destination::OciArchive(_, extra)
        | Destination::OciDir(_, extra)) = &destination;
        let mut names = Vec::new();
        for tag in extra.iter().chain(options.tags.iter()) {
            names.push(
                Reference::parse(tag)
                    .map_err(Error::InvalidArgument)?
                    .normalized(),
            );
        }
        names.extend(image.record.names.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        let config = self.config_bytes(&image)?;
        match destination {
            Destination::DockerArchive(path, _) => {
                write_atomically(&path, |file| {
                    let mut sink = TarSink(tar::Builder::new(file));
                    self.write_docker_archive(
                        &mut sink,
                        &image,
                        &config,
                        &names,
                        options.compress,
                    )?;
                    sink.0
                        .into_inner()
                        .map_err(|e| Error::io("write", &path, e))?
                        .flush()
                        .map_err(|e| Error::io("write", &path, e))
                })?;
            }
            Destination::OciArchive(path, _) => {
                write_atomically(&path, |file| {
                    let mut sink = TarSink(tar::Builder::new(file));
                    self.write_oci(&mut sink, &image, &config, &names, options.compress)?;
                    sink.0
                        .into_inner()
                        .map_err(|e| Error::io("write", &path, e))?
                        .flush()
                        .map_err(|e| Error::io("write", &path, e))
                })?;
            }
            Destination::OciDir(path, _) => {
                let mut sink = DirSink(path);
                self.write_oci(&mut sink, &image, &config, &names, options.compress)?;
            }
        }
        Ok(image.record.id.clone())
    }

    /// A layer's tarball as it will be written: the original bytes, or gzipped into a
    /// temporary file. Returns (reader, size, digest of what is written).
    fn layer_blob(&self, diff_id: &Digest, compress: bool) -> Result<(Box<dyn Read>, u64, String)> {
        let record = self.layers.record(diff_id)?;
        let tarball = self.layers.tarball(diff_id)?;
        if !compress {
            return Ok((Box::new(tarball), record.size, diff_id.to_string()));
        }
        let file = storage::unlinked_temp_file(&self.tmp, "export")?;
        let mut hashing = HashingWriter::new(file);
        {
            let mut gz = flate2::write::GzEncoder::new(&mut hashing, flate2::Compression::fast());
            io::copy(&mut { tarball }, &mut gz)
                .map_err(|e| Error::io("compress layer", &self.tmp, e))?;
            gz.finish()
                .map_err(|e| Error::io("compress layer", &self.tmp, e))?;
        }
        let (mut file, size, digest) = hashing.finish();
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("rewind", &self.tmp, e))?;
        Ok((Box::new(file), size, digest))
    }

    fn write_docker_archive(
        &self,
        sink: &mut dyn Sink,
        image: &Image,
        config: &[u8],
        names: &[String],
        compress: bool,
    ) -> Result<()> {
        let mut layer_paths = Vec::new();
        for diff_id in &image.record.layers {
            let (reader, size, _) = self.layer_blob(diff_id, compress)?;
            let path = format!("{}.tar", diff_id.hex());
            sink.add(&path, size, reader)?;
            layer_paths.push(path);
        }
        let config_path = format!("{}.json", image.record.id);
        sink.add(
            &config_path,
            config.len() as u64,
            Box::new(io::Cursor::new(config.to_vec())),
        )?;
        let manifest = json!([{
            "Config": config_path,
            "RepoTags": names,
            "Layers": layer_paths,
        }]);
        let bytes = serde_json::to_vec(&manifest).expect("a JSON value serializes");
        sink.add(
            "manifest.json",
            bytes.len() as u64,
            Box::new(io::Cursor::new(bytes)),
        )
    }

    fn write_oci(
        &self,
        sink: &mut dyn Sink,
        image: &Image,
        config: &[u8],
        names: &[String],
        compress: bool,
    ) -> Result<()> {
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        sink.add("oci-layout", layout.len() as u64, Box::new(&layout[..]))?;
        let config_digest = format!("sha256:{}", image.record.id);
        sink.add(
            &blob_path(&config_digest)?,
            config.len() as u64,
            Box::new(io::Cursor::new(config.to_vec())),
        )?;
        let mut layers = Vec::new();
        for diff_id in &image.record.layers {
            let (reader, size, digest) = self.layer_blob(diff_id, compress)?;
            sink.add(&blob_path(&digest)?, size, reader)?;
            let media_type = if compress { OCI_LAYER_GZIP } else { OCI_LAYER };
            layers.push(json!({ "mediaType": media_type, "digest": digest, "size": size }));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": super::OCI_CONFIG,
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": layers,
        });
        let manifest = serde_json::to_vec(&manifest).expect("a JSON value serializes");
        let manifest_digest = format!("sha256:{}", hex_digest(&manifest));
        sink.add(
            &blob_path(&manifest_digest)?,
            manifest.len() as u64,
            Box::new(io::Cursor::new(manifest.clone())),
        )?;
        let descriptor = |name: Option<&String>| {
            let mut d = json!({
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": manifest.len(),
            });
            if let Some(name) = name {
                d["annotations"] = json!({ "org.opencontainers.image.ref.name": name });
            }
            d
        };
        // One descriptor, under one name: an index that lists a manifest several times is
        // valid OCI, but Podman and skopeo then refuse to load it without being told which.
        let manifests = vec![descriptor(names.first())];
        let index = serde_json::to_vec(&json!({ "schemaVersion": 2, "manifests": manifests }))
            .expect("a JSON value serializes");
        sink.add(
            "index.json",
            index.len() as u64,
            Box::new(io::Cursor::new(index)),
        )
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

/// Where export writes files.
trait Sink {
    fn add(&mut self, path: &str, size: u64, data: Box<dyn Read + '_>) -> Result<()>;
}

struct TarSink<W: Write>(tar::Builder<W>);

impl<W: Write> Sink for TarSink<W> {
    fn add(&mut self, path: &str, size: u64, data: Box<dyn Read + '_>) -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        // The size is promised in the header: a reader that yields more or less is an error.
        let mut counted = ExactReader {
            inner: data,
            left: size,
        };
        self.0
            .append_data(&mut header, path, &mut counted)
            .map_err(|e| Error::io("write archive member", path, e))?;
        if counted.left != 0 {
            return Err(Error::io(
                "write archive member",
                path,
                io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        Ok(())
    }
}

struct ExactReader<'a> {
    inner: Box<dyn Read + 'a>,
    left: u64,
}

impl Read for ExactReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(self.left as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

struct DirSink(PathBuf);

impl Sink for DirSink {
    fn add(&mut self, path: &str, _size: u64, mut data: Box<dyn Read + '_>) -> Result<()> {
        let target = self.0.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        }
        let temp = target.with_extension("partial");
        let mut file = File::create(&temp).map_err(|e| Error::io("create", &temp, e))?;
        io::copy(&mut data, &mut file).map_err(|e| Error::io("write", &temp, e))?;
        std::fs::rename(&temp, &target).map_err(|e| Error::io("write", &target, e))
    }
}

/// Writes `path` through a temporary sibling renamed into place on success.
fn write_atomically(path: &Path, write: impl FnOnce(File) -> Result<()>) -> Result<()> {
    let temp = path.with_file_name(format!(
        ".{}.partial",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let file = File::create(&temp).map_err(|e| Error::io("create", &temp, e))?;
    match write(file) {
        Ok(()) => std::fs::rename(&temp, path).map_err(|e| Error::io("write", path, e)),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Counts and hashes what passes through.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn finish(self) -> (W, u64, String) {
        (
            self.inner,
            self.size,
            format!("sha256:{:x}", self.hasher.finalize()),
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
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
    fn destinations() {
        assert_eq!(
            Destination::parse("/tmp/out.tar").unwrap(),
            Destination::DockerArchive("/tmp/out.tar".into(), None)
        );
        assert_eq!(
            Destination::parse("docker-archive:/o.tar:app:1").unwrap(),
            Destination::DockerArchive("/o.tar".into(), Some("app:1".into()))
        );
        assert_eq!(
            Destination::parse("oci:/d").unwrap(),
            Destination::OciDir("/d".into(), None)
        );
        assert_eq!(
            Destination::parse("oci-archive:/o.tar").unwrap(),
            Destination::OciArchive("/o.tar".into(), None)
        );
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
