//! The monitor process (`podlink monitor`): one per container, single-threaded, outliving the
//! daemon. See the module above for its part in the lifecycle.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::logs::{LogWriter, Stream};
use super::{EXIT_FILE, ExitInfo, LOG_FILE, MONITOR_LOG, Message, MonitorOptions, PID_FILE};
use crate::engine::runtime::{OciRuntime, RuntimeCommand};

/// How long output is still read after the container's init exits (its other processes die
/// with it, closing the pipes; a daemonized grandchild holding them must not keep us).
const DRAIN: Duration = Duration::from_secs(2);

/// Runs the monitor. Returns only on failure before the container exists; otherwise the
/// process exits when the container does.
pub fn run(options: MonitorOptions) -> std::io::Result<()> {
    // Away from the daemon first, while single-threaded: fork (the daemon reaps the parent),
    // new session, subreaper for the container's processes.
    crate::sys::fork_and_exit_parent()?;
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

    let runtime = OciRuntime {
        name: options
            .runtime
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: options.runtime.clone(),
        version: String::new(),
    };
    let (out_read, out_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (err_read, err_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let pid_file = options.dir.join(PID_FILE);
    let _ = std::fs::remove_file(&pid_file);
    let _ = std::fs::remove_file(options.dir.join(EXIT_FILE));
    let create = RuntimeCommand::Create {
        bundle: &options.bundle,
        pid_file: &pid_file,
        console_socket: None,
        id: &options.id,
    };
    // The runtime's stdio becomes the container's: stdout and stderr into our pipes.
    let status = runtime
        .command(&options.runtime_root, &create)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_write))
        .stderr(Stdio::from(err_write.try_clone()?))
        .env_remove("LISTEN_PID")
        .status();
    drop(err_write);
    let created = matches!(&status, Ok(s) if s.success());
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok());
    let (pid, created) = match (created, pid) {
        (true, Some(pid)) if pid > 1 => (pid, true),
        _ => (0, false),
    };
    if !created {
        // Before the container exists, whatever is on its stderr is the runtime's.
        let mut message = read_available(&err_read);
        if message.trim().is_empty() {
            message = format!("runtime create failed: {status:?}");
        }
        report(&Message::Failed {
            message: message.trim().to_string(),
        });
        let _ = runtime.run(
            &options.runtime_root,
            &RuntimeCommand::Delete {
                id: &options.id,
                force: true,
            },
        );
        return Ok(());
    }
    report(&Message::Ready {
        pid,
        monitor_pid: std::process::id() as i32,
    });
    // The daemon has its answer: stdout goes quiet, so the daemon's pipe reader sees EOF.
    let null = File::options().write(true).open("/dev/null")?;
    nix::unistd::dup2_stdout(&null)?;

    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(options.dir.join(LOG_FILE))?;
    let mut log = LogWriter::new(std::io::BufWriter::new(log));
    let exit_code = watch(pid, &signals, &out_read, &err_read, &mut log);
    let _ = log.finish();
    // The runtime's state is deleted by the service when it learns of the exit, not here: a
    // container that exits at once would race the service's own `start`, still running.
    let info = ExitInfo {
        exit_code,
        finished_at: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
    };
    let bytes = serde_json::to_vec(&info).map_err(std::io::Error::other)?;
    crate::engine::storage::atomic_write(&options.dir.join(EXIT_FILE), &bytes)
        .map_err(std::io::Error::other)?;
    std::process::exit(0);
}

/// Copies the container's output into the log and reaps processes until the container's
/// init exits; returns its exit code (128+N for signal N).
fn watch(
    pid: i32,
    signals: &SignalFd,
    out: &OwnedFd,
    err: &OwnedFd,
    log: &mut LogWriter<std::io::BufWriter<File>>,
) -> i32 {
    let mut exit_code = None;
    let mut open = [true, true];
    let mut drain_deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if open == [false, false] && exit_code.is_some() {
            break;
        }
        if let Some(deadline) = drain_deadline
            && Instant::now() >= deadline
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
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        let streams: Vec<(usize, &OwnedFd)> = [(0, out), (1, err)]
            .into_iter()
            .filter(|(i, _)| open[*i])
            .collect();
        for (_, fd) in &streams {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => break,
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        if ready[0] {
            let _ = signals.read_signal();
            while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                match status {
                    WaitStatus::Exited(p, code) if p.as_raw() == pid => exit_code = Some(code),
                    WaitStatus::Signaled(p, sig, _) if p.as_raw() == pid => {
                        exit_code = Some(128 + sig as i32)
                    }
                    WaitStatus::StillAlive => break,
                    _ => {}
                }
            }
            if exit_code.is_some() && drain_deadline.is_none() {
                drain_deadline = Some(Instant::now() + super::run::DRAIN);
            }
        }
        for (n, (slot, fd)) in streams.iter().enumerate() {
            if !ready[n + 1] {
                continue;
            }
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) | Err(_) => open[*slot] = false,
                Ok(len) => {
                    let stream = if *slot == 0 {
                        Stream::Stdout
                    } else {
                        Stream::Stderr
                    };
                    let _ = log.write(stream, &buf[..len]);
                }
            }
        }
    }
    exit_code.unwrap_or(-1)
}

/// Whatever can be read from `fd` without blocking.
fn read_available(fd: &OwnedFd) -> String {
    let _ = nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    let mut file = File::from(fd.try_clone().expect("dup a pipe"));
    let mut text = Vec::new();
    let _ = file.read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}

/// Writes the one message to the daemon on stdout.
fn report(message: &Message) {
    let mut line = serde_json::to_vec(message).expect("a message serializes");
    line.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&line);
    let _ = stdout.flush();
}
