//! Containers: records, status, the store, and name resolution.
//!
//! A container's record (`ROOT/containers/<id>/container.json`) is the source of truth,
//! rewritten atomically on every change and kept in memory for reads. Each container has its
//! own mutex, so calls on one container are serialized while calls on different containers
//! run in parallel; the map lock is held only to look up, insert or remove.
//!
//! Lock order: the container map, then one container, then images. No lock is held while the
//! runtime runs, except a container's own (which only serializes calls on that container).

pub mod create;
pub mod lifecycle;
pub mod ops;
pub mod view;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::{Deserialize, Serialize};

use super::storage::overlay::Overlay;
use super::storage::{read_json, remove_tree, write_json};
use super::{Error, Result};

/// The record file of a container.
pub const RECORD_FILE: &str = "container.json";
/// Directory of container records under the storage root.
pub const CONTAINERS_DIR: &str = "containers";
const RECORD_VERSION: u32 = 1;

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Created, never started.
    Configured,
    /// Its process runs.
    Running,
    /// Its processes are frozen.
    Paused,
    /// It ran and exited.
    Exited,
}

impl ContainerStatus {
    /// Whether StartContainer may start it.
    pub fn can_start(self) -> bool {
        matches!(self, ContainerStatus::Configured | ContainerStatus::Exited)
    }

    /// Whether it has a live process.
    pub fn is_active(self) -> bool {
        matches!(self, ContainerStatus::Running | ContainerStatus::Paused)
    }

    /// The word clients see.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Configured => "configured",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Exited => "exited",
        }
    }
}

/// What is recorded about a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// Record format version.
    pub version: u32,
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The image's ID.
    pub image_id: String,
    /// The image as the client named it.
    pub image_name: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// The full command: entrypoint then command.
    pub command: Vec<String>,
    /// Environment, `KEY=value`.
    pub env: Vec<String>,
    /// Working directory.
    pub work_dir: String,
    /// The user as asked for (`uid[:gid]` or names).
    pub user: String,
    /// Numeric uid, gid and supplementary groups it resolved to.
    pub uid: u32,
    /// Numeric gid.
    pub gid: u32,
    /// Supplementary gids.
    pub additional_gids: Vec<u32>,
    /// Host name inside the container.
    pub hostname: String,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// Remove when it exits.
    pub rm: bool,
    /// Signal StopContainer sends first.
    pub stop_signal: i32,
    /// Seconds StopContainer waits before SIGKILL, by default.
    pub stop_timeout: u64,
    /// Read-only root filesystem.
    pub readonly_rootfs: bool,
    /// The image's layers, bottom first (the overlay's lower directories).
    pub layers: Vec<String>,
    /// Runtime state.
    pub state: ContainerState,
}

/// The changing part of a record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    /// Status.
    pub status: Option<ContainerStatus>,
    /// The container's init pid while it runs.
    pub pid: i32,
    /// The monitor's pid while it runs.
    pub monitor_pid: i32,
    /// When it last started (RFC 3339), "" if never.
    pub started_at: String,
    /// When it last exited (RFC 3339), "" if never.
    pub finished_at: String,
    /// Its last exit code.
    pub exit_code: i32,
}

impl ContainerRecord {
    /// Its status.
    pub fn status(&self) -> ContainerStatus {
        self.state.status.unwrap_or(ContainerStatus::Configured)
    }
}

/// The containers of the engine.
#[derive(Debug)]
pub struct Containers {
    dir: PathBuf,
    run_dir: PathBuf,
    map: RwLock<HashMap<String, Arc<Mutex<ContainerRecord>>>>,
}

impl Containers {
    /// Loads every container record under `root`; run directories live under `runroot`.
    pub fn open(root: &Path, runroot: &Path) -> Result<Self> {
        let dir = root.join(CONTAINERS_DIR);
        let run_dir = runroot.join(CONTAINERS_DIR);
        for d in [&dir, &run_dir] {
            std::fs::create_dir_all(d).map_err(|e| Error::io("create directory", d, e))?;
        }
        let mut map = HashMap::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path().join(RECORD_FILE);
            match read_json::<ContainerRecord>(&path) {
                Ok(record) => {
                    map.insert(record.id.clone(), Arc::new(Mutex::new(record)));
                }
                Err(e) => {
                    // A container whose record never got written (a crash during create).
                    log::warn!(
                        "removing incomplete container {}: {e}",
                        entry.path().display()
                    );
                    let _ = super::storage::overlay::unmount(&entry.path().join("merged"));
                    remove_tree(&entry.path())?;
                }
            }
        }
        Ok(Containers {
            dir,
            run_dir,
            map: RwLock::new(map),
        })
    }

    /// The storage directory of a container.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// The run directory of a container (monitor files, log).
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.run_dir.join(id)
    }

    /// Saves a record.
    pub fn save(&self, record: &ContainerRecord) -> Result<()> {
        Ok(write_json(&self.dir(&record.id).join(RECORD_FILE), record)?)
    }

    /// Every container handle.
    pub fn all(&self) -> Vec<Arc<Mutex<ContainerRecord>>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// Finds a container by full ID, exact name, or unique ID prefix.
    pub fn resolve(&self, name: &str) -> Result<Arc<Mutex<ContainerRecord>>> {
        let not_found = |reason: &str| Error::ContainerNotFound {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        if name.is_empty() {
            return Err(not_found("no container name given"));
        }
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(name) {
            return Ok(c.clone());
        }
        let mut by_name = None;
        let mut by_prefix = Vec::new();
        for (id, c) in map.iter() {
            if lock(c).name == name {
                by_name = Some(c.clone());
            } else if id.starts_with(name) {
                by_prefix.push((id.clone(), c.clone()));
            }
        }
        if let Some(c) = by_name {
            return Ok(c);
        }
        match by_prefix.len() {
            1 => Ok(by_prefix.remove(0).1),
            0 => Err(not_found("no such container")),
            _ => {
                let ids: Vec<String> = by_prefix.into_iter().map(|(id, _)| id).collect();
                Err(not_found(&format!(
                    "ID prefix {name:?} is ambiguous: it matches {}",
                    ids.join(", ")
                )))
            }
        }
    }

    /// Adds a new container, refusing a name in use.
    pub fn insert(&self, record: ContainerRecord) -> Result<Arc<Mutex<ContainerRecord>>> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.values().any(|c| lock(c).name == record.name) {
            return Err(Error::InvalidArgument(format!(
                "the container name {:?} is already in use",
                record.name
            )));
        }
        std::fs::create_dir_all(self.dir(&record.id))
            .map_err(|e| Error::io("create directory", self.dir(&record.id), e))?;
        self.save(&record)?;
        let handle = Arc::new(Mutex::new(record.clone()));
        map.insert(record.id, handle.clone());
        Ok(handle)
    }

    /// Forgets a container (its files are removed by the caller).
    pub fn forget(&self, id: &str) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
    }

    /// Whether a name is taken.
    pub fn name_taken(&self, name: &str) -> bool {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.values().any(|c| lock(c).name == name)
    }

    /// IDs of the containers using image `image_id`.
    pub fn users_of(&self, image_id: &str) -> Vec<String> {
        self.all()
            .iter()
            .filter_map(|c| {
                let c = lock(c);
                (c.image_id == image_id).then(|| c.id.clone())
            })
            .collect()
    }

    /// The overlay of a container over `lower` (topmost first).
    pub fn overlay(&self, id: &str, lower: Vec<PathBuf>) -> Overlay {
        let dir = self.dir(id);
        Overlay {
            lower,
            upper: dir.join("diff"),
            work: dir.join("work"),
            merged: dir.join("merged"),
        }
    }
}

/// Locks one container. A panic while holding it leaves the record as the last save wrote
/// it, so the lock is taken back rather than poisoning the container for good.
pub fn lock(c: &Mutex<ContainerRecord>) -> MutexGuard<'_, ContainerRecord> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// A fresh record.
pub fn new_record(id: String, name: String) -> ContainerRecord {
    ContainerRecord {
        version: RECORD_VERSION,
        id,
        name,
        image_id: String::new(),
        image_name: String::new(),
        created: super::image::now_rfc3339(),
        command: Vec::new(),
        env: Vec::new(),
        work_dir: "/".into(),
        user: String::new(),
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        hostname: String::new(),
        labels: HashMap::new(),
        rm: false,
        stop_signal: 15,
        stop_timeout: 10,
        readonly_rootfs: false,
        layers: Vec::new(),
        state: ContainerState::default(),
    }
}

/// A new random container ID.
pub fn new_id() -> String {
    let mut bytes = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const ADJECTIVES: &[&str] = &[
    "admiring",
    "brave",
    "calm",
    "dazzling",
    "eager",
    "fervent",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "modest",
    "nifty",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
    "competent",
    "flamboyant",
];
const NOUNS: &[&str] = &[
    "turing", "hopper", "lovelace", "curie", "noether", "euler", "gauss", "ritchie", "thompson",
    "torvalds", "wozniak", "payne", "shannon", "knuth", "dijkstra", "hamilton", "babbage", "tesla",
    "franklin", "goldberg", "kilby", "lamarr", "mccarthy", "pike", "sammet", "wing",
];

/// An `adjective_noun` name not yet taken (with a number added if all are).
pub fn generate_name(id: &str, taken: impl Fn(&str) -> bool) -> String {
    let seed = u64::from_str_radix(&id[..16.min(id.len())], 16).unwrap_or(0);
    for n in 0..ADJECTIVES.len() * NOUNS.len() {
        let k = (seed as usize).wrapping_add(n * 7919);
        let name = format!(
            "{}_{}",
            ADJECTIVES[k % ADJECTIVES.len()],
            NOUNS[(k / ADJECTIVES.len()) % NOUNS.len()]
        );
        if !taken(&name) {
            return name;
        }
    }
    format!("{}_{}", ADJECTIVES[0], &id[..12.min(id.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert!(ContainerStatus::Configured.can_start());
        assert!(ContainerStatus::Exited.can_start());
        assert!(!ContainerStatus::Running.can_start());
        assert!(ContainerStatus::Paused.is_active());
        assert_eq!(ContainerStatus::Exited.as_str(), "exited");
    }

    #[test]
    fn generated_names_are_unique() {
        let id = new_id();
        assert_eq!(id.len(), 64);
        let first = generate_name(&id, |_| false);
        assert!(first.contains('_'));
        let second = generate_name(&id, |n| n == first);
        assert_ne!(first, second);
    }
}
