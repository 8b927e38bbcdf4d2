//! Waiting for processes with a deadline, through pidfds (no polling loop, no signal
//! handler): for children the engine starts and must not wait for forever.

use std::os::fd::AsFd;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Whether `fd` becomes readable (or hangs up) within `limit`.
pub fn readable_within(fd: &impl AsFd, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let ms =
            PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(n) if n > 0 => return true,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return true,
        }
    }
}

/// Whether process `pid` has exited: it is gone, or a zombie (dead, not yet reaped by its
/// parent), as `/proc/PID/stat` says.
pub fn has_exited(pid: i32) -> bool {
    let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else {
        return true;
    };
    // "PID (COMM) STATE ...": the command may hold anything, ")" included; the state follows
    // the last ")".
    let state = stat
        .iter()
        .rposition(|&b| b == b')')
        .and_then(|end| stat.get(end + 2));
    matches!(state, Some(b'Z' | b'X') | None)
}

/// Waits for `child` to exit, killing it once `limit` has passed; its exit status, and
/// whether it had to be killed.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> std::io::Result<(ExitStatus, bool)> {
    let mut killed = false;
    match crate::sys::pidfd_open(child.id() as i32) {
        Ok(pidfd) => {
            if !readable_within(&pidfd, limit) {
                let _ = child.kill();
                killed = true;
            }
        }
        // Without pidfds, look every 20 ms.
        Err(_) => {
            let deadline = Instant::now() + limit;
            while child.try_wait()?.is_none() {
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    killed = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    Ok((child.wait()?, killed))
}

/// What a program started with [`crate::sys::spawn`] did: its exit status, whether it was
/// killed at the deadline, and what it wrote to stdout and stderr.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// Killed because `limit` passed.
    pub killed: bool,
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
}

/// Reads a started program's output while it runs (a full pipe would stall it) and waits for
/// it to exit, killing it once `limit` has passed; all in this thread, on one poll of both
/// pipes and its pidfd. Output still in the pipes when it has exited is read; the pipes'
/// end is not waited for (a process it left behind may hold them open).
pub fn finish(spawned: crate::sys::Spawned, limit: Duration) -> std::io::Result<Finished> {
    use std::os::unix::process::ExitStatusExt;
    let crate::sys::Spawned {
        pid,
        stdout,
        stderr,
    } = spawned;
    let child = nix::unistd::Pid::from_raw(pid);
    let pidfd = crate::sys::pidfd_open(pid).ok();
    for pipe in [&stdout, &stderr] {
        nix::fcntl::fcntl(
            pipe,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )?;
    }
    let mut output = [Vec::new(), Vec::new()];
    let mut open = [true, true];
    let deadline = Instant::now() + limit;
    let mut killed = false;
    let status = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() && !killed {
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            killed = true;
        }
        // Without a pidfd, the exit is looked for every 20 ms; once killed, the end is near.
        let wait = match (&pidfd, killed) {
            (Some(_), true) => None,
            (Some(_), false) => Some(left),
            (None, true) => Some(Duration::from_millis(20)),
            (None, false) => Some(left.min(Duration::from_millis(20))),
        };
        let ms = wait.map_or(PollTimeout::NONE, |w| {
            PollTimeout::try_from(w.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX)
        });
        // Which pipe each polled descriptor is (`None`: the pidfd).
        let mut which = Vec::with_capacity(3);
        let mut poll_fds = Vec::with_capacity(3);
        let pipes = [&stdout, &stderr];
        for (i, pipe) in pipes.iter().enumerate() {
            if open[i] {
                which.push(Some(i));
                poll_fds.push(PollFd::new(pipe.as_fd(), PollFlags::POLLIN));
            }
        }
        if let Some(pidfd) = &pidfd {
            which.push(None);
            poll_fds.push(PollFd::new(pidfd.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut poll_fds, ms) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<usize> = which
            .iter()
            .zip(&poll_fds)
            .filter_map(|(w, fd)| w.filter(|_| fd.any().unwrap_or(true)))
            .collect();
        drop(poll_fds);
        for i in ready {
            open[i] = read_available(pipes[i], &mut output[i]);
        }
        match nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) => {}
            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => {
                break ExitStatus::from_raw((code & 0xff) << 8);
            }
            Ok(nix::sys::wait::WaitStatus::Signaled(_, signal, core)) => {
                break ExitStatus::from_raw(signal as i32 | if core { 0x80 } else { 0 });
            }
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
    };
    for (i, pipe) in [&stdout, &stderr].into_iter().enumerate() {
        if open[i] {
            read_available(pipe, &mut output[i]);
        }
    }
    let [stdout, stderr] = output;
    Ok(Finished {
        status,
        killed,
        stdout,
        stderr,
    })
}

/// Reads what a non-blocking pipe holds into `into`; whether it is still open.
fn read_available(pipe: &std::os::fd::OwnedFd, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(pipe, &mut buf) {
            Ok(0) => return false,
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) => return true,
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> crate::sys::Spawned {
        crate::sys::spawn(std::path::Path::new("/bin/sh"), &["-c", script], None).unwrap()
    }

    #[test]
    fn a_started_program_is_waited_for_with_its_output() {
        let done = finish(
            sh("echo hi; echo oops >&2; exit 4"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(done.status.code(), Some(4));
        assert!(!done.killed);
        assert_eq!(
            (done.stdout.as_slice(), done.stderr.as_slice()),
            (&b"hi\n"[..], &b"oops\n"[..])
        );
        // More than a pipe holds: read while it runs.
        let done = finish(sh("head -c 300000 /dev/zero"), Duration::from_secs(10)).unwrap();
        assert_eq!((done.status.code(), done.stdout.len()), (Some(0), 300_000));
    }

    #[test]
    fn a_program_past_its_deadline_is_killed() {
        let start = Instant::now();
        let done = finish(sh("sleep 30"), Duration::from_millis(100)).unwrap();
        assert!(done.killed);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(done.status.signal(), Some(9));
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn what_a_program_leaves_behind_does_not_hold_the_wait() {
        let start = Instant::now();
        let done = finish(sh("sleep 5 & echo started"), Duration::from_secs(10)).unwrap();
        assert_eq!(
            (done.status.code(), done.stdout.as_slice()),
            (Some(0), &b"started\n"[..])
        );
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn exited_processes_are_told_from_running_ones() {
        assert!(!has_exited(std::process::id() as i32));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pidfd = crate::sys::pidfd_open(child.id() as i32).unwrap();
        assert!(readable_within(&pidfd, Duration::from_secs(10)));
        // A zombie until reaped, then gone.
        assert!(has_exited(child.id() as i32));
        child.wait().unwrap();
        assert!(has_exited(child.id() as i32));
    }

    #[test]
    fn children_are_waited_for_and_killed_late() {
        let mut quick = std::process::Command::new("true").spawn().unwrap();
        let (status, killed) = wait_timeout(&mut quick, Duration::from_secs(10)).unwrap();
        assert!(status.success() && !killed);
        let mut slow = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let start = Instant::now();
        let (status, killed) = wait_timeout(&mut slow, Duration::from_millis(100)).unwrap();
        assert!(!status.success() && killed);
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
