//! Who is waiting for a long call: WaitContainer and a followed log end early when their
//! caller has gone, instead of holding a thread until the container exits.
//!
//! The caller tells how to notice: a descriptor that reports `POLLHUP` or `POLLERR` once it
//! has gone (the varlink layer passes the client's connection). Waits poll it together with
//! what they wait for, so noticing costs no extra wake-ups. Nothing here knows what the
//! descriptor is.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Whoever a long wait is for.
pub trait Caller {
    /// A descriptor that reports `POLLHUP` or `POLLERR` once the caller has gone; `None` for
    /// a caller that never goes.
    fn hangup_fd(&self) -> Option<BorrowedFd<'_>>;

    /// Whether the caller has gone, now.
    fn has_gone(&self) -> bool {
        matches!(wait(None, self, Some(Duration::ZERO)), Wake::Gone)
    }
}

/// A caller that never goes: internal waits, tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Detached;

impl Caller for Detached {
    fn hangup_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// What ended a [`wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The descriptor waited for is readable (or hung up itself).
    Ready,
    /// The caller has gone.
    Gone,
    /// The time was up.
    TimedOut,
}

/// Waits until `fd` is readable, the caller has gone, or `timeout` (`None`: no limit) passes.
/// Without `fd`, a sleep that ends early when the caller goes.
pub fn wait(
    fd: Option<BorrowedFd<'_>>,
    caller: &(impl Caller + ?Sized),
    timeout: Option<Duration>,
) -> Wake {
    let deadline = timeout.map(|t| Instant::now() + t);
    let hangup = caller.hangup_fd();
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        // Ten minutes at most per poll: only so that the arithmetic stays in range.
        let ms = left
            .unwrap_or(Duration::from_secs(600))
            .min(Duration::from_secs(600));
        let ms = PollTimeout::try_from(ms.as_millis() as i32).unwrap_or(PollTimeout::MAX);
        let mut fds = Vec::with_capacity(2);
        if let Some(fd) = fd {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        // No events asked: POLLHUP and POLLERR are always reported. Asking for POLLIN would
        // wake on a client's next (pipelined) call, and POLLRDHUP on a client that only shut
        // down its writing side, which still reads the reply.
        let hangup_at = fds.len();
        if let Some(h) = hangup {
            fds.push(PollFd::new(h, PollFlags::empty()));
        }
        match poll(&mut fds, ms) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            // Nothing to wait on that works: treat as ready, as `readable_within` does.
            Err(_) => return Wake::Ready,
        }
        let revents = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .unwrap_or(PollFlags::empty())
        };
        if revents(hangup_at).intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            return Wake::Gone;
        }
        if fd.is_some() && !revents(0).is_empty() {
            return Wake::Ready;
        }
        if left.is_some_and(|l| l.is_zero()) {
            return Wake::TimedOut;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    struct Client(UnixStream);
    impl Caller for Client {
        fn hangup_fd(&self) -> Option<BorrowedFd<'_>> {
            Some(self.0.as_fd())
        }
    }

    #[test]
    fn a_hang_up_ends_the_wait_and_half_closing_or_writing_does_not() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let caller = Client(ours);
        assert!(!caller.has_gone());
        std::io::Write::write_all(&mut &theirs, b"next call\0").unwrap();
        theirs.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(
            wait(None, &caller, Some(Duration::from_millis(10))),
            Wake::TimedOut
        );
        drop(theirs);
        let start = Instant::now();
        assert_eq!(wait(None, &caller, None), Wake::Gone);
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(caller.has_gone());
        assert_eq!(wait(None, &Detached, Some(Duration::ZERO)), Wake::TimedOut);
        let (a, b) = UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut &b, b"x").unwrap();
        assert_eq!(wait(Some(a.as_fd()), &Detached, None), Wake::Ready);
    }
}
