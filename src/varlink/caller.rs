//! The client of the call a connection thread is serving, for handlers that wait (or stream
//! a reply themselves).
//!
//! A handler only gets the generated `Call_*` object, which hides the connection. Each
//! connection has a thread of its own, so `connection` records the connection's descriptor
//! number in a thread-local for as long as it serves it ([`serving`]), and a handler that
//! needs the client takes [`Client::current`]: a duplicate of that descriptor. The engine
//! sees it only as an [`engine::caller::Caller`](crate::engine::caller::Caller) whose hang-up
//! ends a wait.

use std::cell::Cell;
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;

thread_local! {
    /// The connection this thread serves, set by [`serving`] while it does.
    static CONNECTION: Cell<Option<RawFd>> = const { Cell::new(None) };
}

/// Marks `stream` as the connection this thread serves until the guard drops. The guard must
/// drop before the stream does (declare it after the stream).
pub fn serving(stream: &UnixStream) -> Serving {
    CONNECTION.set(Some(stream.as_raw_fd()));
    Serving(())
}

/// While alive, the thread serves the connection given to [`serving`].
pub struct Serving(());

impl Drop for Serving {
    fn drop(&mut self) {
        CONNECTION.set(None);
    }
}

/// The client of the call being served.
pub struct Client {
    stream: Option<UnixStream>,
}

impl Client {
    /// The client of the call this thread is serving; one that never goes when the thread
    /// serves none (or no descriptor is left to duplicate it with).
    pub fn current() -> Client {
        let stream = CONNECTION
            .get()
            // The number is that of the connection the `Serving` guard of this thread
            // covers, open until the guard drops, which happens after the handler returns.
            .and_then(|fd| crate::sys::dup_raw(fd).ok())
            .map(UnixStream::from);
        Client { stream }
    }

    /// Writes a reply directly onto the connection, through a buffer: for a reply too large
    /// to build in memory first. Nothing may be written for a `oneway` call, which the
    /// caller checks. This relies on the connection holding no earlier reply in a buffer of
    /// its own: `connection` writes each reply through at once.
    pub fn writer(&self) -> io::Result<BufWriter<&UnixStream>> {
        let stream = self
            .stream
            .as_ref()
            .ok_or_else(|| io::Error::other("no connection to write to"))?;
        Ok(BufWriter::with_capacity(64 * 1024, stream))
    }
}

impl crate::engine::caller::Caller for Client {
    fn hangup_fd(&self) -> Option<BorrowedFd<'_>> {
        self.stream.as_ref().map(|s| s.as_fd())
    }
}

/// Writes `{"parameters":{"<field>":[<strings>]}}` and the closing NUL to `out`, one string
/// at a time: the reply of a method returning one `[]string` field, in bounded memory.
pub fn write_string_array_reply<E>(
    out: &mut impl Write,
    field: &str,
    items: impl Iterator<Item = Result<String, E>>,
    mut on_error: impl FnMut(E),
) -> io::Result<()> {
    write!(out, "{{\"parameters\":{{")?;
    serde_json::to_writer(&mut *out, field)?;
    out.write_all(b":[")?;
    let mut first = true;
    for item in items {
        match item {
            Ok(text) => {
                if !first {
                    out.write_all(b",")?;
                }
                first = false;
                serde_json::to_writer(&mut *out, &text)?;
            }
            Err(e) => {
                // The reply is under way: end it with what was read.
                on_error(e);
                break;
            }
        }
    }
    out.write_all(b"]}}\0")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_reply_is_the_json_the_generated_code_writes() {
        let mut out = Vec::new();
        let lines = ["a \u{FFFD}", "quote \" and \\ and \n"].map(|l| Ok::<_, ()>(l.to_string()));
        write_string_array_reply(&mut out, "container", lines.into_iter(), |_| {}).unwrap();
        assert_eq!(out.pop(), Some(0));
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"parameters": {"container": ["a \u{FFFD}", "quote \" and \\ and \n"]}})
        );
        let mut out = Vec::new();
        let items = [Ok("x".to_string()), Err("boom"), Ok("y".to_string())];
        let mut errors = Vec::new();
        write_string_array_reply(&mut out, "container", items.into_iter(), |e| errors.push(e))
            .unwrap();
        assert_eq!(out, b"{\"parameters\":{\"container\":[\"x\"]}}\0");
        assert_eq!(errors, ["boom"]);
    }

    #[test]
    fn the_current_client_is_the_connection_being_served() {
        assert!(Client::current().stream.is_none());
        let (ours, theirs) = UnixStream::pair().unwrap();
        {
            let _serving = serving(&ours);
            let client = Client::current();
            assert!(!crate::engine::caller::Caller::has_gone(&client));
            drop(theirs);
            assert!(crate::engine::caller::Caller::has_gone(&client));
        }
        assert!(Client::current().stream.is_none());
    }
}
