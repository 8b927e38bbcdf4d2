//! The monitor's run of the runtime's `create` (or `restore`), with the container's stdio
//! made here: pipes, or a terminal received over the console socket.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::SockType;

use super::attach;
use super::logs::Stream;
use super::protocol::{CONSOLE_SOCKET, MonitorOptions};
use crate::engine::runtime::{OciRuntime, RuntimeCommand};

/// How long the runtime may take to send a tty container's terminal.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the runtime's `create` may take.
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the runtime's `create` gave no container. Its text is what the monitor reports to the
/// daemon (`Message::Failed`), which passes it on to the client.
#[derive(Debug, thiserror::Error)]
pub(super) enum CreateError {
    /// The monitor could not make the container's stdio.
    #[error("monitor: {what}: {source}")]
    Monitor {
        /// What it was making.
        what: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The runtime could not be run at all.
    #[error("cannot run {}: {source}", path.display())]
    Spawn {
        /// The runtime binary.
        path: PathBuf,
        /// Why it could not run.
        source: std::io::Error,
    },
    /// The runtime sent no terminal for a tty container.
    #[error("{stderr} (terminal: {source})")]
    Terminal {
        /// The runtime's stderr, trimmed.
        stderr: String,
        /// Why no terminal came.
        source: std::io::Error,
    },
    /// The runtime failed: its stderr, trimmed (or its exit status, when it wrote none).
    #[error("{0}")]
    Runtime(String),
}

/// The container's side of its stdio, as the monitor holds it after `create`.
pub(super) struct ContainerIo {
    /// Output to read: stdout and stderr pipes, or the terminal's master (as stdout).
    pub outputs: Vec<(Stream, OwnedFd)>,
    /// The terminal's master, for resizing.
    pub terminal: Option<OwnedFd>,
    /// Where attach input goes: the stdin pipe or the terminal; `None` without `stdin`.
    pub stdin: Option<OwnedFd>,
}

/// Runs the runtime's `create` (or `restore`) with the container's stdio; the container's
/// pid and stdio, or the runtime's error.
pub(super) fn create(
    runtime: &OciRuntime,
    options: &MonitorOptions,
    pid_file: &Path,
) -> Result<(i32, ContainerIo), CreateError> {
    let io_err = |what: &'static str, source: std::io::Error| CreateError::Monitor { what, source };
    let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
    let (err_read, err_write) =
        nix::unistd::pipe2(cloexec).map_err(|e| io_err("pipe", e.into()))?;
    // The runtime connects to the console socket by path, which must fit in `sun_path`: a
    // directory of the monitor's own under the temporary directory keeps it short whatever
    // the run root is.
    let console_dir = std::env::temp_dir().join(format!("podlink-console-{}", std::process::id()));
    let console_path = console_dir.join(CONSOLE_SOCKET);
    let console = if options.tty {
        // Left by an earlier monitor with this pid, if any (the creation below says if not).
        let _ = std::fs::remove_dir_all(&console_dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&console_dir)
            .map_err(|e| io_err("console directory", e))?;
        Some(
            attach::listen_at(&console_path, SockType::Stream)
                .map_err(|e| io_err("console socket", e))?,
        )
    } else {
        None
    };
    let mut outputs = Vec::new();
    let mut stdin_target = None;
    let console_socket = console.as_ref().map(|_| console_path.as_path());
    let what = match &options.restore_from {
        // The checkpoint's processes come back with the stdio given here, as a created
        // container's: the runtime maps the checkpointed stdio onto its own.
        Some(checkpoint) => RuntimeCommand::Restore {
            bundle: &options.bundle,
            image_path: checkpoint,
            work_path: &options.bundle,
            pid_file,
            console_socket,
            tcp_established: options.tcp_established,
            id: &options.id,
        },
        None => RuntimeCommand::Create {
            bundle: &options.bundle,
            pid_file,
            console_socket,
            id: &options.id,
        },
    };
    let mut command = runtime.command(&options.runtime_root, &what);
    command
        .env_remove("LISTEN_PID")
        .stderr(Stdio::from(err_write));
    if options.tty {
        command.stdin(Stdio::null()).stdout(Stdio::null());
    } else {
        // The runtime's stdio becomes the container's: output into our pipes.
        let (out_read, out_write) =
            nix::unistd::pipe2(cloexec).map_err(|e| io_err("pipe", e.into()))?;
        command.stdout(Stdio::from(out_write));
        outputs.push((Stream::Stdout, out_read));
        if options.stdin {
            let (in_read, in_write) =
                nix::unistd::pipe2(cloexec).map_err(|e| io_err("pipe", e.into()))?;
            set_nonblocking(&in_write);
            command.stdin(Stdio::from(in_read));
            stdin_target = Some(in_write);
        } else {
            command.stdin(Stdio::null());
        }
    }
    let child = command.spawn();
    // The write ends now belong to the runtime (and the container): ours must close, or the
    // pipes never report end of file.
    drop(command);
    let mut child = child.map_err(|source| CreateError::Spawn {
        path: runtime.path.clone(),
        source,
    })?;
    let mut terminal = None;
    if let Some(console) = &console {
        match receive_terminal(console, &mut child) {
            Ok(master) => terminal = Some(master),
            Err(source) => {
                let err = CreateError::Terminal {
                    stderr: read_available(&err_read).trim().to_string(),
                    source,
                };
                // The runtime has exited or is ended here; what fails of that is logged
                // (to monitor.log) beside the error reported.
                let cleanup = [
                    ("killing the runtime", child.kill()),
                    ("reaping the runtime", child.wait().map(drop)),
                    (
                        "removing the console directory",
                        std::fs::remove_dir_all(&console_dir),
                    ),
                ];
                for (what, result) in cleanup {
                    if let Err(e) = result {
                        log::warn!("{what} failed after an earlier error ({err}): {e}");
                    }
                }
                return Err(err);
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&console_dir) {
            log::warn!("{}: {e}", console_dir.display());
        }
    }
    // A runtime stuck (on a hook, on a dead network mount) must not hold the service's
    // start call for good.
    let status = crate::engine::process::wait_timeout(&mut child, CREATE_TIMEOUT).map(|(s, _)| s);

    let created = matches!(&status, Ok(s) if s.success());
    let pid = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
        .filter(|pid| *pid > 1);
    let Some(pid) = pid.filter(|_| created) else {
        // Before the container exists, whatever is on its stderr is the runtime's.
        let message = read_available(&err_read);
        return Err(CreateError::Runtime(if message.trim().is_empty() {
            format!("runtime create failed: {status:?}")
        } else {
            message.trim().to_string()
        }));
    };
    if let Some(master) = &terminal {
        set_nonblocking(master);
        outputs.push((
            Stream::Stdout,
            master.try_clone().map_err(|e| io_err("dup", e))?,
        ));
        if options.stdin {
            stdin_target = Some(master.try_clone().map_err(|e| io_err("dup", e))?);
        }
    } else {
        // Without a terminal the container's stderr is the pipe the runtime wrote to.
        outputs.push((Stream::Stderr, err_read));
    }
    Ok((
        pid,
        ContainerIo {
            outputs,
            terminal,
            stdin: stdin_target,
        },
    ))
}

/// Accepts the runtime's connection on the console socket and receives the terminal's master,
/// unless the runtime exits first.
fn receive_terminal(console: &OwnedFd, child: &mut Child) -> std::io::Result<OwnedFd> {
    let deadline = Instant::now() + CONSOLE_TIMEOUT;
    loop {
        let mut fds = [PollFd::new(console.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(n) if n > 0 => break,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(status) = child.try_wait()? {
            return Err(std::io::Error::other(format!(
                "the runtime exited ({status}) without sending one"
            )));
        }
        if Instant::now() >= deadline {
            return Err(std::io::Error::other("the runtime sent none in time"));
        }
    }
    let connection = crate::sys::accept(console)?;
    let timeout = nix::sys::time::TimeVal::new(CONSOLE_TIMEOUT.as_secs() as i64, 0);
    nix::sys::socket::setsockopt(
        &connection,
        nix::sys::socket::sockopt::ReceiveTimeout,
        &timeout,
    )?;
    crate::sys::recv_fd(&connection)
}

pub(super) fn set_nonblocking(fd: &OwnedFd) {
    if let Ok(flags) = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL) {
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(flags));
    }
}

/// Whatever can be read from `fd` without blocking.
fn read_available(fd: &OwnedFd) -> String {
    set_nonblocking(fd);
    let Ok(dup) = fd.try_clone() else {
        return String::new();
    };
    let mut text = Vec::new();
    let _ = File::from(dup).read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}
