//! The monitor launcher: one small process (`podlink monitor-launcher`), started by the daemon
//! at its first container start, that forks each new monitor, so that starting a container
//! does not execute this 70 MB binary again.
//!
//! Measured on a container's start path: from the daemon's spawn to the monitor's `main`
//! took 1.4-2.6 ms (loading the binary, its four libraries and 24,000 relocations, std's
//! start-up), then 0.2 ms of argument parsing, all before the monitor's own first step. A
//! fork of the launcher, which holds little memory, takes a tenth of that.
//!
//! How it goes: the daemon sends the launcher the monitor's options and the write end of the
//! pipe the monitor reports on (`SCM_RIGHTS` over a `SOCK_SEQPACKET` pair, the launcher's
//! stdin); the launcher forks; the child makes the pipe its stdout and writes the command
//! line an executed monitor would have (`podlink monitor --id ...`: that is how monitors are
//! found again, see `wait.rs`) over its own argument strings, which the launcher was started
//! with room for; then it runs the monitor (without the fork away from the daemon an executed
//! one starts with: it is the launcher's child, reaped by the kernel when it exits). The
//! launcher answers once it has forked. From there on it is the same monitor.
//!
//! Where the launcher cannot serve (it could not start, it died, or a command line does not
//! fit its room), the monitor is executed as before. The launcher ends with the daemon: its
//! socket reads end of file. (Not the parent-death signal: that follows the thread that
//! started it, a connection's, which ends long before the daemon.)

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use nix::sys::socket::{AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType};
use serde::{Deserialize, Serialize};

use super::protocol::{Message, MonitorOptions};

/// The launcher's role on its command line (`podlink monitor-launcher ROOM`).
pub const ROLE: &str = "monitor-launcher";

/// The room for monitors' command lines: the launcher's second argument, this many bytes.
/// A monitor's holds its options' paths; one longer than this is executed instead.
const ROOM: usize = 8 * 1024;

/// The largest request: a monitor's options (paths) fit many times over.
const MAX_REQUEST: usize = 64 * 1024;

/// The daemon's launcher, started at the first monitor.
static LAUNCHER: Mutex<State> = Mutex::new(State::NotStarted);

enum State {
    NotStarted,
    Running {
        child: Child,
        socket: OwnedFd,
    },
    /// It could not start, or died: monitors are executed.
    Unavailable,
}

/// One request: the monitor's options and its command line's first word.
#[derive(Serialize, Deserialize)]
struct Request {
    argv0: PathBuf,
    options: MonitorOptions,
}

/// Has the launcher fork the monitor of `options`, which reports on `report`'s other end.
/// `None` when there is no launcher to ask (the caller executes the monitor instead).
pub(super) fn launch_monitor(
    argv0: &Path,
    options: &MonitorOptions,
    report: OwnedFd,
) -> Option<std::io::Result<()>> {
    let mut state = LAUNCHER.lock().unwrap_or_else(|p| p.into_inner());
    if matches!(*state, State::NotStarted) {
        *state = match start(argv0) {
            Ok((child, socket)) => State::Running { child, socket },
            Err(e) => {
                log::warn!("no monitor launcher ({e}): each monitor is executed anew");
                State::Unavailable
            }
        };
    }
    let State::Running { socket, .. } = &*state else {
        return None;
    };
    let request = Request {
        argv0: argv0.to_path_buf(),
        options: options.clone(),
    };
    let answer = ask(socket, &request, report);
    match answer {
        Ok(0) => Some(Ok(())),
        Ok(errno) => Some(Err(std::io::Error::from_raw_os_error(errno))),
        Err(e) => {
            log::warn!("monitor launcher: {e}: each monitor is executed anew from now on");
            if let State::Running { mut child, .. } =
                std::mem::replace(&mut *state, State::Unavailable)
            {
                let _ = child.kill();
                let _ = child.wait();
            }
            None
        }
    }
}

/// Starts the launcher: this binary in its launcher role, with room for command lines.
fn start(argv0: &Path) -> std::io::Result<(Child, OwnedFd)> {
    let (daemon_end, launcher_end) = nix::sys::socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    let child = Command::new("/proc/self/exe")
        .arg0(argv0)
        .arg(ROLE)
        .arg("_".repeat(ROOM))
        .stdin(Stdio::from(launcher_end))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok((child, daemon_end))
}

/// Sends one request with the report pipe and reads the launcher's answer (an errno, 0 when
/// the monitor is on its way).
fn ask(socket: &OwnedFd, request: &Request, report: OwnedFd) -> std::io::Result<i32> {
    let bytes = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    let fds = [report.as_raw_fd()];
    nix::sys::socket::sendmsg::<()>(
        socket.as_raw_fd(),
        &[std::io::IoSlice::new(&bytes)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    drop(report);
    let mut buf = [0u8; 4];
    match nix::sys::socket::recv(socket.as_raw_fd(), &mut buf, MsgFlags::empty())? {
        4 => Ok(i32::from_ne_bytes(buf)),
        _ => Err(std::io::Error::other("the launcher is gone")),
    }
}

/// The launcher process (`podlink monitor-launcher ROOM`): serves the daemon's requests on
/// its stdin until the daemon closes it. Never returns.
pub fn serve() -> ! {
    let code = match prepare() {
        Ok(socket) => {
            while let Ok(Some((bytes, report))) = crate::sys::recv_message(&socket, MAX_REQUEST) {
                let answer = match (serde_json::from_slice::<Request>(&bytes), report) {
                    (Ok(request), Some(report)) => launch(&socket, request, report),
                    _ => libc::EINVAL,
                };
                let sent = nix::sys::socket::send(
                    socket.as_raw_fd(),
                    &answer.to_ne_bytes(),
                    MsgFlags::MSG_NOSIGNAL,
                );
                if sent.is_err() {
                    break;
                }
            }
            0
        }
        Err(_) => 1,
    };
    std::process::exit(code)
}

/// The launcher's set-up: its socket off stdin, /dev/null there instead (monitors get it);
/// its children, the monitors, reaped by the kernel when they exit.
fn prepare() -> std::io::Result<OwnedFd> {
    let socket = std::os::fd::AsFd::as_fd(&std::io::stdin()).try_clone_to_owned()?;
    let null = std::fs::File::open("/dev/null")?;
    nix::unistd::dup2_stdin(&null)?;
    crate::sys::reap_children_automatically(true)?;
    Ok(socket)
}

/// Forks the monitor of `request`, reporting on `report`; 0, or the errno of the fork.
///
/// The child is the monitor itself, a child of the launcher: unlike one executed by the
/// daemon, it need not fork again to leave the daemon (one fork less, some 0.3 ms of every
/// start). The kernel reaps it when it exits (`prepare`); should the launcher go first, it
/// is adopted as any orphan.
fn launch(socket: &OwnedFd, request: Request, report: OwnedFd) -> i32 {
    match crate::sys::fork_single_threaded() {
        Ok(Some(_monitor)) => {
            drop(report);
            0
        }
        Ok(None) => {
            // The child: the launcher's socket is not the monitor's. (It leaves through
            // `exit`, so nothing else would close it.) Its own children (the runtime, the
            // container) it waits for itself.
            let _ = nix::unistd::close(socket.as_raw_fd());
            if crate::sys::reap_children_automatically(false).is_err() {
                std::process::exit(127);
            }
            become_monitor(request, report)
        }
        Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
    }
}

/// The forked child: the report pipe as stdout, a monitor's command line, the monitor.
fn become_monitor(request: Request, report: OwnedFd) -> ! {
    if nix::unistd::dup2_stdout(&report).is_err() {
        std::process::exit(127);
    }
    drop(report);
    // The command line an executed monitor has, from the command that would execute it.
    let mut command = request.options.command(request.argv0.as_os_str());
    let mut cmdline = Vec::new();
    for arg in std::iter::once(request.argv0.as_os_str()).chain(command.get_args()) {
        cmdline.extend_from_slice(arg.as_bytes());
        cmdline.push(0);
    }
    if crate::sys::overwrite_cmdline(&cmdline).is_err() {
        // No room for it: executed as before, with the same stdout.
        let e = command.exec();
        let message = Message::Failed {
            message: format!("monitor launcher: cannot execute the monitor: {e}"),
        };
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string(&message).unwrap_or_default()
        );
        std::process::exit(127);
    }
    match super::run::run_detached(request.options) {
        Ok(()) => std::process::exit(0),
        Err(_) => std::process::exit(1),
    }
}
