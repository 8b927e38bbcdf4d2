//! Starting a monitor (daemon side): spawn it, read its one message.

use std::fs::File;
use std::io::BufRead;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::protocol::{MONITOR_LOG, Message, MonitorOptions};
use super::wait::all_monitors;
use crate::engine::error::{Error, Result};
use crate::engine::runtime::{OciRuntime, RuntimeError};

/// Starts a monitor for a container and waits for its message: the container's and the
/// monitor's pids once the runtime created the container. The runtime's own failure (passed
/// on by the monitor) is `Error::Runtime`; the monitor's failure is `Error::Monitor`.
pub fn spawn(runtime: &OciRuntime, options: &MonitorOptions) -> Result<(i32, i32)> {
    let failed = |reason: String| Error::Monitor {
        id: options.id.to_string(),
        reason,
    };
    // This very binary, even after a package upgrade replaced (and so unlinked) the file:
    // daemon and monitor are always one build.
    let name = std::env::current_exe()
        .map(|p| p.into_os_string())
        .unwrap_or_else(|_| "podlink".into());
    // Forked by the launcher where there is one (see `launcher.rs`), else executed.
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| failed(format!("cannot make its pipe: {e}")))?;
    let stdout = match super::launcher::launch_monitor(Path::new(&name), options, write) {
        Some(Ok(())) => File::from(read),
        Some(Err(e)) => return Err(failed(format!("cannot start it: {e}"))),
        None => {
            drop(read);
            execute(&name, options).map_err(|e| failed(format!("cannot start it: {e}")))?
        }
    };
    // The monitor answers once the runtime has created the container (or failed to), which
    // its own timeouts bound; this one only guards against a monitor that hangs.
    if !crate::engine::process::readable_within(&stdout, SPAWN_TIMEOUT) {
        let err = failed(format!("no answer in {}s", SPAWN_TIMEOUT.as_secs()));
        if let Some(&pid) = all_monitors().get(options.id.as_str())
            && let Err(e) = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            )
        {
            return Err(err.with_cleanup("killing the monitor", e));
        }
        return Err(err);
    }
    let mut line = String::new();
    let mut reader = std::io::BufReader::new(stdout);
    reader
        .read_line(&mut line)
        .map_err(|e| failed(format!("cannot read its report: {e}")))?;
    match serde_json::from_str::<Message>(line.trim()) {
        Ok(Message::Ready { pid, monitor_pid }) => Ok((pid, monitor_pid)),
        Ok(Message::Failed { message }) => {
            // The monitor exits right after this report: wait for it (its end of the pipe
            // closes), so that nothing of a failed start outlives the call.
            wait_for_eof(reader.get_mut(), MONITOR_EXIT_TIMEOUT);
            Err(Error::Runtime(RuntimeError {
                argv: format!("{} create {}", runtime.name, options.id),
                status: "failed".into(),
                stderr: message,
            }))
        }
        Err(_) => {
            let log = std::fs::read_to_string(options.dir.join(MONITOR_LOG)).unwrap_or_default();
            Err(failed(format!("exited without a report: {}", log.trim())))
        }
    }
}

/// Reads `pipe` until its writer closes it, for at most `limit`.
fn wait_for_eof(pipe: &mut File, limit: Duration) {
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

/// Executes this binary as the monitor of `options`; its report pipe.
fn execute(name: &std::ffi::OsStr, options: &MonitorOptions) -> std::io::Result<File> {
    let mut child = options
        .command(name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().expect("stdout is piped");
    // The first process forks the real monitor and exits at once: reap it now. Its status
    // says nothing (the monitor's report does), and a reap that fails leaves nothing behind.
    let _ = child.wait();
    Ok(File::from(std::os::fd::OwnedFd::from(stdout)))
}

/// How long the service waits for a monitor that reported a failed start to exit.
const MONITOR_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the service waits for a new monitor's one message.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(300);
