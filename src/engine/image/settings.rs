//! How imports are bounded: the daemon's flags for sizes, entries, free space and http
//! timeouts.

use std::time::Duration;

use crate::engine::storage::budget::Limits;

/// How imports are bounded (daemon flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSettings {
    /// Bytes, entries and free space.
    pub limits: Limits,
    /// How long connecting to an http(s) source may take.
    pub connect_timeout: Duration,
    /// How long an http(s) source may send nothing, while the reply is awaited or read.
    pub read_timeout: Duration,
}

impl Default for ImportSettings {
    fn default() -> Self {
        ImportSettings {
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
        }
    }
}
