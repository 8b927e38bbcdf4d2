//! The per-container monitor, conmon's part: the daemon side (spawn it, read its one message,
//! wait for it) and, in `run`, the monitor process itself.
//!
//! The monitor is this binary in its hidden `monitor` role, forked by the monitor launcher
//! (`launcher.rs`) or, without one, executed by the daemon and forking away from it. It
//! becomes a session leader and a child subreaper, runs the runtime's `create`, reports
//! `Ready` (or `Failed` with the runtime's stderr) as one JSON line on its stdout, which the
//! daemon reads through a pipe, then holds the container's stdio, writes the log, reaps the
//! container, writes the exit file atomically and exits. The daemon learns about the exit
//! from that file, so a restarted daemon recovers by reading files.
//!
//! This room runs the OCI runtime (through `runtime`) and writes files in a container's run
//! directory; it knows nothing of container records or of the wire, and never reaches up to
//! `container`.
//!
//! - `protocol.rs`: what daemon and monitor share (file names, options, message, exit file).
//! - `spawn.rs`: the daemon starting a monitor and reading its message.
//! - `launcher.rs`: the process, started at the first container start, that forks monitors.
//! - `wait.rs`: finding monitors among the host's processes and waiting for one to exit.
//! - `run.rs`: the monitor process itself: its poll loop over the container's stdio.
//! - `create.rs`: the monitor's run of the runtime's `create` (or `restore`).
//! - `attach.rs`: the attach socket (conmon's framing) and the control fifo.
//! - `logs.rs`: the container log (k8s-file), its rotation and its reader.

pub mod attach;
mod create;
pub mod launcher;
pub mod logs;
pub mod protocol;
pub mod run;
mod spawn;
mod wait;

pub use protocol::{
    ATTACH_SOCKET, CONSOLE_SOCKET, CTL_FIFO, EXIT_FILE, ExitInfo, LOG_FILE, MONITOR_LOG, Message,
    MonitorOptions, PID_FILE, read_exit,
};
pub use spawn::spawn;
pub use wait::{all_monitors, is_monitor, wait_monitor, wait_monitor_for};
