//! The cache of compiled seccomp programs (`seccomp_bpf`), under the run root.
//!
//! `RUNROOT/seccomp/<key>`: the key is the hex sha256 of podlink's build identity (its
//! version and git commit: a new podlink never serves an older build's programs, whatever
//! its compiler got wrong), the libseccomp version, the architecture and the final JSON
//! (every `errnoRet` in it). An entry is the program followed by sha256(key || program): an
//! entry damaged, cut short or under another profile's name is compiled again and replaced.
//! Entries are written aside and renamed into place, so concurrent starts of the same
//! profile at worst both compile it, and a reader never sees half an entry.
//!
//! Bounded: the first use in a process removes the temporary files a killed writer left,
//! and a store beyond [`MAX_ENTRIES`] evicts the least recently used entries (by access or
//! modification time, whichever is later).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::seccomp_bpf::{BpfError, compile, libseccomp_version, uses_notify};

/// The cache's directory under the run root.
pub const CACHE_DIR: &str = "seccomp";
/// The most entries the cache keeps (about 10 KiB each for containers-common's profile).
pub const MAX_ENTRIES: usize = 256;

/// Size of one BPF instruction (`struct sock_filter`).
const INSTRUCTION: usize = 8;
/// Size of the digest that ends a cache entry.
const DIGEST: usize = 32;
/// What names this build of podlink (`GetVersion`'s version and git commit).
const BUILD: &str = concat!(env!("CARGO_PKG_VERSION"), " ", env!("PODLINK_GIT_COMMIT"));

/// The program for `seccomp` (a spec's `linux.seccomp`), from the cache in `cache_dir` or
/// compiled and stored there; `Ok(None)` when crun must compile it itself (a profile with
/// `SCMP_ACT_NOTIFY`, whose listener crun sets up while it compiles).
pub fn program(cache_dir: &Path, seccomp: &Value) -> Result<Option<Vec<u8>>, BpfError> {
    if uses_notify(seccomp) {
        return Ok(None);
    }
    prune_once(cache_dir);
    let key = cache_key(seccomp, &libseccomp_version()?);
    let path = cache_dir.join(&key);
    if let Ok(bytes) = std::fs::read(&path) {
        match validate(&key, &bytes) {
            Some(program) => return Ok(Some(program.to_vec())),
            None => log::warn!("seccomp cache entry {} is damaged: rebuilt", path.display()),
        }
    }
    let program = compile(seccomp)?;
    if let Err(e) = store(cache_dir, &path, &entry(&key, &program)) {
        // The program is good; only the next start pays for it again.
        log::warn!("store seccomp cache entry {}: {e}", path.display());
    }
    Ok(Some(program))
}

/// The cache entry's path for `seccomp` (for tests and tools that inspect the cache).
pub fn entry_path(cache_dir: &Path, seccomp: &Value) -> Result<PathBuf, BpfError> {
    Ok(cache_dir.join(cache_key(seccomp, &libseccomp_version()?)))
}

/// The hex sha256 naming the cache entry of `seccomp` compiled by libseccomp `version` on this
/// architecture by this build. serde_json writes an object's keys in one order (sorted), so
/// equal JSON gives equal bytes.
pub fn cache_key(seccomp: &Value, version: &str) -> String {
    key_of(BUILD, seccomp, version)
}

fn key_of(build: &str, seccomp: &Value, version: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"podlink seccomp bpf 2\0");
    for part in [build, version, std::env::consts::ARCH] {
        hash.update(part.as_bytes());
        hash.update(b"\0");
    }
    hash.update(seccomp.to_string().as_bytes());
    crate::engine::id::digest::Digest::of_hasher(hash)
        .hex()
        .to_string()
}

/// A cache entry holding `program` under `key`: the program, then sha256(key || program).
pub fn entry(key: &str, program: &[u8]) -> Vec<u8> {
    let mut entry = program.to_vec();
    entry.extend_from_slice(&digest(key, program));
    entry
}

fn digest(key: &str, program: &[u8]) -> [u8; DIGEST] {
    let mut hash = Sha256::new();
    hash.update(key.as_bytes());
    hash.update(program);
    hash.finalize().into()
}

/// The program of the entry named `key`, if the entry is whole and is that name's: a
/// non-empty program of whole instructions followed by sha256(key || program).
pub fn validate<'a>(key: &str, entry: &'a [u8]) -> Option<&'a [u8]> {
    let len = entry.len().checked_sub(DIGEST)?;
    if len == 0 || len % INSTRUCTION != 0 {
        return None;
    }
    let (program, digest_bytes) = entry.split_at(len);
    (digest(key, program).as_slice() == digest_bytes).then_some(program)
}

fn store(cache_dir: &Path, path: &Path, entry: &[u8]) -> crate::engine::storage::Result<()> {
    crate::engine::storage::dirs::create_private_dir(cache_dir)?;
    // The cache lives under the run root, which does not outlive the machine: no fsync.
    crate::engine::storage::replace_file(path, entry)?;
    evict(cache_dir, MAX_ENTRIES);
    Ok(())
}

/// Once per process and cache directory, before its first entry is read or written: removes
/// the temporary files of writers killed before their rename.
fn prune_once(cache_dir: &Path) {
    static PRUNED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let mut pruned = PRUNED.lock().unwrap_or_else(|e| e.into_inner());
    if pruned.iter().any(|d| d == cache_dir) {
        return;
    }
    pruned.push(cache_dir.to_path_buf());
    for (path, _) in listing(cache_dir, true) {
        if let Err(e) = std::fs::remove_file(&path) {
            log::warn!("{}: {e}", path.display());
        }
    }
}

/// Removes the least recently used entries of `cache_dir` beyond `keep`.
fn evict(cache_dir: &Path, keep: usize) {
    let mut entries = listing(cache_dir, false);
    if entries.len() <= keep {
        return;
    }
    entries.sort_by_key(|(_, used)| std::cmp::Reverse(*used));
    for (path, _) in entries.split_off(keep) {
        // Another process may have evicted it first.
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            log::warn!("evict {}: {e}", path.display());
        }
    }
}

/// The temporary files (`temporary`) or the entries of `cache_dir`, with when each was last
/// used (its access or modification time, whichever is later).
fn listing(cache_dir: &Path, temporary: bool) -> Vec<(PathBuf, SystemTime)> {
    let Ok(dir) = std::fs::read_dir(cache_dir) else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-") == temporary)
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let used = meta.accessed().ok().max(meta.modified().ok())?;
            Some((e.path(), used))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(errno: u32) -> Value {
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]
        })
    }

    fn program_of(cache: &Path, seccomp: &Value) -> Vec<u8> {
        program(cache, seccomp).unwrap().unwrap()
    }

    #[test]
    fn the_key_covers_every_errno_ret_the_versions_and_nothing_else() {
        let one = cache_key(&profile(1), "2.5.4");
        assert_eq!(one.len(), 64);
        assert_eq!(one, cache_key(&profile(1), "2.5.4"));
        assert_ne!(one, cache_key(&profile(13), "2.5.4"));
        assert_ne!(one, cache_key(&profile(1), "2.5.5"));
        // Another podlink build (version or commit), another key.
        assert_eq!(one, key_of(BUILD, &profile(1), "2.5.4"));
        assert_ne!(one, key_of("0.0.0 0000000", &profile(1), "2.5.4"));
        assert!(BUILD.starts_with(env!("CARGO_PKG_VERSION")));
        assert!(BUILD.ends_with(env!("PODLINK_GIT_COMMIT")));
        // Key order in the document does not matter: equal JSON, equal key.
        let reordered: Value = serde_json::from_str(
            r#"{"syscalls": [], "architectures": ["SCMP_ARCH_X86_64"], "defaultAction": "SCMP_ACT_ALLOW"}"#,
        )
        .unwrap();
        let ordered = json!({"defaultAction": "SCMP_ACT_ALLOW",
                             "architectures": ["SCMP_ARCH_X86_64"], "syscalls": []});
        assert_eq!(cache_key(&reordered, "2.5.4"), cache_key(&ordered, "2.5.4"));
    }

    #[test]
    fn entries_are_checked_before_use() {
        let program = compile(&profile(1)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join(CACHE_DIR);
        assert_eq!(program_of(&cache, &profile(1)), program);
        let path = entry_path(&cache, &profile(1)).unwrap();
        let key = path.file_name().unwrap().to_str().unwrap().to_string();
        let mut bytes = std::fs::read(&path).unwrap();
        assert_eq!(validate(&key, &bytes), Some(program.as_slice()));
        for flip in [0, program.len() - 1, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[flip] ^= 0x40;
            assert_eq!(validate(&key, &bad), None, "byte {flip} flipped");
        }
        assert_eq!(validate(&key, &bytes[1..]), None);
        assert_eq!(validate(&key, &bytes[..DIGEST]), None);
        // A damaged entry is compiled again and replaced.
        bytes[3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(program_of(&cache, &profile(1)), program);
        assert_eq!(
            validate(&key, &std::fs::read(&path).unwrap()),
            Some(program.as_slice())
        );
        // Another errnoRet, another program and another entry.
        let other = compile(&profile(13)).unwrap();
        assert_ne!(other, program);
        let other_path = entry_path(&cache, &profile(13)).unwrap();
        assert_ne!(other_path, path);
        // A whole entry under another profile's name is not that profile's: rebuilt.
        assert_eq!(program_of(&cache, &profile(13)), other);
        std::fs::copy(&other_path, &path).unwrap();
        assert_eq!(validate(&key, &std::fs::read(&path).unwrap()), None);
        assert_eq!(program_of(&cache, &profile(1)), program);
        // A valid entry is read, not compiled again: one planted under the key is served.
        std::fs::write(&path, entry(&key, &other)).unwrap();
        assert_eq!(program_of(&cache, &profile(1)), other);
    }

    #[test]
    fn concurrent_compiles_leave_one_whole_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join(CACHE_DIR);
        let programs: Vec<Vec<u8>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..8)
                .map(|_| s.spawn(|| program_of(&cache, &profile(1))))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert!(programs.windows(2).all(|w| w[0] == w[1]));
        let names: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "temporary files left");
        let key = names[0].file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(names[0].path()).unwrap();
        assert_eq!(validate(&key, &bytes), Some(programs[0].as_slice()));
    }

    #[test]
    fn the_cache_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join(CACHE_DIR);
        std::fs::create_dir_all(&cache).unwrap();
        // A killed writer's file goes at the first use.
        let stale = cache.join(".tmp-1-2-abc");
        std::fs::write(&stale, b"half").unwrap();
        program_of(&cache, &profile(1));
        assert!(!stale.exists());
        let names = |cache: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(cache)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        // The least recently used go beyond the bound.
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        for i in 0..5 {
            let path = cache.join(format!("{i:064x}"));
            std::fs::write(&path, b"x").unwrap();
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            let at = old + std::time::Duration::from_secs(i);
            file.set_times(std::fs::FileTimes::new().set_accessed(at).set_modified(at))
                .unwrap();
        }
        evict(&cache, 3);
        let kept = names(&cache);
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert!(kept.contains(&format!("{:064x}", 4)));
        assert!(!kept.contains(&format!("{:064x}", 0)));
        assert!(!kept.contains(&format!("{:064x}", 1)));
        assert!(
            kept.contains(
                &entry_path(&cache, &profile(1))
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            )
        );
        evict(&cache, 3);
        assert_eq!(names(&cache), kept);
    }
}
