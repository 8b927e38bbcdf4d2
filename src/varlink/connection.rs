//! One client connection: framing, validation and dispatch of each message.
//!
//! The varlink crate's own `ConnectionHandler` closes a connection on a malformed message or a
//! bad parameter, replies to `oneway` calls, has no size limit, and lets a panic kill the
//! thread. Here each NUL-terminated message is read within bounds (size, time, and the bytes
//! all connections buffer: see `framing`), parsed and checked first, then handed to the generated interface code through `varlink::Call`, inside
//! `catch_unwind`; what goes wrong with one message is answered and the connection goes on.

use std::borrow::Cow;
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::{Map, Value, json};
use varlink::{Call, Interface, Request, VarlinkService};

use super::framing::{Frame, FrameReader, Limits, READ_BUFFER};

/// Answers the methods whose replies are written straight from typed wire structs (see
/// [`Dispatcher::with_direct`]): given a method, appends its reply's `parameters` as JSON to
/// the buffer and returns `true`, or returns `false` (the buffer untouched) when the method
/// is not one of them.
pub type DirectReplies = dyn Fn(&str, &mut Vec<u8>) -> bool + Send + Sync;

/// Routes parsed calls to the interfaces the service offers.
pub struct Dispatcher {
    /// `org.varlink.service` (GetInfo, GetInterfaceDescription).
    service: VarlinkService,
    /// `io.podman`.
    podman: Box<dyn Interface + Send + Sync>,
    /// Methods answered without the generated interface (see [`Dispatcher::with_direct`]).
    direct: Option<Box<DirectReplies>>,
    /// Test hook: this io.podman method panics. Debug builds only: a release daemon has no
    /// way to be told to panic (the flag, its variable and this field do not exist there).
    #[cfg(debug_assertions)]
    panic_method: Option<String>,
}

/// What the connection does after a message.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    Continue,
    Close,
}

impl Dispatcher {
    /// A dispatcher over the io.podman interface proxy `podman`; `service` must describe it.
    pub fn new(service: VarlinkService, podman: Box<dyn Interface + Send + Sync>) -> Self {
        Dispatcher {
            service,
            podman,
            direct: None,
            #[cfg(debug_assertions)]
            panic_method: None,
        }
    }

    /// Has `direct` answer the methods it knows, before the generated interface: the varlink
    /// crate turns every reply into a `serde_json::Value` tree before writing it, which for
    /// a reply of thousands of entries (ListContainers) costs more than all the rest of the
    /// call. Their arguments are not read (they have none).
    pub fn with_direct(mut self, direct: Box<DirectReplies>) -> Self {
        self.direct = Some(direct);
        self
    }

    /// Test hook (debug builds only): calls of io.podman `method` panic inside the dispatch,
    /// so the tests can show a panic is contained to its call.
    #[cfg(debug_assertions)]
    pub fn panic_on(mut self, method: Option<String>) -> Self {
        self.panic_method = method.map(|m| format!("io.podman.{m}"));
        self
    }

    /// Serves `stream` until the client closes it, a message breaks a bound of `limits`
    /// (size, time, shared budget: see `framing`), or writing fails.
    pub fn serve_connection(&self, stream: UnixStream, limits: Limits) {
        let max_message_size = limits.max_message_size;
        let Ok(mut reader) = stream.try_clone().map(|r| FrameReader::new(r, limits)) else {
            return;
        };
        let mut writer = stream;
        // Handlers that wait notice the client hanging up through this (see `caller`).
        let _serving = super::caller::serving(&writer);
        loop {
            let reason = match reader.read() {
                Ok(Frame::Message) => {
                    let parsed = parse_request(&reader.message);
                    // Parsed, the message's bytes are not needed: a large one's buffer goes
                    // now rather than at the next read, so a call holds its parsed form
                    // only (its bytes still count against the budget until the call ends).
                    reader.release_message();
                    if self.dispatch(parsed, &mut writer) == Next::Close {
                        return;
                    }
                    continue;
                }
                Ok(Frame::Eof) => return,
                Err(e) => {
                    log::debug!("connection read failed: {e}");
                    return;
                }
                Ok(Frame::TooLarge) => {
                    log::warn!("closing a connection: message over {max_message_size} bytes");
                    format!("message exceeds the limit of {max_message_size} bytes")
                }
                Ok(Frame::TimedOut) => {
                    log::warn!("closing a connection: its message stalled mid-way");
                    "message not completed within the message timeout".to_string()
                }
                Ok(Frame::OverBudget) => {
                    "the server holds too many unfinished messages (--max-buffered)".to_string()
                }
            };
            let _ = write_error(
                &mut writer,
                INVALID_PARAMETER,
                json!({ "parameter": reason }),
            );
            linger_close(&writer, reader.into_inner());
            return;
        }
    }

    /// Handles one complete message, parsed.
    fn dispatch(&self, parsed: Result<Request<'static>, BadMessage>, out: &mut UnixStream) -> Next {
        let request = match parsed {
            Ok(request) => request,
            Err(bad) => {
                log::debug!("invalid message: {}", bad.parameter);
                if bad.oneway {
                    return Next::Continue;
                }
                return match write_error(
                    out,
                    INVALID_PARAMETER,
                    json!({ "parameter": bad.parameter }),
                ) {
                    Ok(()) => Next::Continue,
                    Err(_) => Next::Close,
                };
            }
        };
        let oneway = request.oneway == Some(true);
        let mut sink = io::sink();
        let mut replies = ReplyWriter::new(out);
        let writer: &mut dyn Write = if oneway { &mut sink } else { &mut replies };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut call = Call::new(writer, &request);
            self.call(&request.method, &mut call)
        }));
        if oneway {
            return Next::Continue;
        }
        match outcome {
            Ok(Ok(())) => Next::Continue,
            // The handler already answered (bad parameters) or the client is gone.
            Ok(Err(e)) => {
                log::debug!("{}: {e}", request.method);
                if replies.failed {
                    Next::Close
                } else {
                    Next::Continue
                }
            }
            Err(panic) => {
                let what = panic_message(&panic);
                log::error!("{} panicked: {what}", request.method);
                if replies.failed {
                    return Next::Close;
                }
                if replies.answered() {
                    return Next::Continue;
                }
                let reason = format!("{} failed: internal error: {what}", request.method);
                match write_error(out, ERROR_OCCURRED, json!({ "reason": reason })) {
                    Ok(()) => Next::Continue,
                    Err(_) => Next::Close,
                }
            }
        }
    }

    fn call(&self, method: &str, call: &mut Call) -> varlink::Result<()> {
        #[cfg(debug_assertions)]
        if self.panic_method.as_deref() == Some(method) {
            panic!("test hook: {method} panics on purpose");
        }
        const PARAMETERS: &[u8] = b"{\"parameters\":";
        let mut reply = Vec::new();
        reply.extend_from_slice(PARAMETERS);
        if let Some(direct) = &self.direct
            && direct(method, &mut reply)
        {
            reply.extend_from_slice(b"}\0");
            return call
                .writer
                .write_all(&reply)
                .map_err(varlink::map_context!());
        }
        match method.rsplit_once('.') {
            Some(("org.varlink.service", _)) => Interface::call(&self.service, call),
            Some((iface, _)) if iface == self.podman.get_name() => self.podman.call(call),
            Some((iface, _)) => call.reply_interface_not_found(Some(iface.to_string())),
            None => call.reply_interface_not_found(Some(method.to_string())),
        }
    }
}

/// Closes a connection whose client may still be sending: closing a unix socket with unread
/// data resets it, and the client would lose the reply just written. So: end our side, discard
/// what still arrives for a bounded time, then close.
fn linger_close(writer: &UnixStream, mut reader: UnixStream) {
    let _ = writer.shutdown(std::net::Shutdown::Write);
    let deadline = std::time::Instant::now() + LINGER;
    let mut discard = vec![0u8; READ_BUFFER];
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        if left.is_zero() || reader.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match std::io::Read::read(&mut reader, &mut discard) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// How long `linger_close` keeps discarding input.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

const INVALID_PARAMETER: &str = "org.varlink.service.InvalidParameter";
const ERROR_OCCURRED: &str = "io.podman.ErrorOccurred";

/// Why a message is not a valid call, and whether the client asked for no reply.
#[derive(Debug, PartialEq)]
struct BadMessage {
    parameter: String,
    oneway: bool,
}

/// Parses a message into a request the generated code accepts: `parameters` that are
/// missing or `null` become `{}`, so every field then takes its zero value.
fn parse_request(message: &[u8]) -> Result<Request<'static>, BadMessage> {
    let bad = |parameter: &str, oneway: bool| BadMessage {
        parameter: parameter.to_string(),
        oneway,
    };
    let mut object: Map<String, Value> = match serde_json::from_slice(message) {
        Ok(Value::Object(object)) => object,
        _ => return Err(bad("message", false)),
    };
    let oneway = object.get("oneway") == Some(&Value::Bool(true));
    let flag = |object: &Map<String, Value>, name: &str| match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(name, oneway)),
    };
    let more = flag(&object, "more")?;
    let upgrade = flag(&object, "upgrade")?;
    let oneway_flag = flag(&object, "oneway")?;
    let method = match object.remove("method") {
        Some(Value::String(method)) if !method.is_empty() => method,
        _ => return Err(bad("method", oneway)),
    };
    let parameters = match object.remove("parameters") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(p)) => Value::Object(p),
        Some(_) => return Err(bad("parameters", oneway)),
    };
    Ok(Request {
        more,
        oneway: oneway_flag,
        upgrade,
        method: Cow::Owned(method),
        parameters: Some(parameters),
    })
}

/// Writes replies to the client and remembers enough to finish a call a panic cut short.
struct ReplyWriter<'a> {
    stream: &'a mut UnixStream,
    /// Replies written, and whether the last one promised more (`continues`).
    replies: usize,
    last_continues: bool,
    /// A write failed: the client is gone.
    failed: bool,
}

impl<'a> ReplyWriter<'a> {
    fn new(stream: &'a mut UnixStream) -> Self {
        ReplyWriter {
            stream,
            replies: 0,
            last_continues: false,
            failed: false,
        }
    }

    /// Whether the client already has a final reply.
    fn answered(&self) -> bool {
        self.replies > 0 && !self.last_continues
    }
}

impl Write for ReplyWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    /// The varlink crate writes each reply, NUL included, with one `write_all`.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if let Err(e) = self.stream.write_all(buf) {
            self.failed = true;
            return Err(e);
        }
        if buf.last() == Some(&0) {
            self.replies += 1;
            // A quote inside a JSON string is escaped, so this text only matches the key;
            // the varlink crate writes `continues` first (a reply's first field), and a look
            // at the start only keeps a reply of megabytes from being scanned.
            let start = &buf[..buf.len().min(64)];
            self.last_continues = contains(start, br#""continues":true"#);
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Writes an error reply that no handler produced.
fn write_error(out: &mut impl Write, error: &str, parameters: Value) -> io::Result<()> {
    let mut bytes = serde_json::to_vec(&json!({ "error": error, "parameters": parameters }))
        .map_err(io::Error::other)?;
    bytes.push(0);
    out.write_all(&bytes)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_null_parameters_become_empty() {
        for msg in [
            &br#"{"method":"io.podman.Ping"}"#[..],
            br#"{"method":"a.B","parameters":null}"#,
        ] {
            let req = parse_request(msg).unwrap();
            assert_eq!(req.parameters, Some(json!({})));
        }
    }

    #[test]
    fn bad_messages_name_the_culprit() {
        let cases: [(&[u8], &str); 5] = [
            (b"{not json", "message"),
            (b"[1]", "message"),
            (br#"{"parameters":{}}"#, "method"),
            (br#"{"method":"a.B","parameters":[]}"#, "parameters"),
            (br#"{"method":"a.B","more":"yes"}"#, "more"),
        ];
        for (msg, parameter) in cases {
            assert_eq!(parse_request(msg).unwrap_err().parameter, parameter);
        }
        assert!(
            parse_request(br#"{"oneway":true,"parameters":[]}"#)
                .unwrap_err()
                .oneway
        );
    }
}
