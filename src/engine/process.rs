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

#[cfg(test)]
mod tests {
    use super::*;

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
