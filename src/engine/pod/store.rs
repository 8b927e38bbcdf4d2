//! The pods of the engine: their records (`ROOT/pods/<id>/pod.json`, each written whole to a
//! temporary file, synced and renamed into place), in memory behind one lock each, loaded at
//! start-up; and finding a pod by ID, name or ID prefix.
//!
//! A pod's members are not listed in its record: a container names its pod in its own record
//! (`ContainerConfig::pod`), so a crash between the two writes never leaves a pod listing a
//! container that does not exist, or the reverse.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::{Deserialize, Serialize};

use crate::engine::container::generate_name;
use crate::engine::error::{Error, Result};
use crate::engine::id::container::ContainerId;
use crate::engine::storage::{dirs, read_json, remove_tree, write_json};

/// Directory of pod records under the storage root.
pub const PODS_DIR: &str = "pods";
/// The record file of a pod.
pub const POD_FILE: &str = "pod.json";
const POD_VERSION: u32 = 1;

/// What is recorded about a pod. Pod IDs have the form of container IDs (64 lowercase hex
/// digits) and are checked the same way before they become paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRecord {
    /// Record format version.
    pub version: u32,
    /// 64 hex digits.
    pub id: ContainerId,
    /// Unique among pods.
    pub name: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The cgroup parent as given (or the service's default).
    pub cgroup_parent: String,
    /// The pod's own cgroup (`<parent>/libpod_pod_<id>`), its members' cgroup parent.
    pub cgroup_path: String,
    /// The namespaces its members share with its infra container: of net, ipc, uts, pid,
    /// cgroup.
    pub share: Vec<String>,
    /// Whether it has an infra container.
    pub infra: bool,
    /// Its infra container's ID ("" without one), chosen before the infra container is made.
    pub infra_id: String,
    /// Ports published for the pod (on its infra container), as given.
    pub publish: Vec<String>,
}

impl PodRecord {
    /// A new record.
    pub fn new(id: ContainerId, name: String) -> Self {
        PodRecord {
            version: POD_VERSION,
            id,
            name,
            created: crate::engine::time::now_rfc3339(),
            labels: BTreeMap::new(),
            cgroup_parent: String::new(),
            cgroup_path: String::new(),
            share: Vec::new(),
            infra: false,
            infra_id: String::new(),
            publish: Vec::new(),
        }
    }

    /// Whether its members share namespace `kind` (`net`, `ipc`...) with its infra.
    pub fn shares(&self, kind: &str) -> bool {
        self.infra && self.share.iter().any(|s| s == kind)
    }
}

/// One pod: its record, and the lock that serializes operations on it (member creation,
/// start, stop, removal...). Readers take the record's read lock only for a moment.
#[derive(Debug)]
pub struct Pod {
    record: RwLock<PodRecord>,
    op: Mutex<()>,
    removed: std::sync::atomic::AtomicBool,
}

/// A shared handle on one pod.
pub type PodHandle = Arc<Pod>;

impl Pod {
    /// The record as it is now.
    pub fn record(&self) -> PodRecord {
        self.record
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Locks the pod for an operation; `PodNotFound` (naming `name`) if it was removed
    /// meanwhile.
    pub fn lock(&self, name: &str) -> Result<MutexGuard<'_, ()>> {
        let guard = self.op.lock().unwrap_or_else(|p| p.into_inner());
        if self.removed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::PodNotFound {
                name: name.to_string(),
                reason: "the pod was removed".into(),
            });
        }
        Ok(guard)
    }
}

/// The pods of the engine.
#[derive(Debug)]
pub struct PodStore {
    dir: PathBuf,
    map: RwLock<HashMap<ContainerId, PodHandle>>,
}

impl PodStore {
    /// Loads every pod record under `root`. A record that does not read is left for an
    /// administrator and logged; a directory without one (a create cut short) is removed.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join(PODS_DIR);
        dirs::create_dir_with_mode(&dir, dirs::TRAVERSABLE_DIR_MODE)?;
        let mut map = HashMap::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(String::from) else {
                continue;
            };
            let Ok(id) = ContainerId::parse(&name) else {
                continue;
            };
            let path = entry.path().join(POD_FILE);
            if !path.exists() {
                if let Err(e) = remove_tree(&entry.path()) {
                    log::warn!("pod directory {}: {e}", entry.path().display());
                }
                continue;
            }
            match read_json::<PodRecord>(&path) {
                Ok(record) if record.id == id => {
                    map.insert(id, handle(record));
                }
                Ok(_) => log::error!("pod {} is not loaded: its record names another ID", name),
                Err(e) => log::error!("pod {} is not loaded: {e}", entry.path().display()),
            }
        }
        Ok(PodStore {
            dir,
            map: RwLock::new(map),
        })
    }

    fn path(&self, id: &ContainerId) -> PathBuf {
        self.dir.join(id.as_str()).join(POD_FILE)
    }

    /// Every pod.
    pub fn all(&self) -> Vec<PodHandle> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// Adds a new pod, durably, refusing a name in use; an empty name is generated.
    pub fn insert(&self, mut record: PodRecord) -> Result<PodHandle> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        let taken = |name: &str| map.values().any(|p| p.record().name == name);
        if record.name.is_empty() {
            record.name = generate_name(&record.id, taken);
        } else if taken(&record.name) {
            return Err(Error::invalid(
                "create.name",
                format!(
                    "CreatePod: name: the pod name {:?} is already in use",
                    record.name
                ),
            ));
        }
        dirs::create_private_dir(&self.dir.join(record.id.as_str()))?;
        write_json(&self.path(&record.id), &record)?;
        let h = handle(record.clone());
        map.insert(record.id, h.clone());
        Ok(h)
    }

    /// Removes a pod's record (its members must be gone): marked removed, its file and
    /// directory deleted, forgotten.
    pub fn remove(&self, pod: &Pod) -> Result<()> {
        let id = pod.record().id;
        pod.removed.store(true, std::sync::atomic::Ordering::SeqCst);
        remove_tree(&self.dir.join(id.as_str()))?;
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        Ok(())
    }

    /// Finds a pod by full ID, exact name, or unique ID prefix.
    pub fn resolve(&self, name: &str) -> Result<PodHandle> {
        let not_found = |reason: String| Error::PodNotFound {
            name: name.to_string(),
            reason,
        };
        if name.is_empty() {
            return Err(not_found("no pod name given".into()));
        }
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = map.get(name) {
            return Ok(p.clone());
        }
        let mut by_prefix = Vec::new();
        for (id, p) in map.iter() {
            if p.record().name == name {
                return Ok(p.clone());
            }
            if id.starts_with(name) {
                by_prefix.push((id.to_string(), p.clone()));
            }
        }
        match by_prefix.len() {
            1 => Ok(by_prefix.remove(0).1),
            0 => Err(not_found("no such pod".into())),
            _ => {
                let mut ids: Vec<String> = by_prefix.into_iter().map(|(id, _)| id).collect();
                ids.sort();
                Err(not_found(format!(
                    "ID prefix {name:?} is ambiguous: it matches {}",
                    ids.join(", ")
                )))
            }
        }
    }
}

fn handle(record: PodRecord) -> PodHandle {
    Arc::new(Pod {
        record: RwLock::new(record),
        op: Mutex::new(()),
        removed: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_are_found_by_id_name_and_prefix_and_names_are_unique() {
        let root = tempfile::tempdir().unwrap();
        let store = PodStore::open(root.path()).unwrap();
        let a = ContainerId::parse(&"ab".repeat(32)).unwrap();
        let b = ContainerId::parse(&"ac".repeat(32)).unwrap();
        store
            .insert(PodRecord::new(a.clone(), "web".into()))
            .unwrap();
        let generated = store
            .insert(PodRecord::new(b.clone(), String::new()))
            .unwrap();
        assert!(!generated.record().name.is_empty());
        assert_eq!(store.resolve("web").unwrap().record().id, a);
        assert_eq!(store.resolve("abab").unwrap().record().id, a);
        assert!(matches!(store.resolve("a"), Err(Error::PodNotFound { .. })));
        assert!(matches!(
            store.resolve("nope"),
            Err(Error::PodNotFound { .. })
        ));
        let c = ContainerId::parse(&"cd".repeat(32)).unwrap();
        let taken = store.insert(PodRecord::new(c, "web".into()));
        assert!(matches!(
            taken,
            Err(Error::Invalid {
                field: "create.name",
                ..
            })
        ));
        // Loaded again from disk, as a restarted service does.
        let again = PodStore::open(root.path()).unwrap();
        assert_eq!(again.all().len(), 2);
        again.remove(&again.resolve("web").unwrap()).unwrap();
        assert_eq!(PodStore::open(root.path()).unwrap().all().len(), 1);
    }
}
