//! A session with one registry: the transport (TLS or plain HTTP), authentication, and
//! requests with bounded retries.
//!
//! Why a client of podlink's own on `ureq`, not a crate such as `oci-client`: measured here for
//! a 111 MB layer from a loopback registry, this design pulled in 150 ms (curl of the blob
//! alone: 116 ms) against 234 ms for `oci-client` 0.18, which also brings an async runtime and
//! 149 crates (a 93 s clean build on 2 cores). The daemon runs a thread per connection; a
//! blocking client fits that model and `ureq` was already a dependency for URL imports.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use ureq::Agent;
use ureq::http::Response;

use super::auth::{self, Challenge, Credentials};
use super::conf::RegistriesConf;
use super::error::{Kind, RegistryError, Result};
use super::tls;
use super::{CallOptions, RegistrySettings};

/// The longest error body read for a message.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;
/// The longest wait a `Retry-After` is honoured for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// What access a request needs, for a bearer token's scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope(String);

impl Scope {
    /// Pull access to `repo`.
    pub fn pull(repo: &str) -> Self {
        Scope(format!("repository:{repo}:pull"))
    }

    /// Pull and push access to `repo`; with `from`, pull access to that repository too (a
    /// cross-repository mount reads it).
    pub fn push(repo: &str, from: Option<&str>) -> Self {
        let mut scope = format!("repository:{repo}:pull,push");
        if let Some(from) = from.filter(|f| *f != repo) {
            scope.push_str(&format!(" repository:{from}:pull"));
        }
        Scope(scope)
    }

    /// The registry's catalog.
    pub fn catalog() -> Self {
        Scope("registry:catalog:*".into())
    }
}

/// A session with one registry.
pub struct Client {
    /// The registry as named (`host[:port]`), for messages and credentials.
    registry: String,
    /// `https://host` or `http://host`: where requests go.
    base: String,
    agent: Agent,
    credentials: Option<Credentials>,
    challenge: Option<Challenge>,
    /// Bearer tokens by scope.
    tokens: Mutex<HashMap<Scope, String>>,
    attempts: u32,
    backoff: Duration,
    read_timeout: Duration,
    /// The longest a small exchange (ping, token, manifest, HEAD, search page, error body)
    /// may take in all: the per-read timeout alone lets a registry that trickles a byte at a
    /// time hold a call for ever.
    small_deadline: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.base)
    }
}

/// Insecure registries found to speak plain HTTP: later calls start there rather than fail a
/// TLS handshake first. Only consulted for a registry that is insecure for the call, so it
/// never lowers the security of one that is not; a registry that stops answering plain HTTP
/// is tried over HTTPS again.
static PLAIN_HTTP: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn plain_http_known(registry: &str) -> bool {
    PLAIN_HTTP
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|r| r == registry)
}

fn remember_plain_http(registry: &str) {
    let mut known = PLAIN_HTTP.lock().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|r| r == registry) {
        known.push(registry.to_string());
    }
}

fn forget_plain_http(registry: &str) {
    PLAIN_HTTP
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|r| r != registry);
}

/// The HTTP host requests for `registry` go to: Docker Hub's API is not at `docker.io`.
fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

impl Client {
    /// Opens a session with `registry`: finds its scheme (HTTPS; plain HTTP too when the
    /// registry is insecure for this call) and how it authenticates (`GET /v2/`). `conf` is
    /// registries.conf as the calling operation read it (once for all its registries).
    pub fn open(
        settings: &RegistrySettings,
        conf: &RegistriesConf,
        registry: &str,
        options: &CallOptions,
    ) -> Result<Client> {
        if conf.is_blocked(registry) {
            return Err(RegistryError::new(
                registry,
                "connect",
                format!(
                    "the registry is blocked in {}",
                    settings.registries_conf.display()
                ),
            ));
        }
        let insecure = match options.tls_verify {
            Some(verify) => !verify,
            None => conf.is_insecure(registry),
        };
        let credentials = match &options.credentials {
            Some(c) => Some(c.clone()),
            None => {
                let mut files: Vec<_> = options.auth_file.iter().cloned().collect();
                files.extend(settings.auth_files.iter().cloned());
                auth::lookup(&files, registry)
                    .map_err(|e| RegistryError::new(registry, "read credentials", e))?
            }
        };
        let tls = tls::config(settings, registry, options.cert_dir.as_deref(), insecure)
            .map_err(|e| RegistryError::new(registry, "set up TLS", e))?;
        let agent: Agent = Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_resolve(Some(settings.connect_timeout))
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_per_read(Some(settings.read_timeout))
            .timeout_per_write(Some(settings.read_timeout))
            // Blob downloads are redirected to storage URLs: credentials stay with the
            // registry's own host.
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            // Digests are of the bytes as stored: never let a proxy re-encode them.
            .accept_encoding("identity")
            .user_agent(concat!("podlink/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let host = api_host(registry);
        let mut client = Client {
            registry: registry.to_string(),
            base: format!("https://{host}"),
            agent,
            credentials,
            challenge: None,
            tokens: Mutex::new(HashMap::new()),
            attempts: settings.attempts.max(1),
            backoff: settings.backoff,
            read_timeout: settings.read_timeout,
            small_deadline: settings.connect_timeout + settings.read_timeout * 2,
        };
        let start_plain = insecure && plain_http_known(registry);
        if start_plain {
            client.base = format!("http://{host}");
        }
        match client.ping() {
            Ok(()) => {}
            // An insecure registry may speak plain HTTP only: Podman tried HTTPS first, then
            // HTTP, and so does podlink (starting with HTTP where that worked before).
            Err(first) if insecure && first.kind == Kind::Other => {
                let (other, tried) = if start_plain {
                    (format!("https://{host}"), ("HTTP", "HTTPS"))
                } else {
                    (format!("http://{host}"), ("HTTPS", "HTTP"))
                };
                log::debug!("{first}; trying {}", tried.1);
                client.base = other;
                client.ping().map_err(|second| {
                    RegistryError::new(
                        registry,
                        "connect",
                        format!(
                            "over {}: {}; over {}: {}",
                            tried.0, first.reason, tried.1, second.reason
                        ),
                    )
                })?;
                if start_plain {
                    forget_plain_http(registry);
                } else {
                    remember_plain_http(registry);
                }
            }
            Err(e) => return Err(e),
        }
        Ok(client)
    }

    /// The HTTP agent, for requests built by the other files of this room.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// `request` bounded in all (see `small_deadline`): for every exchange but blob bodies.
    pub fn small<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        request
            .config()
            .timeout_global(Some(self.small_deadline))
            .build()
    }

    /// Whether `url` is on the registry's own scheme, host and port: only there do its
    /// credentials go (an upload `Location` may name any host).
    fn same_origin(&self, url: &str) -> bool {
        url.strip_prefix(&self.base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
    }

    /// How long a read may wait for data.
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// How many times a request is tried.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The registry as named.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `GET /v2/`: whether the registry answers, and how it wants to be authenticated.
    fn ping(&mut self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let response = self.with_retries("connect", || self.small(self.agent.get(&url)).call())?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            401 => {
                let header = header(&response, "www-authenticate");
                self.challenge = auth::parse_challenge(&header);
                if self.challenge.is_none() {
                    return Err(self.error(
                        "connect",
                        format!(
                            "the registry asks for authentication podlink cannot give: {header:?}"
                        ),
                    ));
                }
                Ok(())
            }
            _ => Err(self.status_error("connect", response)),
        }
    }

    /// An error of this registry.
    pub fn error(&self, step: impl Into<String>, reason: impl Into<String>) -> RegistryError {
        RegistryError::new(&self.registry, step, reason)
    }

    /// The URL of `path` (which starts with `/v2/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The URL of a docker v1 `path` (`/v1/search`): Docker Hub answers its v1 API on its
    /// index's host, not on the registry's.
    pub fn v1_url(&self, path: &str) -> String {
        if self.registry == "docker.io" {
            format!("https://index.docker.io{path}")
        } else {
            self.url(path)
        }
    }

    /// The `Authorization` header for `scope`, fetching a token if the registry wants one.
    fn authorization(&self, scope: &Scope, step: &str) -> Result<Option<String>> {
        match &self.challenge {
            None => Ok(None),
            Some(Challenge::Basic) => match &self.credentials {
                Some(c) => Ok(Some(c.basic_header())),
                None => Err(self
                    .error(step, "the registry wants credentials and none were given")
                    .kind(Kind::Unauthorized)),
            },
            Some(Challenge::Bearer { realm, service }) => {
                if let Some(token) = self.tokens.lock().unwrap().get(scope) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let token = self.fetch_token(realm, service.as_deref(), scope)?;
                self.tokens
                    .lock()
                    .unwrap()
                    .insert(scope.clone(), token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    fn fetch_token(&self, realm: &str, service: Option<&str>, scope: &Scope) -> Result<String> {
        let step = "log in";
        // Credentials never travel in the clear from a registry reached over TLS.
        let send_credentials = !(realm.starts_with("http://") && self.base.starts_with("https://"));
        if !send_credentials && self.credentials.is_some() {
            log::warn!(
                "registry {}: not sending credentials to the plain-HTTP token service {realm}",
                self.registry
            );
        }
        let response = self.with_retries(step, || {
            let mut request = self.small(self.agent.get(realm));
            if let Some(service) = service {
                request = request.query("service", service);
            }
            for part in scope.0.split(' ') {
                request = request.query("scope", part);
            }
            if let Some(c) = self.credentials.as_ref().filter(|_| send_credentials) {
                request = request.header("Authorization", c.basic_header());
            }
            request.call()
        })?;
        match response.status().as_u16() {
            200..=299 => {}
            401 | 403 => {
                let e = self.status_error(step, response);
                return Err(e.kind(Kind::Unauthorized));
            }
            _ => return Err(self.status_error(step, response)),
        }
        let body = response
            .into_body()
            .with_config()
            .limit(ERROR_BODY_LIMIT)
            .read_to_vec()
            .map_err(|e| self.error(step, format!("reading the token: {e}")))?;
        auth::token_of(&body)
            .ok_or_else(|| self.error(step, format!("{realm} answered without a token")))
    }

    /// Sends a request to `url` with authentication for `scope`: `send` builds and sends it
    /// with the given `Authorization` value, which is `None` unless `url` is on the
    /// registry's own origin (an upload `Location` may name storage elsewhere: credentials
    /// never go there). Connection failures, 429 and 5xx answers are retried with backoff; a
    /// 401 once more with a fresh token. Returns any other answer.
    pub fn send(
        &self,
        step: &str,
        scope: &Scope,
        url: &str,
        send: impl Fn(Option<&str>) -> std::result::Result<Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response<ureq::Body>> {
        let mut fresh_token = false;
        loop {
            let authorization = match self.same_origin(url) {
                true => self.authorization(scope, step)?,
                false => None,
            };
            let response = self.with_retries(step, || send(authorization.as_deref()))?;
            if response.status() == 401 && !fresh_token {
                if let Some(Challenge::Bearer { .. }) = &self.challenge {
                    // The token expired, or covers less than this request needs.
                    self.tokens.lock().unwrap().remove(scope);
                    fresh_token = true;
                    continue;
                }
            }
            if response.status() == 401 || response.status() == 403 {
                let e = self.status_error(step, response);
                return Err(e.kind(Kind::Unauthorized));
            }
            return Ok(response);
        }
    }

    /// Sends a request without credentials, for an endpoint that needs none (docker's
    /// `/v1/search`, which Podman asked anonymously too), retried as [`Client::send`] retries.
    pub fn send_anonymous(
        &self,
        step: &str,
        send: impl Fn() -> std::result::Result<Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response<ureq::Body>> {
        self.with_retries(step, send)
    }

    /// Runs `attempt` until it gets an answer that is not worth retrying, or the attempts
    /// run out.
    fn with_retries(
        &self,
        step: &str,
        attempt: impl Fn() -> std::result::Result<Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response<ureq::Body>> {
        let mut n = 0;
        loop {
            n += 1;
            let last = n >= self.attempts;
            let wait = self.backoff * 2u32.saturating_pow(n - 1);
            match attempt() {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry = status == 429 || matches!(status, 500 | 502 | 503 | 504);
                    if !retry || last {
                        return Ok(response);
                    }
                    let after = retry_after(&response).unwrap_or(wait).min(MAX_RETRY_AFTER);
                    log::info!(
                        "registry {}: {step}: {status}; retrying in {after:?} ({n}/{})",
                        self.registry,
                        self.attempts
                    );
                    std::thread::sleep(after);
                }
                Err(e) => {
                    let retry = is_transient(&e);
                    let reason = self.describe(&e);
                    if !retry || last {
                        return Err(self.error(step, reason));
                    }
                    log::info!(
                        "registry {}: {step}: {reason}; retrying in {wait:?} ({n}/{})",
                        self.registry,
                        self.attempts
                    );
                    std::thread::sleep(wait);
                }
            }
        }
    }

    /// Says what a transport error means, naming the timeout that passed.
    pub fn describe(&self, e: &ureq::Error) -> String {
        match e {
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
                format!("no connection to {}: timed out", self.base)
            }
            ureq::Error::Timeout(_) => format!(
                "no data from {} for {}",
                self.base,
                humantime::format_duration(self.read_timeout)
            ),
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                format!("cannot connect to {}: {e}", self.base)
            }
            ureq::Error::Io(io) => format!("{}: {io}", self.base),
            _ => format!("{}: {e}", self.base),
        }
    }

    /// The error for an unexpected answer: the status and the registry's own message.
    pub fn status_error(&self, step: &str, response: Response<ureq::Body>) -> RegistryError {
        let status = response.status();
        let kind = match status.as_u16() {
            404 => Kind::NotFound,
            401 => Kind::Unauthorized,
            _ => Kind::Other,
        };
        let mut body = Vec::new();
        let _ = response
            .into_body()
            .into_reader()
            .take(ERROR_BODY_LIMIT)
            .read_to_end(&mut body);
        let detail = registry_message(&body);
        let reason = if detail.is_empty() {
            format!("{status}")
        } else {
            format!("{status}: {detail}")
        };
        self.error(step, reason).kind(kind)
    }
}

/// The value of a header, or "".
pub fn header(response: &Response<ureq::Body>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn retry_after(response: &Response<ureq::Body>) -> Option<Duration> {
    header(response, "retry-after")
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Whether a transport error may go away on its own: a refused or reset connection, a
/// timeout. TLS and protocol errors do not.
fn is_transient(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Io(io) => !matches!(io.kind(), std::io::ErrorKind::InvalidData),
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => true,
        _ => false,
    }
}

/// The `errors` of a registry's error body (`CODE message`), or the body's start.
fn registry_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body) {
        return parsed
            .errors
            .iter()
            .map(|e| format!("{} {}", e.code, e.message).trim().to_string())
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text = String::from_utf8_lossy(body);
    text.trim().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_messages() {
        assert_eq!(
            registry_message(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#),
            "MANIFEST_UNKNOWN manifest unknown"
        );
        assert_eq!(registry_message(b"  oops\n"), "oops");
        assert_eq!(registry_message(b""), "");
    }

    #[test]
    fn scopes() {
        assert_eq!(Scope::pull("a/b").0, "repository:a/b:pull");
        assert_eq!(
            Scope::push("a/b", Some("c")).0,
            "repository:a/b:pull,push repository:c:pull"
        );
        assert_eq!(
            Scope::push("a/b", Some("a/b")).0,
            "repository:a/b:pull,push"
        );
    }
}
