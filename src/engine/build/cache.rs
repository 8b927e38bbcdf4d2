//! The build cache, per instruction chain. The key of an instruction is a digest of the key
//! before it (for a stage's first: the ID of its parent image, with what else shapes the
//! stage's image: its format, and for the last stage the build's labels and annotations;
//! not the RUN containers' resources, volumes or hosts, which Docker's cache ignores too), the instruction's text with the variables in scope (what its expansion
//! reads), and for COPY and ADD the digest of their sources' content. At every stage's end
//! the stage's key is stored with the image it made (`ROOT/build-cache.json`); a stage whose
//! key is stored, and whose image is still there, is that image, not run again. So a
//! rebuild of an unchanged Dockerfile reuses every stage, and a Dockerfile whose first stage
//! is unchanged reuses that one.
//!
//! Sources are known by their content: a file is hashed once, and again only when its
//! metadata (device, inode, size, modification and change times) changed: the change time is
//! set by every write, chmod, chown or rename and by no tool back, so an edit is never
//! missed, and an unchanged context costs a `stat` per file.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use super::Build;
use super::context::ignored;
use super::vars::Vars;
use crate::engine::error::Result;

static FILE_LOCK: Mutex<()> = Mutex::new(());

const CACHE_FILE: &str = "build-cache.json";

/// The first key of a stage on `parent` (an image ID, or `scratch`).
pub(super) fn first(build: &Build, parent: &str, last: bool) -> String {
    let o = build.options;
    let head = serde_json::json!({
        "version": 1,
        "parent": parent,
        "docker": o.docker_format,
        "labels": if last { o.labels.clone() } else { Vec::new() },
        "annotations": if last { o.annotations.clone() } else { Vec::new() },
    });
    hex(Sha256::digest(head.to_string()))
}

/// The key of an instruction after the one keyed `previous`.
pub(super) fn next(previous: &str, text: &str, vars: &Vars, sources: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        previous,
        text,
        &serde_json::to_string(vars).unwrap_or_default(),
        sources,
    ] {
        h.update(part);
        h.update([0]);
    }
    hex(h.finalize())
}

fn hex(bytes: impl AsRef<[u8]>) -> String {
    bytes.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Content digests of files, by path and metadata: the fast path for unchanged files.
type Known = HashMap<(PathBuf, [i64; 7]), String>;
static KNOWN: Mutex<Option<Known>> = Mutex::new(None);
/// At most this many files remembered (then forgotten all at once).
const KNOWN_MAX: usize = 200_000;

/// A digest of what `root` holds at the context paths `matches` (each a file, a directory
/// walked without following symlinks, or a symlink), `.dockerignore` (`ignore`) applied.
pub(super) fn content(matches: &[(String, PathBuf)], ignore: &[String]) -> std::io::Result<String> {
    let mut h = Sha256::new();
    for (rel, path) in matches {
        // Iterative, in name order: (path in the context, path).
        let mut stack = vec![(rel.clone(), path.clone())];
        while let Some((rel, path)) = stack.pop() {
            let meta = std::fs::symlink_metadata(&path)?;
            h.update(format!(
                "{rel}\0{}\0{}:{}\0",
                meta.mode(),
                meta.uid(),
                meta.gid()
            ));
            if meta.file_type().is_symlink() {
                h.update(std::fs::read_link(&path)?.as_os_str().as_encoded_bytes());
            } else if meta.is_file() {
                h.update(file_digest(&path, &meta)?);
            } else if meta.is_dir() {
                let mut names: Vec<_> = std::fs::read_dir(&path)?
                    .flatten()
                    .map(|e| e.file_name())
                    .collect();
                names.sort();
                for name in names.into_iter().rev() {
                    let sub = match rel.as_str() {
                        "" => name.to_string_lossy().to_string(),
                        r => format!("{r}/{}", name.to_string_lossy()),
                    };
                    if !ignored(&sub, ignore) {
                        stack.push((sub, path.join(name)));
                    }
                }
            }
            h.update([0]);
        }
    }
    Ok(hex(h.finalize()))
}

fn file_digest(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<String> {
    let stamp = [
        meta.dev() as i64,
        meta.ino() as i64,
        meta.len() as i64,
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    ];
    let key = (path.to_path_buf(), stamp);
    if let Some(d) = KNOWN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|k| k.get(&key))
    {
        return Ok(d.clone());
    }
    let mut file = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let digest = hex(h.finalize());
    let mut known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    let known = known.get_or_insert_with(HashMap::new);
    if known.len() >= KNOWN_MAX {
        known.clear();
    }
    known.insert(key, digest.clone());
    Ok(digest)
}

fn read(build: &Build) -> BTreeMap<String, String> {
    let path = build.containers.root().join(CACHE_FILE);
    std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The image a stage keyed `key` made, if it is still stored (an entry whose image is gone
/// is a miss).
pub(super) fn lookup(build: &Build, key: &str) -> Option<String> {
    let _guard = FILE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let id = read(build).remove(key)?;
    build.containers.images().resolve(&id).ok()?;
    Some(id)
}

/// Remembers that a stage keyed `key` made image `id`.
pub(super) fn store(build: &Build, key: &str, id: &str) -> Result<()> {
    let _guard = FILE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let mut map = read(build);
    // Entries of removed images go.
    let images = build.containers.images();
    map.retain(|_, v| images.resolve(v).is_ok());
    map.insert(key.to_string(), id.to_string());
    let path = build.containers.root().join(CACHE_FILE);
    let bytes = serde_json::to_vec(&map).expect("a map serializes");
    Ok(crate::engine::storage::atomic_write(&path, &bytes)?)
}
