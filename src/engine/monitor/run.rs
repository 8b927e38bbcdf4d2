//! The monitor process (`podlink monitor`): one per container, single-threaded, outliving the
//! daemon. See the module doc (`monitor/mod.rs`) for its part in the lifecycle.
//!
//! After the runtime's `create` it runs one poll loop over: a signalfd for SIGCHLD (the
//! container and any orphan it leaves behind are reaped here, as a child subreaper must), the
//! container's output (stdout and stderr pipes, or the terminal's master), the attach socket
//! and its clients, the control fifo, and the container's stdin while input is waiting.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::attach::{self, AttachServer, Control};
use super::create::create;
use super::logs::{LogFile, LogWriter, Stream};
use super::protocol::{
    ATTACH_SOCKET, CTL_FIFO, EXIT_FILE, ExitInfo, MONITOR_LOG, Message, MonitorOptions, PID_FILE,
};
use crate::engine::runtime::{OciRuntime, RuntimeCommand};

/// How long output is still read after the container's init exits (its other processes die
/// with it, closing the pipes; a daemonized grandchild holding them must not keep us).
const DRAIN: Duration = Duration::from_secs(2);

/// Input from attach clients held for a container that does not read its stdin; beyond
/// this, clients are not read until it drains.
const MAX_PENDING_INPUT: usize = 1 << 20;
/// Bytes read from the container's output at once.
const READ_SIZE: usize = attach::MAX_PAYLOAD;

/// Runs the monitor. Returns only on failure before the container exists; otherwise the
/// process exits when the container does.
pub fn run(options: MonitorOptions) -> std::io::Result<()> {
    // Away from the daemon first, while single-threaded: fork (the daemon reaps the parent).
    crate::sys::fork_and_exit_parent()?;
    run_detached(options)
}

/// [`run`] in a process that is no child of the daemon already (one the launcher forked).
pub(super) fn run_detached(options: MonitorOptions) -> std::io::Result<()> {
    // A new session, and the subreaper of the container's processes.
    nix::unistd::setsid()?;
    nix::sys::prctl::set_child_subreaper(true)?;
    std::fs::create_dir_all(&options.dir)?;
    let diag = OpenOptions::new()
        .create(true)
        .append(true)
        .open(options.dir.join(MONITOR_LOG))?;
    nix::unistd::dup2_stderr(&diag)?;
    let mut sigchld = SigSet::empty();
    sigchld.add(Signal::SIGCHLD);
    sigchld.thread_block()?;
    let signals = SignalFd::with_flags(&sigchld, nix::sys::signalfd::SfdFlags::SFD_CLOEXEC)?;

    let runtime = OciRuntime::at(&options.runtime);
    let pid_file = options.dir.join(PID_FILE);
    for stale in [PID_FILE, EXIT_FILE] {
        let _ = std::fs::remove_file(options.dir.join(stale));
    }
    let created = create(&runtime, &options, &pid_file);
    let (pid, io) = match created {
        Ok(created) => created,
        Err(e) => {
            give_up(&runtime, &options, e.to_string());
            return Ok(());
        }
    };
    // Everything a client may reach through GetAttachSockets exists before the daemon hears
    // that the container does. If any of it fails, the container goes: nothing would watch it.
    let prepared = (|| -> std::io::Result<_> {
        let attach = AttachServer::bind(&options.dir.join(ATTACH_SOCKET))?;
        let ctl = attach::open_control(&options.dir.join(CTL_FIFO))?;
        if let Some(path) = &options.pid_file {
            crate::engine::storage::replace_file(path, std::process::id().to_string().as_bytes())
                .map_err(std::io::Error::other)?;
        }
        Ok((
            attach,
            ctl,
            LogFile::open(&options.log_path, options.log_size_max)?,
        ))
    })();
    let (attach, ctl, log) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            give_up(&runtime, &options, format!("monitor: {e}"));
            return Ok(());
        }
    };
    report(&Message::Ready {
        pid,
        monitor_pid: std::process::id() as i32,
    });
    // The daemon has its answer: stdout goes quiet, so the daemon's pipe reader sees EOF.
    let null = File::options().write(true).open("/dev/null")?;
    nix::unistd::dup2_stdout(&null)?;

    let mut watch = Watch {
        pid,
        outputs: io.outputs,
        terminal: io.terminal,
        stdin: io.stdin,
        stdin_pending: Vec::new(),
        close_stdin_when_written: false,
        tty: options.tty,
        attach,
        ctl,
        ctl_pending: Vec::new(),
        log: LogWriter::new(log),
    };
    let exit_code = watch.run(&signals);
    if let Err(e) = watch.log.finish() {
        log::warn!("finishing the log: {e}");
    }
    drop(watch);
    // The runtime's state is deleted by the service when it learns of the exit, not here: a
    // container that exits at once would race the service's own `start`, still running.
    let info = ExitInfo {
        exit_code,
        finished_at: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
    };
    let bytes = serde_json::to_vec(&info).map_err(std::io::Error::other)?;
    crate::engine::storage::replace_file(&options.dir.join(EXIT_FILE), &bytes)
        .map_err(std::io::Error::other)?;
    std::process::exit(0);
}

/// Deletes what the runtime made of the container (nothing would watch it), then reports
/// `message` as the reason it could not be made. In that order: the service, told, may start
/// the container again or remove it at once, and the runtime's state must be gone by then; it
/// also waits for this process to exit, which follows the report.
fn give_up(runtime: &OciRuntime, options: &MonitorOptions, message: String) {
    let delete = RuntimeCommand::Delete {
        id: &options.id,
        force: true,
    };
    if let Err(e) = runtime.run(&options.runtime_root, &delete) {
        log::warn!("deleting the container failed after an earlier error ({message}): {e}");
    }
    report(&Message::Failed { message });
}

/// The container's output, input and the clients around them, until it exits.
struct Watch {
    pid: i32,
    outputs: Vec<(Stream, OwnedFd)>,
    terminal: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    stdin_pending: Vec<u8>,
    /// A client ended its input: close stdin once what is pending is written.
    close_stdin_when_written: bool,
    tty: bool,
    attach: AttachServer,
    ctl: OwnedFd,
    ctl_pending: Vec<u8>,
    log: LogWriter<LogFile>,
}

impl Watch {
    /// Serves until the container's init exits and its output is drained; its exit code
    /// (128+N for signal N).
    fn run(&mut self, signals: &SignalFd) -> i32 {
        let mut exit_code = None;
        let mut drain_deadline: Option<Instant> = None;
        loop {
            if exit_code.is_some()
                && (self.outputs.is_empty() || drain_deadline.is_some_and(|d| Instant::now() >= d))
            {
                break;
            }
            let timeout = match drain_deadline {
                Some(d) => PollTimeout::try_from(
                    d.saturating_duration_since(Instant::now()).as_millis() as i32 + 1,
                )
                .unwrap_or(PollTimeout::MAX),
                None => PollTimeout::NONE,
            };
            let read_clients = self.stdin_pending.len() < MAX_PENDING_INPUT;
            let events = {
                let mut fds = vec![
                    PollFd::new(signals.as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.attach.listener().as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.ctl.as_fd(), PollFlags::POLLIN),
                ];
                let stdin_flags = if self.stdin_pending.is_empty() {
                    PollFlags::empty()
                } else {
                    PollFlags::POLLOUT
                };
                match &self.stdin {
                    Some(fd) => fds.push(PollFd::new(fd.as_fd(), stdin_flags)),
                    None => fds.push(PollFd::new(signals.as_fd(), PollFlags::empty())),
                }
                for (_, fd) in &self.outputs {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                }
                let client_flags = if read_clients {
                    PollFlags::POLLIN
                } else {
                    PollFlags::empty()
                };
                for client in self.attach.clients() {
                    let flags = if client.readable() {
                        client_flags
                    } else {
                        PollFlags::empty()
                    };
                    fds.push(PollFd::new(client.fd().as_fd(), flags));
                }
                match poll(&mut fds, timeout) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => {
                        log::error!("poll: {e}");
                        break;
                    }
                }
                fds.iter()
                    .map(|f| f.revents().unwrap_or(PollFlags::empty()))
                    .collect::<Vec<PollFlags>>()
            };
            let ready = |i: usize| !events[i].is_empty();
            if ready(0) {
                let _ = signals.read_signal();
                if let Some(code) = self.reap() {
                    exit_code = Some(code);
                    drain_deadline.get_or_insert_with(|| Instant::now() + DRAIN);
                }
            }
            let outputs_at = 4;
            let clients_at = outputs_at + self.outputs.len();
            // Clients first, last to first: dropping one leaves the indices before it valid.
            // (Output below may drop clients too, which is why it comes after.)
            for index in (0..events.len() - clients_at).rev() {
                let revents = events[clients_at + index];
                if revents.intersects(PollFlags::POLLIN) && read_clients {
                    self.read_client(index);
                } else if revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                    // Gone for good (a client that only ended its input is not HUP).
                    self.attach.drop_client(index);
                }
            }
            // Output in order (stdout before stderr when both have something); streams that
            // ended are dropped after, so the indices stay valid meanwhile.
            let ended: Vec<usize> = (0..self.outputs.len())
                .filter(|&index| ready(outputs_at + index) && !self.read_output(index))
                .collect();
            for index in ended.into_iter().rev() {
                self.outputs.remove(index);
            }
            if ready(1) {
                self.attach.accept();
            }
            if ready(2) {
                self.read_control();
            }
            if events[3].intersects(PollFlags::POLLERR | PollFlags::POLLHUP) && self.stdin.is_some()
            {
                // The container closed its stdin (or the terminal hung up).
                self.stdin = None;
                self.stdin_pending.clear();
            } else if ready(3) {
                self.write_stdin();
            }
        }
        exit_code.unwrap_or(-1)
    }

    /// Reaps every child that exited; the container's exit code if it was among them.
    fn reap(&mut self) -> Option<i32> {
        let mut code = None;
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, c)) if p.as_raw() == self.pid => code = Some(c),
                Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == self.pid => {
                    code = Some(128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return code,
                Ok(_) => {}
            }
        }
    }

    /// Reads what output `index` has; `false` when it has ended.
    fn read_output(&mut self, index: usize) -> bool {
        let mut buf = [0u8; READ_SIZE];
        let (stream, fd) = &self.outputs[index];
        let stream = *stream;
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => false,
            Ok(n) => {
                if let Err(e) = self.log.write(stream, &buf[..n]) {
                    log::error!("log: {e}");
                }
                let byte = match stream {
                    Stream::Stdout => attach::STDOUT,
                    Stream::Stderr => attach::STDERR,
                };
                self.attach.broadcast(byte, &buf[..n]);
                true
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => true,
            // EIO: every process closed the terminal's other side.
            Err(_) => false,
        }
    }

    fn read_client(&mut self, index: usize) {
        match self.attach.receive(index) {
            attach::Received::Data(data) if self.stdin.is_some() => {
                self.stdin_pending.extend_from_slice(&data);
                self.write_stdin();
            }
            attach::Received::Data(_) => {}
            // A client that ends its input closes the container's stdin (not a terminal's:
            // that stays for the next client), as conmon does.
            attach::Received::End if !self.tty && self.stdin.is_some() => {
                self.close_stdin_when_written = true;
                self.write_stdin();
            }
            attach::Received::End => {}
        }
    }

    fn write_stdin(&mut self) {
        let Some(fd) = &self.stdin else {
            return;
        };
        match attach::write_some(fd, &self.stdin_pending) {
            Some(n) => {
                self.stdin_pending.drain(..n);
                if self.stdin_pending.is_empty() && self.close_stdin_when_written {
                    self.stdin = None;
                }
            }
            None => {
                // The container closed its stdin.
                self.stdin = None;
                self.stdin_pending.clear();
            }
        }
    }

    fn read_control(&mut self) {
        let mut buf = [0u8; 512];
        while let Ok(n) = nix::unistd::read(&self.ctl, &mut buf) {
            if n == 0 {
                break;
            }
            self.ctl_pending.extend_from_slice(&buf[..n]);
        }
        for request in attach::parse_control(&mut self.ctl_pending) {
            match request {
                Control::Resize { rows, cols } => {
                    if let Some(terminal) = &self.terminal
                        && let Err(e) = crate::sys::set_window_size(terminal, rows, cols)
                    {
                        log::warn!("resize: {e}");
                    }
                }
                Control::ReopenLog => {
                    if let Err(e) = self.log.finish() {
                        log::warn!("finishing the log before reopening it: {e}");
                    }
                    if let Err(e) = self.log.sink().reopen() {
                        log::warn!("reopen log: {e}");
                    }
                }
            }
        }
    }
}

/// Writes the one message to the daemon on stdout.
fn report(message: &Message) {
    let mut line = serde_json::to_vec(message).expect("a message serializes");
    line.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&line);
    let _ = stdout.flush();
}
