//! What a build made that must not outlive it half-done: each build writes the IDs of its
//! working containers and of the images it composed on the way to a journal file of its
//! own (`ROOT/build-journal/<name>.json`, rewritten atomically at each addition), and
//! removes the file when it ends (having removed what it does not keep). A journal found at
//! start-up is a build the service was killed in: everything it names is removed then
//! (`recover`), so nothing half-built is listed or stays in storage.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::engine::container::Containers;

const JOURNAL_DIR: &str = "build-journal";

/// One build's journal.
pub(super) struct Journal {
    path: PathBuf,
    entries: Entries,
}

#[derive(Default, Serialize, Deserialize)]
struct Entries {
    containers: Vec<String>,
    images: Vec<String>,
}

impl Journal {
    /// A new journal under the storage root (written at its first entry).
    pub(super) fn new(containers: &Containers) -> Journal {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{}{}.json",
            instance_prefix(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        Journal {
            path: containers.root().join(JOURNAL_DIR).join(name),
            entries: Entries::default(),
        }
    }

    /// Records a working container.
    pub(super) fn container(&mut self, id: &str) {
        self.entries.containers.push(id.to_string());
        self.save();
    }

    /// Records an image made along the way.
    pub(super) fn image(&mut self, id: &str) {
        self.entries.images.push(id.to_string());
        self.save();
    }

    fn save(&self) {
        let bytes = serde_json::to_vec(&self.entries).expect("a journal serializes");
        let written = std::fs::create_dir_all(self.path.parent().expect("a parent"))
            .map_err(|e| crate::engine::error::Error::io("create", &self.path, e))
            .and_then(|()| Ok(crate::engine::storage::atomic_write(&self.path, &bytes)?));
        if let Err(e) = written {
            log::warn!("build journal: {e}");
        }
    }

    /// The build ended and removed what it does not keep: the journal goes.
    pub(super) fn finish(self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            log::warn!("build journal {}: {e}", self.path.display());
        }
    }
}

/// What names this service's journals: its pid and the time it first made one, so that
/// `recover`, which runs while the service already answers, tells a journal of a build running
/// now from one a killed service left (a pid alone can come back after a reboot).
fn instance_prefix() -> &'static str {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{}-{nanos}-", std::process::id())
    })
}

/// At start-up, once containers are reconciled: removes what builds the service was killed
/// in left (their working containers, unmounted first, then their images), and their
/// journals.
pub fn recover(containers: &Containers) {
    let dir = containers.root().join(JOURNAL_DIR);
    let Ok(files) = std::fs::read_dir(&dir) else {
        return;
    };
    let ours = instance_prefix();
    for file in files.flatten() {
        // Recovery runs behind serving: a build started since is not a leftover.
        if file.file_name().to_string_lossy().starts_with(ours) {
            continue;
        }
        let path = file.path();
        let entries: Entries = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        log::warn!(
            "removing what an interrupted build left ({})",
            path.display()
        );
        for id in &entries.containers {
            let _ = containers.unmount_container(id, true);
            match containers.remove_container(id, true) {
                Ok(_) | Err(crate::engine::error::Error::ContainerNotFound { .. }) => {}
                Err(e) => log::warn!("build container {id}: {e}"),
            }
        }
        let images = containers.images();
        let store = containers.store();
        for id in entries.images.iter().rev() {
            if images.resolve(id).is_err() {
                continue;
            }
            if let Err(e) = images.remove(id, false, &|i| store.users_of(i)) {
                log::warn!("build image {id}: {e}");
            }
        }
        if let Err(e) = std::fs::remove_file(&path) {
            log::warn!("{}: {e}", path.display());
        }
    }
}
