//! The per-container monitor, conmon's part: the daemon side (spawn it, read its one message,
//! wait for it) and, in `run`, the monitor process itself.
//!
//! The monitor is this binary in its hidden `monitor` role. It forks away from the daemon,
//! becomes a session leader and a child subreaper, runs the runtime's `create`, reports
//! `Ready` (or `Failed` with the runtime's stderr) as one JSON line on its stdout, which the
//! daemon reads through a pipe, then holds the container's stdio, writes the log, reaps the
//! container, writes the exit file atomically and exits. The daemon learns about the exit
//! from that file, so a restarted daemon recovers by reading files.

pub mod attach;
pub mod logs;
pub mod run;

use std::io::BufRead;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::caller::{self, Caller, Wake};
use super::runtime::{OciRuntime, RuntimeError};

/// The container's pid, written by the runtime.
pub const PID_FILE: &str = "pid";
/// The exit file, written by the monitor when the container exits.
pub const EXIT_FILE: &str = "exit.json";
/// The container log (k8s-file).
pub const LOG_FILE: &str = "ctr.log";
/// The monitor's own diagnostics.
pub const MONITOR_LOG: &str = "monitor.log";
/// The attach socket (SOCK_SEQPACKET, conmon's framing).
pub const ATTACH_SOCKET: &str = "attach";
/// The control fifo (`1 ROWS COLS` resizes the terminal, `2` reopens the log).
pub const CTL_FIFO: &str = "ctl";
/// The console socket a tty container's runtime sends the terminal's master over. Kept
/// short: socket paths must fit in 108 bytes.
pub const CONSOLE_SOCKET: &str = "console";

/// The monitor's one message to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// The runtime created the container.
    Ready {
        /// The container's init process.
        pid: i32,
        /// The monitor itself.
        monitor_pid: i32,
    },
    /// It did not; `message` carries the runtime's stderr.
    Failed {
        /// What went wrong.
        message: String,
    },
}

/// How a container ended, as the monitor records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// The exit code; 128+N for death by signal N.
    pub exit_code: i32,
    /// When the monitor saw it exit (RFC 3339).
    pub finished_at: String,
}

/// What the monitor needs to know, passed on its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorOptions {
    /// The container.
    pub id: String,
    /// Its bundle.
    pub bundle: PathBuf,
    /// The runtime binary.
    pub runtime: PathBuf,
    /// The runtime's state directory.
    pub runtime_root: PathBuf,
    /// The container's run directory (pid file, exit file, attach socket, ctl fifo).
    pub dir: PathBuf,
    /// The container log.
    pub log_path: PathBuf,
    /// The most the log and its rotated file may hold together; `None` for no limit.
    pub log_size_max: Option<u64>,
    /// Give the container a terminal.
    pub tty: bool,
    /// Keep the container's stdin open (fed from attach clients).
    pub stdin: bool,
    /// Where to write the monitor's pid (Create's `conmon_pidfile`).
    pub pid_file: Option<PathBuf>,
    /// Restore the container from this checkpoint (`runtime restore`) instead of creating
    /// it: its processes come back running, and become the monitor's as created ones do.
    pub restore_from: Option<PathBuf>,
    /// Restore established TCP connections too.
    pub tcp_established: bool,
}

impl MonitorOptions {
    /// The arguments of `podlink monitor`.
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "monitor".into(),
            "--id".into(),
            self.id.clone().into(),
            "--bundle".into(),
            self.bundle.clone().into(),
            "--oci-runtime".into(),
            self.runtime.clone().into(),
            "--runtime-root".into(),
            self.runtime_root.clone().into(),
            "--dir".into(),
            self.dir.clone().into(),
            "--log-path".into(),
            self.log_path.clone().into(),
        ];
        if let Some(max) = self.log_size_max {
            args.extend(["--log-size-max".into(), max.to_string().into()]);
        }
        if self.tty {
            args.push("--tty".into());
        }
        if self.stdin {
            args.push("--stdin".into());
        }
        if let Some(pid_file) = &self.pid_file {
            args.extend(["--pid-file".into(), pid_file.clone().into()]);
        }
        if let Some(checkpoint) = &self.restore_from {
            args.extend(["--restore-from".into(), checkpoint.clone().into()]);
        }
        if self.tcp_established {
            args.push("--tcp-established".into());
        }
        args
    }
}

/// Starts a monitor for a container and waits for its message: the container's and the
/// monitor's pids once the runtime created the container.
pub fn spawn(runtime: &OciRuntime, options: &MonitorOptions) -> Result<(i32, i32), RuntimeError> {
    // This very binary, even after a package upgrade replaced (and so unlinked) the file:
    // daemon and monitor are always one build.
    let name = std::env::current_exe()
        .map(|p| p.into_os_string())
        .unwrap_or_else(|_| "podlink".into());
    let mut child = Command::new("/proc/self/exe")
        .arg0(name)
        .args(options.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| failed(runtime, "start the monitor", e.to_string()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    // The first process forks the real monitor and exits at once: reap it now.
    let _ = child.wait();
    // The monitor answers once the runtime has created the container (or failed to), which
    // its own timeouts bound; this one only guards against a monitor that hangs.
    if !crate::engine::process::readable_within(&stdout, SPAWN_TIMEOUT) {
        if let Some(&pid) = all_monitors().get(&options.id) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        return Err(failed(
            runtime,
            "monitor",
            format!("no answer in {}s", SPAWN_TIMEOUT.as_secs()),
        ));
    }
    let mut line = String::new();
    let mut reader = std::io::BufReader::new(stdout);
    reader
        .read_line(&mut line)
        .map_err(|e| failed(runtime, "read the monitor", e.to_string()))?;
    match serde_json::from_str::<Message>(line.trim()) {
        Ok(Message::Ready { pid, monitor_pid }) => Ok((pid, monitor_pid)),
        Ok(Message::Failed { message }) => {
            // The monitor exits right after this report: wait for it (its end of the pipe
            // closes), so that nothing of a failed start outlives the call.
            wait_for_eof(reader.get_mut(), MONITOR_EXIT_TIMEOUT);
            Err(RuntimeError {
                argv: format!("{} create {}", runtime.name, options.id),
                status: "failed".into(),
                stderr: message,
            })
        }
        Err(_) => {
            let log = std::fs::read_to_string(options.dir.join(MONITOR_LOG)).unwrap_or_default();
            Err(failed(
                runtime,
                "monitor",
                format!("exited without a report: {}", log.trim()),
            ))
        }
    }
}

fn failed(runtime: &OciRuntime, what: &str, why: String) -> RuntimeError {
    RuntimeError {
        argv: format!("{} ({what})", runtime.name),
        status: "failed".into(),
        stderr: why,
    }
}

/// The exit file of the container whose run directory is `dir`, if it exited.
pub fn read_exit(dir: &Path) -> Option<ExitInfo> {
    let bytes = std::fs::read(dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Reads `pipe` until its writer closes it, for at most `limit`.
fn wait_for_eof(pipe: &mut std::process::ChildStdout, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if !crate::engine::process::readable_within(pipe, left) {
            log::warn!("a monitor that reported a failed start did not exit within {limit:?}");
            return;
        }
        match std::io::Read::read(pipe, &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// How long the service waits for a monitor that reported a failed start to exit.
const MONITOR_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the service waits for a new monitor's one message.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(300);

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
