//! `podlink serve`: start-up and shutdown of the daemon around the varlink server.
//!
//! Blocks the stop signals, installs the panic hook, opens the engine with the options the
//! command line gave, takes the socket systemd passed or binds the configured one, starts
//! reconciliation, and serves until a stop signal or the idle timeout. Serving itself (the
//! accept loop, connections, handlers) is `varlink`'s; behaviour is the engine's.
//!
//! The socket is set up here too (bound with its mode, a stale one replaced, a live one
//! refused, or taken from systemd), so `varlink::server` is handed a listener and only serves.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
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
    Listen(#[from] ListenError),
    /// The accept loop or signal setup failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs `podlink serve`: opens the engine, listens (or takes the socket systemd passed),
/// serves until SIGTERM/SIGINT or the idle timeout, then removes the socket it created.
pub fn run(config: Config, activation: Vec<ActivatedSocket>) -> Result<(), ServeError> {
    // Before any thread exists, so that every thread's allocations follow these settings.
    crate::sys::tune_allocator();
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
    let (listener, bound) = match activated_listener(activation)? {
        Some(listener) => {
            log::info!("serving io.podman on the socket passed by systemd");
            (listener, None)
        }
        None => match &config.address {
            ListenAddress::Path { path, mode } => {
                let (listener, bound) = bind_path(path, *mode)?;
                log::info!("serving io.podman on unix:{}", path.display());
                (listener, Some(bound))
            }
            ListenAddress::Abstract(name) => {
                let listener = bind_abstract(name)?;
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

    // Kept for the network's shutdown once the server has stopped.
    let network_owner = Arc::clone(&engine);
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
    // The bridge, table and namespace directory go when no container still uses them (see
    // `Network::shutdown`); otherwise the next start reconciles them.
    if let Err(e) = network_owner.containers().network().shutdown() {
        log::warn!("network shutdown: {e}");
    }
    // Removed containers' files still queued are deleted before the process goes (else the
    // next start would, as leftovers).
    network_owner.containers().settle_removals();
    match result? {
        StopReason::Shutdown => log::info!("stopped on signal"),
        StopReason::Idle => log::info!("stopped after the idle timeout"),
    }
    Ok(())
}

/// Socket names under which systemd may pass our socket (`FileDescriptorName=`).
const ACTIVATION_NAMES: [&str; 2] = ["io.podman", "varlink"];

/// A socket file this process created, removed again on exit if it is still ours.
#[derive(Debug)]
pub struct BoundSocket {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl BoundSocket {
    /// Removes the socket file unless another process has replaced it since.
    pub fn remove(self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    log::warn!("cannot remove {}: {e}", self.path.display());
                }
            }
            _ => {}
        }
    }
}

/// Why the service cannot listen.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Another service answers on the socket.
    #[error("a service is already listening on {0}")]
    AlreadyServing(PathBuf),
    /// Something that is not a socket sits at the path.
    #[error("{0} exists and is not a socket")]
    NotASocket(PathBuf),
    /// The socket passed by systemd is not a listening unix socket.
    #[error("the socket passed by systemd is not a listening socket: {0}")]
    Activation(String),
    /// A system call failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// The operation.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ListenError {
    let path = path.to_path_buf();
    move |source| ListenError::Io { what, path, source }
}

/// The listener systemd passed, if any: the one named io.podman or varlink, else the first.
pub fn activated_listener(
    mut sockets: Vec<ActivatedSocket>,
) -> Result<Option<UnixListener>, ListenError> {
    if sockets.is_empty() {
        return Ok(None);
    }
    let index = sockets
        .iter()
        .position(|s| ACTIVATION_NAMES.contains(&s.name.as_str()))
        .unwrap_or(0);
    let socket = sockets.swap_remove(index);
    let listening = nix::sys::socket::getsockopt(&socket.fd, nix::sys::socket::sockopt::AcceptConn)
        .map_err(|e| ListenError::Activation(e.to_string()))?;
    if !listening {
        return Err(ListenError::Activation(format!(
            "{:?} does not accept",
            socket.name
        )));
    }
    Ok(Some(UnixListener::from(socket.fd)))
}

/// Binds a socket file at `path` with `mode`: creates the directory (0700) if needed, replaces
/// a stale socket, refuses a live one. The socket is bound under a temporary name, given its
/// mode, then renamed into place, so it is never reachable with looser permissions.
pub fn bind_path(path: &Path, mode: u32) -> Result<(UnixListener, BoundSocket), ListenError> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| ListenError::Io {
                what: "create directory",
                path: parent.to_path_buf(),
                source: e,
            })?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(ListenError::NotASocket(path.to_path_buf()));
        }
        Ok(_) => match UnixStream::connect(path) {
            Ok(_) => return Err(ListenError::AlreadyServing(path.to_path_buf())),
            Err(e) => log::info!("replacing stale socket {} ({e})", path.display()),
        },
        Err(_) => {}
    }
    let temp = parent.join(format!(".podlink-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let listener = UnixListener::bind(&temp).map_err(io_error("bind", &temp))?;
    let placed = std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode))
        .map_err(io_error("chmod", &temp))
        .and_then(|()| std::fs::rename(&temp, path).map_err(io_error("rename onto", path)))
        .and_then(|()| std::fs::symlink_metadata(path).map_err(io_error("stat", path)));
    match placed {
        Ok(meta) => Ok((
            listener,
            BoundSocket {
                path: path.to_path_buf(),
                dev: meta.dev(),
                ino: meta.ino(),
            },
        )),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Binds a Linux abstract socket.
pub fn bind_abstract(name: &str) -> Result<UnixListener, ListenError> {
    use std::os::linux::net::SocketAddrExt;
    let path = PathBuf::from(format!("@{name}"));
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .map_err(io_error("name", &path))?;
    UnixListener::bind_addr(&addr).map_err(io_error("bind", &path))
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
