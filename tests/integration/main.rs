//! podlink's one integration test binary: every test starts the real daemon.

/// The harness: `TestDaemon` and small raw clients.
mod util;

/// The service (issue 2): system methods, introspection, protocol robustness, socket,
/// signals, idle timeout; through the generated Rust client and raw messages.
mod service;

/// Other real clients (issue 2): Python's varlink package, the varlink CLI, systemd socket
/// activation.
mod clients;

/// Offline fixtures built from busybox-static (and copied into archives by skopeo).
mod fixtures;

/// Images (issue 3): import/export in every format, names, tags, pruning, malicious
/// tarballs, whiteouts, metadata, crash safety. Needs root.
mod images;

/// Containers (issue 4, first part): lifecycle on the real runtime with the monitor. Needs
/// root.
mod containers;
