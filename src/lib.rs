//! podlink: a server for Podman's v1 `io.podman` varlink API with its own container engine.
//!
//! # Layout
//!
//! - [`config`]: the command line and environment, validated into one [`config::Config`]
//!   (which also builds the engine's own [`engine::options::EngineOptions`]).
//! - [`daemon`]: start-up of `podlink serve`: signals, panic hook, opening the engine, the
//!   socket (bound or passed by systemd), then serving until stopped.
//! - [`varlink`]: translation only. It owns the socket, the connections and the wire types
//!   generated from `io.podman.varlink`, turns each call into one engine call and the result
//!   back into a reply. It decides nothing.
//! - [`engine`]: all behaviour (host facts, and in time images, containers and pods). It never
//!   mentions varlink.
//! - `sys`: the only module allowed `unsafe`: the few calls that std and nix do not wrap safely.
//!
//! One binary serves two roles: `podlink serve` is the daemon; later a hidden `monitor` role
//! watches one container each, so the monitor is always the same build as the daemon.

// serde_json::json! recurses once per token: the inspect document needs more than 128.
#![recursion_limit = "256"]

pub mod config;
pub mod daemon;
pub mod engine;
#[allow(unsafe_code)]
pub mod sys;
pub mod varlink;

/// The crate version, reported by `GetVersion` and `org.varlink.service.GetInfo`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
