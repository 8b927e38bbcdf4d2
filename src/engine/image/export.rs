//! io.podman.ExportImage: `docker-archive:`, `oci-archive:` and `oci:` destinations. Layers go out as the
//! exact tarballs they came in as (see `storage::archive::split`), so an exported image keeps its
//! DiffIDs and its config byte for byte, hence its image ID.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageIndex, ImageManifestBuilder, MediaType, SCHEMA_VERSION};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::blobs::blob_path;
use super::document::{OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP, OCI_MANIFEST, descriptor, to_json};
use super::index::Image;
use super::reference::Reference;
use super::service::Images;
use crate::engine::error::{Error, Result};
use crate::engine::id::digest::Digest;
use crate::engine::storage::fs::unlinked_temp_file;
use crate::engine::storage::pgzip::{self, GzipOptions};

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
            return Err(Error::invalid("destination", "no export destination given"));
        }
        Ok(match kind {
            "oci-archive" => Destination::OciArchive(path, r),
            "oci" => Destination::OciDir(path, r),
            _ => Destination::DockerArchive(path, r),
        })
    }
}

impl Images {
    /// io.podman.ExportImage: exports image `name`; returns its ID.
    pub fn export_image(&self, name: &str, options: ExportOptions) -> Result<String> {
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
                    .map_err(|e| Error::invalid("tags", e.to_string()))?
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
                    sink.finish(&path)
                })?;
            }
            Destination::OciArchive(path, _) => {
                write_atomically(&path, |file| {
                    let mut sink = TarSink(tar::Builder::new(file));
                    self.write_oci(&mut sink, &image, &config, &names, options.compress)?;
                    sink.finish(&path)
                })?;
            }
            Destination::OciDir(path, _) => {
                let mut sink = DirSink(path);
                self.write_oci(&mut sink, &image, &config, &names, options.compress)?;
            }
        }
        Ok(image.record.id.to_string())
    }

    /// A layer's tarball as it will be written: the original bytes, or gzipped into a
    /// temporary file. Returns (reader, size, digest of what is written).
    fn layer_blob(&self, diff_id: &Digest, compress: bool) -> Result<(Box<dyn Read>, u64, Digest)> {
        if !compress {
            let record = self.layers.record(diff_id)?;
            let tarball = self.layers.tarball(diff_id)?;
            return Ok((Box::new(tarball), record.size, diff_id.clone()));
        }
        let (file, size, digest) = self.gzip_layer(diff_id)?;
        Ok((Box::new(file), size, digest))
    }

    /// A layer's tarball gzipped (see [`gzip_options`]) into an unlinked temporary file,
    /// rewound: (file, size, digest of the gzip blob).
    pub(super) fn gzip_layer(&self, diff_id: &Digest) -> Result<(std::fs::File, u64, Digest)> {
        let mut tarball = self.layers.tarball(diff_id)?;
        let file = unlinked_temp_file(&self.tmp, "gzip")?;
        let mut hashing = HashingWriter::new(file);
        pgzip::gzip(&mut tarball, &mut hashing, gzip_options())
            .map_err(|e| Error::io("compress layer", &self.tmp, e))?;
        let (mut file, size, digest) = hashing.finish();
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("rewind", &self.tmp, e))?;
        Ok((file, size, digest))
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
        sink.add_bytes(&config_path, config)?;
        let manifest = json!([{
            "Config": config_path,
            "RepoTags": names,
            "Layers": layer_paths,
        }]);
        let bytes = serde_json::to_vec(&manifest).expect("a JSON value serializes");
        sink.add_bytes("manifest.json", &bytes)
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
        sink.add_bytes("oci-layout", layout)?;
        let config_digest = image.record.id.digest();
        sink.add_bytes(&blob_path(&config_digest), config)?;
        let mut layers = Vec::new();
        for diff_id in &image.record.layers {
            let (reader, size, digest) = self.layer_blob(diff_id, compress)?;
            sink.add(&blob_path(&digest), size, reader)?;
            let media_type = if compress { OCI_LAYER_GZIP } else { OCI_LAYER };
            layers.push(descriptor(media_type, &digest, size));
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(SCHEMA_VERSION)
            .media_type(MediaType::from(OCI_MANIFEST))
            .config(descriptor(OCI_CONFIG, &config_digest, config.len() as u64))
            .layers(layers)
            .build()
            .map_err(|e| Error::internal("OCI manifest", e))?;
        let manifest = to_json(&manifest);
        let manifest_digest = Digest::of(&manifest);
        sink.add_bytes(&blob_path(&manifest_digest), &manifest)?;
        // One descriptor, under one name: an index that lists a manifest several times is
        // valid OCI, but Podman and skopeo then refuse to load it without being told which.
        let mut entry = descriptor(OCI_MANIFEST, &manifest_digest, manifest.len() as u64);
        if let Some(name) = names.first() {
            entry.set_annotations(Some(HashMap::from([(
                "org.opencontainers.image.ref.name".to_string(),
                name.clone(),
            )])));
        }
        let mut index = ImageIndex::default();
        index.set_manifests(vec![entry]);
        let index = to_json(&index);
        sink.add_bytes("index.json", &index)
    }
}

/// Where export writes files.
trait Sink {
    fn add(&mut self, path: &str, size: u64, data: Box<dyn Read + '_>) -> Result<()>;

    /// Adds a file whose whole content is in memory.
    fn add_bytes(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.add(path, bytes.len() as u64, Box::new(bytes))
    }
}

struct TarSink<W: Write>(tar::Builder<W>);

impl<W: Write> TarSink<W> {
    /// Ends the archive written to `path` and flushes it.
    fn finish(self, path: &Path) -> Result<()> {
        self.0
            .into_inner()
            .map_err(|e| Error::io("write", path, e))?
            .flush()
            .map_err(|e| Error::io("write", path, e))
    }
}

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
        Err(e) => match std::fs::remove_file(&temp) {
            Ok(()) => Err(e),
            Err(cleanup) => Err(e.with_cleanup("remove partial export", cleanup)),
        },
    }
}

/// How layers are gzipped for export and push: on every core, at level 1.
///
/// Level 1, because the time saved compressing outweighs the bytes saved sending but on slow
/// links: on a 466 MiB tarball of /usr (2 threads, flate2's Rust backend) level 1 took 2.0 s
/// for 234 MB and level 6 12 s for 201 MB, so level 6 pays only below ~3 MB/s; on the
/// registry benchmark's layer it saves 1% for 4.5 times the time. The same level and chunk
/// size always give the same blob for a layer, so a pushed layer keeps its digest.
pub(super) fn gzip_options() -> GzipOptions {
    GzipOptions::new(1)
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

    fn finish(self) -> (W, u64, Digest) {
        (self.inner, self.size, Digest::of_hasher(self.hasher))
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
}
