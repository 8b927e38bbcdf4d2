//! The accept loop over the listener `crate::daemon` set up, and graceful shutdown.
//!
//! A thread per connection, no cap on their number: the varlink crate's pool stops at about
//! 100 connections, and an idle client must never lock others out. The accept loop polls the
//! listener together with two wake-up pipes: one written on shutdown, one written when a
//! connection closes (so the idle timer can start when it was the last).
//!
//! Memory a burst of connections or calls freed goes back to the kernel once the server is
//! quiet: [`QUIET_BEFORE_TRIM`] after the last connection that closed, unless another closed
//! meanwhile (see `crate::sys::release_free_memory` for why `free` alone does not).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::connection::Dispatcher;
use super::framing::{Budget, Limits};

/// Stack of a connection thread: calls are shallow, and 300+ idle clients should cost little.
const CONNECTION_STACK: usize = 512 * 1024;
/// How long after a connection closed, with no other closing meanwhile, the allocator's free
/// memory is given back. Short enough that a burst's memory is gone a moment after it, long
/// enough that a client opening a connection per call (as varlink clients do) does not pay
/// for a trim on each.
pub const QUIET_BEFORE_TRIM: Duration = Duration::from_millis(200);

/// A request to stop serving, shared by the signal thread, the accept loop and connections.
///
/// `trigger` sets the flag and writes to a pipe the accept loop polls; the pipe is never
/// drained, so every later poll sees it too.
#[derive(Debug)]
pub struct Shutdown {
    requested: AtomicBool,
    wake_read: OwnedFd,
    wake_write: OwnedFd,
}

impl Shutdown {
    /// A shutdown signal that has not fired.
    pub fn new() -> io::Result<Arc<Self>> {
        let (wake_read, wake_write) = cloexec_pipe()?;
        Ok(Arc::new(Shutdown {
            requested: AtomicBool::new(false),
            wake_read,
            wake_write,
        }))
    }

    /// Asks the server to stop: no new connections, calls in flight finish.
    pub fn trigger(&self) {
        if !self.requested.swap(true, Ordering::SeqCst) {
            let _ = nix::unistd::write(&self.wake_write, b"x");
        }
    }

    /// Whether shutdown was asked for.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}

/// How the server is run.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Largest message a client may send.
    pub max_message_size: usize,
    /// Longest time from a message's first byte to its end; `None`: no limit.
    pub message_timeout: Option<Duration>,
    /// Bytes buffered for unfinished messages across all connections.
    pub max_buffered: usize,
    /// Stop after this long without any open connection.
    pub idle_timeout: Option<Duration>,
    /// How long shutdown waits for calls in flight.
    pub grace: Duration,
}

/// Why `serve` returned.
#[derive(Debug, PartialEq, Eq)]
pub enum StopReason {
    /// `Shutdown::trigger` was called.
    Shutdown,
    /// No connection was open for the idle timeout.
    Idle,
}

/// The open connections, so shutdown can end idle ones and wait for busy ones.
struct Connections {
    state: Mutex<ConnectionState>,
    changed: Condvar,
    /// Written when a connection closes: to restart the accept loop's idle timer when it was
    /// the last, and to time the next trim of free memory.
    closed_write: OwnedFd,
}

struct ConnectionState {
    open: HashMap<u64, UnixStream>,
    next_id: u64,
    idle_since: Instant,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, ConnectionState> {
        // A connection thread never panics while holding this lock (handlers run outside it),
        // but if one did, the map is still consistent: take it back.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, stream: &UnixStream) -> io::Result<u64> {
        let handle = stream.try_clone()?;
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.open.insert(id, handle);
        Ok(id)
    }

    fn remove(&self, id: u64) {
        let mut state = self.lock();
        state.open.remove(&id);
        if state.open.is_empty() {
            state.idle_since = Instant::now();
        }
        drop(state);
        // Non-blocking: a full pipe has woken the loop already.
        let _ = nix::unistd::write(&self.closed_write, b"x");
        self.changed.notify_all();
    }

    /// How long until the idle timeout expires, or `None` while connections are open.
    fn idle_remaining(&self, timeout: Duration) -> Option<Duration> {
        let state = self.lock();
        state
            .open
            .is_empty()
            .then(|| timeout.saturating_sub(state.idle_since.elapsed()))
    }

    /// Ends every connection's reading side, then waits up to `grace` for them to finish the
    /// calls already received.
    fn drain(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        let mut state = self.lock();
        for stream in state.open.values() {
            let _ = stream.shutdown(std::net::Shutdown::Read);
        }
        while !state.open.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        state.open.len()
    }
}

/// Accepts connections on `listener` and serves each on its own thread until `shutdown`
/// fires or the idle timeout passes; then waits (up to the grace period) for calls in flight.
pub fn serve(
    listener: UnixListener,
    dispatcher: Arc<Dispatcher>,
    shutdown: Arc<Shutdown>,
    options: ServeOptions,
) -> io::Result<StopReason> {
    listener.set_nonblocking(true)?;
    let budget = Budget::new(options.max_buffered);
    let (closed_read, closed_write) = cloexec_pipe()?;
    let connections = Arc::new(Connections {
        state: Mutex::new(ConnectionState {
            open: HashMap::new(),
            next_id: 0,
            idle_since: Instant::now(),
        }),
        changed: Condvar::new(),
        closed_write,
    });
    // When to give free memory back: set when a connection closes, pushed back by the next.
    let mut trim_at: Option<Instant> = None;
    let reason = loop {
        if shutdown.is_requested() {
            break StopReason::Shutdown;
        }
        let wait = match options.idle_timeout {
            Some(timeout) => connections.idle_remaining(timeout),
            None => None,
        };
        if wait == Some(Duration::ZERO) {
            break StopReason::Idle;
        }
        let until_trim = trim_at.map(|at| at.saturating_duration_since(Instant::now()));
        let timeout = match [wait, until_trim].into_iter().flatten().min() {
            // Round up so the loop does not spin on a sub-millisecond remainder.
            Some(d) => PollTimeout::try_from(d.as_millis().saturating_add(1).min(60_000) as i32)
                .unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(shutdown.wake_read.as_fd(), PollFlags::POLLIN),
            PollFd::new(closed_read.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        if fds[2].any().unwrap_or(false) {
            let mut buf = [0u8; 64];
            while matches!(nix::unistd::read(&closed_read, &mut buf), Ok(n) if n > 0) {}
            trim_at = Some(Instant::now() + QUIET_BEFORE_TRIM);
        } else if trim_at.is_some_and(|at| Instant::now() >= at) {
            trim_at = None;
            crate::sys::release_free_memory();
        }
        accept_ready(&listener, &dispatcher, &connections, &options, &budget);
    };
    drop(listener);
    let left = connections.drain(options.grace);
    if left > 0 {
        log::warn!(
            "stopping with {left} connection(s) still busy after {:?}",
            options.grace
        );
    }
    Ok(reason)
}

/// Accepts every pending connection and starts its thread.
fn accept_ready(
    listener: &UnixListener,
    dispatcher: &Arc<Dispatcher>,
    connections: &Arc<Connections>,
    options: &ServeOptions,
    budget: &Arc<Budget>,
) {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            Err(e) => {
                // Out of descriptors or memory: leave the rest queued and let poll come back
                // after a pause instead of spinning.
                log::error!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
                return;
            }
        };
        if let Err(e) = start_connection(stream, dispatcher, connections, options, budget) {
            log::error!("cannot serve a new connection: {e}");
        }
    }
}

fn start_connection(
    stream: UnixStream,
    dispatcher: &Arc<Dispatcher>,
    connections: &Arc<Connections>,
    options: &ServeOptions,
    budget: &Arc<Budget>,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    let id = connections.add(&stream)?;
    let dispatcher = Arc::clone(dispatcher);
    let conns = Arc::clone(connections);
    let limits = Limits {
        max_message_size: options.max_message_size,
        message_timeout: options.message_timeout,
        budget: Arc::clone(budget),
    };
    let spawned = std::thread::Builder::new()
        .name(format!("conn-{id}"))
        .stack_size(CONNECTION_STACK)
        .spawn(move || {
            dispatcher.serve_connection(stream, limits);
            conns.remove(id);
        });
    if let Err(e) = spawned {
        connections.remove(id);
        return Err(e);
    }
    Ok(())
}

fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(
        nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK,
    )?)
}
