//! Facts about the service, the host and the store, for `GetVersion` and `GetInfo`.
//!
//! Everything is read fresh on each call from `/proc`, `/etc` and the kernel: these calls are
//! rare, and a cached value would go stale (free memory, uptime). `/proc/meminfo` and
//! `/proc/uptime` are read with the `procfs` crate; `/proc/filesystems` by hand (procfs has
//! no reader for it), and os-release by hand (a dozen lines for a `KEY=value` file).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use procfs::Current;

use super::Engine;
use crate::engine::error::{Error, Result};
use crate::engine::registry::conf::RegistriesConf;

/// The service binary: what `GetVersion` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The crate version.
    pub version: String,
    /// The compiler that built the binary (`rustc 1.x.y`).
    pub compiler: String,
    /// The git commit of the build, or "" outside a checkout.
    pub git_commit: String,
    /// Build time, seconds since the epoch.
    pub built: i64,
    /// `linux/amd64` style platform, with Go's architecture names as Podman reported them.
    pub os_arch: String,
}

/// The host, the store and the registries: what `GetInfo` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemInfo {
    /// Facts about the host.
    pub host: HostInfo,
    /// Facts about the store.
    pub store: StoreInfo,
    /// Registries searched for short names.
    pub registries: Vec<String>,
    /// Registries reached without TLS verification.
    pub insecure_registries: Vec<String>,
}

/// Facts about the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostInfo {
    /// `ID` from os-release (`debian`).
    pub distribution: String,
    /// `VERSION_ID` from os-release (`12`).
    pub distribution_version: String,
    /// Free memory in bytes.
    pub mem_free: i64,
    /// Total memory in bytes.
    pub mem_total: i64,
    /// Free swap in bytes.
    pub swap_free: i64,
    /// Total swap in bytes.
    pub swap_total: i64,
    /// Go-style architecture name (`amd64`).
    pub arch: String,
    /// CPUs this process may run on.
    pub cpus: i64,
    /// The host name.
    pub hostname: String,
    /// The kernel release.
    pub kernel: String,
    /// The operating system (`linux`).
    pub os: String,
    /// Time since boot.
    pub uptime: Duration,
    /// The OCI runtime containers run with, if one works here.
    pub oci_runtime: Option<RuntimeInfo>,
}

/// The OCI runtime in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// `crun` or `runc`.
    pub name: String,
    /// Its binary.
    pub path: String,
    /// The first line of its `--version`.
    pub version: String,
}

/// Facts about the image and container store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// Containers in the store.
    pub containers: i64,
    /// Images in the store.
    pub images: i64,
    /// Storage driver name.
    pub driver: String,
    /// Storage root.
    pub graph_root: String,
    /// Run root.
    pub run_root: String,
    /// Filesystem under the storage root (`extfs`, `xfs`, `tmpfs`...).
    pub backing_filesystem: String,
    /// Whether the kernel offers overlayfs, whose upper directories podlink diffs itself.
    pub native_overlay_diff: bool,
    /// Whether the backing filesystem reports file types in directory entries.
    pub supports_d_type: bool,
}

impl Engine {
    /// What `GetVersion` reports.
    pub fn get_version(&self) -> VersionInfo {
        version_info()
    }

    /// What `GetInfo` reports, read fresh.
    pub fn get_info(&self) -> Result<SystemInfo> {
        let (registries, insecure_registries) = read_registries(&self.registries_conf)?;
        let oci_runtime = self.containers.runtime_or_err().ok().map(|r| RuntimeInfo {
            name: r.name.clone(),
            path: r.path.display().to_string(),
            version: r.version.clone(),
        });
        Ok(SystemInfo {
            host: HostInfo {
                oci_runtime,
                ..host_info()
            },
            store: StoreInfo {
                // Containers are counted from their store once it exists.
                containers: 0,
                images: self.images.count() as i64,
                driver: "overlay".to_string(),
                graph_root: self.root.display().to_string(),
                run_root: self.runroot.display().to_string(),
                backing_filesystem: backing_filesystem(&self.root),
                native_overlay_diff: overlay_supported(),
                supports_d_type: supports_d_type(&self.root),
            },
            registries,
            insecure_registries,
        })
    }
}

/// The version of this build.
pub fn version_info() -> VersionInfo {
    VersionInfo {
        version: crate::VERSION.to_string(),
        compiler: env!("PODLINK_RUSTC").to_string(),
        git_commit: env!("PODLINK_GIT_COMMIT").to_string(),
        built: env!("PODLINK_BUILT").parse().unwrap_or(0),
        os_arch: format!(
            "{}/{}",
            std::env::consts::OS,
            go_arch(std::env::consts::ARCH)
        ),
    }
}

/// Go's name for a Rust target architecture, as Podman clients expect.
fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "arm" => "arm",
        other => other,
    }
}

fn host_info() -> HostInfo {
    let meminfo = procfs::Meminfo::current().ok();
    let memory = |field: fn(&procfs::Meminfo) -> u64| meminfo.as_ref().map_or(0, field) as i64;
    let os_release = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    let os_release = parse_os_release(&os_release);
    let uname = nix::sys::utsname::uname().ok();
    let uptime = procfs::Uptime::current()
        .ok()
        .and_then(|u| Duration::try_from_secs_f64(u.uptime).ok())
        .unwrap_or_default();
    HostInfo {
        distribution: os_release.get("ID").cloned().unwrap_or_default(),
        distribution_version: os_release.get("VERSION_ID").cloned().unwrap_or_default(),
        mem_free: memory(|m| m.mem_free),
        mem_total: memory(|m| m.mem_total),
        swap_free: memory(|m| m.swap_free),
        swap_total: memory(|m| m.swap_total),
        arch: go_arch(std::env::consts::ARCH).to_string(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as i64),
        hostname: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        kernel: uname
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        os: std::env::consts::OS.to_string(),
        uptime,
        oci_runtime: None,
    }
}

/// `KEY=value` pairs of os-release, unquoted.
fn parse_os_release(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.trim().split_once('=')?;
            let value = value.trim().trim_matches('"').trim_matches('\'');
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

fn backing_filesystem(path: &Path) -> String {
    use nix::sys::statfs;
    let Ok(fs) = statfs::statfs(path) else {
        return "unknown".to_string();
    };
    let magic = fs.filesystem_type();
    let names = [
        (statfs::EXT4_SUPER_MAGIC, "extfs"),
        (statfs::XFS_SUPER_MAGIC, "xfs"),
        (statfs::BTRFS_SUPER_MAGIC, "btrfs"),
        (statfs::TMPFS_MAGIC, "tmpfs"),
        (statfs::OVERLAYFS_SUPER_MAGIC, "overlayfs"),
        (statfs::NFS_SUPER_MAGIC, "nfs"),
    ];
    names
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| format!("0x{:x}", magic.0))
}

/// Whether the kernel lists overlayfs in `/proc/filesystems` (by hand: procfs has no reader
/// for that file).
fn overlay_supported() -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .map(|s| {
            s.lines()
                .any(|l| l.split_whitespace().last() == Some("overlay"))
        })
        .unwrap_or(false)
}

/// Whether directory entries under `dir` carry their type (`d_type`), as overlayfs needs.
fn supports_d_type(dir: &Path) -> bool {
    use nix::dir::Dir;
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    let Ok(mut d) = Dir::open(dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()) else {
        return false;
    };
    // "." is always present, so there is always an entry to look at.
    d.iter()
        .filter_map(|e| e.ok())
        .any(|e| e.file_type().is_some())
}

/// Search and insecure registries from `path`; both empty when the file does not exist.
fn read_registries(path: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let conf = RegistriesConf::read(path).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::InvalidData {
            "parse"
        } else {
            "read"
        };
        Error::io(what, path, e)
    })?;
    Ok((conf.search, conf.insecure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_figures_read() {
        let host = host_info();
        assert!(host.mem_total > 0 && host.mem_free <= host.mem_total);
        assert!(host.swap_free <= host.swap_total);
        assert!(host.uptime > Duration::ZERO);
    }

    #[test]
    fn os_release_unquoted() {
        let r =
            parse_os_release("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n");
        assert_eq!(r["ID"], "debian");
        assert_eq!(r["VERSION_ID"], "12");
    }

    #[test]
    fn arch() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
    }
}
