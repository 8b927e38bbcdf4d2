//! ListContainerChanges: what a container changed relative to its image.

use super::commit::ensure_upper;
use super::service::Containers;
use crate::engine::error::Result;
use crate::engine::storage::overlay::Changes;

/// Where every container has something mounted, which the runtime makes in its root
/// filesystem when the image lacks it.
const RUNTIME_MOUNT_POINTS: [&str; 7] = [
    "/dev",
    "/proc",
    "/sys",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/dev/init",
];

impl Containers {
    /// io.podman.ListContainerChanges: from the container's upper directory; overlay
    /// whiteouts are deletions, opaque directories delete what the image had under them.
    pub fn list_container_changes(&self, name: &str) -> Result<Changes> {
        let handle = self.find_container(name)?;
        let record = self.lock_container(&handle, name)?;
        let overlay = self.overlay_of(&record);
        ensure_upper(&overlay)?;
        self.use_rootfs(&record);
        let diff = self.upper_diff(&record, &overlay);
        let changes = self.frozen(&record, || diff.changes());
        self.done_with_rootfs(&record);
        let mut changes = changes?;
        // What the runtime made to mount things on is not the container's doing (as
        // Podman leaves out its container mounts).
        let mount_points: Vec<&str> = RUNTIME_MOUNT_POINTS
            .iter()
            .copied()
            .chain(record.config.mounts.iter().map(|m| m.destination.as_str()))
            .collect();
        for list in [
            &mut changes.changed,
            &mut changes.added,
            &mut changes.deleted,
        ] {
            list.retain(|p| !mount_points.contains(&p.as_str()));
            list.sort();
        }
        Ok(changes)
    }
}
