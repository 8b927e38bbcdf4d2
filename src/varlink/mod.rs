//! Translation only: the io.podman wire ↔ the engine.
//!
//! This folder owns the socket, the connections and the types generated from
//! `io.podman.varlink`. A handler converts its arguments, makes one engine call, converts
//! the result and replies; it decides nothing. It may call the engine; nothing in the engine
//! may name anything here. Starting the daemon (signals, opening the engine, choosing the
//! socket) is `crate::daemon`'s.
//!
//! - `server`: accept loop over the listener it is given, graceful shutdown;
//! - `connection`: validation and dispatch of each message, panic containment;
//! - `framing`: reading messages within bounds of size, time and memory across connections;
//! - `caller`: the client of the call being served, for handlers that wait or stream;
//! - `service`: the io.podman service object and the dispatcher over it;
//! - `generated`: the generated wire types, client, and method forwarding (see build.rs);
//! - `client`: the public face of the generated client and wire types;
//! - `handlers/`: one function per io.podman method, by area;
//! - `convert/`: engine views ↔ wire structs; `error`: engine errors → wire errors;
//! - `lenient`: Go-style zero values for missing and `null` input fields.

mod caller;
pub mod client;
pub mod connection;
mod convert;
mod error;
mod framing;
mod generated;
mod handlers;
pub mod lenient;
pub mod server;
pub mod service;
