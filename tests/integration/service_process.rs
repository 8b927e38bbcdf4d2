//! The service as a process (issue 2): its socket's modes, a stale socket, signals, the idle
//! timeout, close-on-exec descriptors, the runtime flag.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

use nix::sys::signal::Signal;
use podlink::varlink::client::VarlinkClientInterface;
use serde_json::json;

use crate::util::{DaemonOptions, TestDaemon};

#[test]
fn socket_is_0600_in_a_0700_directory_and_mode_suffix_is_honoured() {
    let daemon = TestDaemon::start();
    let meta = std::fs::metadata(&daemon.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);

    let nested = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    let socket = nested.path().join("podman/io.podman");
    let mut cmd =
        crate::util::daemon_command(&nested.path().join("root"), &nested.path().join("run"));
    let mut child = cmd
        .arg(format!("unix:{};mode=0660", socket.display()))
        .spawn()
        .unwrap();
    crate::util::wait_listening(&socket, &mut child);
    let dir_mode = std::fs::metadata(socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o7777, 0o700);
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o7777,
        0o660
    );
    crate::util::terminate(&mut child);
}

#[test]
fn sigterm_exits_zero_and_removes_the_socket() {
    let mut daemon = TestDaemon::start();
    // An idle open connection must not hold shutdown up.
    let _idle = daemon.raw();
    let start = std::time::Instant::now();
    let status = daemon.stop_with(Signal::SIGTERM);
    assert!(status.success(), "{status}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        start.elapsed()
    );
    assert!(!daemon.socket.exists(), "socket file left behind");

    let mut daemon = TestDaemon::start();
    assert!(daemon.stop_with(Signal::SIGINT).success());
    assert!(!daemon.socket.exists());
}

#[test]
fn sigterm_lets_calls_in_flight_finish() {
    let mut daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let mut batch = Vec::new();
    for _ in 0..2000 {
        batch.extend_from_slice(b"{\"method\":\"io.podman.GetInfo\"}\0");
    }
    let mut writer = raw.stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        let _ = writer.write_all(&batch);
    });
    // Processing is under way once the first reply is back; then ask the daemon to stop.
    assert!(raw.recv().unwrap()["parameters"]["info"].is_object());
    let pid = nix::unistd::Pid::from_raw(daemon.pid() as i32);
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    // Every call already sent is answered in full, then the connection closes cleanly.
    let mut answered = 1;
    while let Some(reply) = raw.recv() {
        assert!(reply["parameters"]["info"].is_object(), "{reply}");
        answered += 1;
    }
    sender.join().unwrap();
    assert!(daemon.wait_exit(crate::util::DEADLINE).unwrap().success());
    assert_eq!(
        answered, 2000,
        "calls received before the signal were dropped"
    );
    let mut rest = Vec::new();
    let _ = raw.stream.read_to_end(&mut rest);
    assert!(rest.is_empty());
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_refused() {
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    let socket = dir.path().join("sock");
    // Stale: a socket file nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let mut cmd = crate::util::daemon_command(&dir.path().join("root"), &dir.path().join("run"));
    let mut first = cmd
        .arg(format!("unix:{}", socket.display()))
        .spawn()
        .unwrap();
    crate::util::wait_listening(&socket, &mut first);
    // Live: a second daemon on the same socket refuses to start.
    let mut cmd = crate::util::daemon_command(&dir.path().join("root2"), &dir.path().join("run2"));
    let out = cmd
        .arg(format!("unix:{}", socket.display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already listening"));
    // And the first still serves.
    let mut c = podlink::varlink::client::VarlinkClient::new(crate::util::connect(&format!(
        "unix:{}",
        socket.display()
    )));
    assert_eq!(c.ping().call().unwrap().ping.message, "OK");
    crate::util::terminate(&mut first);
}

#[test]
fn idle_timeout_exits_only_when_no_connection_is_open() {
    let mut daemon = TestDaemon::start_with(DaemonOptions {
        args: vec!["--timeout".into(), "300".into()],
        ..Default::default()
    });
    {
        let mut raw = daemon.raw();
        // Held open across several timeouts, the connection keeps the daemon up.
        for _ in 0..4 {
            // Not synchronisation: the time that passes is what is tested (longer, in all,
            // than the idle timeout).
            std::thread::sleep(Duration::from_millis(200));
            assert_eq!(
                raw.call("io.podman.Ping", json!({}))["parameters"]["ping"]["message"],
                "OK"
            );
        }
        assert!(daemon.is_running());
    }
    let start = std::time::Instant::now();
    let status = daemon
        .wait_exit(Duration::from_secs(10))
        .expect("daemon should exit when idle");
    assert!(status.success());
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "exited after {waited:?}"
    );
    assert!(!daemon.socket.exists());
}

#[test]
fn every_descriptor_of_the_daemon_is_close_on_exec() {
    let daemon = TestDaemon::start();
    let _open = (daemon.raw(), daemon.raw());
    // Let the daemon accept them.
    assert_eq!(daemon.client().ping().call().unwrap().ping.message, "OK");
    let pid = daemon.pid();
    let mut checked = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/fdinfo")).unwrap() {
        let entry = entry.unwrap();
        let fd: i32 = entry.file_name().to_string_lossy().parse().unwrap();
        if fd <= 2 {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let flags = text
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .unwrap()
            .trim();
        let flags = u32::from_str_radix(flags, 8).unwrap();
        assert_ne!(
            flags & libc::O_CLOEXEC as u32,
            0,
            "fd {fd} of the daemon lacks O_CLOEXEC"
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} descriptors checked");
}

#[test]
fn runtime_flag_takes_a_name_or_path_and_refuses_a_missing_one() {
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    let out = crate::util::daemon_command(&dir.path().join("root"), &dir.path().join("run"))
        .arg(format!("unix:{}", dir.path().join("sock").display()))
        .args(["--runtime", "/nonexistent/runc"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OCI runtime /nonexistent/runc not found"),
        "{stderr}"
    );
    assert!(!dir.path().join("sock").exists());

    // Both runtimes the README installs are accepted by name.
    for name in ["runc", "crun"] {
        crate::util::require_tool(name);
        let daemon = TestDaemon::start_with(DaemonOptions {
            args: vec!["--runtime".into(), name.into()],
            ..Default::default()
        });
        assert_eq!(daemon.client().ping().call().unwrap().ping.message, "OK");
    }
}
