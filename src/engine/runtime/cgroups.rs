//! Reading a container's cgroup: the processes in it and its statistics, on cgroup v1 (one
//! hierarchy per controller) and v2 (one unified hierarchy). The runtime creates and removes
//! the cgroups; podlink only reads them, and checks that none is left behind.

use std::path::{Path, PathBuf};

/// Where cgroup filesystems are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Whether this host runs cgroup v2 alone (not the hybrid layout, whose v2 part, mounted at
/// `unified`, has no controllers).
pub fn is_unified() -> bool {
    Path::new(CGROUP_ROOT).join("cgroup.controllers").exists()
}

/// The directory of cgroup `path` (absolute, as in a spec's `cgroupsPath`) in `controller`'s
/// hierarchy; on v2 the controller is ignored.
pub fn dir(controller: &str, path: &str) -> PathBuf {
    let relative = path.trim_start_matches('/');
    if is_unified() {
        Path::new(CGROUP_ROOT).join(relative)
    } else {
        Path::new(CGROUP_ROOT).join(controller).join(relative)
    }
}

/// Every directory of cgroup `path` that exists, in any hierarchy.
pub fn existing_dirs(path: &str) -> Vec<PathBuf> {
    if is_unified() {
        let d = dir("", path);
        return if d.is_dir() { vec![d] } else { Vec::new() };
    }
    let Ok(entries) = std::fs::read_dir(CGROUP_ROOT) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path().join(path.trim_start_matches('/')))
        .filter(|d| d.is_dir())
        .collect()
}

/// The pids in cgroup `path` (the `pids` hierarchy on v1).
pub fn processes(path: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = std::fs::read_to_string(dir("pids", path).join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// A cgroup's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupStats {
    /// CPU time used, in nanoseconds.
    pub cpu_nanos: u64,
    /// CPU time used in the kernel, in nanoseconds.
    pub cpu_system_nanos: u64,
    /// Memory used, in bytes.
    pub memory_usage: u64,
    /// Memory limit, in bytes (`u64::MAX` when none).
    pub memory_limit: u64,
    /// Processes.
    pub pids: u64,
    /// Bytes read from block devices.
    pub block_read: u64,
    /// Bytes written to block devices.
    pub block_write: u64,
}

fn read_u64(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    if text == "max" {
        return Some(u64::MAX);
    }
    text.parse().ok()
}

/// `key value` lines.
fn keyed(path: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Reads the counters of cgroup `path`.
pub fn stats(path: &str) -> CgroupStats {
    if is_unified() {
        let d = dir("", path);
        let (read, write) = io_stat_v2(&d.join("io.stat"));
        let memory_usage = read_u64(&d.join("memory.current")).unwrap_or(0);
        // Page cache the kernel can drop is not the container's use (as `docker stats`).
        let inactive = keyed(&d.join("memory.stat"), "inactive_file").unwrap_or(0);
        return CgroupStats {
            cpu_nanos: keyed(&d.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000,
            cpu_system_nanos: keyed(&d.join("cpu.stat"), "system_usec").unwrap_or(0) * 1000,
            memory_usage: memory_usage.saturating_sub(inactive),
            memory_limit: read_u64(&d.join("memory.max")).unwrap_or(u64::MAX),
            pids: read_u64(&d.join("pids.current")).unwrap_or(0),
            block_read: read,
            block_write: write,
        };
    }
    let memory = dir("memory", path);
    let usage = read_u64(&memory.join("memory.usage_in_bytes")).unwrap_or(0);
    let inactive = keyed(&memory.join("memory.stat"), "total_inactive_file").unwrap_or(0);
    let (read, write) =
        io_service_bytes_v1(&dir("blkio", path).join("blkio.throttle.io_service_bytes_recursive"));
    let cpuacct = dir("cpuacct", path);
    CgroupStats {
        cpu_nanos: read_u64(&cpuacct.join("cpuacct.usage")).unwrap_or(0),
        cpu_system_nanos: read_u64(&cpuacct.join("cpuacct.usage_sys")).unwrap_or(0),
        memory_usage: usage.saturating_sub(inactive),
        memory_limit: read_u64(&memory.join("memory.limit_in_bytes")).unwrap_or(u64::MAX),
        pids: read_u64(&dir("pids", path).join("pids.current")).unwrap_or(0),
        block_read: read,
        block_write: write,
    }
}

/// Sums of the `Read` and `Write` rows of a v1 `io_service_bytes` file.
fn io_service_bytes_v1(path: &Path) -> (u64, u64) {
    let mut totals = (0, 0);
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, value] = fields.as_slice() {
            let value: u64 = value.parse().unwrap_or(0);
            match op.to_ascii_lowercase().as_str() {
                "read" => totals.0 += value,
                "write" => totals.1 += value,
                _ => {}
            }
        }
    }
    totals
}

/// Sums of `rbytes` and `wbytes` over the devices of a v2 `io.stat` file.
fn io_stat_v2(path: &Path) -> (u64, u64) {
    let mut totals = (0, 0);
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        for field in line.split_whitespace().skip(1) {
            match field.split_once('=') {
                Some(("rbytes", v)) => totals.0 += v.parse().unwrap_or(0),
                Some(("wbytes", v)) => totals.1 += v.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    totals
}

/// How many times the kernel's OOM killer acted in cgroup `path` (v1 `memory.oom_control`,
/// v2 `memory.events`).
pub fn oom_kills(path: &str) -> u64 {
    let memory = dir("memory", path);
    keyed(&memory.join("memory.oom_control"), "oom_kill")
        .or_else(|| keyed(&memory.join("memory.events"), "oom_kill"))
        .unwrap_or(0)
}

/// Which block IO weight cgroups under `parent` can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlkioWeight {
    /// None: no `io` controller on v2, no weight file on v1.
    Unsupported,
    /// v2's `io.weight`.
    Unified,
    /// v1, CFQ's `blkio.weight`.
    Cfq,
    /// v1, only BFQ's `blkio.bfq.weight` (which crun 1.8 never writes).
    BfqOnly,
}

/// The block IO weight cgroups under `parent` can be given. On v1 the weight files exist
/// only below the root of the hierarchy (`blkio.bfq.weight` with the BFQ scheduler,
/// `blkio.weight` with CFQ; with neither there is no weight), so `parent` is made if needed
/// and looked at, as the runtime would make it anyway.
pub fn blkio_weight(parent: &str) -> BlkioWeight {
    if is_unified() {
        let io = std::fs::read_to_string(Path::new(CGROUP_ROOT).join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == "io");
        return if io {
            BlkioWeight::Unified
        } else {
            BlkioWeight::Unsupported
        };
    }
    let dir = dir("blkio", parent);
    let _ = std::fs::create_dir_all(&dir);
    if dir.join("blkio.weight").exists() {
        BlkioWeight::Cfq
    } else if dir.join("blkio.bfq.weight").exists() {
        BlkioWeight::BfqOnly
    } else {
        BlkioWeight::Unsupported
    }
}

/// Removes what is left of cgroup `path` (a leaf: containers make no cgroups of their own
/// below it) in every hierarchy; the kernel removes only empty ones. Returns the
/// directories that could not be removed.
pub fn remove(path: &str) -> Vec<PathBuf> {
    let mut left = Vec::new();
    for d in existing_dirs(path) {
        if std::fs::remove_dir(&d).is_err() && d.exists() {
            left.push(d);
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_io_files() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = dir.path().join("v1");
        std::fs::write(
            &v1,
            "8:0 Read 100\n8:0 Write 20\n8:0 Sync 5\n8:16 Read 1\nTotal 126\n",
        )
        .unwrap();
        assert_eq!(io_service_bytes_v1(&v1), (101, 20));
        let v2 = dir.path().join("v2");
        std::fs::write(
            &v2,
            "8:0 rbytes=10 wbytes=2 rios=1 wios=1\n8:16 rbytes=5 wbytes=0\n",
        )
        .unwrap();
        assert_eq!(io_stat_v2(&v2), (15, 2));
        let stat = dir.path().join("cpu.stat");
        std::fs::write(&stat, "usage_usec 42\nuser_usec 40\n").unwrap();
        assert_eq!(keyed(&stat, "usage_usec"), Some(42));
        assert_eq!(keyed(&stat, "nothing"), None);
    }

    #[test]
    fn paths_are_absolute_under_the_hierarchies() {
        let d = dir("memory", "/podlink/abc");
        assert!(
            d.starts_with(CGROUP_ROOT) && d.ends_with("podlink/abc"),
            "{d:?}"
        );
    }
}
