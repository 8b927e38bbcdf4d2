//! What daemon and monitor share: the files of a container's run directory, the monitor's
//! command line (`MonitorOptions`), its one message to the daemon and its exit file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::id::container::ContainerId;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorOptions {
    /// The container.
    pub id: ContainerId,
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
    /// The command that executes this binary as the monitor of these options, named `argv0`:
    /// the daemon's (`spawn.rs`), and the launcher's when a monitor's command line does not
    /// fit its room (`launcher.rs`), which also writes that line from it.
    pub fn command(&self, argv0: &std::ffi::OsStr) -> std::process::Command {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new("/proc/self/exe");
        command.arg0(argv0).args(self.to_args());
        command
    }

    /// The arguments of `podlink monitor`.
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "monitor".into(),
            "--id".into(),
            self.id.to_string().into(),
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

/// The exit file of the container whose run directory is `dir`, if it exited.
pub fn read_exit(dir: &Path) -> Option<ExitInfo> {
    let bytes = std::fs::read(dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}
