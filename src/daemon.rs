//! `podlink serve`: start-up and shutdown of the daemon around the varlink server.
//!
//! Blocks the stop signals, installs the panic hook, opens the engine with the options the
//! command line gave, takes the socket systemd passed or binds the configured one, starts
//! reconciliation, and serves until a stop signal or the idle timeout. Serving itself (the
//! accept loop, connections, handlers) is `varlink`'s; behaviour is the engine's.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

use crate::config::{Config, ListenAddress};
use crate::engine::Engine;
use crate::sys::ActivatedSocket;
use crate::varlink::server::{self, ServeOptions, Shutdown, StopReason};
use crate::varlink::service::dispatcher;

/// How long shutdown waits for calls in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why `podlink serve` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The engine could not open its store.
    #[error(transparent)]
    Engine(#[from] crate::engine::error::Error),
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

    // Panics are contained per call (see `varlink::connection`); report them through the log
    // like every other failure instead of the default hook's raw stderr.
    std::panic::set_hook(Box::new(|info| log::error!("{info}")));

    let engine = Arc::new(Engine::new(config.engine_options())?);
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

    let dispatcher = dispatcher(engine);
    #[cfg(debug_assertions)]
    let dispatcher = dispatcher.panic_on(config.test_panic_method.clone());
    let options = ServeOptions {
        max_message_size: config.max_message_size,
        message_timeout: config.message_timeout,
        max_buffered: config.max_buffered,
        idle_timeout: config.idle_timeout,
        grace: SHUTDOWN_GRACE,
    };
    let result = server::serve(listener, Arc::new(dispatcher), shutdown, options);
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
