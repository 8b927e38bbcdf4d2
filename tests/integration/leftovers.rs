//! What a test daemon's containers can leave on the host (monitor processes, mounts,
//! cgroups, veths, network namespace files, nftables elements), found and cleaned up per
//! daemon; and the network of each test daemon's own (bridge, subnet, nftables table), so
//! tests run in parallel without sharing one. `TestDaemon`'s drop fails the test that left
//! any; contrib/scripts/check-leftovers.sh makes the same check after the whole suite.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a daemon's leftovers may stay unchanged before they count: what goes on its own
/// (a queued teardown, a monitor finishing) changes them meanwhile.
const SETTLE: Duration = Duration::from_secs(3);
/// The longest wait, however steadily they go (200 queued teardowns take several seconds on
/// a loaded two-core machine).
const SETTLE_MAX: Duration = Duration::from_secs(30);

/// The leftovers of a daemon's roots once they are gone, or have not changed for `SETTLE`
/// (at most `SETTLE_MAX` in all). While the daemon runs (`running`), its namespace
/// directory's own mount is its, not a leftover.
pub fn settled_leftovers(root: &Path, runroot: &Path, running: bool) -> Vec<String> {
    let own = format!("mount {}", runroot.join("netns").display());
    let current = || {
        let mut left = leftovers(root, runroot);
        left.retain(|l| !running || *l != own);
        left
    };
    let (start, mut changed, mut last) = (Instant::now(), Instant::now(), Vec::new());
    loop {
        let left = current();
        if left != last {
            changed = Instant::now();
        }
        if left.is_empty() || changed.elapsed() > SETTLE || start.elapsed() > SETTLE_MAX {
            return left;
        }
        last = left;
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
    left.extend(network_left(root, runroot));
    left
}

/// What a daemon's bridged containers left of their network: veths on its bridge, network
/// namespace files, elements in its nftables table.
fn network_left(root: &Path, runroot: &Path) -> Vec<String> {
    let net = TestNetwork::names(root);
    let mut left = Vec::new();
    let ports = Path::new("/sys/class/net").join(&net.bridge).join("brif");
    for port in crate::util::sorted_names(&ports) {
        left.push(format!("veth {port} on bridge {}", net.bridge));
    }
    for file in crate::util::sorted_names(&runroot.join("netns")) {
        left.push(format!(
            "netns file {}",
            runroot.join("netns").join(file).display()
        ));
    }
    if let Ok(out) = Command::new("nft")
        .args(["-j", "list", "table", "ip", &net.table])
        .output()
        && out.status.success()
    {
        let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        for item in listing["nftables"].as_array().into_iter().flatten() {
            for kind in ["map", "set"] {
                let set = &item[kind];
                if let Some(elements) = set["elem"].as_array()
                    && !elements.is_empty()
                {
                    left.push(format!(
                        "nft {kind} {} of table {}: {} element(s)",
                        set["name"],
                        net.table,
                        elements.len()
                    ));
                }
            }
        }
    }
    left
}

/// Where test daemons' subnets are held, across every test process on the machine: one file
/// per subnet (its index), made with `create_new`, holding the storage root's holder directory.
fn subnet_registry() -> PathBuf {
    std::env::temp_dir().join("podlink-test-subnets")
}

/// How many /24 subnets tests use: 10.160.0.0/24 to 10.175.255.0/24.
const TEST_SUBNETS: usize = 4096;

/// The network of one test daemon's storage root: a second daemon on the same root (a
/// restart test) gets the same, since its records hold addresses in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestNetwork {
    /// The bridge (`plt` and the holder's name: at most 15 bytes).
    pub bridge: String,
    /// The nftables table (named as the bridge).
    pub table: String,
}

impl TestNetwork {
    /// The bridge and table of `root`.
    pub fn names(root: &Path) -> TestNetwork {
        let holder = root
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let alnum: Vec<char> = holder.chars().filter(char::is_ascii_alphanumeric).collect();
        let tail: String = alnum[alnum.len().saturating_sub(12)..].iter().collect();
        let bridge = format!("plt{tail}");
        TestNetwork {
            table: bridge.clone(),
            bridge,
        }
    }

    /// The subnet of `root` (`10.X.Y.0/24`), held for it in the registry until
    /// [`release_test_network`].
    pub fn subnet(root: &Path) -> String {
        let holder = root.parent().unwrap_or(root).display().to_string();
        let registry = subnet_registry();
        std::fs::create_dir_all(&registry).expect("subnet registry");
        let to_subnet = |index: usize| format!("10.{}.{}.0/24", 160 + index / 256, index % 256);
        for name in crate::util::sorted_names(&registry) {
            if std::fs::read_to_string(registry.join(&name))
                .ok()
                .as_deref()
                == Some(&holder)
                && let Ok(index) = name.parse::<usize>()
            {
                return to_subnet(index);
            }
        }
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        holder.hash(&mut hasher);
        let start = hasher.finish() as usize;
        for step in 0..TEST_SUBNETS {
            let index = (start + step) % TEST_SUBNETS;
            let path = registry.join(index.to_string());
            for _ in 0..2 {
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                {
                    Ok(mut file) => {
                        use std::io::Write;
                        file.write_all(holder.as_bytes())
                            .expect("subnet registry file");
                        return to_subnet(index);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        // Held by a test process that died: its holder directory is gone.
                        let owner = std::fs::read_to_string(&path).unwrap_or_default();
                        if owner.is_empty() || Path::new(&owner).exists() {
                            break;
                        }
                        let _ = std::fs::remove_file(&path);
                    }
                    Err(e) => panic!("{}: {e}", path.display()),
                }
            }
        }
        panic!("every test subnet is taken");
    }
}

/// Removes a test daemon's network (its bridge, its nftables table) and gives its subnet
/// back to the registry.
pub fn release_test_network(root: &Path) {
    let net = TestNetwork::names(root);
    if Path::new("/sys/class/net").join(&net.bridge).exists() {
        let _ = Command::new("ip")
            .args(["link", "del", &net.bridge])
            .output();
    }
    let _ = Command::new("nft")
        .args(["delete", "table", "ip", &net.table])
        .output();
    let holder = root.parent().unwrap_or(root).display().to_string();
    let registry = subnet_registry();
    for name in crate::util::sorted_names(&registry) {
        let path = registry.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(&holder) {
            let _ = std::fs::remove_file(path);
        }
    }
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
    // Veths of containers a failed test left go with their namespaces' mounts above (the
    // peer's namespace ends) or here, with the bridge's ports.
    let net = TestNetwork::names(root);
    let ports = Path::new("/sys/class/net").join(&net.bridge).join("brif");
    for port in crate::util::sorted_names(&ports) {
        let _ = Command::new("ip").args(["link", "del", &port]).output();
    }
    release_test_network(root);
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
