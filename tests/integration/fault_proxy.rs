//! `FaultProxy`: an HTTP/1.1 proxy on 127.0.0.1 in front of a plain-HTTP test `Registry`,
//! in plain `std::net` with a thread per connection. It forwards requests unchanged (an
//! upload's `Location` is rewritten to point back at the proxy), records every request, and
//! injects faults from rules added at run time; it can also stand in for a token server
//! (`BearerAuth`). The HTTP framing lives in `fault_proxy_http`, the token service in
//! `fault_proxy_auth`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::fault_proxy_auth::{BearerAuth, bearer_challenge, query_values, token_reply};
use crate::fault_proxy_http::{
    Outcome, Request, drain_body, forward, read_request, reset, respond,
};
use crate::registries::Registry;
use crate::registry_http::write_auth_json;

/// The body size `Fault::OversizeManifest` sends: one byte over 4 MiB.
pub const OVERSIZE_MANIFEST_BYTES: usize = (4 << 20) + 1;
/// The body size `Fault::OversizeConfig` sends: one byte over 8 MiB.
pub const OVERSIZE_CONFIG_BYTES: usize = (8 << 20) + 1;

/// What the proxy does to a request that a rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a registry-style JSON error, without forwarding
    /// (`Retry-After: 0` with 429 and 503; a challenge with 401).
    Status(u16),
    /// Reset the connection (RST) before any response.
    DropConnection,
    /// Answer 200 with a manifest content type and `OVERSIZE_MANIFEST_BYTES` of JSON.
    OversizeManifest,
    /// Answer 200 with `OVERSIZE_CONFIG_BYTES` of JSON as a blob.
    OversizeConfig,
    /// Forward, replacing the response's `Content-Type`.
    ContentType(String),
    /// Forward, flipping the bits of the middle byte of the response body.
    CorruptBody,
    /// Forward the headers with the full `Content-Length`, then this many body bytes, then
    /// close the connection.
    TruncateAfter(u64),
    /// Forward this many body bytes, then hold the connection for the duration (cut short
    /// when the proxy is dropped), then send the rest.
    StallAfter(u64, Duration),
    /// Answer `307 Temporary Redirect` to the same path on the registry itself (another host
    /// and port), as registries hand out storage URLs for blobs.
    RedirectUpstream,
    /// Forward without the client's `Range` and without `Accept-Ranges` in the response:
    /// always 200 with the full body. (By default `Range` passes through.)
    NoRange,
}

/// A fault for the requests whose method is `method` (`*`: any) and whose path and query
/// contain `path`, for a number of requests or forever.
#[derive(Clone, Debug)]
pub struct Rule {
    method: String,
    path: String,
    fault: Fault,
    /// Requests left; `None`: forever.
    left: Option<usize>,
}

impl Rule {
    /// A rule that applies forever (until `times` or `FaultProxy::clear_faults`).
    pub fn new(method: &str, path: &str, fault: Fault) -> Self {
        Rule {
            method: method.to_string(),
            path: path.to_string(),
            fault,
            left: None,
        }
    }

    /// Applies to the next `n` matching requests only.
    pub fn times(mut self, n: usize) -> Self {
        self.left = Some(n);
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        (self.method == "*" || self.method.eq_ignore_ascii_case(method))
            && target.contains(&self.path)
            && self.left != Some(0)
    }
}

/// A request the proxy received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `GET`, `HEAD`, `POST`...
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Every request header, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The status sent back; `None` if the connection was dropped or cut before the headers.
    pub status: Option<u16>,
    /// The faults applied to it.
    pub faults: Vec<Fault>,
}

impl Seen {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// A query parameter, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        query_values(&self.target, key).into_iter().next()
    }
}

/// State shared by the proxy's threads.
pub(crate) struct Shared {
    /// `127.0.0.1:PORT` of the proxy.
    pub(crate) host: String,
    /// `127.0.0.1:PORT` of the registry.
    pub(crate) upstream: String,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    /// The token service, for a proxy made by `FaultProxy::bearer`.
    pub(crate) bearer: Option<BearerAuth>,
    /// Set when the proxy is dropped: stalls end, loops stop.
    pub(crate) stop: AtomicBool,
    /// Every open socket (clients' and upstream), so that drop can shut them down and wake
    /// the threads blocked on them.
    sockets: Mutex<HashMap<u64, TcpStream>>,
    next_socket: AtomicU64,
}

/// Locks `mutex`, also after a panic in another thread (the data stays usable).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Tracks `stream` until the returned guard is dropped.
    pub(crate) fn track(self: &Arc<Self>, stream: &TcpStream) -> SocketGuard {
        let id = self.next_socket.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            lock(&self.sockets).insert(id, clone);
        }
        SocketGuard {
            shared: self.clone(),
            id,
        }
    }
}

/// Removes a socket from the tracked set when its user is done with it.
pub(crate) struct SocketGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        lock(&self.shared.sockets).remove(&self.id);
    }
}

/// A running proxy; dropping it closes the listener, shuts every connection down and joins
/// its threads.
pub struct FaultProxy {
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FaultProxy {
    /// A proxy for `registry` (plain HTTP only) that forwards everything.
    pub fn new(registry: &Registry) -> Self {
        Self::start(registry, None)
    }

    /// A proxy for `registry` that asks every `/v2/` request for a bearer token, served at
    /// `http://PROXY/token` to `user` with `password`. The registry behind it sees no
    /// `Authorization` header.
    pub fn bearer(registry: &Registry, user: &str, password: &str) -> Self {
        Self::start(registry, Some(BearerAuth::new(user, password)))
    }

    fn start(registry: &Registry, bearer: Option<BearerAuth>) -> Self {
        assert!(
            !registry.is_tls(),
            "the fault proxy forwards to plain-HTTP registries only"
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr: SocketAddr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            host: addr.to_string(),
            upstream: registry.host(),
            rules: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
            bearer,
            stop: AtomicBool::new(false),
            sockets: Mutex::new(HashMap::new()),
            next_socket: AtomicU64::new(0),
        });
        let workers = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let shared = shared.clone();
            let workers = workers.clone();
            std::thread::spawn(move || accept_loop(listener, shared, workers))
        };
        FaultProxy {
            shared,
            acceptor: Some(acceptor),
            workers,
        }
    }

    /// `127.0.0.1:PORT`, the host part of image references through the proxy.
    pub fn host(&self) -> &str {
        &self.shared.host
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.shared.host)
    }

    /// Adds a fault rule; every rule that matches a request applies to it.
    pub fn add(&self, rule: Rule) {
        lock(&self.shared.rules).push(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    /// The requests with `method` (`*`: any) whose path and query contain `path`.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| (method == "*" || s.method == method) && s.target.contains(path))
            .collect()
    }

    /// Like `requests_to`, once each of them has its status recorded: the proxy records it
    /// after the response is written, so a client can see a response before its record is
    /// complete. Waits at most `DEADLINE` (a reset request never gets a status).
    pub fn answered_to(&self, method: &str, path: &str) -> Vec<Seen> {
        let start = std::time::Instant::now();
        loop {
            let seen = self.requests_to(method, path);
            if seen.iter().all(|s| s.status.is_some()) || start.elapsed() > crate::util::DEADLINE {
                return seen;
            }
            // Polls: the proxy's worker finishes the record right after its last write.
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.seen).clear();
    }

    /// Writes a containers auth.json for the proxy's host with the bearer credentials.
    pub fn auth_json(&self, path: &Path) {
        let bearer = self.shared.bearer.as_ref().expect("not a bearer proxy");
        write_auth_json(path, self.host(), &bearer.user, &bearer.password);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor with a connection of our own.
        let _ = TcpStream::connect(&self.shared.host);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in lock(&self.shared.sockets).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let workers = std::mem::take(&mut *lock(&self.workers));
        for worker in workers {
            let _ = worker.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        // Tracked here, not in the worker: once the acceptor is joined, drop can reach
        // every client socket.
        let guard = shared.track(&stream);
        let shared = shared.clone();
        let worker = std::thread::spawn(move || {
            serve_connection(&shared, stream);
            drop(guard);
        });
        lock(&workers).push(worker);
    }
}

/// Serves the requests of one client connection until it closes or a fault cuts it.
fn serve_connection(shared: &Arc<Shared>, stream: TcpStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut out = stream;
    // Go's clients told not to verify TLS try HTTPS first and fall back to HTTP when the
    // server answers the handshake with plain HTTP, as Go's own server does; a proxy that
    // waited for a request line instead would hold them for their 10 s handshake timeout.
    if reader.fill_buf().is_ok_and(|b| b.first() == Some(&0x16)) {
        let _ = out.write_all(
            b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
        );
        let _ = out.shutdown(Shutdown::Both);
        return;
    }
    while !shared.stop.load(Ordering::SeqCst) {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => return,
        };
        let index = {
            let mut seen = lock(&shared.seen);
            seen.push(Seen {
                method: request.method.clone(),
                target: request.target.clone(),
                headers: request.headers.clone(),
                status: None,
                faults: Vec::new(),
            });
            seen.len() - 1
        };
        let outcome =
            handle(shared, &request, index, &mut reader, &mut out).unwrap_or(Outcome::Closed(None));
        let status = match outcome {
            Outcome::Open(status) => Some(status),
            Outcome::Closed(status) => status,
            Outcome::Reset => None,
        };
        if let Some(seen) = lock(&shared.seen).get_mut(index) {
            seen.status = status;
        }
        let client_closes = request
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        match outcome {
            // Closing every descriptor (this function's and the tracked one) sends the RST.
            Outcome::Reset => return,
            Outcome::Open(_) if !client_closes => {}
            _ => {
                let _ = out.flush();
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// The faults of every rule matching `request`, each rule's count taken down by one.
fn take_faults(shared: &Shared, request: &Request) -> Vec<Fault> {
    let mut rules = lock(&shared.rules);
    rules
        .iter_mut()
        .filter(|r| r.matches(&request.method, &request.target))
        .map(|r| {
            if let Some(left) = &mut r.left {
                *left -= 1;
            }
            r.fault.clone()
        })
        .collect()
}

/// Answers one request (the `index`th seen): what became of the connection. Faults apply
/// only to requests past the token check, so a client's first, anonymous, try does not use
/// up a rule meant for its authorized one.
fn handle(
    shared: &Arc<Shared>,
    request: &Request,
    index: usize,
    reader: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
) -> std::io::Result<Outcome> {
    if let Some(bearer) = &shared.bearer {
        if request.path() == "/token" {
            drain_body(request, reader)?;
            return token_reply(bearer, request, out).map(Outcome::Open);
        }
        if request.path().starts_with("/v2") && !bearer.allows(request) {
            drain_body(request, reader)?;
            let challenge = bearer_challenge(shared, request);
            let headers = [("WWW-Authenticate", challenge.as_str())];
            respond(out, request, 401, &headers, &error_body(request, 401))?;
            return Ok(Outcome::Open(401));
        }
    }
    let faults = take_faults(shared, request);
    if let Some(seen) = lock(&shared.seen).get_mut(index) {
        seen.faults = faults.clone();
    }
    for fault in &faults {
        match fault {
            Fault::DropConnection => {
                reset(out);
                return Ok(Outcome::Reset);
            }
            Fault::Status(code) => {
                drain_body(request, reader)?;
                let challenge = if shared.bearer.is_some() {
                    bearer_challenge(shared, request)
                } else {
                    "Basic realm=\"fault-proxy\"".to_string()
                };
                let mut headers = vec![];
                if matches!(code, 429 | 503) {
                    headers.push(("Retry-After", "0"));
                }
                if *code == 401 {
                    headers.push(("WWW-Authenticate", challenge.as_str()));
                }
                respond(out, request, *code, &headers, &error_body(request, *code))?;
                return Ok(Outcome::Open(*code));
            }
            Fault::RedirectUpstream => {
                drain_body(request, reader)?;
                let location = format!("http://{}{}", shared.upstream, request.target);
                let headers = [("Location", location.as_str())];
                respond(out, request, 307, &headers, b"")?;
                return Ok(Outcome::Open(307));
            }
            Fault::OversizeManifest | Fault::OversizeConfig => {
                drain_body(request, reader)?;
                let (content_type, size) = if *fault == Fault::OversizeManifest {
                    (
                        crate::registry_fixtures::OCI_MANIFEST,
                        OVERSIZE_MANIFEST_BYTES,
                    )
                } else {
                    ("application/octet-stream", OVERSIZE_CONFIG_BYTES)
                };
                let headers = [("Content-Type", content_type)];
                respond(out, request, 200, &headers, &oversize_json(size))?;
                return Ok(Outcome::Open(200));
            }
            _ => {}
        }
    }
    forward(shared, request, &faults, reader, out)
}

/// A JSON document of exactly `size` bytes: a manifest-shaped object with padding.
fn oversize_json(size: usize) -> Vec<u8> {
    let head = concat!(
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
        r#""annotations":{"padding":""#
    )
    .as_bytes();
    let tail = br#""}}"#;
    let mut body = head.to_vec();
    body.resize(size - tail.len(), b'x');
    body.extend_from_slice(tail);
    body
}

/// A distribution-style error document for an injected status.
fn error_body(request: &Request, status: u16) -> Vec<u8> {
    let code = match status {
        401 => "UNAUTHORIZED",
        403 => "DENIED",
        404 if request.path().contains("/manifests/") => "MANIFEST_UNKNOWN",
        404 if request.path().contains("/blobs/") => "BLOB_UNKNOWN",
        404 => "NAME_UNKNOWN",
        429 => "TOOMANYREQUESTS",
        _ => "UNKNOWN",
    };
    serde_json::to_vec(&serde_json::json!({
        "errors": [{"code": code, "message": format!("injected by the fault proxy: {status}")}]
    }))
    .expect("error json")
}

/// The first header called `name` (any case) in a list.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
