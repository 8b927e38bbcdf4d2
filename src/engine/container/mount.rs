//! Mounting a container's root filesystem for a client (MountContainer, UnmountContainer,
//! ListContainerMounts).

use std::path::PathBuf;

use super::service::Containers;
use crate::engine::error::Result;

impl Containers {
    /// io.podman.MountContainer: mounts the root filesystem (it stays mounted, whatever the
    /// container does, until as many UnmountContainer calls); returns where.
    pub fn mount_container(&self, name: &str) -> Result<PathBuf> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        let overlay = self.overlay_of(&record);
        self.use_rootfs(&record);
        overlay.mount()?;
        record.state.client_mounts = record.state.client_mounts() + 1;
        record.state.mounted = true;
        self.store().save(&record)?;
        Ok(overlay.merged)
    }

    /// io.podman.UnmountContainer: releases one of the client's mounts, as Podman's counted
    /// mounts did. The root filesystem is unmounted when no client mount is left and the
    /// container has no process; the container's own mount (no client mount left) is refused
    /// while it runs, unless `force`, which drops every client mount and unmounts.
    pub fn unmount_container(&self, name: &str, force: bool) -> Result<()> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        self.use_rootfs(&record);
        let active = record.status().is_active();
        let held = record.state.client_mounts();
        if held == 0 && active && !force {
            return Err(record.refuse("unmount (without force)"));
        }
        let left = if force { 0 } else { held.saturating_sub(1) };
        if held != left {
            record.state.client_mounts = left;
            record.state.mounted = left > 0;
            self.store().save(&record)?;
        }
        if left > 0 || (active && !force) {
            // Still mounted for another client, or for the container itself.
            return Ok(());
        }
        Ok(self.overlay_of(&record).unmount()?)
    }

    /// io.podman.ListContainerMounts: container ID → mount point, for mounted containers: one
    /// that runs, or that a client mounted. (An exited one's root filesystem is unmounted
    /// shortly after its exit, off the callers' paths: it is not listed meanwhile.)
    pub fn list_container_mounts(&self) -> Vec<(String, String)> {
        let mounted = crate::engine::storage::overlay::mount_points();
        self.store()
            .all()
            .iter()
            .filter_map(|h| {
                let record = h.snapshot();
                let merged = self.store().dir(&record.id).join("merged");
                let in_use = record.state.mounted || record.status().is_active();
                (in_use && mounted.contains(&merged))
                    .then(|| (record.id.to_string(), merged.display().to_string()))
            })
            .collect()
    }
}
