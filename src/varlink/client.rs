//! The generated io.podman client and wire types, for Rust clients and the integration tests.
//! The server side of the generated code stays private; the engine never uses this.

pub use super::generated::*;
