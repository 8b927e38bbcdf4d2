//! Reading NUL-terminated messages with bounds on what a slow or hostile sender can hold.
//!
//! Three bounds apply to a message still being received:
//! - its size (`--max-message-size`): a larger one closes its connection;
//! - its time (`--message-timeout`): from its first byte to its NUL; a connection idle
//!   *between* messages is never timed out, since varlink clients keep connections open;
//! - the bytes buffered for unfinished messages across all connections (`--max-buffered`,
//!   the [`Budget`]). Past it, the connection whose unfinished message is the oldest is closed
//!   to make room: it is the most stalled sender by definition (it has had the longest to
//!   finish), so an attacker's stalled connections go before a live client's call is refused.
//!   Only when the one asking is itself the oldest, or room does not come back in time, is its
//!   own message refused. The first [`FREE_BYTES`] of every message are outside the budget, so
//!   ordinary calls (a Ping, a CreateContainer) are never refused for it: their memory is that
//!   of the connection's read buffer, which every connection has anyway. A whole message
//!   counts until its call ends (a long call must not let a client pile up large messages)
//!   but is not evicted for room: closing its connection would free nothing.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::{self, BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Size of the read buffer of a connection; messages may be larger (up to the limit).
pub const READ_BUFFER: usize = 64 * 1024;
/// What a message may hold without drawing on the shared budget.
pub const FREE_BYTES: usize = READ_BUFFER;
/// How long a connection that needs room waits for evicted senders to let go of theirs.
const EVICTION_WAIT: Duration = Duration::from_secs(2);

/// The result of reading one frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole message is in the buffer.
    Message,
    /// The message grew past the size limit before its NUL.
    TooLarge,
    /// The message did not finish within the message timeout.
    TimedOut,
    /// The shared budget had no room for the message (or this connection was evicted to make
    /// room for another).
    OverBudget,
    /// The client closed the connection (a trailing partial message is dropped).
    Eof,
}

/// The bytes buffered for unfinished messages, shared by every connection.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    state: Mutex<BudgetState>,
    freed: Condvar,
    next_id: AtomicU64,
}

#[derive(Debug, Default)]
struct BudgetState {
    used: usize,
    holders: HashMap<u64, Holder>,
}

#[derive(Debug)]
struct Holder {
    bytes: usize,
    /// When its message started: the oldest goes first.
    since: Instant,
    /// To end its reads when it is evicted.
    stream: UnixStream,
    evicted: Arc<AtomicBool>,
    /// Its message is whole and being handled: it still counts (its memory is held until
    /// the call ends) but closing the connection would free nothing, so it is not evicted.
    busy: bool,
}

impl Budget {
    /// A budget of `limit` bytes in total.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Budget {
            limit,
            state: Mutex::new(BudgetState::default()),
            freed: Condvar::new(),
            next_id: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BudgetState> {
        // Nothing panics with this lock held; a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes in use now.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.lock().used
    }

    /// Adds `bytes` to the holder of `lease` (registering it first with a handle on its
    /// socket `stream` and when its message started), evicting the oldest other holders while
    /// there is no room. `false`: no room.
    fn grow(
        &self,
        lease: &Lease,
        stream: &UnixStream,
        since: Instant,
        bytes: usize,
    ) -> io::Result<bool> {
        let id = lease.id;
        let deadline = Instant::now() + EVICTION_WAIT;
        let mut state = self.lock();
        if let Entry::Vacant(slot) = state.holders.entry(id) {
            slot.insert(Holder {
                bytes: 0,
                since,
                stream: stream.try_clone()?,
                evicted: Arc::clone(&lease.evicted),
                busy: false,
            });
        }
        loop {
            if lease.evicted.load(Ordering::SeqCst) {
                return Ok(false);
            }
            if state.used + bytes <= self.limit {
                state.used += bytes;
                if let Some(h) = state.holders.get_mut(&id) {
                    h.bytes += bytes;
                }
                return Ok(true);
            }
            // The oldest unfinished message of another connection that is not already going.
            let victim = state
                .holders
                .iter()
                .filter(|(other, h)| **other != id && !h.busy && !h.evicted.load(Ordering::SeqCst))
                .min_by_key(|(_, h)| h.since)
                .filter(|(_, h)| h.since <= since)
                .map(|(other, _)| *other);
            if let Some(victim) = victim
                && let Some(h) = state.holders.get(&victim)
            {
                log::warn!(
                    "closing a connection whose message stalled at {} bytes: the buffered \
                     messages reach --max-buffered ({} bytes)",
                    h.bytes,
                    self.limit
                );
                h.evicted.store(true, Ordering::SeqCst);
                // Its thread is blocked reading (this makes the read return at once) or
                // waiting for room itself (the notification wakes it).
                let _ = h.stream.shutdown(std::net::Shutdown::Read);
                self.freed.notify_all();
                continue;
            }
            let evicting = state
                .holders
                .values()
                .any(|h| h.evicted.load(Ordering::SeqCst));
            let left = deadline.saturating_duration_since(Instant::now());
            if !evicting || left.is_zero() {
                return Ok(false);
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Marks holder `id`'s message whole: it is handled now, no longer evictable.
    fn complete(&self, id: u64) {
        if let Some(h) = self.lock().holders.get_mut(&id) {
            h.busy = true;
        }
    }

    /// Gives back everything holder `id` holds.
    fn release(&self, id: u64) {
        let mut state = self.lock();
        if let Some(h) = state.holders.remove(&id) {
            state.used -= h.bytes;
            drop(state);
            self.freed.notify_all();
        }
    }
}

/// One connection's claim on the budget.
struct Lease {
    budget: Arc<Budget>,
    id: u64,
    evicted: Arc<AtomicBool>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.budget.release(self.id);
    }
}

/// The bounds a connection reads under.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest message.
    pub max_message_size: usize,
    /// Longest time from a message's first byte to its NUL; `None`: no limit.
    pub message_timeout: Option<Duration>,
    /// The bytes of unfinished messages, across connections.
    pub budget: Arc<Budget>,
}

/// Reads the messages of one connection.
pub struct FrameReader {
    reader: BufReader<UnixStream>,
    limits: Limits,
    lease: Lease,
    /// The message being read (without its NUL).
    pub message: Vec<u8>,
    /// When the message being read started, if it has.
    started: Option<Instant>,
    /// Whether the socket has a read timeout set.
    timeout_set: bool,
}

impl FrameReader {
    /// A reader of `stream` (a clone of the connection's socket) under `limits`.
    pub fn new(stream: UnixStream, limits: Limits) -> Self {
        let lease = Lease {
            budget: Arc::clone(&limits.budget),
            id: limits.budget.next_id.fetch_add(1, Ordering::Relaxed),
            evicted: Arc::new(AtomicBool::new(false)),
        };
        FrameReader {
            reader: BufReader::with_capacity(READ_BUFFER, stream),
            limits,
            lease,
            message: Vec::new(),
            started: None,
            timeout_set: false,
        }
    }

    /// The socket, for a final drain.
    pub fn into_inner(self) -> UnixStream {
        self.reader.into_inner()
    }

    /// Forgets the last message: a large buffer goes back to the budget, so a connection
    /// that once sent a big call does not keep its memory while idle.
    fn reset(&mut self) {
        self.release_message();
        self.lease.budget.release(self.lease.id);
        self.started = None;
    }

    /// Lets go of the last message's bytes once the caller is done with them: a large
    /// buffer is freed (a small one is kept for the next message). What the message counts
    /// against the budget stays counted until the next read, as its call runs until then.
    pub fn release_message(&mut self) {
        if self.message.capacity() > FREE_BYTES {
            self.message = Vec::new();
        } else {
            self.message.clear();
        }
    }

    /// Reads one NUL-terminated message into `self.message`.
    pub fn read(&mut self) -> io::Result<Frame> {
        self.reset();
        loop {
            if self.started.is_none() && !self.reader.buffer().is_empty() {
                self.started = Some(Instant::now());
            }
            // Only when the next step waits for the client (one system call less per
            // message otherwise).
            if self.reader.buffer().is_empty()
                && let Some(frame) = self.arm_timeout()?
            {
                return Ok(frame);
            }
            let available = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) && self.started.is_some() =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if self.lease.evicted.load(Ordering::SeqCst) {
                    return Ok(Frame::OverBudget);
                }
                return Ok(Frame::Eof);
            }
            let started = *self.started.get_or_insert_with(Instant::now);
            let (len, complete) = match available.iter().position(|&b| b == 0) {
                Some(end) => (end, true),
                None => (available.len(), false),
            };
            let needed = self.message.len() + len;
            if needed > self.limits.max_message_size {
                return Ok(Frame::TooLarge);
            }
            if needed > self.message.capacity() {
                // Room is claimed for what the buffer will really hold (its capacity), in
                // steps that double, as a Vec grows anyway.
                let capacity = needed
                    .max(self.message.capacity() * 2)
                    .min(self.limits.max_message_size);
                let claim = capacity.saturating_sub(FREE_BYTES.max(self.message.capacity()));
                let socket = self.reader.get_ref();
                if claim > 0
                    && !self
                        .limits
                        .budget
                        .grow(&self.lease, socket, started, claim)?
                {
                    return Ok(Frame::OverBudget);
                }
                self.message.reserve_exact(capacity - self.message.len());
            }
            let available = self.reader.buffer();
            self.message.extend_from_slice(&available[..len]);
            self.reader.consume(len + usize::from(complete));
            if complete {
                // What it holds is given back when the next message is read, once the
                // call is over.
                self.lease.budget.complete(self.lease.id);
                return Ok(Frame::Message);
            }
        }
    }

    /// Sets the socket's read timeout to what is left of the message's time (none between
    /// messages); `Some(TimedOut)` when nothing is left.
    fn arm_timeout(&mut self) -> io::Result<Option<Frame>> {
        let Some(limit) = self.limits.message_timeout else {
            return Ok(None);
        };
        let socket = self.reader.get_ref();
        match self.started {
            Some(started) => {
                let left = limit.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Ok(Some(Frame::TimedOut));
                }
                socket.set_read_timeout(Some(left))?;
                self.timeout_set = true;
            }
            None if self.timeout_set => {
                socket.set_read_timeout(None)?;
                self.timeout_set = false;
            }
            None => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn limits(max: usize, timeout: Option<Duration>, budget: usize) -> Limits {
        Limits {
            max_message_size: max,
            message_timeout: timeout,
            budget: Budget::new(budget),
        }
    }

    fn frames(input: &[u8], max: usize) -> Vec<(Frame, Vec<u8>)> {
        let (mut client, server) = UnixStream::pair().unwrap();
        client.write_all(input).unwrap();
        drop(client);
        let mut reader = FrameReader::new(server, limits(max, None, 1 << 20));
        let mut out = Vec::new();
        loop {
            let frame = reader.read().unwrap();
            let done = frame != Frame::Message;
            out.push((frame, reader.message.clone()));
            if done {
                return out;
            }
        }
    }

    #[test]
    fn splits_on_nul() {
        let got = frames(b"{\"a\":1}\0{}\0", 100);
        assert_eq!(got[0], (Frame::Message, b"{\"a\":1}".to_vec()));
        assert_eq!(got[1], (Frame::Message, b"{}".to_vec()));
        assert_eq!(got[2].0, Frame::Eof);
    }

    #[test]
    fn refuses_oversized_messages() {
        assert_eq!(frames(b"0123456789\0", 5)[0].0, Frame::TooLarge);
        assert_eq!(frames(b"01234\0", 5)[0].0, Frame::Message);
    }

    #[test]
    fn a_message_split_across_reads_is_whole() {
        let big = vec![b'x'; 3 * READ_BUFFER + 7];
        let mut input = big.clone();
        input.push(0);
        let got = frames(&input, 1 << 20);
        assert_eq!(got[0], (Frame::Message, big));
    }

    #[test]
    fn a_stalled_message_times_out_but_an_idle_connection_does_not() {
        let (mut client, server) = UnixStream::pair().unwrap();
        let timeout = Duration::from_millis(200);
        let mut reader = FrameReader::new(server, limits(1 << 20, Some(timeout), 1 << 20));
        client.write_all(b"{}\0{\"meth").unwrap();
        assert_eq!(reader.read().unwrap(), Frame::Message);
        let start = Instant::now();
        assert_eq!(reader.read().unwrap(), Frame::TimedOut);
        assert!(start.elapsed() >= timeout);

        let (mut client, server) = UnixStream::pair().unwrap();
        let mut reader = FrameReader::new(server, limits(1 << 20, Some(timeout), 1 << 20));
        let writer = std::thread::spawn(move || {
            std::thread::sleep(timeout * 3);
            client.write_all(b"{}\0").unwrap();
        });
        assert_eq!(reader.read().unwrap(), Frame::Message);
        writer.join().unwrap();
    }

    #[test]
    fn the_oldest_stalled_sender_makes_room() {
        let shared = limits(1 << 20, None, 3 * READ_BUFFER);
        let (mut old_client, old_server) = UnixStream::pair().unwrap();
        let mut old = FrameReader::new(old_server, shared.clone());
        let old_thread = std::thread::spawn(move || old.read().unwrap());
        let old_writer = std::thread::spawn(move || {
            old_client.write_all(&vec![b'a'; 3 * READ_BUFFER]).unwrap();
            old_client
        });
        // Wait until the old message holds budget.
        let deadline = Instant::now() + Duration::from_secs(5);
        while shared.budget.used() < 2 * READ_BUFFER {
            assert!(Instant::now() < deadline, "old message never buffered");
            std::thread::yield_now();
        }
        let (mut new_client, new_server) = UnixStream::pair().unwrap();
        let mut new = FrameReader::new(new_server, shared.clone());
        let mut input = vec![b'b'; 3 * READ_BUFFER];
        input.push(0);
        let writer = std::thread::spawn(move || new_client.write_all(&input).unwrap());
        assert_eq!(new.read().unwrap(), Frame::Message);
        assert_eq!(old_thread.join().unwrap(), Frame::OverBudget);
        writer.join().unwrap();
        drop(new);
        assert_eq!(shared.budget.used(), 0);
        drop(old_writer.join().unwrap());
    }

    #[test]
    fn a_message_being_handled_counts_but_is_not_evicted() {
        let shared = limits(1 << 20, None, 3 * READ_BUFFER);
        let (mut done_client, done_server) = UnixStream::pair().unwrap();
        let mut done = FrameReader::new(done_server, shared.clone());
        let writer = std::thread::spawn(move || {
            let mut input = vec![b'a'; 3 * READ_BUFFER];
            input.push(0);
            done_client.write_all(&input).unwrap();
            done_client
        });
        assert_eq!(done.read().unwrap(), Frame::Message);
        let _done_client = writer.join().unwrap();
        let held = shared.budget.used();
        assert!(held > 0);
        // While its call runs, a large newcomer finds no room and nothing to evict.
        let (mut new_client, new_server) = UnixStream::pair().unwrap();
        let mut new = FrameReader::new(new_server, shared.clone());
        let writer = std::thread::spawn(move || {
            let _ = new_client.write_all(&vec![b'b'; 4 * READ_BUFFER]);
        });
        assert_eq!(new.read().unwrap(), Frame::OverBudget);
        drop(new);
        writer.join().unwrap();
        assert_eq!(shared.budget.used(), held);
        // The next read (the call is over) gives it back.
        drop(_done_client);
        assert_eq!(done.read().unwrap(), Frame::Eof);
        assert_eq!(shared.budget.used(), 0);
    }
}
