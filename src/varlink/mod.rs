//! Translation only: the io.podman wire ↔ the engine.
//!
//! This module owns the socket, the connections and the types generated from
//! `io.podman.varlink`. A handler converts its arguments, makes one engine call, converts
//! the result and replies; it decides nothing. No engine code may name a generated type.
//!
//! - `server`: listening socket, accept loop, graceful shutdown;
//! - `connection`: validation and dispatch of each message, panic containment;
//! - `framing`: reading messages within bounds of size, time and memory across connections;
//! - `caller`: the client of the call being served, for handlers that wait or stream;
//! - `interface`: the method table (one forwarding line per io.podman method);
//! - `system` (and, as they land, `containers`, `images`, `pods`): the handlers;
//! - `convert`: engine views ↔ wire structs; `error`: engine errors → wire errors;
//! - `lenient`: Go-style zero values for missing and `null` input fields.

mod caller;
mod connection;
mod containers;
mod convert;
mod error;
mod framing;
mod images;
mod interface;
pub mod lenient;
pub mod server;
mod system;

mod generated {
    // Generated names follow the IDL (`Call_Ping`, `r#parentId`), not Rust conventions.
    #![allow(non_camel_case_types, non_snake_case, dead_code, missing_docs)]
    #![allow(clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/io_podman.rs"));
}

/// The generated io.podman client and wire types, for Rust clients and the integration
/// tests. The server side of the generated code stays private; the engine never uses this.
pub mod client {
    pub use super::generated::*;
}

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

pub use connection::Dispatcher;
pub use server::{ServeOptions, Shutdown, StopReason, serve};

use crate::config::{Config, ListenAddress};
use crate::engine::Engine;
use crate::sys::ActivatedSocket;

/// Vendor and URL reported by `org.varlink.service.GetInfo`.
const VENDOR: &str = "podlink";
const PRODUCT: &str = "podlink";
const URL: &str = env!("CARGO_PKG_REPOSITORY");
/// How long shutdown waits for calls in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The io.podman implementation: each method forwards to the engine.
pub struct Service {
    engine: Arc<Engine>,
}

/// Builds the dispatcher that serves io.podman (and org.varlink.service) over `engine`.
pub fn dispatcher(engine: Arc<Engine>, panic_method: Option<String>) -> Dispatcher {
    // Two proxies over the same engine: the varlink crate keeps the one it is given private
    // (it only answers GetInterfaceDescription from it), and our dispatcher calls the other.
    let described = generated::new(Box::new(Service {
        engine: Arc::clone(&engine),
    }));
    let service = varlink::VarlinkService::new(
        VENDOR,
        PRODUCT,
        crate::VERSION,
        URL,
        vec![Box::new(described)],
    );
    let podman = generated::new(Box::new(Service { engine }));
    Dispatcher::new(service, Box::new(podman), panic_method)
}

/// Why `podlink serve` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The engine could not open its store.
    #[error(transparent)]
    Engine(#[from] crate::engine::Error),
    /// The socket could not be set up.
    #[error(transparent)]
    Listen(#[from] server::ListenError),
    /// The accept loop or signal setup failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs `podlink serve`: opens the engine, listens (or takes the socket systemd passed),
/// serves until SIGTERM/SIGINT or the idle timeout, then removes the socket it created.
pub fn run(config: Config, activation: Vec<ActivatedSocket>) -> Result<(), ServeError> {
    // Block the stop signals before any thread starts, so every thread inherits the mask and
    // only the signal thread receives them (through sigwait). std resets the mask in children.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals.thread_block().map_err(std::io::Error::from)?;

    // Panics are contained per call (see `connection`); report them through the log like
    // every other failure instead of the default hook's raw stderr.
    std::panic::set_hook(Box::new(|info| log::error!("{info}")));

    let engine = Arc::new(Engine::new(&config)?);
    let (listener, bound) = match server::activated_listener(activation)? {
        Some(listener) => {
            log::info!("serving io.podman on the socket passed by systemd");
            (listener, None)
        }
        None => match &config.address {
            ListenAddress::Path { path, mode } => {
                let (listener, bound) = server::bind_path(path, *mode)?;
                log::info!("serving io.podman on unix:{}", path.display());
                (listener, Some(bound))
            }
            ListenAddress::Abstract(name) => {
                let listener = server::bind_abstract(name)?;
                log::info!("serving io.podman on unix:@{name}");
                (listener, None)
            }
        },
    };

    // Only now that the socket is up (connections queue until the accept loop takes them):
    // reconciling can take long, and clients must not be refused meanwhile.
    engine.reconcile_in_background()?;

    let shutdown = Shutdown::new()?;
    let on_signal = Arc::clone(&shutdown);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || wait_for_signals(signals, &on_signal))?;

    let dispatcher = Arc::new(dispatcher(engine, config.test_panic_method.clone()));
    let options = ServeOptions {
        max_message_size: config.max_message_size,
        message_timeout: config.message_timeout,
        max_buffered: config.max_buffered,
        idle_timeout: config.idle_timeout,
        grace: SHUTDOWN_GRACE,
    };
    let result = serve(listener, dispatcher, shutdown, options);
    if let Some(bound) = bound {
        bound.remove();
    }
    match result? {
        StopReason::Shutdown => log::info!("stopped on signal"),
        StopReason::Idle => log::info!("stopped after the idle timeout"),
    }
    Ok(())
}

/// The first stop signal asks for a graceful shutdown; a second one exits at once.
fn wait_for_signals(signals: SigSet, shutdown: &Shutdown) {
    loop {
        match signals.wait() {
            Ok(signal) if shutdown.is_requested() => {
                log::warn!("{signal} again: exiting now");
                std::process::exit(1);
            }
            Ok(signal) => {
                log::info!("{signal}: finishing calls in flight");
                shutdown.trigger();
            }
            Err(e) => {
                log::error!("sigwait failed: {e}");
                return;
            }
        }
    }
}
