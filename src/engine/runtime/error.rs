//! The runtime's own failure, a leaf type: `engine::error::Error` wraps it, so this file
//! imports nothing of the engine's (a cycle otherwise).

/// A runtime invocation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{argv} failed ({status}): {stderr}")]
pub struct RuntimeError {
    /// The command line.
    pub argv: String,
    /// How it ended.
    pub status: String,
    /// What it wrote to stderr (or its log), trimmed.
    pub stderr: String,
}
