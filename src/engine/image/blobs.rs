//! The files of an archive or layout being imported, by path: a tar file (decompressed to
//! an unlinked temporary file first if it was compressed) or a directory. Blobs named by a
//! digest are read through [`Blobs::read_blob`] and [`Blobs::open_blob`], which take a
//! validated [`Digest`] (only it becomes a path) and check that the content has it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::engine::error::{Error, Result};
use crate::engine::id::digest::Digest;
use crate::engine::storage::archive::path::clean_path;
use crate::engine::storage::budget::{Budget, Charged};
use crate::engine::storage::compression::{Compression, decompress};
use crate::engine::storage::fs::unlinked_temp_file;

/// JSON members larger than this are refused rather than read into memory.
const MAX_JSON: u64 = 64 * 1024 * 1024;

/// The files of an archive or layout, by path.
pub(super) enum Blobs {
    /// A tar file and where each member's data starts.
    Tar {
        file: File,
        path: PathBuf,
        members: HashMap<String, (u64, u64)>,
    },
    /// A directory.
    Dir(PathBuf),
}

/// `blobs/sha256/<hex>`: only a validated digest names a blob.
pub(super) fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// The digest a `blobs/sha256/<hex>` path names (validated), or `None` for another path.
fn blob_digest(path: &str) -> Result<Option<Digest>> {
    let clean = clean_path(path).map_err(|e| Error::invalid("source", e.to_string()))?;
    let clean = clean.to_string_lossy();
    match clean.strip_prefix("blobs/sha256/") {
        Some(hex) => Ok(Some(Digest::parse(&format!("sha256:{hex}"))?)),
        None => Ok(None),
    }
}

/// A blob's content does not have the digest it is stored under.
fn mismatch(digest: &Digest, actual: impl std::fmt::LowerHex) -> Error {
    Error::invalid(
        "source",
        format!("blob {digest} does not match its content (sha256:{actual:x})"),
    )
}

impl Blobs {
    /// The members of the tar archive at `path`, decompressed into `tmp` first if needed
    /// (charged to `budget`).
    pub(super) fn archive(path: &Path, tmp: &Path, budget: &Budget) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let mut head = [0u8; 6];
        let n = file
            .read(&mut head)
            .map_err(|e| Error::io("read", path, e))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("read", path, e))?;
        let compression = Compression::detect(&head[..n])
            .map_err(|e| Error::invalid("source", format!("{}: {e}", path.display())))?;
        if compression != Compression::None {
            // Members must be found by offset: decompress once into an unlinked temporary file.
            let mut plain = unlinked_temp_file(tmp, "archive")?;
            let input = decompress(file).map_err(|e| Error::io("decompress", path, e))?;
            let mut input = Charged {
                inner: input,
                budget,
            };
            io::copy(&mut input, &mut plain).map_err(|e| match budget.exceeded() {
                Some(what) => Error::invalid("source", budget.error(what)),
                None => Error::io("decompress", path, e),
            })?;
            plain
                .seek(SeekFrom::Start(0))
                .map_err(|e| Error::io("rewind", tmp, e))?;
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
                    .map_err(|e| Error::invalid("source", e.to_string()))?;
                let name = entry.path().map_err(|e| Error::io("read", path, e))?;
                let name = clean_path(&name.to_string_lossy())
                    .map_err(|e| Error::invalid("source", e.to_string()))?;
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

    /// The member `name` (a path inside the archive, refused if it leaves it).
    pub(super) fn open(&self, name: &str) -> Result<Box<dyn Read + '_>> {
        let clean = clean_path(name).map_err(|e| Error::invalid("source", e.to_string()))?;
        match self {
            Blobs::Tar {
                file,
                path,
                members,
            } => {
                let key = clean.to_string_lossy();
                let (offset, size) = *members.get(key.as_ref()).ok_or_else(|| {
                    Error::invalid(
                        "source",
                        format!("{} has no member {name:?}", path.display()),
                    )
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

    /// The member `name`, read whole (a JSON document: at most `MAX_JSON` bytes).
    pub(super) fn read(&self, name: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open(name)?
            .take(MAX_JSON)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", name, e))?;
        Ok(bytes)
    }

    /// The blob `digest`, read whole; its content must have that digest.
    pub(super) fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let bytes = self.read(&blob_path(digest))?;
        let actual = Sha256::digest(&bytes);
        if format!("{actual:x}") != digest.hex() {
            return Err(mismatch(digest, actual));
        }
        Ok(bytes)
    }

    /// The blob `digest` as a stream; [`BlobReader::verify`] checks its content once read.
    pub(super) fn open_blob(&self, digest: &Digest) -> Result<BlobReader<'_>> {
        Ok(BlobReader {
            inner: self.open(&blob_path(digest))?,
            expected: Some((digest.clone(), Sha256::new())),
        })
    }

    /// The member at `path` as a stream. A path naming a blob by digest
    /// (`blobs/sha256/<hex>`, as docker-archives written by Docker 25 and later do) is checked
    /// like one; other paths (`<hex>.tar`, `<id>/layer.tar`) have no digest to check, and
    /// their layer is checked by its DiffID instead.
    pub(super) fn open_path(&self, path: &str) -> Result<BlobReader<'_>> {
        match blob_digest(path)? {
            Some(digest) => self.open_blob(&digest),
            None => Ok(BlobReader {
                inner: self.open(path)?,
                expected: None,
            }),
        }
    }

    /// The member at `path`, read whole; checked as [`Blobs::open_path`] says.
    pub(super) fn read_path(&self, path: &str) -> Result<Vec<u8>> {
        match blob_digest(path)? {
            Some(digest) => self.read_blob(&digest),
            None => self.read(path),
        }
    }
}

/// A blob being read, hashed as it goes when it has a digest to match.
pub(super) struct BlobReader<'a> {
    inner: Box<dyn Read + 'a>,
    expected: Option<(Digest, Sha256)>,
}

impl BlobReader<'_> {
    /// Reads what the consumer left (a tar reader stops at the end-of-archive blocks) and
    /// checks the digest of the whole blob.
    pub(super) fn verify(mut self) -> Result<()> {
        if self.expected.is_none() {
            return Ok(());
        }
        io::copy(&mut self, &mut io::sink()).map_err(|e| Error::io("read", "layer blob", e))?;
        let (digest, hasher) = self.expected.take().expect("checked above");
        let actual = hasher.finalize();
        if format!("{actual:x}") != digest.hex() {
            return Err(mismatch(&digest, actual));
        }
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some((_, hasher)) = &mut self.expected {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_paths_name_validated_digests() {
        let hex = "a".repeat(64);
        assert_eq!(
            blob_digest(&format!("blobs/sha256/{hex}")).unwrap(),
            Some(Digest::from_hex(&hex).unwrap())
        );
        assert_eq!(blob_digest(&format!("{hex}.tar")).unwrap(), None);
        assert_eq!(blob_digest(&format!("{hex}/layer.tar")).unwrap(), None);
        for bad in [
            "blobs/sha256/../../x".to_string(),
            format!("blobs/sha256/{}", hex.to_uppercase()),
            format!("blobs/sha256/{}", &hex[1..]),
        ] {
            assert!(blob_digest(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            blob_path(&Digest::from_hex(&hex).unwrap()),
            format!("blobs/sha256/{hex}")
        );
    }
}
