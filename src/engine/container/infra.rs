//! A pod's infra container: the holder of the pod's namespaces, which needs no image.
//!
//! Its root filesystem is one empty directory tree per service (`ROOT/infra-rootfs`), shared
//! read-only by every infra container and never mounted over: the runtime bind-mounts it as
//! the root and makes its mount points in it, so they are all made here in advance (a
//! read-only root would refuse them, and two runtimes writing them at once would race).
//! Debian's static `catatonit` is bind-mounted read-only into it and runs as `catatonit -P`,
//! which only waits (measured: 23 ms to start, 680 kB resident).
//!
//! The pod room decides what the infra container shares and where its cgroup goes, and calls
//! [`Containers::create_infra_container`]; everything else about it is an ordinary
//! container's life (start, stop, exit files, reconciliation).

use std::path::{Path, PathBuf};

use super::create::options::CreateOptions;
use super::service::Containers;
use crate::engine::error::{Error, Result};
use crate::engine::id::container::ContainerId;
use crate::engine::id::image::ImageId;

/// The infra root filesystem's directory under the storage root.
pub const INFRA_ROOTFS_DIR: &str = "infra-rootfs";
/// The static catatonit on the host (Debian's package `catatonit`).
pub const CATATONIT: &str = "/usr/bin/catatonit";
/// Where catatonit appears in the infra container.
pub const CATATONIT_IN_CONTAINER: &str = "/catatonit";
/// The image name infra containers list with: they have no image.
pub const INFRA_IMAGE_NAME: &str = "podlink/infra";

/// Directories the runtime mounts over, made in advance.
const MOUNT_POINT_DIRS: &[&str] = &[
    "proc",
    "sys",
    "dev",
    "dev/pts",
    "dev/shm",
    "dev/mqueue",
    "etc",
    "tmp",
    "run",
    "sys/fs/cgroup",
];
/// Files the runtime bind-mounts over, made in advance.
const MOUNT_POINT_FILES: &[&str] = &["etc/hosts", "etc/hostname", "etc/resolv.conf", "catatonit"];

/// The image ID infra containers are recorded with: no image has it (it is the SHA-256 of
/// nothing: no image config is empty), so no image counts them as users.
pub fn infra_image_id() -> ImageId {
    ImageId::parse("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        .expect("a constant of 64 lowercase hex digits")
}

impl Containers {
    /// The shared infra root filesystem, made the first time it is needed (aside, then renamed
    /// into place, so a crash never leaves half of one where it is used).
    pub(crate) fn infra_rootfs(&self) -> Result<PathBuf> {
        let dir = self.root().join(INFRA_ROOTFS_DIR);
        if dir
            .join(MOUNT_POINT_FILES[MOUNT_POINT_FILES.len() - 1])
            .exists()
        {
            return Ok(dir);
        }
        // Made in the store's staging directory, whose entries every start moves to the
        // trash: a crash halfway leaves nothing that stays.
        let partial = self
            .root()
            .join(crate::engine::storage::TMP_DIR)
            .join(crate::engine::storage::unique_name("infra-rootfs"));
        make_rootfs(&partial)
            .map_err(|e| Error::io("make the infra root filesystem in", &partial, e))?;
        if let Err(e) = std::fs::rename(&partial, &dir) {
            // Another create made it meanwhile: theirs is as good.
            let _ = crate::engine::storage::remove_tree(&partial);
            if !dir.exists() {
                return Err(Error::io("rename", &partial, e));
            }
        }
        Ok(dir)
    }

    /// Records a pod's infra container, `id` (chosen by the pod, whose record names it first):
    /// `catatonit -P` on the shared root filesystem, read only, with the namespaces, cgroup
    /// parent, ports and labels of `options`, and host name `hostname` (the pod's name, which
    /// may hold characters a client's host name may not).
    pub fn create_infra_container(
        &self,
        id: ContainerId,
        options: CreateOptions,
        hostname: &str,
    ) -> Result<String> {
        if !Path::new(CATATONIT).is_file() {
            return Err(Error::invalid(
                "create.infra",
                format!("an infra container needs {CATATONIT} (Debian's package catatonit)"),
            ));
        }
        let rootfs = self.infra_rootfs()?;
        let options = CreateOptions {
            command: vec![CATATONIT_IN_CONTAINER.into(), "-P".into()],
            entrypoint: Some(vec![String::new()]),
            readonly_rootfs: true,
            volumes: vec![format!("{CATATONIT}:{CATATONIT_IN_CONTAINER}:ro")],
            ..options
        };
        self.create_from(options, Some((rootfs, hostname.to_string(), id)))
    }
}

fn make_rootfs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    for d in MOUNT_POINT_DIRS {
        std::fs::create_dir_all(dir.join(d))?;
    }
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    for f in MOUNT_POINT_FILES {
        std::fs::write(dir.join(f), b"")?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
}
