//! The service itself (issue 2): system methods, introspection, the protocol promises the Go
//! server broke. Driven through the generated Rust client and raw messages. The socket,
//! signals and the idle timeout are in service_process.rs.

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
pub const PENDING: [&str; 0] = [];

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
    // The runtime in use: crun by default where it works, or what PODLINK_RUNTIME names;
    // reported whenever the daemon has one.
    let runtime_env = std::env::var_os("PODLINK_RUNTIME").map(std::path::PathBuf::from);
    let has_runtime =
        podlink::engine::runtime::select(runtime_env.as_deref()).is_ok_and(|r| r.is_some());
    assert_eq!(
        info.host.oci_runtime.is_some(),
        has_runtime,
        "{:?}",
        info.host.oci_runtime
    );
    if let Some(rt) = &info.host.oci_runtime {
        let wanted = std::env::var("PODLINK_RUNTIME").unwrap_or_else(|_| "crun".into());
        assert!(wanted.ends_with(&rt.name), "{rt:?} for {wanted:?}");
        assert!(
            rt.path.ends_with(&rt.name) && !rt.version.is_empty(),
            "{rt:?}"
        );
    }
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
    assert_eq!(count("type "), 31);
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
        // An old client: StopPod without timeout.
        ("StopPod", json!({"name": "p"}), "PodNotFound", "p"),
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
            "PodNotFound",
            "62f4fd98cb57",
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
    // PullImage with only a name, as 0.x clients sent it: it reaches the pull, which finds no
    // search registry for a short name in the test daemon's (absent) registries.conf.
    let reply = raw.call("io.podman.PullImage", json!({"name": "busybox"}));
    assert_eq!(
        error_name(&reply),
        Some("io.podman.ErrorOccurred"),
        "{reply}"
    );
    assert!(
        reply["parameters"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no search registries")),
        "{reply}"
    );
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
fn the_generated_client_round_trips_wire_types() {
    // A reply with a missing field still parses on the client side (zero values).
    let reply: client::GetInfo_Reply =
        serde_json::from_value(json!({"info": {"host": {"cpus": 2}}})).unwrap();
    assert_eq!(reply.info.host.cpus, 2);
    assert_eq!(reply.info.store.graph_root, "");
}
