//! The monitor's attach socket and control fifo, as conmon serves them.
//!
//! The attach socket is a listening `SOCK_SEQPACKET` socket. Every chunk of the container's
//! output goes to each connected client as one message whose first byte names the stream
//! ([`STDOUT`] or [`STDERR`]); each message a client sends is written, as it is, to the
//! container's stdin. A client that closes its end closes the container's stdin, as conmon
//! does without `--leave-stdin-open`, so that `cat`-like containers see end of file.
//!
//! The control fifo takes lines: `1 ROWS COLS` resizes the terminal, `2 0 0` reopens the log
//! file. It is opened read-write, so a writer that comes and goes never makes it hit EOF.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::sys::socket::{
    AddressFamily, Backlog, MsgFlags, SockFlag, SockType, UnixAddr, bind, listen, socket,
};

/// Stream byte of a message carrying the container's stdin (conmon's numbering).
pub const STDIN: u8 = 1;
/// Stream byte of a message carrying the container's stdout.
pub const STDOUT: u8 = 2;
/// Stream byte of a message carrying the container's stderr.
pub const STDERR: u8 = 3;
/// Largest payload of one message, after the stream byte (conmon's buffer size).
pub const MAX_PAYLOAD: usize = 8192;

/// How long a send to a client may block before that client is dropped: a client that does
/// not read must not stall the container's output for everyone.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// `sun_path` holds 107 bytes and a NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Binds a new socket of `kind` at `path`, through `/proc/self/fd/N/NAME` when `path` is too
/// long for `sun_path`, and starts listening.
pub fn listen_at(path: &Path, kind: SockType) -> io::Result<OwnedFd> {
    let _ = std::fs::remove_file(path);
    let fd = socket(AddressFamily::Unix, kind, SockFlag::SOCK_CLOEXEC, None)?;
    let path_len = path.as_os_str().len();
    if path_len <= MAX_SOCKET_PATH {
        bind(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    } else {
        let (dir, name) = match (path.parent(), path.file_name()) {
            (Some(d), Some(n)) => (d, n),
            _ => return Err(io::Error::other("socket path has no directory")),
        };
        let dir = std::fs::File::open(dir)?;
        let short = Path::new("/proc/self/fd")
            .join(dir.as_raw_fd().to_string())
            .join(name);
        bind(fd.as_raw_fd(), &UnixAddr::new(&short)?)?;
    }
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    listen(&fd, Backlog::new(16).unwrap_or(Backlog::MAXCONN))?;
    Ok(fd)
}

/// One attached client.
pub struct Client {
    fd: OwnedFd,
    /// Whether it may still send: a client that shut down its writing side still gets output.
    readable: bool,
}

impl Client {
    /// Its socket.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Whether it may still send input.
    pub fn readable(&self) -> bool {
        self.readable
    }
}

/// What reading a client gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Input for the container (empty when there was nothing after all).
    Data(Vec<u8>),
    /// The client will send no more (it shut down its writing side, or closed).
    End,
}

/// The attach socket and its clients.
pub struct AttachServer {
    listener: OwnedFd,
    clients: Vec<Client>,
}

impl AttachServer {
    /// Listens at `path`.
    pub fn bind(path: &Path) -> io::Result<Self> {
        Ok(AttachServer {
            listener: listen_at(path, SockType::SeqPacket)?,
            clients: Vec::new(),
        })
    }

    /// The listening socket, to poll for new clients.
    pub fn listener(&self) -> &OwnedFd {
        &self.listener
    }

    /// The connected clients, to poll for input.
    pub fn clients(&self) -> &[Client] {
        &self.clients
    }

    /// Accepts a waiting client.
    pub fn accept(&mut self) {
        match crate::sys::accept(&self.listener) {
            Ok(client) => {
                let timeout = nix::sys::time::TimeVal::new(SEND_TIMEOUT.as_secs() as i64, 0);
                let _ = nix::sys::socket::setsockopt(
                    &client,
                    nix::sys::socket::sockopt::SendTimeout,
                    &timeout,
                );
                self.clients.push(Client {
                    fd: client,
                    readable: true,
                });
            }
            Err(e) => log::warn!("attach: accept: {e}"),
        }
    }

    /// Sends a chunk of output from `stream` to every client, dropping clients that fail.
    pub fn broadcast(&mut self, stream: u8, data: &[u8]) {
        if self.clients.is_empty() {
            return;
        }
        for piece in data.chunks(MAX_PAYLOAD) {
            let mut message = Vec::with_capacity(piece.len() + 1);
            message.push(stream);
            message.extend_from_slice(piece);
            self.clients.retain(|client| {
                nix::sys::socket::send(client.fd.as_raw_fd(), &message, MsgFlags::MSG_NOSIGNAL)
                    .is_ok()
            });
        }
    }

    /// Drops client `index` (it hung up).
    pub fn drop_client(&mut self, index: usize) {
        if index < self.clients.len() {
            self.clients.remove(index);
        }
    }

    /// Reads one message from client `index`. At its end the client stays, for output, but
    /// is not read again; one that fails is dropped.
    pub fn receive(&mut self, index: usize) -> Received {
        let mut buf = vec![0u8; MAX_PAYLOAD + 1];
        let Some(client) = self.clients.get_mut(index) else {
            return Received::Data(Vec::new());
        };
        match nix::sys::socket::recv(client.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
            Ok(0) => {
                client.readable = false;
                Received::End
            }
            Ok(n) => {
                buf.truncate(n);
                Received::Data(buf)
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => Received::Data(Vec::new()),
            Err(_) => {
                self.clients.remove(index);
                Received::End
            }
        }
    }
}

/// One request read from the control fifo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Resize the terminal.
    Resize {
        /// Rows (height).
        rows: u16,
        /// Columns (width).
        cols: u16,
    },
    /// Reopen the log file (after it was rotated away).
    ReopenLog,
}

/// Parses the complete lines of the control fifo's input; the unterminated rest stays in
/// `pending`. Unknown or malformed lines are skipped.
pub fn parse_control(pending: &mut Vec<u8>) -> Vec<Control> {
    let mut requests = Vec::new();
    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=end).collect();
        let text = String::from_utf8_lossy(&line);
        let mut words = text.split_whitespace().map(|w| w.parse::<u32>().ok());
        match (
            words.next().flatten(),
            words.next().flatten(),
            words.next().flatten(),
        ) {
            (Some(1), Some(rows), Some(cols)) => requests.push(Control::Resize {
                rows: rows.min(u16::MAX as u32) as u16,
                cols: cols.min(u16::MAX as u32) as u16,
            }),
            (Some(2), _, _) => requests.push(Control::ReopenLog),
            _ => log::warn!("ctl: ignoring {:?}", text.trim()),
        }
    }
    requests
}

/// Creates the control fifo at `path` and opens it read-write and non-blocking.
pub fn open_control(path: &Path) -> io::Result<OwnedFd> {
    let _ = std::fs::remove_file(path);
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    Ok(file.into())
}

/// Writes as much of `data` as `fd` takes without blocking; returns how much it took, or
/// `None` when the reader is gone.
pub fn write_some(fd: &impl AsFd, data: &[u8]) -> Option<usize> {
    match nix::unistd::write(fd, data) {
        Ok(n) => Some(n),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => Some(0),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_lines() {
        let mut pending = b"1 24 80\n2 0 0\nbogus\n1 50".to_vec();
        assert_eq!(
            parse_control(&mut pending),
            [Control::Resize { rows: 24, cols: 80 }, Control::ReopenLog]
        );
        assert_eq!(pending, b"1 50");
        pending.extend_from_slice(b" 132\n");
        assert_eq!(
            parse_control(&mut pending),
            [Control::Resize {
                rows: 50,
                cols: 132
            }]
        );
    }

    #[test]
    fn attach_round_trip_over_a_long_path() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("d".repeat(60)).join("e".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let path = deep.join("attach");
        assert!(path.as_os_str().len() > MAX_SOCKET_PATH);
        let mut server = AttachServer::bind(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let client = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        let dirfd = std::fs::File::open(&deep).unwrap();
        let short = format!("/proc/self/fd/{}/attach", dirfd.as_raw_fd());
        nix::sys::socket::connect(client.as_raw_fd(), &UnixAddr::new(short.as_str()).unwrap())
            .unwrap();
        server.accept();
        server.broadcast(STDOUT, b"hello");
        let mut buf = [0u8; 64];
        let n = nix::sys::socket::recv(client.as_raw_fd(), &mut buf, MsgFlags::empty()).unwrap();
        assert_eq!(&buf[..n], b"\x02hello");
        nix::sys::socket::send(client.as_raw_fd(), b"input", MsgFlags::empty()).unwrap();
        assert_eq!(server.receive(0), Received::Data(b"input".to_vec()));
        // Shut down for writing: no more input, but output still arrives.
        nix::sys::socket::shutdown(client.as_raw_fd(), nix::sys::socket::Shutdown::Write).unwrap();
        assert_eq!(server.receive(0), Received::End);
        assert!(!server.clients()[0].readable());
        server.broadcast(STDERR, b"more");
        let n = nix::sys::socket::recv(client.as_raw_fd(), &mut buf, MsgFlags::empty()).unwrap();
        assert_eq!(&buf[..n], b"\x03more");
        drop(client);
        server.broadcast(STDOUT, b"to nobody");
        assert!(server.clients().is_empty(), "a closed client is dropped");
    }
}
