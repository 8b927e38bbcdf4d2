//! Real clients other than the generated Rust one (issue 2): Python's `varlink` package, the
//! `varlink` command line tool, and systemd socket activation through
//! `systemd-socket-activate`.

use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use podlink::varlink::client::{VarlinkClient, VarlinkClientInterface};

use crate::util::{
    DEADLINE, TestDaemon, connect, require_tool, run_ok, seed_example, shell_words, test_file,
};

#[test]
fn python_varlink_package() {
    let daemon = TestDaemon::start();
    let python = require_tool("python3");
    let out = run_ok(
        Command::new(python)
            .arg(test_file("python/service_client.py"))
            .arg(daemon.address()),
    );
    assert!(out.contains("python client: ok"), "{out}");
}

#[test]
fn varlink_command_line_tool_runs_the_seed_examples() {
    let daemon = TestDaemon::start();
    // Ping, verbatim from the contract (002 and 001).
    let reply = seed_example(
        &daemon,
        "varlink call -m unix:/run/podman/io.podman/io.podman.Ping",
    );
    assert_eq!(reply, serde_json::json!({"ping": {"message": "OK"}}));
    let reply = seed_example(
        &daemon,
        "varlink call unix:/run/podman/io.podman/io.podman.GetVersion",
    );
    assert_eq!(reply["version"]["remote_api_version"], 1);

    let varlink = require_tool("varlink");
    let help = run_ok(
        Command::new(&varlink)
            .arg("help")
            .arg(format!("{}/io.podman", daemon.address())),
    );
    assert!(
        help.contains("method Ping() -> (ping: StringResponse)"),
        "{help}"
    );
    let info = run_ok(Command::new(&varlink).arg("info").arg(daemon.address()));
    assert!(
        info.contains("io.podman") && info.contains("podlink"),
        "{info}"
    );

    // A NotImplemented method fails with the varlink error in the tool's output.
    let out = Command::new(&varlink)
        .args(["call", &format!("{}/io.podman.TopPod", daemon.address())])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MethodNotImplemented"));
}

#[test]
fn shell_words_keep_quoted_json() {
    assert_eq!(
        shell_words(r#"varlink call -m unix:/x/io.podman.StopPod '{"name": "a b"}'"#),
        [
            "varlink",
            "call",
            "-m",
            "unix:/x/io.podman.StopPod",
            r#"{"name": "a b"}"#
        ]
    );
}

#[test]
fn systemd_socket_activation() {
    let activate = require_tool("systemd-socket-activate");
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    let socket = dir.path().join("io.podman");
    let child = Command::new(activate)
        .arg("-l")
        .arg(&socket)
        .arg("--fdname=io.podman")
        .arg("-E")
        .arg("PODLINK_LOG_LEVEL=warn")
        .arg(env!("CARGO_BIN_EXE_podlink"))
        .arg("serve")
        .arg("--root")
        .arg(dir.path().join("root"))
        .arg("--runroot")
        .arg(dir.path().join("run"))
        // The address is ignored under activation: nothing may appear here.
        .arg(format!("unix:{}", dir.path().join("unused").display()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // Ends the activator (podlink, once it took over) however the test ends.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Reap(child);
    // systemd-socket-activate binds, listens, then execs podlink on the first connection.
    // The socket file appears at bind, a moment before the listen: wait for a connection.
    let start = Instant::now();
    while UnixStream::connect(&socket).is_err() {
        assert!(
            start.elapsed() < DEADLINE,
            "systemd-socket-activate did not listen"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let address = format!("unix:{}", socket.display());
    let mut c = VarlinkClient::new(connect(&address));
    assert_eq!(c.ping().call().unwrap().ping.message, "OK");
    let mut again = VarlinkClient::new(connect(&address));
    assert!(again.get_version().call().is_ok());
    assert!(!dir.path().join("unused").exists());

    // podlink replaced systemd-socket-activate in the same process and marked the passed
    // socket close-on-exec, so no child it starts inherits it.
    let pid = child.0.id();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.ends_with("podlink"), "{exe:?}");
    let fdinfo = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/3")).unwrap();
    let flags = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .unwrap()
        .trim();
    assert_ne!(
        u32::from_str_radix(flags, 8).unwrap() & libc::O_CLOEXEC as u32,
        0
    );

    crate::util::terminate(&mut child.0);
    // The socket belongs to the activator (systemd), so podlink leaves it in place.
    assert!(socket.exists());
    assert!(UnixStream::connect(&socket).is_err());
}
