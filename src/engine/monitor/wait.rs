//! Recognising a container's monitor among the host's processes, and waiting for it to exit
//! (daemon side).

use std::os::fd::AsFd;
use std::time::Duration;

use crate::engine::caller::{self, Caller, Wake};

/// The container a command line (NUL-separated, as in /proc) monitors, if it is a monitor's.
fn monitored_id(cmdline: &[u8]) -> Option<&[u8]> {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    if args.get(1) != Some(&&b"monitor"[..]) {
        return None;
    }
    args.windows(2).find(|w| w[0] == b"--id").map(|w| w[1])
}

/// Whether a command line is that of the monitor of `id`.
fn is_monitor_cmdline(cmdline: &[u8], id: &str) -> bool {
    monitored_id(cmdline) == Some(id.as_bytes())
}

/// Whether `pid` is still the monitor of container `id` (pids are reused).
pub fn is_monitor(pid: i32, id: &str) -> bool {
    if pid <= 1 {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| is_monitor_cmdline(&c, id))
        .unwrap_or(false)
}

/// Every monitor running on this host: container ID → the monitor's pid.
pub fn all_monitors() -> std::collections::HashMap<String, i32> {
    let mut found = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if let Some(id) = monitored_id(&cmdline) {
            found.insert(String::from_utf8_lossy(id).into_owned(), pid);
        }
    }
    found
}

/// Waits until the monitor `pid` of container `id` has exited, or `timeout` passes;
/// `true` if it has exited.
pub fn wait_monitor(pid: i32, id: &str, timeout: Option<Duration>) -> bool {
    let pidfd = match crate::sys::pidfd_open(pid) {
        Ok(pidfd) => pidfd,
        // Gone already.
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return true,
        // No pidfds here (a kernel before 5.3, or no descriptors left): look every 50 ms.
        Err(_) => return poll_monitor(pid, id, timeout),
    };
    // Checked after opening the pidfd: if the pid was reused before, this sees it.
    if !is_monitor(pid, id) {
        return true;
    }
    // A pidfd becomes readable when its process exits.
    match timeout {
        Some(limit) => crate::engine::process::readable_within(&pidfd, limit),
        None => loop {
            if crate::engine::process::readable_within(&pidfd, Duration::from_secs(3600)) {
                return true;
            }
        },
    }
}

/// Waits until the monitor `pid` of container `id` has exited or `caller` has gone; `true`
/// if it has exited.
pub fn wait_monitor_for(pid: i32, id: &str, caller: &dyn Caller) -> bool {
    let pidfd = match crate::sys::pidfd_open(pid) {
        Ok(pidfd) => pidfd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return true,
        Err(_) => {
            // No pidfds: look every 50 ms, sleeping on the caller's hang-up meanwhile.
            while is_monitor(pid, id) {
                if caller::wait(None, caller, Some(Duration::from_millis(50))) == Wake::Gone {
                    return false;
                }
            }
            return true;
        }
    };
    if !is_monitor(pid, id) {
        return true;
    }
    caller::wait(Some(pidfd.as_fd()), caller, None) != Wake::Gone
}

/// [`wait_monitor`] without pidfds.
fn poll_monitor(pid: i32, id: &str, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    while is_monitor(pid, id) {
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_are_recognised_by_role_and_id() {
        let id = "ab".repeat(32);
        let ours = format!("/usr/bin/podlink\0monitor\0--id\0{id}\0--dir\0/run/x\0");
        assert!(is_monitor_cmdline(ours.as_bytes(), &id));
        let tail = format!("tail\0-f\0/run/podlink/containers/{id}/monitor.log\0");
        assert!(!is_monitor_cmdline(tail.as_bytes(), &id));
        let other = format!("/usr/bin/podlink\0monitor\0--id\0{}\0", "cd".repeat(32));
        assert!(!is_monitor_cmdline(other.as_bytes(), &id));
        assert!(!is_monitor(std::process::id() as i32, &id));
        assert!(wait_monitor(
            std::process::id() as i32,
            &id,
            Some(Duration::ZERO)
        ));
    }
}
