//! The cache of whole builds: a digest of everything a build reads (the Dockerfile text,
//! build args, labels, annotations, format, the base images' IDs, and the context's file
//! list with sizes, modes, inodes, modification and change times, `.dockerignore` applied) →
//! the image it
//! made, kept in `ROOT/build-cache.json`. A rebuild whose digest is known, and whose image
//! is still stored, is that image, tagged again.
//!
//! Coarser than the brief's per-instruction key (any change rebuilds the whole Dockerfile),
//! and context files are known by their metadata, not content: read every build, a large
//! context would cost its size in hashing. The change time is what makes that sound: every
//! write, chmod, chown or rename sets it, and no tool can set it back (`touch -d` and `cp -p`
//! restore only the modification time), so an edit is never missed; a file copied away and
//! back is a miss, and is rebuilt.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use super::Build;
use super::context::ignored;
use crate::engine::error::Result;

static FILE_LOCK: Mutex<()> = Mutex::new(());

const CACHE_FILE: &str = "build-cache.json";

/// The build's key; empty when the build must not use the cache (`pull_always`).
/// `bases`: each stage's base image, its ID when stored, else its name.
pub(super) fn key(build: &Build, bases: &[String]) -> Result<String> {
    if build.options.pull_always {
        return Ok(String::new());
    }
    let mut h = Sha256::new();
    let o = build.options;
    let head = serde_json::json!({
        "text": build.text,
        "args": o.build_args,
        "labels": o.labels,
        "annotations": o.annotations,
        "docker": o.docker_format,
        "squash": o.squash,
    });
    h.update(head.to_string());
    for base in bases {
        h.update(base);
        h.update([0]);
    }
    let mut files = Vec::new();
    list(&build.context, &build.context, &build.ignore, &mut files);
    files.sort();
    for f in files {
        h.update(f);
        h.update([0]);
    }
    Ok(format!("{:x}", h.finalize()))
}

fn list(root: &Path, dir: &Path, ignore: &[String], out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .to_string();
        if ignored(&rel, ignore) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        out.push(format!(
            "{rel} {} {} {}:{} {}.{} {}.{} {}",
            meta.len(),
            meta.mode(),
            meta.dev(),
            meta.ino(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
            meta.uid(),
        ));
        if meta.is_dir() {
            list(root, &path, ignore, out);
        }
    }
}

fn read(build: &Build) -> BTreeMap<String, String> {
    let path = build.containers.root().join(CACHE_FILE);
    std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The image a build with `key` made, if it is still stored.
pub(super) fn lookup(build: &Build, key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let _guard = FILE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let id = read(build).remove(key)?;
    build.containers.images().resolve(&id).ok()?;
    Some(id)
}

/// Remembers that a build with `key` made image `id`.
pub(super) fn store(build: &Build, key: &str, id: &str) {
    if key.is_empty() {
        return;
    }
    let _guard = FILE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let mut map = read(build);
    // Entries of removed images go.
    let images = build.containers.images();
    map.retain(|_, v| images.resolve(v).is_ok());
    map.insert(key.to_string(), id.to_string());
    let path = build.containers.root().join(CACHE_FILE);
    let bytes = serde_json::to_vec(&map).expect("a map serializes");
    if let Err(e) = crate::engine::storage::atomic_write(&path, &bytes) {
        log::warn!("build cache: {e}");
    }
}
