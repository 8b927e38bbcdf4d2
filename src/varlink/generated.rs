//! The code varlink_generator writes from `io.podman.varlink` (see build.rs): wire types, the
//! client, the server-side `VarlinkInterface` trait, and its implementation for
//! `service::Service` forwarding each method to its handler.

// Generated names follow the IDL (`Call_Ping`, `r#parentId`), not Rust conventions.
#![allow(non_camel_case_types, non_snake_case, dead_code, missing_docs)]
#![allow(clippy::all)]

include!(concat!(env!("OUT_DIR"), "/io_podman.rs"));
