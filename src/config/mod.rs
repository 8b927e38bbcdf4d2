//! The command line and its environment overrides, validated into [`Config`].
//!
//! Everything the daemon needs to know before it serves lives here; nothing here touches the
//! store or the socket.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::engine::image::ImportSettings;
use crate::engine::monitor::logs::MIN_LOG_SIZE_MAX;
use crate::engine::network::NetworkSettings;
use crate::engine::options::EngineOptions;
use crate::engine::registry::RegistrySettings;
use crate::engine::storage::budget::Limits;

/// Default address of the service, as Podman's own `podman varlink` used.
pub const DEFAULT_ADDRESS: &str = "unix:/run/podman/io.podman";
/// Default largest message a client may send, in bytes.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
/// Default bound on the bytes buffered for unfinished messages across all connections.
pub const DEFAULT_MAX_BUFFERED: usize = 64 * 1024 * 1024;
/// Default longest time, in milliseconds, from a message's first byte to its end.
pub const DEFAULT_MESSAGE_TIMEOUT_MS: u64 = 30_000;
/// Default mode of a socket file the service binds.
pub const DEFAULT_SOCKET_MODE: u32 = 0o600;
/// Default most a container's log holds on disk, in bytes.
pub use crate::engine::monitor::logs::DEFAULT_LOG_SIZE_MAX;

/// `podlink`: a server for Podman's v1 io.podman varlink API.
#[derive(Debug, Parser)]
#[command(name = "podlink", version, about)]
pub struct Cli {
    /// Options every role shares.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The role to run; `serve` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every role shares.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Storage root: images, layers and container records.
    #[arg(
        long,
        global = true,
        env = "PODLINK_ROOT",
        default_value = "/var/lib/podlink"
    )]
    pub root: PathBuf,
    /// Run root: per-container runtime state, sockets and logs.
    #[arg(
        long,
        global = true,
        env = "PODLINK_RUNROOT",
        default_value = "/run/podlink"
    )]
    pub runroot: PathBuf,
    /// OCI runtime (path or name of runc or crun); by default the first that works here.
    #[arg(long, global = true, env = "PODLINK_RUNTIME")]
    pub runtime: Option<PathBuf>,
    /// Log level: error, warn, info, debug or trace (env_logger filter syntax also works).
    #[arg(long, global = true, env = "PODLINK_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Registries configuration: search, insecure and blocked registries (GetInfo, pulls,
    /// pushes, searches).
    #[arg(
        long,
        global = true,
        env = "PODLINK_REGISTRIES_CONF",
        default_value = "/etc/containers/registries.conf"
    )]
    pub registries_conf: PathBuf,
    /// Cgroup under which every container's cgroup is made (an absolute cgroupfs path).
    #[arg(
        long,
        global = true,
        env = "PODLINK_CGROUP_PARENT",
        default_value = "/podlink"
    )]
    pub cgroup_parent: String,
}

/// The roles of the binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the io.podman interface (the default).
    Serve(ServeArgs),
    /// Watch one container (started by the service, not by hand).
    #[command(hide = true)]
    Monitor(MonitorArgs),
}

/// Options of the hidden `podlink monitor` role.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The container.
    #[arg(long)]
    pub id: crate::engine::id::container::ContainerId,
    /// Its bundle.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The OCI runtime binary.
    #[arg(long)]
    pub oci_runtime: PathBuf,
    /// The runtime's state directory.
    #[arg(long)]
    pub runtime_root: PathBuf,
    /// The container's run directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// The container log.
    #[arg(long)]
    pub log_path: PathBuf,
    /// Give the container a terminal.
    #[arg(long)]
    pub tty: bool,
    /// Keep the container's stdin open.
    #[arg(long)]
    pub stdin: bool,
    /// Where to write the monitor's own pid.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// The most the log and its rotated file hold together, in bytes; no limit without it.
    #[arg(long)]
    pub log_size_max: Option<u64>,
    /// Restore the container from this checkpoint instead of creating it.
    #[arg(long)]
    pub restore_from: Option<PathBuf>,
    /// Restore established TCP connections.
    #[arg(long)]
    pub tcp_established: bool,
}

impl From<MonitorArgs> for crate::engine::monitor::MonitorOptions {
    fn from(a: MonitorArgs) -> Self {
        crate::engine::monitor::MonitorOptions {
            id: a.id,
            bundle: a.bundle,
            runtime: a.oci_runtime,
            runtime_root: a.runtime_root,
            dir: a.dir,
            log_path: a.log_path,
            log_size_max: a.log_size_max,
            tty: a.tty,
            stdin: a.stdin,
            pid_file: a.pid_file,
            restore_from: a.restore_from,
            tcp_established: a.tcp_established,
        }
    }
}

impl Default for Command {
    fn default() -> Self {
        Command::Serve(ServeArgs::parse_from(["serve"]))
    }
}

/// Options of `podlink serve`.
#[derive(Debug, Parser)]
pub struct ServeArgs {
    /// Varlink address to listen on: `unix:PATH[;mode=OCTAL]` or `unix:@ABSTRACT`. Ignored
    /// under systemd socket activation.
    #[arg(env = "PODLINK_ADDRESS", default_value = DEFAULT_ADDRESS)]
    pub address: String,
    /// Exit after this many milliseconds without an open connection (0: never).
    #[arg(long, env = "PODLINK_TIMEOUT", default_value_t = 0)]
    pub timeout: u64,
    /// Largest message a client may send, in bytes; a larger one closes its connection.
    #[arg(long, env = "PODLINK_MAX_MESSAGE_SIZE", default_value_t = DEFAULT_MAX_MESSAGE_SIZE)]
    pub max_message_size: usize,
    /// Bytes buffered for unfinished messages across all connections; past it, the
    /// connection whose message started first is closed to make room.
    #[arg(long, env = "PODLINK_MAX_BUFFERED", default_value_t = DEFAULT_MAX_BUFFERED)]
    pub max_buffered: usize,
    /// Milliseconds a message may take from its first byte to its end (0: no limit); a
    /// connection idle between messages is never timed out.
    #[arg(long, env = "PODLINK_MESSAGE_TIMEOUT", default_value_t = DEFAULT_MESSAGE_TIMEOUT_MS)]
    pub message_timeout: u64,
    /// The most a container's log may hold on disk, in bytes (the log and the one rotated
    /// file kept together); 0 or -1: no limit.
    #[arg(long, env = "PODLINK_LOG_SIZE_MAX", default_value_t = DEFAULT_LOG_SIZE_MAX as i64, allow_negative_numbers = true)]
    pub log_size_max: i64,
    /// Test hook: calls of this io.podman method panic inside the handler. Debug builds
    /// only (the integration tests run one): in a release build neither the flag nor its
    /// variable exists, so nothing can make a deployed daemon panic on purpose. A cfg rather
    /// than a cargo feature, because `cargo test` builds the daemon in debug without asking.
    #[cfg(debug_assertions)]
    #[arg(long, hide = true, env = "PODLINK_TEST_PANIC_METHOD")]
    pub test_panic_method: Option<String>,
    /// Most bytes one image import may unpack (uncompressed); past it the import fails.
    #[arg(long, env = "PODLINK_IMPORT_MAX_BYTES", default_value_t = Limits::default().max_bytes)]
    pub import_max_bytes: u64,
    /// Most tar entries one image import may hold; past it the import fails.
    #[arg(long, env = "PODLINK_IMPORT_MAX_ENTRIES", default_value_t = Limits::default().max_entries)]
    pub import_max_entries: u64,
    /// Bytes an import must leave free on the storage root's filesystem.
    #[arg(long, env = "PODLINK_IMPORT_MIN_FREE", default_value_t = Limits::default().min_free)]
    pub import_min_free: u64,
    /// Seconds an image import from an http(s) URL may take to connect.
    #[arg(long, env = "PODLINK_HTTP_CONNECT_TIMEOUT", default_value_t = 30)]
    pub http_connect_timeout: u64,
    /// Seconds an http(s) source or a registry may send nothing before the transfer fails
    /// (a registry's is retried, see --registry-attempts).
    #[arg(long, env = "PODLINK_HTTP_READ_TIMEOUT", default_value_t = 60)]
    pub http_read_timeout: u64,
    /// Per-registry certificate directories (`HOST:PORT/` with `*.crt` CAs and
    /// `*.cert`/`*.key` client pairs), used when a call names no certDir.
    #[arg(
        long,
        env = "PODLINK_CERTS_DIR",
        default_value = "/etc/containers/certs.d"
    )]
    pub certs_dir: PathBuf,
    /// The signature policy of pulls whose call names none.
    #[arg(
        long,
        env = "PODLINK_SIGNATURE_POLICY",
        default_value = "/etc/containers/policy.json"
    )]
    pub signature_policy: PathBuf,
    /// How many times a registry request is tried when the connection fails, the registry
    /// answers 429 or 5xx, or a blob breaks off (with backoff from 200 ms, doubling).
    #[arg(long, env = "PODLINK_REGISTRY_ATTEMPTS", default_value_t = 4)]
    pub registry_attempts: u32,
    /// How many layers a pull fetches at once.
    #[arg(long, env = "PODLINK_PULL_PARALLEL", default_value_t = 3)]
    pub pull_parallel: usize,
    /// The default network's bridge (at most 15 bytes).
    #[arg(long, env = "PODLINK_BRIDGE", default_value = "cni-podman0")]
    pub bridge: String,
    /// The default network's subnet (`ADDRESS/PREFIX`, IPv4, prefix 8 to 30); the bridge holds
    /// its first host address.
    #[arg(long, env = "PODLINK_SUBNET", default_value = "10.88.0.0/16")]
    pub subnet: String,
    /// podlink's nftables table (family `ip`): nothing else in it is anyone else's.
    #[arg(long, env = "PODLINK_NFT_TABLE", default_value = "podlink")]
    pub nft_table: String,
}

/// Where the service listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// A socket file, created with `mode`.
    Path {
        /// The socket file.
        path: PathBuf,
        /// Permission bits applied to the socket file.
        mode: u32,
    },
    /// A Linux abstract socket name (without the leading NUL).
    Abstract(String),
}

impl ListenAddress {
    /// Parses a varlink address: `unix:PATH`, `unix:PATH;mode=0660`, `unix:@NAME`.
    pub fn parse(address: &str) -> Result<Self, ConfigError> {
        let invalid = |why: &str| ConfigError::Address {
            address: address.to_string(),
            why: why.to_string(),
        };
        let rest = address
            .strip_prefix("unix:")
            .ok_or_else(|| invalid("only unix: addresses are supported"))?;
        let mut parts = rest.split(';');
        let location = parts.next().unwrap_or_default();
        let mut mode = DEFAULT_SOCKET_MODE;
        for param in parts {
            match param.split_once('=') {
                Some(("mode", value)) => {
                    mode = u32::from_str_radix(value, 8)
                        .ok()
                        .filter(|m| *m <= 0o777)
                        .ok_or_else(|| invalid("mode must be octal permission bits"))?;
                }
                _ => return Err(invalid("unknown address parameter")),
            }
        }
        if let Some(name) = location.strip_prefix('@') {
            if name.is_empty() {
                return Err(invalid("empty abstract socket name"));
            }
            return Ok(ListenAddress::Abstract(name.to_string()));
        }
        if !location.starts_with('/') {
            return Err(invalid("the socket path must be absolute"));
        }
        Ok(ListenAddress::Path {
            path: PathBuf::from(location),
            mode,
        })
    }
}

/// The network settings of the flags: a bridge name the kernel takes, a subnet with room, a
/// table name nft takes.
fn network_settings(runroot: &Path, serve: &ServeArgs) -> Result<NetworkSettings, ConfigError> {
    let bad = |flag: &'static str, value: &str, why: &str| ConfigError::Network {
        flag,
        value: value.to_string(),
        why: why.to_string(),
    };
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    };
    if !name_ok(&serve.bridge) || serve.bridge.len() > 15 {
        return Err(bad(
            "--bridge",
            &serve.bridge,
            "use at most 15 of a-z, 0-9, - and _",
        ));
    }
    if !name_ok(&serve.nft_table) {
        return Err(bad(
            "--nft-table",
            &serve.nft_table,
            "use a-z, 0-9, - and _",
        ));
    }
    let (address, prefix) = serve
        .subnet
        .split_once('/')
        .ok_or_else(|| bad("--subnet", &serve.subnet, "use ADDRESS/PREFIX"))?;
    let address: std::net::Ipv4Addr = address
        .parse()
        .map_err(|_| bad("--subnet", &serve.subnet, "not an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (8..=30).contains(p))
        .ok_or_else(|| bad("--subnet", &serve.subnet, "the prefix must be 8 to 30"))?;
    let mask = u32::MAX << (32 - prefix);
    if u32::from(address) & !mask != 0 {
        return Err(bad("--subnet", &serve.subnet, "host bits are set"));
    }
    Ok(NetworkSettings {
        bridge: serve.bridge.clone(),
        subnet: address,
        prefix,
        nft_table: serve.nft_table.clone(),
        ..NetworkSettings::defaults(runroot)
    })
}

/// Everything the daemon runs with, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Storage root.
    pub root: PathBuf,
    /// Run root.
    pub runroot: PathBuf,
    /// The OCI runtime asked for, if any; the engine picks one otherwise.
    pub runtime: Option<PathBuf>,
    /// How registries are reached: registries.conf, certificates, auth files, policy.
    pub registry: RegistrySettings,
    /// Cgroup parent of containers.
    pub cgroup_parent: String,
    /// Where to listen when not socket-activated.
    pub address: ListenAddress,
    /// Exit after this long without connections; `None` for never.
    pub idle_timeout: Option<std::time::Duration>,
    /// Largest accepted message in bytes.
    pub max_message_size: usize,
    /// Bytes buffered for unfinished messages across all connections.
    pub max_buffered: usize,
    /// Longest time a message may take to arrive; `None` for no limit.
    pub message_timeout: Option<std::time::Duration>,
    /// The most a container's log holds on disk (with its rotated file); `None`: no limit.
    pub log_size_max: Option<u64>,
    /// Test hook (debug builds only): the io.podman method that panics.
    #[cfg(debug_assertions)]
    pub test_panic_method: Option<String>,
    /// Limits and timeouts of image imports.
    pub imports: ImportSettings,
    /// The bridge network's bridge, subnet and nftables table.
    pub network: NetworkSettings,
}

impl Config {
    /// Builds and validates the configuration of `podlink serve`.
    pub fn new(global: GlobalArgs, serve: ServeArgs) -> Result<Self, ConfigError> {
        // Podman's `log_size_max` took -1 for no limit; 0 (no room at all) means it too. Any
        // other negative value is a mistake, not a third way of saying "no limit".
        if serve.log_size_max < -1 {
            return Err(ConfigError::LogSizeMax(serve.log_size_max));
        }
        let network = network_settings(&global.runroot, &serve)?;
        let config = Config {
            network,
            root: global.root,
            runroot: global.runroot,
            runtime: global.runtime,
            registry: RegistrySettings {
                registries_conf: global.registries_conf,
                certs_d: serve.certs_dir,
                policy: serve.signature_policy,
                connect_timeout: std::time::Duration::from_secs(serve.http_connect_timeout),
                read_timeout: std::time::Duration::from_secs(serve.http_read_timeout),
                attempts: serve.registry_attempts.max(1),
                parallel_layers: serve.pull_parallel.max(1),
                ..RegistrySettings::default()
            },
            cgroup_parent: global.cgroup_parent,
            address: ListenAddress::parse(&serve.address)?,
            idle_timeout: (serve.timeout > 0)
                .then(|| std::time::Duration::from_millis(serve.timeout)),
            max_message_size: serve.max_message_size,
            max_buffered: serve.max_buffered,
            message_timeout: (serve.message_timeout > 0)
                .then(|| std::time::Duration::from_millis(serve.message_timeout)),
            log_size_max: u64::try_from(serve.log_size_max)
                .ok()
                .filter(|max| *max > 0),
            #[cfg(debug_assertions)]
            test_panic_method: serve.test_panic_method,
            imports: ImportSettings {
                limits: Limits {
                    max_bytes: serve.import_max_bytes,
                    max_entries: serve.import_max_entries,
                    min_free: serve.import_min_free,
                },
                connect_timeout: std::time::Duration::from_secs(serve.http_connect_timeout),
                read_timeout: std::time::Duration::from_secs(serve.http_read_timeout),
            },
        };
        config.validate()?;
        Ok(config)
    }

    /// The settings the engine is opened with.
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            root: self.root.clone(),
            runroot: self.runroot.clone(),
            registry: self.registry.clone(),
            cgroup_parent: self.cgroup_parent.clone(),
            log_size_max: self.log_size_max,
            imports: self.imports.clone(),
            runtime: self.runtime.clone(),
            network: self.network.clone(),
        }
    }

    /// Checks what can be checked without touching the system.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (flag, path) in [("--root", &self.root), ("--runroot", &self.runroot)] {
            if !path.is_absolute() {
                return Err(ConfigError::RelativePath {
                    flag,
                    path: path.clone(),
                });
            }
        }
        if !self.cgroup_parent.starts_with('/') || self.cgroup_parent.contains("..") {
            return Err(ConfigError::CgroupParent(self.cgroup_parent.clone()));
        }
        if self.max_message_size < 1024 {
            return Err(ConfigError::MessageSize(self.max_message_size));
        }
        if self.imports.connect_timeout.is_zero() || self.imports.read_timeout.is_zero() {
            return Err(ConfigError::HttpTimeout);
        }
        if self.max_buffered < 1024 * 1024 {
            return Err(ConfigError::MaxBuffered(self.max_buffered));
        }
        if let Some(max) = self.log_size_max.filter(|max| *max < MIN_LOG_SIZE_MAX) {
            return Err(ConfigError::LogSizeMax(max as i64));
        }
        Ok(())
    }

    /// The socket file this configuration binds, if it binds one.
    pub fn socket_path(&self) -> Option<&Path> {
        match &self.address {
            ListenAddress::Path { path, .. } => Some(path),
            ListenAddress::Abstract(_) => None,
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The listen address does not parse.
    #[error("invalid address {address:?}: {why}")]
    Address {
        /// The address given.
        address: String,
        /// What is wrong with it.
        why: String,
    },
    /// A path flag was relative.
    #[error("{flag} must be an absolute path, got {path:?}")]
    RelativePath {
        /// The flag.
        flag: &'static str,
        /// The path given.
        path: PathBuf,
    },
    /// The cgroup parent is not an absolute cgroup path.
    #[error("--cgroup-parent must be an absolute cgroup path such as /podlink, got {0:?}")]
    CgroupParent(String),
    /// The message size limit is too small to carry a call.
    #[error("--max-message-size must be at least 1024 bytes, got {0}")]
    MessageSize(usize),
    /// An http timeout of zero would wait forever.
    #[error("--http-connect-timeout and --http-read-timeout must be at least 1 second")]
    HttpTimeout,
    /// A network flag's value cannot be used.
    #[error("{flag} {value:?}: {why}")]
    Network {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: String,
        /// Why not.
        why: String,
    },
    /// The buffered-bytes bound is too small to be useful.
    #[error("--max-buffered must be at least 1 MiB (1048576 bytes), got {0}")]
    MaxBuffered(usize),
    /// The log size limit is too small to hold two of the longest log lines.
    #[error(
        "--log-size-max must be 0 or -1 (no limit) or at least {MIN_LOG_SIZE_MAX} bytes, got {0}"
    )]
    LogSizeMax(i64),
}

/// Sets up logging to stderr at `level`.
pub fn init_logging(level: &str) {
    env_logger::Builder::new()
        .parse_filters(level)
        .format_timestamp_millis()
        .init();
}

#[cfg(test)]
mod tests;
