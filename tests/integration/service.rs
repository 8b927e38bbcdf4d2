//! The service itself (issue 2): system methods, introspection, the protocol promises the Go
//! server broke, the socket, signals and the idle timeout. Driven through the generated Rust
//! client and raw messages.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

use nix::sys::signal::Signal;
use podlink::varlink::client::{self, VarlinkClientInterface};
use serde_json::{Value, json};

use crate::util::{DaemonOptions, RawConnection, TestDaemon};

/// The 11 methods the contract declares but does not implement.
pub const NOT_IMPLEMENTED: [&str; 11] = [
    "ResizeContainerTty",
    "UpdateContainer",
    "RenameContainer",
    "AttachToContainer",
    "CreateImage",
    "WaitPod",
    "TopPod",
    "ListContainerPorts",
    "GenerateKube",
    "GenerateKubeService",
    "ReplayKube",
];

/// Methods whose issue has not landed: they must answer ErrorOccurred naming themselves.
/// Each later issue removes the methods it implements.
pub const PENDING: [&str; 16] = [
    "BuildImage",
    "PushImage",
    "SearchImage",
    "PullImage",
    "CreatePod",
    "ListPods",
    "GetPod",
    "InspectPod",
    "StartPod",
    "StopPod",
    "RestartPod",
    "KillPod",
    "PausePod",
    "UnpausePod",
    "RemovePod",
    "GetPodStats",
];

fn error_name(reply: &Value) -> Option<&str> {
    reply.get("error").and_then(Value::as_str)
}

fn assert_pending(reply: &Value, method: &str) {
    assert_eq!(
        error_name(reply),
        Some("io.podman.ErrorOccurred"),
        "{method}: {reply}"
    );
    let reason = reply["parameters"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(method),
        "{method}: reason {reason:?} does not name it"
    );
}

#[test]
fn ping_get_version_and_get_info_through_the_rust_client() {
    let daemon = TestDaemon::start();
    let mut c = daemon.client();
    assert_eq!(c.ping().call().unwrap().ping.message, "OK");

    let version = c.get_version().call().unwrap().version;
    assert_eq!(version.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(version.remote_api_version, 1);
    assert_eq!(version.os_arch, "linux/amd64");
    assert!(
        version.built > 1_600_000_000,
        "build time {}",
        version.built
    );
    assert!(version.go_version.starts_with("rustc "));

    let info = c.get_info().call().unwrap().info;
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: i64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(info.host.mem_total, total_kb * 1024);
    assert!(info.host.mem_free > 0 && info.host.mem_free <= info.host.mem_total);
    assert!(info.host.cpus >= 1);
    assert_eq!(info.host.os, "linux");
    assert_eq!(info.host.arch, "amd64");
    assert_eq!(
        info.host.hostname,
        nix::unistd::gethostname().unwrap().to_string_lossy()
    );
    assert_eq!(
        info.host.kernel,
        nix::sys::utsname::uname()
            .unwrap()
            .release()
            .to_string_lossy()
    );
    assert!(
        info.host.uptime.contains("Approximately"),
        "{}",
        info.host.uptime
    );
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap();
    assert!(os_release.contains(&format!("ID={}", info.host.distribution.distribution)));
    assert_eq!(info.store.graph_driver_name, "overlay");
    assert_eq!(info.store.graph_root, daemon.root.display().to_string());
    assert_eq!(info.store.run_root, daemon.runroot.display().to_string());
    assert!(!info.store.graph_status.backing_filesystem.is_empty());
    assert_eq!(info.store.graph_status.supports_d_type, "true");
    assert_eq!(info.store.images, 0);
    assert_eq!(info.store.containers, 0);
    assert!(info.registries.is_empty());
}

#[test]
fn get_info_reads_registries_conf() {
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("registries.conf");
    std::fs::write(
        &conf,
        "unqualified-search-registries = [\"docker.io\", \"quay.io\"]\n\
         [[registry]]\nlocation = \"127.0.0.1:5000\"\ninsecure = true\n",
    )
    .unwrap();
    let daemon = TestDaemon::start_with(DaemonOptions {
        args: vec!["--registries-conf".into(), conf.display().to_string()],
        ..Default::default()
    });
    let info = daemon.client().get_info().call().unwrap().info;
    assert_eq!(info.registries, ["docker.io", "quay.io"]);
    assert_eq!(info.insecure_registries, ["127.0.0.1:5000"]);
}

#[test]
fn introspection_describes_every_method_type_and_error() {
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let info = raw.call("org.varlink.service.GetInfo", json!({}));
    let p = &info["parameters"];
    assert_eq!(p["vendor"], "podlink");
    assert_eq!(p["product"], "podlink");
    assert_eq!(p["version"], env!("CARGO_PKG_VERSION"));
    assert!(p["url"].as_str().unwrap().starts_with("https://"));
    let interfaces: Vec<&str> = p["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(interfaces.contains(&"io.podman") && interfaces.contains(&"org.varlink.service"));

    let reply = raw.call(
        "org.varlink.service.GetInterfaceDescription",
        json!({"interface": "io.podman"}),
    );
    let description = reply["parameters"]["description"].as_str().unwrap();
    let count = |prefix: &str| {
        description
            .lines()
            .filter(|l| l.starts_with(prefix))
            .count()
    };
    assert_eq!(count("method "), 72);
    assert_eq!(count("type "), 30);
    assert_eq!(count("error "), 8);
    assert_eq!(description, include_str!("../../io.podman.varlink"));
}

#[test]
fn every_method_answers_exactly_once_without_protocol_errors() {
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let reply = raw.call(
        "org.varlink.service.GetInterfaceDescription",
        json!({"interface": "io.podman"}),
    );
    let description = reply["parameters"]["description"]
        .as_str()
        .unwrap()
        .to_string();
    let methods: Vec<&str> = description
        .lines()
        .filter_map(|l| l.strip_prefix("method "))
        .map(|l| l.split('(').next().unwrap())
        .collect();
    assert_eq!(methods.len(), 72);
    // Pipeline all 72 calls on one connection, then read 72 replies in order.
    for method in &methods {
        raw.send(&json!({"method": format!("io.podman.{method}"), "parameters": {}}));
    }
    for method in &methods {
        let reply = raw
            .recv()
            .unwrap_or_else(|| panic!("{method}: connection closed"));
        if NOT_IMPLEMENTED.contains(method) {
            assert_eq!(
                error_name(&reply),
                Some("org.varlink.service.MethodNotImplemented"),
                "{method}"
            );
            assert_eq!(reply["parameters"]["method"], format!("io.podman.{method}"));
        } else if PENDING.contains(method) {
            assert_pending(&reply, method);
        } else {
            let error = error_name(&reply).unwrap_or("");
            assert!(
                !error.starts_with("org.varlink.service."),
                "{method}: {reply}"
            );
        }
    }
    assert_eq!(
        raw.call("io.podman.Ping", json!({}))["parameters"]["ping"]["message"],
        "OK"
    );
}

#[test]
fn not_implemented_methods_through_the_rust_client() {
    let daemon = TestDaemon::start();
    let mut c = daemon.client();
    let err = c.resize_container_tty().call().unwrap_err();
    assert!(
        format!("{err:?}").contains("MethodNotImplemented"),
        "{err:?}"
    );
    let err = c.generate_kube().call().unwrap_err();
    assert!(
        format!("{err:?}").contains("MethodNotImplemented"),
        "{err:?}"
    );
    // The connection is still usable.
    assert_eq!(c.ping().call().unwrap().ping.message, "OK");
}

#[test]
fn missing_null_and_unknown_input_fields_take_zero_values() {
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    // Each call reaches its handler (which answers a not-found error, or ErrorOccurred for a
    // method not implemented yet) instead of being refused as an invalid parameter.
    let calls = [
        // An old client: StopPod without timeout, PullImage with only a name.
        ("StopPod", json!({"name": "p"}), "pending", ""),
        ("PullImage", json!({"name": "busybox"}), "pending", ""),
        // A nested struct with one of its 66 fields, and a null struct.
        (
            "CreateContainer",
            json!({"create": {"image": "alpine"}}),
            "ImageNotFound",
            "alpine",
        ),
        (
            "CreateContainer",
            json!({"create": null}),
            "ImageNotFound",
            "",
        ),
        (
            "CreateContainer",
            json!({"create": {"image": "a", "env": null, "resources": {"memory": null}}}),
            "ImageNotFound",
            "a",
        ),
        // Unknown fields are ignored.
        (
            "RemoveContainer",
            json!({"name": "c", "force": true, "bogus": [1, 2]}),
            "ContainerNotFound",
            "c",
        ),
        // The contract's own RemovePod example sends force as a string.
        (
            "RemovePod",
            json!({"name": "62f4fd98cb57", "force": "true"}),
            "pending",
            "",
        ),
        // StopContainer as 0.x clients sent it, without a timeout.
        (
            "StopContainer",
            json!({"name": "x"}),
            "ContainerNotFound",
            "x",
        ),
    ];
    for (method, parameters, outcome, name) in calls {
        let reply = raw.call(&format!("io.podman.{method}"), parameters.clone());
        if outcome == "pending" {
            assert_pending(&reply, method);
        } else {
            assert_eq!(
                error_name(&reply),
                Some(format!("io.podman.{outcome}").as_str()),
                "{method}: {reply}"
            );
            assert_eq!(reply["parameters"]["name"], name, "{method}: {reply}");
        }
    }
    // ImagesPrune with and without `all` (the seed lists no input), and with null.
    for parameters in [json!({}), json!({"all": null}), json!({"all": false})] {
        let reply = raw.call("io.podman.ImagesPrune", parameters);
        assert_eq!(reply, json!({"parameters": {"pruned": []}}));
    }
    raw.send(&json!({"method": "io.podman.ImagesPrune"}));
    assert_eq!(raw.recv().unwrap(), json!({"parameters": {"pruned": []}}));
    // No parameters at all, or parameters: null.
    for message in [
        json!({"method": "io.podman.StopContainer"}),
        json!({"method": "io.podman.StopContainer", "parameters": null}),
    ] {
        raw.send(&message);
        let reply = raw.recv().unwrap();
        assert_eq!(
            error_name(&reply),
            Some("io.podman.ContainerNotFound"),
            "{reply}"
        );
        assert_eq!(reply["parameters"]["name"], "");
    }
    // Unknown fields on a method without inputs.
    assert_eq!(
        raw.call("io.podman.Ping", json!({"x": 1}))["parameters"]["ping"]["message"],
        "OK"
    );
    // A wrong type is still refused, and the connection survives it.
    let reply = raw.call(
        "io.podman.StopContainer",
        json!({"name": "c", "timeout": [5]}),
    );
    assert_eq!(
        error_name(&reply),
        Some("org.varlink.service.InvalidParameter")
    );
    assert_eq!(
        raw.call("io.podman.Ping", json!({}))["parameters"]["ping"]["message"],
        "OK"
    );
}

#[test]
fn malformed_messages_get_an_error_and_leave_other_connections_alone() {
    let daemon = TestDaemon::start();
    let mut good = daemon.raw();
    let mut bad = daemon.raw();
    for garbage in [
        &b"{this is not json\0"[..],
        b"[1,2,3]\0",
        b"{\"parameters\":{}}\0",
        b"\xff\xfe\0",
    ] {
        bad.send_bytes(garbage);
        let reply = bad.recv().expect("an error reply, not a closed connection");
        assert_eq!(
            error_name(&reply),
            Some("org.varlink.service.InvalidParameter"),
            "{reply}"
        );
        assert_eq!(
            good.call("io.podman.Ping", json!({}))["parameters"]["ping"]["message"],
            "OK"
        );
    }
    // Unknown interface and unknown method are answered, too.
    let reply = bad.call("org.example.Nope", json!({}));
    assert_eq!(
        error_name(&reply),
        Some("org.varlink.service.InterfaceNotFound")
    );
    let reply = bad.call("io.podman.Nope", json!({}));
    assert_eq!(
        error_name(&reply),
        Some("org.varlink.service.MethodNotFound")
    );
    assert_eq!(
        bad.call("io.podman.Ping", json!({}))["parameters"]["ping"]["message"],
        "OK"
    );
    // A fresh connection works too.
    assert_eq!(daemon.client().ping().call().unwrap().ping.message, "OK");
}

#[test]
fn an_oversized_message_is_refused_and_its_connection_closed() {
    let daemon = TestDaemon::start();
    let mut big = daemon.raw();
    let writer = {
        let mut stream = big.stream.try_clone().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            let chunk = vec![b' '; 1 << 20];
            let _ = stream.write_all(b"{\"method\":\"io.podman.Ping\",\"parameters\":{\"x\":\"");
            for _ in 0..17 {
                if stream.write_all(&chunk).is_err() {
                    return;
                }
            }
            let _ = stream.write_all(b"\"}}\0");
        })
    };
    let reply = big.recv().expect("an error reply before the close");
    assert_eq!(
        error_name(&reply),
        Some("org.varlink.service.InvalidParameter")
    );
    assert!(
        reply["parameters"]["parameter"]
            .as_str()
            .unwrap()
            .contains("16777216")
    );
    assert!(big.recv().is_none(), "the connection must be closed");
    writer.join().unwrap();
    // A message just under the limit is fine.
    let mut ok = daemon.raw();
    let padding = " ".repeat(15 << 20);
    let reply = ok.call("io.podman.Ping", json!({ "padding": padding }));
    assert_eq!(reply["parameters"]["ping"]["message"], "OK");
    assert_eq!(daemon.client().ping().call().unwrap().ping.message, "OK");
}

#[test]
fn oneway_calls_get_no_reply_and_more_on_a_plain_method_gets_one() {
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    raw.send(&json!({"method": "io.podman.GetVersion", "oneway": true}));
    raw.send(&json!({"method": "io.podman.ListContainers", "oneway": true}));
    raw.send(&json!({"method": "io.podman.Ping", "oneway": true, "parameters": {"x": 1}}));
    raw.send(&json!({"method": "io.podman.Ping", "parameters": {}}));
    let reply = raw.recv().unwrap();
    assert_eq!(reply, json!({"parameters": {"ping": {"message": "OK"}}}));

    raw.send(&json!({"method": "io.podman.Ping", "more": true}));
    raw.send(&json!({"method": "io.podman.GetVersion"}));
    let first = raw.recv().unwrap();
    assert_eq!(first, json!({"parameters": {"ping": {"message": "OK"}}}));
    assert!(first.get("continues").is_none());
    assert!(raw.recv().unwrap()["parameters"]["version"].is_object());
}

#[test]
fn pipelined_calls_are_answered_in_order() {
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let mut batch = Vec::new();
    for i in 0..200 {
        let method = if i % 3 == 0 {
            "io.podman.GetVersion"
        } else {
            "io.podman.Ping"
        };
        batch.extend(serde_json::to_vec(&json!({"method": method})).unwrap());
        batch.push(0);
    }
    raw.send_bytes(&batch);
    for i in 0..200 {
        let reply = raw.recv().unwrap();
        if i % 3 == 0 {
            assert!(
                reply["parameters"]["version"].is_object(),
                "reply {i}: {reply}"
            );
        } else {
            assert_eq!(reply["parameters"]["ping"]["message"], "OK", "reply {i}");
        }
    }
}

#[test]
fn a_panicking_handler_becomes_error_occurred_and_service_goes_on() {
    let daemon = TestDaemon::start_with(DaemonOptions {
        args: vec!["--test-panic-method".into(), "GetVersion".into()],
        env: vec![("PODLINK_LOG_LEVEL".into(), "off".into())],
        ..Default::default()
    });
    let mut raw = daemon.raw();
    // More panics than the varlink crate's pool has threads.
    for _ in 0..40 {
        let reply = raw.call("io.podman.GetVersion", json!({}));
        assert_eq!(
            error_name(&reply),
            Some("io.podman.ErrorOccurred"),
            "{reply}"
        );
        let reason = reply["parameters"]["reason"].as_str().unwrap();
        assert!(
            reason.contains("GetVersion") && reason.contains("panic"),
            "{reason}"
        );
        assert_eq!(
            raw.call("io.podman.Ping", json!({}))["parameters"]["ping"]["message"],
            "OK"
        );
    }
    let mut c = daemon.client();
    assert!(c.get_version().call().is_err());
    assert_eq!(c.ping().call().unwrap().ping.message, "OK");
    // A oneway call that panics gets no reply either.
    raw.send(&json!({"method": "io.podman.GetVersion", "oneway": true}));
    assert_eq!(
        raw.call("io.podman.Ping", json!({}))["parameters"]["ping"]["message"],
        "OK"
    );
}

#[test]
fn three_hundred_idle_connections_do_not_lock_out_the_next() {
    let daemon = TestDaemon::start();
    let mut idle: Vec<RawConnection> = (0..300).map(|_| daemon.raw()).collect();
    // The 301st gets answers while 300 sit open.
    let mut c = daemon.client();
    for _ in 0..10 {
        assert_eq!(c.ping().call().unwrap().ping.message, "OK");
    }
    // And every one of the 300 is served too, all at once.
    for conn in &mut idle {
        conn.send(&json!({"method": "io.podman.Ping"}));
    }
    for conn in &mut idle {
        assert_eq!(conn.recv().unwrap()["parameters"]["ping"]["message"], "OK");
    }
    // 300 clients calling concurrently, each from its own thread.
    let replies: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = idle
            .iter_mut()
            .map(|conn| s.spawn(move || conn.call("io.podman.Ping", json!({}))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(replies.len(), 300);
    for reply in replies {
        assert_eq!(reply["parameters"]["ping"]["message"], "OK");
    }
}

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
fn the_generated_client_round_trips_wire_types() {
    // A reply with a missing field still parses on the client side (zero values).
    let reply: client::GetInfo_Reply =
        serde_json::from_value(json!({"info": {"host": {"cpus": 2}}})).unwrap();
    assert_eq!(reply.info.host.cpus, 2);
    assert_eq!(reply.info.store.graph_root, "");
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
