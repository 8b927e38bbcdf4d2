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
    /// A client-supplied value cannot be honoured.
    #[error("{0}")]
    InvalidArgument(String),
    /// The method exists in the interface but podlink does not implement it yet.
    #[error("{0} is not implemented by podlink yet")]
    NotImplemented(&'static str),
    /// The OCI runtime failed.
    #[error(transparent)]
    Runtime(#[from] super::runtime::RuntimeError),
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
