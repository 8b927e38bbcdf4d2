//! The registry client: the OCI distribution protocol (Docker registry API v2), synchronous,
//! on the daemon's own threads. It knows registries, not the image store: the image room
//! drives it to pull and push, and stores what it fetches.
//!
//! - `client.rs`: a session with one registry: scheme, TLS, authentication, retries
//! - `auth.rs`: credentials (the call's, auth files) and `WWW-Authenticate` challenges
//! - `tls.rs`: roots, certificate directories and client certificates
//! - `manifest.rs`: manifests and manifest lists, platform choice
//! - `blob.rs`: blobs, streamed with their digest checked, resumed with `Range`
//! - `upload.rs`: blob uploads, cross-repository mounts, manifest uploads (push)
//! - `search.rs`: SearchImage over `/v1/search` and `/v2/_catalog`
//! - `conf.rs`: registries.conf (search, insecure and blocked registries)
//! - `policy.rs`: signature policy files (policy.json)
//! - `error.rs`: the room's error: which registry, which step, what happened

pub mod auth;
pub mod blob;
pub mod client;
pub mod conf;
pub mod error;
pub mod manifest;
pub mod policy;
pub mod search;
pub mod tls;
pub mod upload;

use std::path::PathBuf;
use std::time::Duration;

pub use auth::Credentials;
pub use client::Client;
pub use error::{Kind, RegistryError};

/// How the daemon reaches registries (its flags and the host's files).
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// registries.conf: search, insecure and blocked registries.
    pub registries_conf: PathBuf,
    /// Per-registry certificate directories (`HOST:PORT/`), used when a call gives none.
    pub certs_d: PathBuf,
    /// Auth files, searched in order for a registry's credentials.
    pub auth_files: Vec<PathBuf>,
    /// The signature policy used when a call names none.
    pub policy: PathBuf,
    /// The system's CA bundle, trusted besides a registry's own CAs; `None`: the roots built
    /// into the TLS library.
    pub system_roots: Option<PathBuf>,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long a registry may send nothing while an answer is awaited or read.
    pub read_timeout: Duration,
    /// How many times a request is tried (connection failures, 429, 5xx, broken blobs).
    pub attempts: u32,
    /// The first wait between attempts; doubled each time.
    pub backoff: Duration,
    /// How many layers are fetched at once.
    pub parallel_layers: usize,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            registries_conf: PathBuf::from("/etc/containers/registries.conf"),
            certs_d: PathBuf::from("/etc/containers/certs.d"),
            auth_files: default_auth_files(),
            policy: PathBuf::from("/etc/containers/policy.json"),
            system_roots: Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt")),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            attempts: 4,
            backoff: Duration::from_millis(200),
            parallel_layers: 3,
        }
    }
}

impl RegistrySettings {
    /// registries.conf as it is now (read on every call, so edits apply without a restart,
    /// as they did for Podman, which read it per command).
    pub fn conf(&self) -> error::Result<conf::RegistriesConf> {
        conf::RegistriesConf::read(&self.registries_conf).map_err(|e| {
            RegistryError::new(
                &self.registries_conf.display().to_string(),
                "read registries.conf",
                e.to_string(),
            )
        })
    }
}

/// Where Podman 1.x looked for credentials, in order: `${XDG_RUNTIME_DIR}/containers/auth.json`,
/// `/run/containers/0/auth.json`, `~/.docker/config.json`.
pub fn default_auth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        files.push(PathBuf::from(dir).join("containers/auth.json"));
    }
    files.push(PathBuf::from("/run/containers/0/auth.json"));
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        files.push(PathBuf::from(home).join(".docker/config.json"));
    }
    files
}

/// What one call asks of the registry client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// `Some(false)`: plain HTTP and unverified TLS allowed; `Some(true)`: verified TLS even
    /// for a registry registries.conf calls insecure; `None` (the call did not say): as
    /// registries.conf says.
    pub tls_verify: Option<bool>,
    /// The call's certificate directory, instead of `certs.d/HOST:PORT`.
    pub cert_dir: Option<PathBuf>,
    /// The call's credentials, instead of the auth files'.
    pub credentials: Option<Credentials>,
    /// An auth file searched before the daemon's.
    pub auth_file: Option<PathBuf>,
}
