//! What a test daemon's containers can leave on the host (monitor processes, mounts,
//! cgroups), found and cleaned up per daemon. `TestDaemon`'s drop fails the test that left
//! any; contrib/scripts/check-leftovers.sh makes the same check after the whole suite.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a dropped daemon's leftovers may take to go on their own.
const SETTLE: Duration = Duration::from_secs(3);

/// The leftovers of a daemon's roots once they stop changing, or after `SETTLE`.
pub fn settled_leftovers(root: &Path, runroot: &Path) -> Vec<String> {
    let start = Instant::now();
    loop {
        let left = leftovers(root, runroot);
        if left.is_empty() || start.elapsed() > SETTLE {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a daemon's containers left behind, one line each: monitor processes of `runroot`,
/// mounts below `root` or `runroot`, container cgroups under its cgroup parent. The same
/// things contrib/scripts/check-leftovers.sh looks for after the whole suite.
pub fn leftovers(root: &Path, runroot: &Path) -> Vec<String> {
    let mut left = Vec::new();
    for pid in monitors_of(runroot) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        left.push(format!("monitor {pid}: {}", cmdline.trim_end()));
    }
    for mount_point in mounts_below(&[root, runroot]) {
        left.push(format!("mount {mount_point}"));
    }
    for cgroup in cgroups_left(root) {
        left.push(format!("cgroup {}", cgroup.display()));
    }
    left
}

/// The pids of `podlink monitor` processes whose arguments name a path under `runroot`.
fn monitors_of(runroot: &Path) -> Vec<i32> {
    let run = runroot.as_os_str().as_encoded_bytes();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.get(1) == Some(&&b"monitor"[..]) && args.iter().any(|a| a.starts_with(run)) {
            pids.push(pid);
        }
    }
    pids
}

/// Mount points (of this mount namespace) below any of `roots`, deepest first.
fn mounts_below(roots: &[&Path]) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| roots.iter().any(|r| Path::new(p).starts_with(r)))
        .map(str::to_string)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    points
}

/// Force-deletes every container of a runtime state directory, kills monitors of `runroot`,
/// and unmounts everything under `root`.
pub fn clean_up_containers(root: &Path, runroot: &Path) {
    let state = runroot.join("runtime");
    if state.exists() {
        for runtime in ["runc", "crun"] {
            let Ok(out) = Command::new(runtime)
                .arg("--root")
                .arg(&state)
                .args(["list", "-q"])
                .output()
            else {
                continue;
            };
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new(runtime)
                    .arg("--root")
                    .arg(&state)
                    .args(["delete", "--force", id])
                    .output();
            }
        }
    }
    for pid in monitors_of(runroot) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    for mount_point in mounts_below(&[root, runroot]) {
        let _ = nix::mount::umount2(mount_point.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
    // The (empty) cgroups of containers a failed test left, and the daemon's parent.
    for dir in cgroup_tree(root) {
        let _ = std::fs::remove_dir(dir);
    }
}

/// The cgroup parent of a test daemon's containers: one per storage root (named after the
/// temporary directory holding it), so a test can check that none of its containers' cgroups
/// is left, whatever other tests run at the same time.
pub fn cgroup_parent(root: &Path) -> String {
    let holder = root
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "default".into());
    format!("/podlink-test/{holder}")
}

/// The directories of cgroup `path` in every hierarchy (v1) or the unified one (v2).
pub fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let relative = path.trim_start_matches('/');
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return vec![Path::new("/sys/fs/cgroup").join(relative)];
    }
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(relative))
        .collect()
}

/// The container and pod cgroups (directories named by a container ID, or `libpod_pod_` and a
/// pod ID) left anywhere under a daemon's cgroup parent, deepest first.
pub fn cgroups_left(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path(), out);
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let id = name.strip_prefix("libpod_pod_").unwrap_or(&name);
                if id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()) {
                    out.push(entry.path());
                }
            }
        }
    }
    let mut left = Vec::new();
    for dir in cgroup_dirs(&cgroup_parent(root)) {
        walk(&dir, &mut left);
    }
    left
}

/// Every directory under a daemon's cgroup parent, deepest first, for removal.
fn cgroup_tree(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path(), out);
                out.push(entry.path());
            }
        }
    }
    let mut all = Vec::new();
    for dir in cgroup_dirs(&cgroup_parent(root)) {
        walk(&dir, &mut all);
        all.push(dir);
    }
    all
}
