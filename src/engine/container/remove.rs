//! Removal: one container, every stopped one, and the containers that keep one from going
//! (they join its namespaces).

use super::record::{ContainerRecord, RECORD_FILE};
use super::service::Containers;
use super::store::Handle;
use crate::engine::error::{Error, Result};
use crate::engine::runtime::spec::input::NamespaceMode;
use crate::engine::storage::overlay;

impl Containers {
    /// io.podman.RemoveContainer: a running container only with `force`; returns the ID.
    pub fn remove_container(&self, name: &str, force: bool) -> Result<String> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        if !force && !record.status().can_remove() {
            return Err(record.refuse("remove (without force)"));
        }
        let dependents = self.dependents(&record.id);
        if !dependents.is_empty() {
            return Err(Error::invalid(
                "name",
                format!(
                    "container {} shares namespaces with container(s) {}: remove them first",
                    record.id,
                    dependents.join(", ")
                ),
            ));
        }
        if record.status().can_stop() {
            self.stop_locked(&mut record, 0)?;
        }
        self.remove_locked(&handle, &record)?;
        Ok(record.id.to_string())
    }

    /// Containers that join a namespace of container `id`.
    fn dependents(&self, id: &str) -> Vec<String> {
        self.store()
            .all()
            .iter()
            .map(|h| h.snapshot())
            .filter(|c| {
                c.config
                    .namespaces
                    .each()
                    .iter()
                    .any(|(_, mode)| **mode == NamespaceMode::Container(id.to_string()))
            })
            .map(|c| c.id.to_string())
            .collect()
    }

    /// Forgets a stopped container, releases what its run held and queues the unmount and
    /// deletion of its files. Called with the container locked: it is marked removed before
    /// the lock goes, so an operation waiting for the lock finds it gone rather than
    /// bringing it back.
    pub(crate) fn remove_locked(&self, handle: &Handle, record: &ContainerRecord) -> Result<()> {
        let id = &record.id;
        handle.mark_removed();
        // What stays mounted keeps its tree from the deletion below, logged.
        if let Err(e) = self.release(record) {
            log::warn!("container {id}: {e}");
        }
        let dir = self.store().dir(id);
        self.store().forget(id);
        // After `release` queued its endpoint's teardown.
        self.release_address(record);
        // The record goes first: a crash mid-removal leaves a directory the next start removes.
        let record_file = dir.join(RECORD_FILE);
        if let Err(e) = std::fs::remove_file(&record_file) {
            log::warn!("{}: {e}", record_file.display());
        }
        // Nothing named any more: the root filesystem's unmount (which syncs the filesystem
        // under it) and the files go off this caller's path (see `storage::reclaim`). A tree
        // whose unmount fails is left, logged, for the next start to remove.
        let merged = dir.join("merged");
        self.reclaimer()
            .push_job(Box::new(move || match overlay::unmount(&merged) {
                Ok(()) => {
                    if let Err(e) = crate::engine::storage::remove_tree(&dir) {
                        log::warn!("{e}");
                    }
                }
                Err(e) => log::warn!("{e}: {} is left", dir.display()),
            }));
        self.reclaimer().push(self.store().run_dir(id));
        Ok(())
    }

    /// io.podman.DeleteStoppedContainers: removes every container not running (but pods'
    /// infra containers); their IDs.
    pub fn delete_stopped_containers(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for handle in self.store().all() {
            let Some(mut record) = handle.try_lock() else {
                // Something is being done to it right now: it is not "stopped".
                continue;
            };
            if handle.is_removed() {
                continue;
            }
            self.refresh(&mut record);
            // A pod's infra container goes with its pod (RemovePod), not here.
            if !record.status().can_remove()
                || record.config.infra
                || !self.dependents(&record.id).is_empty()
            {
                continue;
            }
            if record.status().can_stop() {
                self.stop_locked(&mut record, 0)?;
            }
            // One that cannot go does not keep the others, nor hide what went.
            match self.remove_locked(&handle, &record) {
                Ok(()) => removed.push(record.id.to_string()),
                Err(e) => log::warn!("DeleteStoppedContainers: {}: {e}", record.id),
            }
        }
        Ok(removed)
    }
}
