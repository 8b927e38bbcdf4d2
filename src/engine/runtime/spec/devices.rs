//! The host's device nodes as the spec lists them: one given by path, or every node under
//! a directory (a privileged container gets all of the host's).

use std::path::{Path, PathBuf};

/// A device as the spec lists it: the host's node, resolved now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Path in the container.
    pub path: String,
    /// `c` or `b`.
    pub kind: char,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Mode bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Cgroup access: some of `r`, `w`, `m`.
    pub access: String,
}

impl Device {
    /// The device node at `host`, to appear at `path` with `access`.
    pub fn from_host(host: &Path, path: &str, access: &str) -> std::io::Result<Self> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let meta = std::fs::metadata(host)?;
        let kind = if meta.file_type().is_char_device() {
            'c'
        } else if meta.file_type().is_block_device() {
            'b'
        } else {
            return Err(std::io::Error::other(format!(
                "{} is not a device",
                host.display()
            )));
        };
        Ok(Device {
            path: path.to_string(),
            kind,
            major: nix::sys::stat::major(meta.rdev()),
            minor: nix::sys::stat::minor(meta.rdev()),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            access: access.to_string(),
        })
    }
}

/// The device nodes (character or block; not links to them) under `dir`, recursively, but
/// not under its subdirectories named in `skip`; sorted. The walk is iterative: `dir` may be
/// any host directory a client names in `devices`.
pub fn device_nodes(dir: &Path, skip: &[&str]) -> Vec<PathBuf> {
    use nix::sys::stat::SFlag;

    use crate::engine::tree::{self, Next};

    let mut found = Vec::new();
    let walked = tree::walk(
        dir,
        |entry| {
            let kind = SFlag::from_bits_truncate(entry.stat.st_mode) & SFlag::S_IFMT;
            if kind == SFlag::S_IFCHR || kind == SFlag::S_IFBLK {
                found.push(dir.join(entry.rel));
            } else if entry.is_dir() && skip.contains(&entry.name.to_string_lossy().as_ref()) {
                return Ok(Next::Skip);
            }
            Ok(Next::Descend)
        },
        |_| Ok(()),
    );
    if let Err(e) = walked {
        log::debug!("device nodes under {}: {e}", dir.display());
    }
    found.sort();
    found
}

/// Every device node under the host's /dev that a privileged container gets: all of them
/// but the ones every container gets anyway (the runtime makes those).
pub fn host_devices() -> Vec<Device> {
    device_nodes(Path::new("/dev"), &["pts", "shm", "mqueue"])
        .into_iter()
        .filter(|p| {
            !["/dev/console", "/dev/ptmx", "/dev/tty"].contains(&p.to_string_lossy().as_ref())
        })
        .filter_map(|p| Device::from_host(&p, &p.display().to_string(), "rwm").ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_devices_are_found() {
        let devices = host_devices();
        assert!(
            devices
                .iter()
                .any(|d| d.path == "/dev/null" && d.kind == 'c')
        );
        assert!(!devices.iter().any(|d| d.path == "/dev/console"));
        let null = Device::from_host(Path::new("/dev/null"), "/dev/n", "r").unwrap();
        assert_eq!((null.major, null.minor), (1, 3));
        assert!(Device::from_host(Path::new("/etc/passwd"), "/x", "r").is_err());
    }
}
