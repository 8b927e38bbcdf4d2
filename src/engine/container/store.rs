//! The containers of the engine: their records in memory, each behind its own lock, loaded
//! from disk at start-up; and the paths of a container's directories.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::index::{Found, Index};
use super::names::generate_name;
use super::record::{ContainerRecord, ContainerState, RECORD_FILE, STATE_FILE};
use crate::engine::error::{Error, Result};
use crate::engine::id::container::ContainerId;
use crate::engine::storage::dirs;
use crate::engine::storage::overlay::Overlay;
use crate::engine::storage::{read_json, write_json};

/// A container's image volumes, in its storage directory.
const IMAGE_VOLUMES_DIR: &str = "volumes";
/// Directory of container records under the storage root.
pub const CONTAINERS_DIR: &str = "containers";

/// One container: its record, and a copy of it for readers.
///
/// The record's mutex is held for the whole of an operation on the container (including
/// runtime calls and stop timeouts), which is what serializes calls on one container. Readers
/// that must not wait for an operation (ListContainers, name resolution, inspect while a stop
/// runs) read the snapshot instead: the record as last saved, replaced on every save.
#[derive(Debug)]
pub struct Container {
    record: Mutex<ContainerRecord>,
    snapshot: RwLock<Arc<ContainerRecord>>,
    /// Set, with the record locked, when the container is removed: a call that found the
    /// handle before then and waited for the lock must not act on it.
    removed: std::sync::atomic::AtomicBool,
    /// Whether start-up reconciliation has yet to look at this container. The service
    /// answers before it reconciles (reconciling runs the runtime for every container, and
    /// must not keep clients waiting), so an operation on a container waits here until its
    /// record has been brought up to date; readers see the snapshot meanwhile.
    unsettled: Mutex<bool>,
    settled: std::sync::Condvar,
    /// `!unsettled`, read without the lock: once set it stays, so a reader that sees it
    /// needs no lock (a listing of thousands of containers checks it for each).
    reconciled: std::sync::atomic::AtomicBool,
    /// Whether someone took on its reconciliation: the start-up pass, or a call that needs
    /// it before the pass gets there (see [`Container::claim_reconciliation`]).
    claimed: std::sync::atomic::AtomicBool,
    /// How often the root filesystem was used on the host (mounted, read) by an operation:
    /// an unmount queued at an exit happens only if nothing used it since (see
    /// `Containers::unmount_later`). The lock is held across that unmount, so a user that
    /// comes meanwhile waits for it, then mounts again.
    rootfs_uses: Mutex<u64>,
}

/// A shared handle on one container.
pub type Handle = Arc<Container>;

impl Container {
    /// A container; `unsettled` when start-up reconciliation must look at it first.
    fn new(record: ContainerRecord, unsettled: bool) -> Handle {
        Arc::new(Container {
            snapshot: RwLock::new(Arc::new(record.clone())),
            record: Mutex::new(record),
            removed: Default::default(),
            unsettled: Mutex::new(unsettled),
            settled: Default::default(),
            reconciled: std::sync::atomic::AtomicBool::new(!unsettled),
            claimed: std::sync::atomic::AtomicBool::new(!unsettled),
            rootfs_uses: Mutex::new(0),
        })
    }

    /// Waits until start-up reconciliation is done with the container: until then its record
    /// may say what is no longer true (a container that exited, or that a killed commit left
    /// frozen), for operations and readers alike. Reconciling one container is quick (a
    /// runtime `state`); it is all of them together that the service does not wait for.
    fn wait_settled(&self) {
        if self.reconciled.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let mut unsettled = self.unsettled.lock().unwrap_or_else(|p| p.into_inner());
        while *unsettled {
            unsettled = self
                .settled
                .wait(unsettled)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Takes on the container's reconciliation: `true` for the one caller that must
    /// reconcile it (then [`Container::settle`] it), `false` when it is done or under way
    /// elsewhere.
    pub(crate) fn claim_reconciliation(&self) -> bool {
        !self.claimed.swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    /// Lets operations on the container go on: reconciliation is done with it.
    pub(crate) fn settle(&self) {
        *self.unsettled.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.reconciled
            .store(true, std::sync::atomic::Ordering::Release);
        self.settled.notify_all();
    }

    /// Locks the record for start-up reconciliation, which must not wait for itself.
    pub(crate) fn lock_unsettled(&self) -> MutexGuard<'_, ContainerRecord> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Says the caller uses the root filesystem on the host from now on (it holds the
    /// record's lock): an unmount queued before does not happen; one under way is waited for.
    pub(crate) fn use_rootfs(&self) {
        *self.rootfs_uses.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    }

    /// How often the root filesystem was used so far (for [`Container::unmount_unless_used`]).
    pub(crate) fn rootfs_uses(&self) -> u64 {
        *self.rootfs_uses.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `unmount` unless the root filesystem was used since it had been used `uses`
    /// times; no use can begin while it runs.
    pub(crate) fn unmount_unless_used(&self, uses: u64, unmount: impl FnOnce()) {
        let now = self.rootfs_uses.lock().unwrap_or_else(|p| p.into_inner());
        if *now == uses {
            unmount();
        }
    }

    /// Whether the container was removed.
    pub fn is_removed(&self) -> bool {
        self.removed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Marks the container removed (with its record locked).
    pub fn mark_removed(&self) {
        self.removed
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Locks the record for an operation, once start-up reconciliation is done with it. A
    /// panic while holding it leaves the record as the last save wrote it, so the lock is
    /// taken back rather than poisoning the container.
    pub fn lock(&self) -> MutexGuard<'_, ContainerRecord> {
        self.wait_settled();
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The record, if no operation holds it (once reconciliation is done with it).
    pub fn try_lock(&self) -> Option<MutexGuard<'_, ContainerRecord>> {
        self.wait_settled();
        match self.record.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Whether start-up reconciliation is done with the container (see
    /// `Containers::view_now`, which does not wait for it).
    pub fn is_reconciled(&self) -> bool {
        self.reconciled.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The record as last saved, without waiting for an operation.
    pub fn snapshot(&self) -> Arc<ContainerRecord> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_snapshot(&self, record: &ContainerRecord) {
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(record.clone());
    }
}

/// The containers of the engine.
///
/// Opening the store only lists its directory: the records are read by
/// [`ContainerStore::load`], which the engine runs once the service answers (reading
/// thousands of records takes longer than a client should wait for a Ping). Until the
/// engine opens the store ([`ContainerStore::open_gate`], after the network has claimed the
/// addresses the records hold), every look at it waits.
#[derive(Debug)]
pub struct ContainerStore {
    dir: PathBuf,
    run_dir: PathBuf,
    map: RwLock<Index<Handle>>,
    /// Directories of containers without a record (a crash cut a create or a removal short),
    /// found at start-up and removed in the background.
    leftovers: Mutex<Vec<PathBuf>>,
    /// The listing of the records' directory, opened at [`ContainerStore::open`] (so that
    /// one that cannot be read fails the start) and read by [`ContainerStore::load`].
    unread: Mutex<Option<std::fs::ReadDir>>,
    /// Whether the records are loaded and the engine let lookups in.
    loaded: Mutex<bool>,
    opened: Condvar,
}

impl ContainerStore {
    /// Loads every container record under `root`; run directories live under `runroot`.
    pub fn open(root: &Path, runroot: &Path) -> Result<Self> {
        let store = Self::open_unloaded(root, runroot)?;
        store.load();
        store.open_gate();
        Ok(store)
    }

    /// The store under `root` and `runroot`, its directory listed but its records not yet
    /// read: [`ContainerStore::load`] reads them, then [`ContainerStore::open_gate`] lets
    /// lookups in. Only the engine's start-up does this in two steps.
    pub fn open_unloaded(root: &Path, runroot: &Path) -> Result<Self> {
        let dir = root.join(CONTAINERS_DIR);
        let run_dir = runroot.join(CONTAINERS_DIR);
        for d in [&dir, &run_dir] {
            dirs::create_dir_with_mode(d, dirs::TRAVERSABLE_DIR_MODE)?;
        }
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        Ok(ContainerStore {
            dir,
            run_dir,
            map: RwLock::new(Index::default()),
            leftovers: Mutex::new(Vec::new()),
            unread: Mutex::new(Some(entries)),
            loaded: Mutex::new(false),
            opened: Condvar::new(),
        })
    }

    /// Reads every container record (once; later calls find nothing more to read), and
    /// lists what is left of containers without one. Returns the containers loaded. Lookups
    /// still wait until [`ContainerStore::open_gate`].
    pub fn load(&self) -> Vec<Handle> {
        let Some(entries) = self.unread.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Vec::new();
        };
        let mut loaded = Vec::new();
        let mut leftovers = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path().join(RECORD_FILE);
            let record = match read_json::<ContainerRecord>(&path) {
                Ok(record) => record,
                Err(_) if !path.exists() => {
                    // A container whose record never got written (a crash during create),
                    // or whose removal was cut short after its record went: nothing to keep.
                    if is_container_id(&entry.file_name()) {
                        leftovers.push(entry.path());
                    }
                    continue;
                }
                // Its files may be a client's data: left for an administrator, not deleted.
                Err(e) => {
                    log::error!("container {} is not loaded: {e}", entry.path().display());
                    continue;
                }
            };
            // Paths are built from a record's ID: one that is not the 64 hex digits of the
            // directory it was read from is corrupt (or crafted), never followed. (One that
            // is not 64 hex digits at all does not parse: see above.)
            if entry.file_name() != record.id.as_str() {
                log::error!(
                    "container {} is not loaded: its record names the ID {:?}",
                    entry.path().display(),
                    record.id.as_str()
                );
                continue;
            }
            let mut record = record;
            // The state as last saved; unreadable (a power loss cut its write short), the
            // container is as created and its monitor, if any, is found again when the
            // service reconciles its containers with the runtime.
            match read_json::<ContainerState>(&entry.path().join(STATE_FILE)) {
                Ok(state) => record.state = state,
                Err(e) if entry.path().join(STATE_FILE).exists() => {
                    log::warn!("container {}: state not read: {e}", record.id)
                }
                Err(_) => {}
            }
            loaded.push(Container::new(record, true));
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        for handle in &loaded {
            let record = handle.snapshot();
            map.insert(record.id.clone(), &record.name, handle.clone());
        }
        // Run directories of containers without a record: a removal cut short after the
        // record went, or never recorded at all. Listed now, before any container can be
        // created, so a new container's directory is never taken for one.
        match std::fs::read_dir(&self.run_dir) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    // A record that exists but did not load keeps its run directory too (it
                    // is left for an administrator, see above).
                    if is_container_id(&name)
                        && map.get(name.to_str().unwrap_or_default()).is_none()
                        && !self.dir.join(&name).join(RECORD_FILE).exists()
                    {
                        leftovers.push(entry.path());
                    }
                }
            }
            Err(e) => log::error!("{}", Error::io("list", &self.run_dir, e)),
        }
        *self.leftovers.lock().unwrap_or_else(|p| p.into_inner()) = leftovers;
        loaded
    }

    /// Lets lookups in, once the records are loaded (and what must hold before any create,
    /// the network's claims, is done).
    pub fn open_gate(&self) {
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.opened.notify_all();
    }

    /// The container map, once the store is open (see [`ContainerStore::open_gate`]).
    fn read_map(&self) -> RwLockReadGuard<'_, Index<Handle>> {
        self.wait_open();
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_map(&self) -> RwLockWriteGuard<'_, Index<Handle>> {
        self.wait_open();
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the store is open: its records read, and the addresses and ports they
    /// hold claimed (see [`ContainerStore::open_gate`]). Lookups wait by themselves; a
    /// create calls this before it takes an address, which it does before its record goes
    /// in.
    pub(crate) fn wait_open(&self) {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        while !*loaded {
            loaded = self.opened.wait(loaded).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Takes the list of what [`ContainerStore::open`] found of containers without a
    /// record, for `Containers::remove_leftovers`.
    pub(crate) fn take_leftovers(&self) -> Vec<PathBuf> {
        std::mem::take(&mut *self.leftovers.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The storage directory of a container.
    pub fn dir(&self, id: &ContainerId) -> PathBuf {
        self.dir.join(id)
    }

    /// The directory of a container's image volume, the `index`th of its mounts.
    pub fn image_volume(&self, id: &ContainerId, index: usize) -> PathBuf {
        self.dir(id).join(IMAGE_VOLUMES_DIR).join(index.to_string())
    }

    /// The run directory of a container (monitor files, log).
    pub fn run_dir(&self, id: &ContainerId) -> PathBuf {
        self.run_dir.join(id)
    }

    /// Saves a record's run state, and shows the record to readers.
    ///
    /// The record itself is written once, durably, by [`ContainerStore::insert`]: nothing in it
    /// but the state changes afterwards. The state goes to its own file, replaced atomically
    /// but not synced: a killed service cannot lose it (the page cache outlives the
    /// process), and a power loss, which might, ends the container's run anyway. Skipping
    /// the fsyncs keeps a container's start and stop close to the runtime's own cost.
    pub fn save(&self, record: &ContainerRecord) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&record.state)
            .map_err(|e| Error::internal("container state", e))?;
        crate::engine::storage::replace_file(&self.dir(&record.id).join(STATE_FILE), &bytes)?;
        // Not waiting for the store to open: no container is saved before it loaded.
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        if let Some(handle) = map.get(&record.id) {
            handle.set_snapshot(record);
        }
        Ok(())
    }

    /// Every container handle.
    pub fn all(&self) -> Vec<Handle> {
        self.read_map().values().cloned().collect()
    }

    /// How many containers there are.
    pub fn count(&self) -> usize {
        self.read_map().len()
    }

    /// Finds a container by full ID, exact name, or unique ID prefix.
    pub fn resolve(&self, name: &str) -> Result<Handle> {
        let not_found = |reason: &str| Error::ContainerNotFound {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        if name.is_empty() {
            return Err(not_found("no container name given"));
        }
        match self.read_map().find(name) {
            Found::One(handle) => Ok(handle.clone()),
            Found::None => Err(not_found("no such container")),
            Found::Ambiguous(ids) => {
                let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
                Err(not_found(&format!(
                    "ID prefix {name:?} is ambiguous: it matches {}",
                    ids.join(", ")
                )))
            }
        }
    }

    /// Adds a new container, refusing a name in use; an empty name is generated. The name
    /// is checked and taken under the map's lock, so two creates cannot both get it; the
    /// record is written after the lock is let go (a durable write takes milliseconds, and
    /// lookups must not wait for it), with the container closed to operations and readers
    /// (as an unreconciled one is) until it is.
    pub fn insert(&self, mut record: ContainerRecord) -> Result<Handle> {
        let handle = {
            let mut map = self.write_map();
            if record.name.is_empty() {
                record.name = generate_name(&record.id, |name| map.name_taken(name));
            } else if map.name_taken(&record.name) {
                return Err(Error::invalid(
                    "create.name",
                    format!("the container name {:?} is already in use", record.name),
                ));
            }
            let handle = Container::new(record.clone(), true);
            map.insert(record.id.clone(), &record.name, handle.clone());
            handle
        };
        let written = dirs::create_private_dir(&self.dir(&record.id))
            .and_then(|()| write_json(&self.dir(&record.id).join(RECORD_FILE), &record));
        if let Err(e) = written {
            handle.mark_removed();
            self.write_map().remove(&record.id, &record.name);
            handle.settle();
            let _ = std::fs::remove_dir_all(self.dir(&record.id));
            return Err(e.into());
        }
        handle.settle();
        Ok(handle)
    }

    /// Forgets a container (its files are removed by the caller); its name is free again.
    pub fn forget(&self, id: &ContainerId) {
        let mut map = self.write_map();
        if let Some(handle) = map.get(id) {
            let name = handle.snapshot().name.clone();
            map.remove(id, &name);
        }
    }

    /// Whether a name is taken.
    pub fn name_taken(&self, name: &str) -> bool {
        self.read_map().name_taken(name)
    }

    /// IDs of the containers using image `image_id`.
    pub fn users_of(&self, image_id: &str) -> Vec<String> {
        self.all()
            .iter()
            .map(|c| c.snapshot())
            .filter(|c| c.image_id.as_str() == image_id)
            .map(|c| c.id.to_string())
            .collect()
    }

    /// How many containers use each image (by image ID).
    pub fn users_by_image(&self) -> std::collections::HashMap<String, usize> {
        let mut users = std::collections::HashMap::new();
        for handle in self.all() {
            *users
                .entry(handle.snapshot().image_id.to_string())
                .or_default() += 1;
        }
        users
    }

    /// The overlay of a container over `lower` (topmost first).
    pub fn overlay(&self, id: &ContainerId, lower: Vec<PathBuf>) -> Overlay {
        let dir = self.dir(id);
        Overlay {
            lower,
            upper: dir.join("diff"),
            work: dir.join("work"),
            merged: dir.join("merged"),
            metacopy: false,
            volatile: false,
        }
    }
}

/// Whether a directory name is a container ID (64 lowercase hex digits): only those are
/// ever removed as leftovers.
fn is_container_id(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| ContainerId::parse(n).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::record::new_record;
    use crate::engine::id::image::ImageId;

    /// Records are parsed with their ID: one that is not 64 lowercase hex digits, or not
    /// the name of the directory it was read from, is not loaded (and its files stay).
    #[test]
    fn records_with_a_corrupt_id_are_not_loaded() {
        let root = tempfile::tempdir().unwrap();
        let runroot = tempfile::tempdir().unwrap();
        let dir = root.path().join(CONTAINERS_DIR);
        let good = ContainerId::parse(&"a1".repeat(32)).unwrap();
        let other = ContainerId::parse(&"b2".repeat(32)).unwrap();
        let write = |in_dir: &str, id: &str| {
            let image = ImageId::parse(&"c3".repeat(32)).unwrap();
            let record = new_record(good.clone(), "c".into(), image);
            let mut record = serde_json::to_value(record).unwrap();
            record["id"] = id.into();
            std::fs::create_dir_all(dir.join(in_dir)).unwrap();
            let bytes = serde_json::to_vec(&record).unwrap();
            std::fs::write(dir.join(in_dir).join(RECORD_FILE), bytes).unwrap();
        };
        write(good.as_str(), good.as_str());
        write(other.as_str(), good.as_str());
        let upper = "C3".repeat(32);
        write(&upper, &upper);
        write(&"d4".repeat(32), "../../escape");
        let store = ContainerStore::open(root.path(), runroot.path()).unwrap();
        assert_eq!(store.count(), 1);
        assert_eq!(store.resolve(good.as_str()).unwrap().snapshot().id, good);
        assert!(store.take_leftovers().is_empty());
        assert!(dir.join(other.as_str()).join(RECORD_FILE).exists());
    }
}
