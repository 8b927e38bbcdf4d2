//! The engine's error type: one variant per outcome a client must tell apart.
//!
//! The varlink layer maps these to io.podman errors in one place (`varlink::error`); nothing
//! here knows about the wire.

use std::path::PathBuf;

/// The result of an engine operation.
pub type Result<T> = std::result::Result<T, Error>;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No container matches `name`; `reason` says why (absent, ambiguous prefix, empty name).
    #[error("no container {name:?}: {reason}")]
    ContainerNotFound {
        /// The name, ID or prefix as the client sent it.
        name: String,
        /// Why it did not match.
        reason: String,
    },
    /// No image matches `name`.
    #[error("no image {name:?}: {reason}")]
    ImageNotFound {
        /// The name, ID or prefix as the client sent it.
        name: String,
        /// Why it did not match.
        reason: String,
    },
    /// No pod matches `name`.
    #[error("no pod {name:?}: {reason}")]
    PodNotFound {
        /// The name, ID or prefix as the client sent it.
        name: String,
        /// Why it did not match.
        reason: String,
    },
    /// The operation needs a running container.
    #[error("container {id} is not running")]
    NoContainerRunning {
        /// The container's ID.
        id: String,
    },
    /// The operation needs a pod with containers.
    #[error("pod {name} has no containers")]
    NoContainersInPod {
        /// The pod's ID.
        name: String,
    },
    /// Some containers of a pod failed; each entry is (container ID, reason).
    #[error("containers of pod {pod} failed: {}", format_pod_errors(.errors))]
    PodContainer {
        /// The pod's ID.
        pod: String,
        /// (container ID, reason) for each failure.
        errors: Vec<(String, String)>,
    },
    /// The object is in a state that does not allow the operation.
    #[error("{op} {id}: container is {status}")]
    InvalidState {
        /// The object's ID.
        id: String,
        /// Its current state, as a client would read it.
        status: String,
        /// The operation refused.
        op: &'static str,
    },
    /// A client-supplied value cannot be honoured: `field` is the wire field or argument it
    /// came in (`"create.memory"`, `"name"`, `"changes"`), `reason` says why, and is the whole
    /// message a client reads (it names the field itself where a reader needs it).
    #[error("{reason}")]
    Invalid {
        /// The wire field or method argument the value came in.
        field: &'static str,
        /// Why it cannot be honoured.
        reason: String,
    },
    /// No usable OCI runtime is installed, so containers cannot run.
    #[error("no working OCI runtime (runc or crun) on this host")]
    NoRuntime,
    /// A container's monitor process failed or reported a failure.
    #[error("monitor of container {id}: {reason}")]
    Monitor {
        /// The container's ID.
        id: String,
        /// What went wrong.
        reason: String,
    },
    /// Something the daemon itself must produce could not be (an OCI spec, a record):
    /// a bug or a host problem, never the client's input.
    #[error("{what}: {reason}")]
    Internal {
        /// What was being produced.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A wait had a deadline and it passed.
    #[error("{what}")]
    Timeout {
        /// What did not happen in time, as a sentence that says how long was waited.
        what: String,
        /// How long the wait lasted.
        after: std::time::Duration,
    },
    /// CRIU cannot checkpoint or restore here, or it failed; the message says which and
    /// whether the container still runs.
    #[error("{0}")]
    Criu(String),
    /// A network transfer failed (fetching a URL; registries later).
    #[error("{what} {url}: {reason}")]
    Network {
        /// What was being done (`fetch`, later `pull`, `push`).
        what: &'static str,
        /// The URL.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// A registry operation failed (pull, push, search); the message names the registry, the
    /// step and what happened.
    #[error(transparent)]
    Registry(#[from] super::registry::RegistryError),
    /// Bridge networking failed (or refused a client's input: the message names the field).
    #[error(transparent)]
    Bridge(#[from] super::network::NetworkError),
    /// The method exists in the interface but podlink does not implement it yet.
    #[error("{0} is not implemented by podlink yet")]
    NotImplemented(&'static str),
    /// The OCI runtime failed.
    #[error(transparent)]
    Runtime(#[from] super::runtime::error::RuntimeError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] super::storage::StorageError),
    /// A filesystem operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done ("create directory", "read").
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A client error about `field` (see `Error::Invalid`).
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// An error of internal production (see `Error::Internal`).
    pub fn internal(what: &'static str, reason: impl std::fmt::Display) -> Self {
        Error::Internal {
            what,
            reason: reason.to_string(),
        }
    }

    /// Logs `cleanup`, an error met while undoing after `self`, together with `self`, and
    /// returns `self`: the first failure is what the caller reports, and the second is never
    /// dropped silently.
    pub fn with_cleanup(self, what: &str, cleanup: impl std::fmt::Display) -> Self {
        log::warn!("{what} failed after an earlier error ({self}): {cleanup}");
        self
    }

    /// An I/O error with the operation and path it concerned.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

fn format_pod_errors(errors: &[(String, String)]) -> String {
    errors
        .iter()
        .map(|(id, reason)| format!("{id}: {reason}"))
        .collect::<Vec<_>>()
        .join("; ")
}
