//! HTTP/1.1 framing for `fault_proxy`: reading requests (with `Content-Length` or chunked
//! bodies, which Go's clients send for blob uploads), forwarding one to the registry on a
//! fresh connection, and writing the response back with the body faults applied.

use std::io::{BufRead, BufReader, BufWriter, Cursor, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::fault_proxy::{Fault, Shared, header};

/// The longest request or response head accepted.
const MAX_HEAD: usize = 64 << 10;

/// How long the proxy waits on the registry.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// A request's head; header names in lower case.
pub(crate) struct Request {
    /// The method as sent.
    pub(crate) method: String,
    /// Path and query (an absolute URL's scheme and host are dropped).
    pub(crate) target: String,
    /// In the order received.
    pub(crate) headers: Vec<(String, String)>,
}

impl Request {
    /// The first header called `name` (lower case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The path without the query.
    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// What became of a connection after a response.
pub(crate) enum Outcome {
    /// Answered with this status; the connection takes more requests.
    Open(u16),
    /// Closed after the headers (with this status) or before them.
    Closed(Option<u16>),
    /// Reset: the socket is set to send RST when its descriptors close.
    Reset,
}

/// How a message's body is delimited.
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilEof,
}

fn framing(headers: &[(String, String)], is_request: bool) -> Framing {
    if header(headers, "transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        Framing::Chunked
    } else if let Some(length) = header(headers, "content-length") {
        Framing::Length(length.trim().parse().unwrap_or(0))
    } else if is_request {
        Framing::Empty
    } else {
        Framing::UntilEof
    }
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// One line, CRLF or LF terminated, at most `MAX_HEAD` bytes; empty at EOF.
fn read_line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    reader.take(MAX_HEAD as u64).read_until(b'\n', &mut line)?;
    if !line.is_empty() && !line.ends_with(b"\n") {
        return Err(bad("line too long or cut"));
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// A head's lines up to the blank line, without line ends; `None` at EOF before any byte.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    let mut size = 0;
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return if lines.is_empty() {
                Ok(None)
            } else {
                Err(bad("head cut short"))
            };
        }
        size += line.len();
        if size > MAX_HEAD {
            return Err(bad("head too long"));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue; // a stray CRLF between requests
            }
            return Ok(Some(lines));
        }
        lines.push(line);
    }
}

fn parse_headers(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// The next request on a connection; `None` when the client closed it.
pub(crate) fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let Some(lines) = read_head(reader)? else {
        return Ok(None);
    };
    let mut first = lines[0].split_whitespace();
    let method = first.next().ok_or_else(|| bad("no method"))?.to_string();
    let mut target = first.next().ok_or_else(|| bad("no target"))?.to_string();
    if let Some(rest) = target.strip_prefix("http://") {
        target = rest
            .find('/')
            .map_or("/".to_string(), |at| rest[at..].to_string());
    }
    Ok(Some(Request {
        method,
        target,
        headers: parse_headers(&lines[1..]),
    }))
}

/// Copies a chunked body: with its framing (`framed`) or only the data.
fn copy_chunked(
    reader: &mut impl BufRead,
    out: &mut impl Write,
    framed: bool,
) -> std::io::Result<()> {
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Err(bad("chunked body cut short"));
        }
        if framed {
            out.write_all(line.as_bytes())?;
        }
        let size_text = line.trim().split(';').next().unwrap_or_default();
        let size = u64::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            // Trailers up to the blank line.
            loop {
                let trailer = read_line(reader)?;
                if framed {
                    out.write_all(trailer.as_bytes())?;
                }
                if trailer.trim().is_empty() {
                    return Ok(());
                }
            }
        }
        let copied = std::io::copy(&mut reader.take(size), out)?;
        if copied != size {
            return Err(bad("chunk cut short"));
        }
        let end = read_line(reader)?;
        if framed {
            out.write_all(end.as_bytes())?;
        }
    }
}

/// Copies a request's body as it came (same framing) to `out`.
fn relay_request_body(
    request: &Request,
    reader: &mut impl BufRead,
    out: &mut impl Write,
) -> std::io::Result<()> {
    match framing(&request.headers, true) {
        Framing::Empty | Framing::UntilEof => Ok(()),
        Framing::Length(n) => {
            let copied = std::io::copy(&mut reader.take(n), out)?;
            if copied == n {
                Ok(())
            } else {
                Err(bad("request body cut short"))
            }
        }
        Framing::Chunked => copy_chunked(reader, out, true),
    }
}

/// Reads and discards a request's body (before answering it without the registry).
pub(crate) fn drain_body(request: &Request, reader: &mut impl BufRead) -> std::io::Result<()> {
    relay_request_body(request, reader, &mut std::io::sink())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        206 => "Partial Content",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Writes a whole response made by the proxy (no body for HEAD).
pub(crate) fn respond(
    out: &mut TcpStream,
    request: &Request,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    head += "Docker-Distribution-Api-Version: registry/2.0\r\n";
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        head += "Content-Type: application/json; charset=utf-8\r\n";
    }
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += &format!("Content-Length: {}\r\n\r\n", body.len());
    let mut writer = BufWriter::new(&mut *out);
    writer.write_all(head.as_bytes())?;
    if !request.is_head() {
        writer.write_all(body)?;
    }
    writer.flush()
}

/// Makes the connection end with a reset: with `SO_LINGER` 0, closing its descriptors sends
/// RST instead of FIN.
pub(crate) fn reset(out: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = nix::sys::socket::setsockopt(out, nix::sys::socket::sockopt::Linger, &linger);
}

/// What to do to a forwarded body.
struct BodyPlan {
    corrupt_at: Option<u64>,
    truncate_at: Option<u64>,
    stall: Option<(u64, Duration)>,
}

/// Forwards `request` to the registry on a new connection and its response to the client,
/// applying the body and header faults.
pub(crate) fn forward(
    shared: &Arc<Shared>,
    request: &Request,
    faults: &[Fault],
    reader: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
) -> std::io::Result<Outcome> {
    let no_range = faults.contains(&Fault::NoRange);
    let upstream = TcpStream::connect(&shared.upstream)?;
    upstream.set_read_timeout(Some(UPSTREAM_TIMEOUT))?;
    upstream.set_write_timeout(Some(UPSTREAM_TIMEOUT))?;
    let _tracked = shared.track(&upstream);

    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for (name, value) in &request.headers {
        let dropped = match name.as_str() {
            "connection" | "keep-alive" | "proxy-connection" | "expect" | "te" | "upgrade" => true,
            "authorization" => shared.bearer.is_some(),
            "range" | "if-range" => no_range,
            _ => false,
        };
        if !dropped {
            head += &format!("{name}: {value}\r\n");
        }
    }
    // One request per registry connection: the end of its response is then never in doubt.
    head += "Connection: close\r\n\r\n";
    if request
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut up_writer = BufWriter::new(upstream.try_clone()?);
    up_writer.write_all(head.as_bytes())?;
    relay_request_body(request, reader, &mut up_writer)?;
    up_writer.flush()?;

    let mut up_reader = BufReader::new(upstream);
    let (status_line, status, headers) = loop {
        let lines = read_head(&mut up_reader)?.ok_or_else(|| bad("registry closed"))?;
        let status: u16 = lines[0]
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        if !(100..200).contains(&status) {
            break (lines[0].clone(), status, parse_headers(&lines[1..]));
        }
    };
    let no_body = request.is_head() || status == 204 || status == 304;
    let mut buffered = Vec::new();
    let (len, source): (u64, Box<dyn Read + '_>) = if no_body {
        (0, Box::new(std::io::empty()))
    } else {
        match framing(&headers, false) {
            Framing::Length(n) => (n, Box::new(up_reader.take(n))),
            Framing::Chunked => {
                copy_chunked(&mut up_reader, &mut buffered, false)?;
                (buffered.len() as u64, Box::new(Cursor::new(buffered)))
            }
            Framing::Empty | Framing::UntilEof => {
                up_reader.read_to_end(&mut buffered)?;
                (buffered.len() as u64, Box::new(Cursor::new(buffered)))
            }
        }
    };

    let version_end = status_line.find(' ').unwrap_or(0);
    let mut reply = format!("HTTP/1.1{}\r\n", &status_line[version_end..]);
    for (name, value) in &headers {
        let value = match name.as_str() {
            "connection" | "keep-alive" | "transfer-encoding" => continue,
            "content-length" if !request.is_head() => continue,
            "accept-ranges" if no_range => continue,
            "content-type" if faults.iter().any(|f| matches!(f, Fault::ContentType(_))) => continue,
            "location" => value.replace(
                &format!("//{}", shared.upstream),
                &format!("//{}", shared.host),
            ),
            _ => value.clone(),
        };
        reply += &format!("{name}: {value}\r\n");
    }
    for fault in faults {
        if let Fault::ContentType(content_type) = fault {
            reply += &format!("content-type: {content_type}\r\n");
        }
    }
    if !request.is_head() {
        reply += &format!("content-length: {len}\r\n");
    }
    reply += "\r\n";
    out.write_all(reply.as_bytes())?;

    let mut plan = BodyPlan {
        corrupt_at: None,
        truncate_at: None,
        stall: None,
    };
    for fault in faults {
        match fault {
            Fault::CorruptBody if len > 0 => plan.corrupt_at = Some(len / 2),
            Fault::TruncateAfter(n) => plan.truncate_at = Some((*n).min(len)),
            Fault::StallAfter(n, pause) => plan.stall = Some(((*n).min(len), *pause)),
            _ => {}
        }
    }
    if send_body(source, len, out, &plan, &shared.stop)? {
        Ok(Outcome::Closed(Some(status)))
    } else {
        Ok(Outcome::Open(status))
    }
}

/// Sends `len` bytes of `source` with the plan's faults; true if the connection was cut.
fn send_body(
    mut source: Box<dyn Read + '_>,
    len: u64,
    out: &mut TcpStream,
    plan: &BodyPlan,
    stop: &AtomicBool,
) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 64 << 10];
    let mut pos = 0u64;
    let mut stalled = false;
    loop {
        if let Some((at, pause)) = plan.stall {
            if !stalled && pos == at {
                out.flush()?;
                stall(pause, stop);
                stalled = true;
                if stop.load(Ordering::SeqCst) {
                    // The proxy is going away: end here rather than finish the body.
                    out.shutdown(Shutdown::Both)?;
                    return Ok(true);
                }
            }
        }
        if plan.truncate_at == Some(pos) {
            out.flush()?;
            out.shutdown(Shutdown::Both)?;
            return Ok(true);
        }
        if pos == len {
            return Ok(false);
        }
        let mut n = (buf.len() as u64).min(len - pos);
        let stall_at = plan.stall.filter(|_| !stalled).map(|(at, _)| at);
        for boundary in [stall_at, plan.truncate_at].into_iter().flatten() {
            if boundary > pos {
                n = n.min(boundary - pos);
            }
        }
        let chunk = &mut buf[..n as usize];
        source.read_exact(chunk)?;
        if let Some(at) = plan.corrupt_at.filter(|at| (pos..pos + n).contains(at)) {
            chunk[(at - pos) as usize] ^= 0xff;
        }
        out.write_all(chunk)?;
        pos += n;
    }
}

/// Holds for `pause`, or until the proxy stops.
fn stall(pause: Duration, stop: &AtomicBool) {
    let start = Instant::now();
    while start.elapsed() < pause && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
    }
}
