//! podlink's one integration test binary: every test starts the real daemon.

/// The harness: `TestDaemon` and small raw clients.
mod util;

/// What a test daemon's containers can leave behind, found and cleaned up per daemon.
mod leftovers;

/// The service (issue 2): system methods, introspection, protocol robustness, socket,
/// signals, idle timeout; through the generated Rust client and raw messages.
mod service;

/// The service as a process (issue 2): socket modes, signals, idle timeout, descriptors.
mod service_process;

/// Other real clients (issue 2): Python's varlink package, the varlink CLI, systemd socket
/// activation.
mod clients;

/// Offline fixtures built from busybox-static (and copied into archives by skopeo).
mod fixtures;

/// Images (issue 3): import/export in every format, names, tags, pruning, malicious
/// tarballs, whiteouts, metadata, crash safety. Needs root.
mod images;

/// Images (issue 3): malicious tarballs, whiteouts, kept metadata. Needs root.
mod image_content;

/// Images (issue 3): imports killed midway restart clean. Needs root.
mod image_crashes;

/// Containers (issue 4): the lifecycle on the real runtime with the monitor; and the shared
/// helpers of the container tests. Needs root.
mod containers;

/// Containers (issue 4): pause, changes, export, commit, mounts, record dumps. Needs root.
mod container_state;

/// Containers (issue 4): concurrent clients, followed logs, a slow stop. Needs root.
mod container_concurrency;

/// Hostile images and imports (issue 8): digests, store modes, limits, xattrs, http timeouts.
mod hostile_images;

/// Hostile imports (issue 8): store modes, limits, overlay attributes, devices, http timeouts.
mod hostile_imports;

/// Containers (issue 4): every Create field, observed inside the container and in its
/// cgroup, and the errors naming the fields podlink refuses. Needs root.
mod container_options;

/// Containers (issue 4): capabilities, devices, confinement and cgroup resources. Needs root.
mod container_resources;

/// Containers (issue 4): private, host, joined and user namespaces. Needs root.
mod container_namespaces;

/// Containers (issue 4): attach (with and without a terminal), stats, processes, runlabel.
/// Needs root.
mod container_io;

/// Containers (issue 4) through Python's varlink package, the contract's examples with the
/// varlink tool, and on crun. Needs root.
mod container_clients;

/// What Podman 1.x's clients expect (issue 8): python-podman 0.11, `ContainerConfig`, the
/// `KEY=VALUE` form of `changes`. Needs root.
mod client_compat;

/// Hostile clients (issue 8, item 10): stalled senders bounded in memory and time.
mod hostile_clients;

/// Resident memory (issue 13, item 4): it goes back down after a load. Needs root.
mod daemon_memory;

/// A container keeps the runtime that created it (issue 13, F1): runc's under crun. Needs root.
mod runtime_switch;

/// Crash consistency (issue 8, items 13, 14): killed removals and commits; work done after
/// the reply (issue 13). Needs root.
mod crash_recovery;

/// Logs and waiters (issue 8): size limit, 1 GB log in bounded memory, bad UTF-8, hang-ups. Needs root.
mod log_limits;
/// The monitor launcher (issue 13): forked monitors, executed ones without it. Needs root.
mod monitor_launcher;

/// Hostile containers (issue 8): deep trees, fork bombs, huge environments, mounts, CRIU.
mod hostile_containers;

/// ListContainerChanges and Commit: image symlinks never followed, deep trees bounded. Needs root.
mod diff_safety;

/// Container records on disk with a corrupt ID: reported, not listed, never followed. Needs root.
mod corrupt_records;
/// Inspect documents (issue 9): the container document keeps every key and value it had. Needs root.
mod view_documents;

/// Digests in image archives (issue 9): malformed or mismatched digests in every format are refused. Needs root.
mod archive_digests;
/// The suite's own rules, checked on its source: gated skips, short tests, explained sleeps.
mod suite_hygiene;

/// SearchImage against real `docker-registry`s filled by skopeo: catalog matching, paging,
/// limits, registries down or blocked, python-podman.
mod registry_search;

/// PullImage against real registries (issue 10): tags, digests, short names, lists, auth, TLS,
/// policies, progress; and the daemon set-up the registry tests share. Needs root.
mod registry_pull;

/// PushImage against real registries (issue 10): formats, compression, pull back, bad input;
/// ContainerRunlabel's pull; python-podman's pull, push and search. Needs root.
mod registry_push;

/// Registry faults (issue 10) through a fault-injecting proxy: retried and resumed, or failing
/// with the registry, step and cause; SIGKILL mid-pull; cross-repository mounts; bearer
/// tokens. Needs root.
mod registry_faults;

/// Registries for pull and push tests: a real `docker-registry` on 127.0.0.1, plain or TLS
/// with basic auth and client certificates, and curl helpers for its API.
mod registries;

/// What the registry support shares: curl requests, auth.json, base64, digests, nonces.
mod registry_http;

/// Certificates for TLS test registries: a fresh CA, server and client pairs (openssl).
mod registry_tls;

/// Images pushed into test registries: busybox as OCI or Docker schema 2, three-platform
/// lists and indexes, any OCI layout.
mod registry_fixtures;

/// Large one-layer OCI layouts (random or compressible), cached between runs.
mod large_layouts;

/// A fault-injecting HTTP/1.1 proxy in front of a test registry, with a bearer token service.
mod fault_proxy;

/// The fault proxy's HTTP/1.1 framing: requests, chunked bodies, forwarding, body faults.
mod fault_proxy_http;

/// The fault proxy's bearer token service: challenges, scopes, `GET /token`.
mod fault_proxy_auth;

/// Smoke tests of the registries and their fixtures, through skopeo and curl only.
mod registry_support;

/// Smoke tests of the fault proxy, through skopeo and curl only.
mod proxy_support;

/// Pods (issue 11): infra containers, shared namespaces and /dev/shm, every pod method, partial
/// failures, a daemon killed with a pod running, the contract's examples, python-podman. Needs
/// root.
mod pods;

/// Bridge networking of containers (issue 11): reachability, published ports, /etc files,
/// network modes, teardown, a killed daemon. Needs root.
mod networking;

/// The network room (issue 11) driven directly: bridges, veths, namespaces, nftables. Needs
/// root.
mod network_room;

/// Builds (issue 12): BuildImage from Dockerfiles on the real runtime. Needs root.
mod builds;

/// Builds stage by stage (issue 12): working containers, one layer per stage, a killed
/// build, the per-stage cache, `pull`, SHELL. Needs root.
mod build_stages;

/// Seccomp (issue 13): the same verdicts under runc and crun, programs compiled once and
/// cached for crun, a damaged cache entry rebuilt, crun loading what it would compile. Needs
/// root.
mod seccomp;

/// Scale (issue 13): generated names and the name index, serving before reconciling, the
/// store found whole after a restart. Needs root.
mod scale;
