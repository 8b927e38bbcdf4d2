//! The registry client's error: which registry, which step, what happened.

use std::fmt;

/// What kind of failure, where a caller acts on it (a short name tries the next registry
/// after `NotFound` or `Unauthorized`; `NotFound` becomes io.podman.ImageNotFound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The repository, tag or blob does not exist (404, or the registry's NAME_UNKNOWN,
    /// MANIFEST_UNKNOWN, BLOB_UNKNOWN).
    NotFound,
    /// The registry refused the credentials, or asked for some and none were given.
    Unauthorized,
    /// Anything else: network, TLS, protocol, content, policy.
    Other,
}

/// A registry operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub struct RegistryError {
    /// The registry (`host[:port]`), or the file or source involved when no registry was
    /// reached yet.
    pub registry: String,
    /// The step: "fetch manifest busybox:latest", "fetch blob sha256:…", "log in".
    pub step: String,
    /// What happened.
    pub reason: String,
    /// What kind of failure.
    pub kind: Kind,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "registry {}: {}: {}",
            self.registry, self.step, self.reason
        )
    }
}

impl RegistryError {
    /// A failure of `kind` Other.
    pub fn new(registry: &str, step: impl Into<String>, reason: impl Into<String>) -> Self {
        RegistryError {
            registry: registry.to_string(),
            step: step.into(),
            reason: reason.into(),
            kind: Kind::Other,
        }
    }

    /// The same failure, of `kind`.
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Whether the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind == Kind::NotFound
    }

    /// Carried through `std::io::Read` (a blob stream): unwrapped again by
    /// [`RegistryError::from_io`].
    pub fn into_io(self) -> std::io::Error {
        std::io::Error::other(self)
    }

    /// The registry error an I/O error carries, if it carries one.
    pub fn from_io(e: &std::io::Error) -> Option<RegistryError> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<RegistryError>())
            .cloned()
    }
}

/// The result of a registry operation.
pub type Result<T> = std::result::Result<T, RegistryError>;
