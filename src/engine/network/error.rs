//! The network room's own error.

/// What went wrong setting up or tearing down a network, with the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A client's input was wrong: the field, and why.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, as the wire names it (`create.publish`).
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A step on the host failed.
    #[error("network: {step}: {reason}")]
    Host {
        /// What was being done (`create veth pair for <id>`).
        step: String,
        /// Why.
        reason: String,
    },
}

/// The room's result.
pub type Result<T> = std::result::Result<T, NetworkError>;
