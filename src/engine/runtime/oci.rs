//! The OCI runtime binary: finding one that works, and running its commands.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::RuntimeError;
use crate::engine::error::{Error, Result};

/// One runtime subcommand and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeCommand<'a> {
    /// `create --bundle B --pid-file P [--console-socket S] ID`
    Create {
        /// The bundle directory.
        bundle: &'a Path,
        /// Where the runtime writes the container's pid.
        pid_file: &'a Path,
        /// The console socket of a tty container.
        console_socket: Option<&'a Path>,
        /// The container.
        id: &'a str,
    },
    /// `start ID`
    Start(&'a str),
    /// `kill [--all] ID SIGNAL`
    Kill {
        /// The container.
        id: &'a str,
        /// The signal number.
        signal: i32,
        /// Signal every process of the container.
        all: bool,
    },
    /// `delete [--force] ID`
    Delete {
        /// The container.
        id: &'a str,
        /// Kill it first if it still runs.
        force: bool,
    },
    /// `state ID`
    State(&'a str),
    /// `pause ID`
    Pause(&'a str),
    /// `resume ID`
    Resume(&'a str),
    /// `checkpoint --image-path I --work-path W [--leave-running] [--tcp-established] ID`
    Checkpoint {
        /// The container.
        id: &'a str,
        /// Where CRIU writes the checkpoint.
        image_path: &'a Path,
        /// Where CRIU writes its log (`dump.log`).
        work_path: &'a Path,
        /// Let the container run on after the checkpoint.
        leave_running: bool,
        /// Checkpoint established TCP connections.
        tcp_established: bool,
    },
    /// `restore --detach --bundle B --image-path I --work-path W --pid-file P
    /// [--console-socket S] [--tcp-established] ID`
    Restore {
        /// The bundle directory.
        bundle: &'a Path,
        /// The checkpoint.
        image_path: &'a Path,
        /// Where CRIU writes its log (`restore.log`).
        work_path: &'a Path,
        /// Where the runtime writes the restored container's pid.
        pid_file: &'a Path,
        /// The console socket of a tty container.
        console_socket: Option<&'a Path>,
        /// Restore established TCP connections.
        tcp_established: bool,
        /// The container.
        id: &'a str,
    },
}

impl RuntimeCommand<'_> {
    /// The arguments after the global flags.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        match self {
            RuntimeCommand::Create {
                bundle,
                pid_file,
                console_socket,
                id,
            } => {
                args.extend(["create".into(), "--bundle".into(), bundle.into()]);
                args.extend(["--pid-file".into(), pid_file.into()]);
                if let Some(socket) = console_socket {
                    args.extend(["--console-socket".into(), socket.into()]);
                }
                args.push(id.into());
            }
            RuntimeCommand::Start(id) => args.extend(["start".into(), id.into()]),
            RuntimeCommand::Kill { id, signal, all } => {
                args.push("kill".into());
                if *all {
                    args.push("--all".into());
                }
                args.extend([id.into(), signal.to_string().into()]);
            }
            RuntimeCommand::Delete { id, force } => {
                args.push("delete".into());
                if *force {
                    args.push("--force".into());
                }
                args.push(id.into());
            }
            RuntimeCommand::State(id) => args.extend(["state".into(), id.into()]),
            RuntimeCommand::Pause(id) => args.extend(["pause".into(), id.into()]),
            RuntimeCommand::Resume(id) => args.extend(["resume".into(), id.into()]),
            RuntimeCommand::Checkpoint {
                id,
                image_path,
                work_path,
                leave_running,
                tcp_established,
            } => {
                args.extend([
                    "checkpoint".into(),
                    "--image-path".into(),
                    image_path.into(),
                ]);
                args.extend(["--work-path".into(), work_path.into()]);
                if *leave_running {
                    args.push("--leave-running".into());
                }
                if *tcp_established {
                    args.push("--tcp-established".into());
                }
                args.push(id.into());
            }
            RuntimeCommand::Restore {
                bundle,
                image_path,
                work_path,
                pid_file,
                console_socket,
                tcp_established,
                id,
            } => {
                // Detached: the runtime returns once the processes run again, as after
                // `create` (they become the monitor's, its subreaper).
                args.extend(["restore".into(), "--detach".into()]);
                args.extend(["--bundle".into(), bundle.into()]);
                args.extend(["--image-path".into(), image_path.into()]);
                args.extend(["--work-path".into(), work_path.into()]);
                args.extend(["--pid-file".into(), pid_file.into()]);
                if let Some(socket) = console_socket {
                    args.extend(["--console-socket".into(), socket.into()]);
                }
                if *tcp_established {
                    args.push("--tcp-established".into());
                }
                args.push(id.into());
            }
        }
        args
    }
}

/// How long one runtime command other than `create` (which the monitor bounds) may take.
const RUNTIME_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runtimes tried, in order, when none is asked for: crun first, as Podman does (it starts a
/// container in about half runc's time, and takes a ready seccomp program), runc when crun is
/// missing or cannot work here (see [`usable_by_default`]). crun 1.8 refuses hosts with hybrid
/// cgroups unless the marker file is hidden from it, which [`OciRuntime::command`] does.
const CANDIDATES: [&str; 2] = ["crun", "runc"];

/// Which runtime a binary is, by its file name: what podlink does differs between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// runc.
    Runc,
    /// crun: takes a ready seccomp program, needs the hybrid-cgroup marker hidden.
    Crun,
    /// Another OCI runtime, driven as runc is.
    Other,
}

impl RuntimeKind {
    /// The kind of the runtime named `name` (a binary's file name).
    pub fn of(name: &str) -> Self {
        match name {
            "runc" => RuntimeKind::Runc,
            "crun" => RuntimeKind::Crun,
            _ => RuntimeKind::Other,
        }
    }
}

/// A runtime binary that answered `--version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRuntime {
    /// Absolute path of the binary.
    pub path: PathBuf,
    /// `runc` or `crun` (the file name).
    pub name: String,
    /// First line of its `--version` output.
    pub version: String,
    /// The line of its `--version` output listing build features (`+SECCOMP +SYSTEMD`...),
    /// empty when it prints none (runc).
    pub features: String,
    /// A file hidden from the runtime (see [`HYBRID_CGROUP_MARKER`]), if it needs that here.
    pub hidden_file: Option<PathBuf>,
}

/// The file by which crun 1.8 recognises a host with hybrid cgroups (v1 controllers and a v2
/// `unified` mount), which it refuses; hidden, crun uses the v1 hierarchies as runc does.
pub const HYBRID_CGROUP_MARKER: &str = "/sys/fs/cgroup/unified/cgroup.controllers";

impl OciRuntime {
    /// The runtime at `path` (not probed), with what it needs on this host.
    pub fn at(path: &Path) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let hybrid = Path::new(HYBRID_CGROUP_MARKER).exists()
            && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        OciRuntime {
            hidden_file: (RuntimeKind::of(&name) == RuntimeKind::Crun && hybrid)
                .then(|| HYBRID_CGROUP_MARKER.into()),
            name,
            path: path.to_path_buf(),
            version: String::new(),
            features: String::new(),
        }
    }

    /// Which runtime it is.
    pub fn kind(&self) -> RuntimeKind {
        RuntimeKind::of(&self.name)
    }

    /// Whether the runtime loads a ready seccomp program from the spec's annotation
    /// (`seccomp_bpf::BPF_ANNOTATION`): crun does; runc ignores it.
    pub fn takes_seccomp_bpf(&self) -> bool {
        self.kind() == RuntimeKind::Crun
    }

    /// Whether the runtime applies a spec's seccomp filter: crun only when built with
    /// libseccomp (`+SECCOMP` in its feature line; without it, crun starts the container
    /// unfiltered and says nothing); runc always (its builds link libseccomp).
    pub fn enforces_seccomp(&self) -> bool {
        self.kind() != RuntimeKind::Crun
            || self.features.split_whitespace().any(|f| f == "+SECCOMP")
    }

    /// A command for `what`, with podlink's runtime state directory.
    pub fn command(&self, state_dir: &Path, what: &RuntimeCommand) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.arg("--root").arg(state_dir).args(what.args());
        if let Some(hidden) = &self.hidden_file {
            crate::sys::hide_file_from(&mut cmd, hidden);
        }
        cmd
    }

    /// Runs `what` to completion; its stdout on success.
    pub fn run(
        &self,
        state_dir: &Path,
        what: &RuntimeCommand,
    ) -> std::result::Result<Vec<u8>, RuntimeError> {
        let argv = format!(
            "{} {}",
            self.name,
            what.args()
                .join(OsString::from(" ").as_os_str())
                .to_string_lossy()
        );
        let not_started = |e: std::io::Error| RuntimeError {
            argv: argv.clone(),
            status: "not started".into(),
            stderr: e.to_string(),
        };
        let mut args: Vec<OsString> = vec!["--root".into(), state_dir.into()];
        args.extend(what.args());
        // Not `command()`: its namespace hook would make std fork the whole daemon (see
        // `sys::spawn`).
        let spawned = crate::sys::spawn(&self.path, &args, self.hidden_file.as_deref())
            .map_err(not_started)?;
        // Both pipes are drained while it runs, and it gets a deadline: a runtime stuck on a
        // hook or a dead mount must not hold the container's lock, and with it every later
        // call on the container, for good.
        let finished =
            crate::engine::process::finish(spawned, RUNTIME_TIMEOUT).map_err(not_started)?;
        let (status, killed, stdout) = (finished.status, finished.killed, finished.stdout);
        let stderr = String::from_utf8_lossy(&finished.stderr).trim().to_string();
        if killed {
            return Err(RuntimeError {
                argv,
                status: format!("killed after {} s", RUNTIME_TIMEOUT.as_secs()),
                stderr,
            });
        }
        if status.success() {
            return Ok(stdout);
        }
        Err(RuntimeError {
            argv,
            status: status.to_string(),
            stderr,
        })
    }
}

/// The runtime to use: the one `requested` (a path, or a name looked up in `PATH`), which
/// must work, or else the first candidate that works; `None` when no runtime works here.
pub fn select(requested: Option<&Path>) -> Result<Option<OciRuntime>> {
    if let Some(requested) = requested {
        let path = resolve(requested).ok_or_else(|| {
            Error::invalid(
                "runtime",
                format!("OCI runtime {} not found", requested.display()),
            )
        })?;
        return probe(&path).map(Some);
    }
    for name in CANDIDATES {
        let Some(path) = resolve(Path::new(name)) else {
            log::info!("OCI runtime {name} skipped: not found in PATH");
            continue;
        };
        match probe(&path) {
            Ok(runtime) if usable_by_default(&runtime) => return Ok(Some(runtime)),
            Ok(runtime) => log::warn!(
                "OCI runtime {} skipped: built without seccomp (no +SECCOMP in {:?})",
                path.display(),
                runtime.features
            ),
            Err(e) => log::warn!("OCI runtime {} skipped: {e}", path.display()),
        }
    }
    Ok(None)
}

/// Whether a runtime that answered `--version` may be chosen when none was asked for. crun
/// must have been built with seccomp (`+SECCOMP` in its feature line): a crun without it
/// starts containers without their filter, silently, and runc then enforces it. Asked for by
/// name, a runtime is taken as it is.
fn usable_by_default(runtime: &OciRuntime) -> bool {
    runtime.enforces_seccomp()
}

/// An absolute path for `runtime`: as given when it contains a slash, else found in `PATH`.
pub fn resolve(runtime: &Path) -> Option<PathBuf> {
    if runtime.components().count() > 1 || runtime.is_absolute() {
        return runtime.is_file().then(|| runtime.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(runtime))
        .find(|candidate| candidate.is_file())
}

/// Runs `path --version`; the runtime works if that succeeds.
fn probe(path: &Path) -> Result<OciRuntime> {
    let output = Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| Error::io("run", path, e))?;
    if !output.status.success() {
        return Err(Error::invalid(
            "runtime",
            format!(
                "OCI runtime {} --version failed with {}: {}",
                path.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let version = stdout.lines().next().unwrap_or_default().to_string();
    let features = stdout
        .lines()
        .find(|l| l.starts_with('+') || l.starts_with('-'))
        .unwrap_or_default()
        .to_string();
    Ok(OciRuntime {
        version,
        features,
        ..OciRuntime::at(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_built_from_typed_commands() {
        let args = |c: RuntimeCommand| -> Vec<String> {
            c.args()
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            args(RuntimeCommand::Create {
                bundle: Path::new("/b"),
                pid_file: Path::new("/p"),
                console_socket: Some(Path::new("/c")),
                id: "x",
            }),
            [
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/p",
                "--console-socket",
                "/c",
                "x"
            ]
        );
        assert_eq!(
            args(RuntimeCommand::Kill {
                id: "x",
                signal: 15,
                all: true
            }),
            ["kill", "--all", "x", "15"]
        );
        assert_eq!(
            args(RuntimeCommand::Delete {
                id: "x",
                force: true
            }),
            ["delete", "--force", "x"]
        );
        assert_eq!(args(RuntimeCommand::Start("x")), ["start", "x"]);
        assert_eq!(
            args(RuntimeCommand::Checkpoint {
                id: "x",
                image_path: Path::new("/i"),
                work_path: Path::new("/w"),
                leave_running: true,
                tcp_established: false,
            }),
            [
                "checkpoint",
                "--image-path",
                "/i",
                "--work-path",
                "/w",
                "--leave-running",
                "x"
            ]
        );
        assert_eq!(
            args(RuntimeCommand::Restore {
                bundle: Path::new("/b"),
                image_path: Path::new("/i"),
                work_path: Path::new("/w"),
                pid_file: Path::new("/p"),
                console_socket: None,
                tcp_established: true,
                id: "x",
            }),
            [
                "restore",
                "--detach",
                "--bundle",
                "/b",
                "--image-path",
                "/i",
                "--work-path",
                "/w",
                "--pid-file",
                "/p",
                "--tcp-established",
                "x"
            ]
        );
    }

    #[test]
    fn a_missing_requested_runtime_is_an_error() {
        let err = select(Some(Path::new("/nonexistent/runc"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/runc"), "{err}");
        assert!(select(Some(Path::new("no-such-runtime-here"))).is_err());
    }

    #[test]
    fn a_binary_that_fails_version_is_refused() {
        // `false` exists everywhere and exits 1.
        let err = select(Some(Path::new("false"))).unwrap_err();
        assert!(err.to_string().contains("--version failed"), "{err}");
    }

    #[test]
    fn crun_without_seccomp_is_not_a_default() {
        let with = |features: &str| OciRuntime {
            features: features.into(),
            ..OciRuntime::at(Path::new("/usr/bin/crun"))
        };
        assert!(usable_by_default(&with("+SYSTEMD +SECCOMP +EBPF")));
        assert!(!usable_by_default(&with("+SYSTEMD -SECCOMP")));
        assert!(!usable_by_default(&with("")));
        assert!(usable_by_default(&OciRuntime::at(Path::new(
            "/usr/sbin/runc"
        ))));
    }

    #[test]
    fn a_working_binary_is_taken_with_its_version_line() {
        // `true --version` prints nothing and succeeds: enough to show the probe's shape.
        let rt = select(Some(Path::new("true"))).unwrap().unwrap();
        assert!(rt.path.is_absolute());
        assert_eq!(rt.name, "true");
    }
}
