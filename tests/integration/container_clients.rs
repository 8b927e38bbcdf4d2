//! Containers (issue 4) through other real clients and runtimes: Python's `varlink` package,
//! the contract's examples run verbatim with the `varlink` command line tool, and crun.
//! Needs root.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::containers::{create, daemon_with_busybox, inspect, ok, run};
use crate::fixtures::fixtures;
use crate::util::{
    DaemonOptions, assert_nothing_left, privileged, require_tool, run_ok, seed_example, test_file,
};

/// A check of one example's reply.
type Check = Box<dyn Fn(&Value)>;

#[test]
fn python_drives_containers() {
    if !privileged("python_drives_containers") {
        return;
    }
    let daemon = crate::util::TestDaemon::start();
    let out = run_ok(
        Command::new("python3")
            .arg(test_file("python/container_client.py"))
            .arg(daemon.address())
            .arg(&fixtures().rootfs),
    );
    assert!(out.contains("python container client: ok"), "{out}");
    assert_nothing_left(&daemon);
}

/// The seed examples of the container methods, with the contract's names and ID prefixes
/// changed to ones that exist (and its image, alpine, tagged onto the busybox fixture).
#[test]
fn varlink_tool_runs_the_container_examples() {
    if !privileged("varlink_tool_runs_the_container_examples") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    ok(
        &mut raw,
        "TagImage",
        json!({"name": "busybox", "tagged": "alpine"}),
    );
    // The same in both revisions of the contract.
    let reply = seed_example(
        &daemon,
        r#"varlink call unix:/run/podman/io.podman/io.podman.CreateContainer '{"create": {"image": "alpine"}}'"#,
    );
    let id = reply["container"].as_str().unwrap();
    assert_eq!(id.len(), 64, "{reply}");
    assert_eq!(inspect(&mut raw, id)["Config"]["Cmd"], json!(["/bin/sh"]));
    create(
        &mut raw,
        "flamboyant_payne",
        &["sh", "-c", "echo hi > /payne"],
        json!({}),
    );
    assert_eq!(run(&mut raw, "jolly_shannon", &["true"]), 0);
    let running = create(&mut raw, "runner", &["sleep", "1000"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "runner"}));
    let prefix = &running[..12];
    let examples: Vec<(String, Check)> = vec![
        (
            r#"varlink call -m unix:/run/podman/io.podman/io.podman.ContainerExists '{"name": "flamboyant_payne"}'"#.into(),
            Box::new(|r| assert_eq!(r["exists"], 0, "{r}")),
        ),
        (
            format!(r#"varlink call -m unix:/run/io.podman/io.podman.GetAttachSockets '{{"name": "{prefix}"}}'"#),
            Box::new(|r| {
                assert!(r["sockets"]["io_socket"].as_str().unwrap().ends_with("/attach"), "{r}");
                assert!(r["sockets"]["control_socket"].as_str().unwrap().ends_with("/ctl"), "{r}");
            }),
        ),
        (
            format!(r#"varlink call -m unix:/run/podman/io.podman/io.podman.GetContainerStats '{{"name": "{prefix}"}}'"#),
            Box::new(|r| {
                assert_eq!(r["container"]["name"], "runner", "{r}");
                assert_eq!(r["container"]["pids"], 1, "{r}");
            }),
        ),
        (
            format!(r#"varlink call -m unix:/run/podman/io.podman/io.podman.ListContainerProcesses '{{"name": "{prefix}", "opts": []}}'"#),
            Box::new(|r| {
                let rows = r["container"].as_array().unwrap();
                assert!(rows[0].as_str().unwrap().starts_with("USER\tPID"), "{r}");
                assert!(rows[1].as_str().unwrap().ends_with("\tsleep"), "{r}");
            }),
        ),
        (
            r#"varlink call -m unix:/run/podman/io.podman/io.podman.MountContainer '{"name": "jolly_shannon"}'"#.into(),
            Box::new(|r| assert!(r["path"].as_str().unwrap().ends_with("/merged"), "{r}")),
        ),
        (
            "varlink call -m unix:/run/podman/io.podman/io.podman.ListContainerMounts".into(),
            Box::new(|r| {
                let mounts = r["mounts"].as_object().unwrap();
                assert!(mounts.values().any(|p| p.as_str().unwrap().ends_with("/merged")), "{r}");
            }),
        ),
        (
            r#"varlink call -m unix:/run/podman/io.podman/io.podman.UnmountContainer '{"name": "jolly_shannon", "force": false}'"#.into(),
            Box::new(|r| assert_eq!(*r, json!({}), "{r}")),
        ),
        (
            r#"varlink call -m unix:/run/podman/io.podman/io.podman.ExportContainer '{"name": "flamboyant_payne", "path": "/tmp/payne.tar" }'"#.into(),
            Box::new(|r| assert_eq!(r["tarfile"], "/tmp/payne.tar", "{r}")),
        ),
        (
            format!(r#"varlink call -m unix:/run/podman/io.podman/io.podman.StopContainer '{{"name": "{prefix}", "timeout": 5}}'"#),
            Box::new(move |r| assert_eq!(r["container"].as_str().unwrap().len(), 64, "{r}")),
        ),
        (
            format!(r#"varlink call -m unix:/run/podman/io.podman/io.podman.RemoveContainer '{{"name": "{prefix}"}}'"#),
            Box::new(|r| assert_eq!(r["container"].as_str().unwrap().len(), 64, "{r}")),
        ),
        (
            "varlink call -m unix:/run/podman/io.podman/io.podman.DeleteStoppedContainers".into(),
            Box::new(|r| assert_eq!(r["containers"].as_array().unwrap().len(), 3, "{r}")),
        ),
    ];
    let started = Instant::now();
    for (example, check) in &examples {
        let reply = seed_example(&daemon, example);
        check(&reply);
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    let listing = run_ok(Command::new("tar").args(["-tf", "/tmp/payne.tar"]));
    let _ = std::fs::remove_file("/tmp/payne.tar");
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "bin/busybox"),
        "{listing}"
    );
    assert_eq!(
        ok(&mut raw, "ListContainers", json!({}))["containers"],
        json!([])
    );
    assert_nothing_left(&daemon);
}

/// The lifecycle on crun (with its workaround for hybrid cgroups where that applies).
#[test]
fn crun_runs_containers_too() {
    if !privileged("crun_runs_containers_too") {
        return;
    }
    require_tool("crun");
    let daemon = daemon_with_busybox(DaemonOptions {
        args: vec!["--runtime".into(), "crun".into()],
        ..Default::default()
    });
    let mut raw = daemon.raw();
    assert_eq!(run(&mut raw, "zero", &["true"]), 0);
    assert_eq!(run(&mut raw, "one", &["false"]), 1);
    // Stop: 143 for a process that handles SIGTERM, 137 for one killed after the timeout.
    create(
        &mut raw,
        "term",
        &[
            "sh",
            "-c",
            "trap 'exit 143' TERM; while true; do sleep 0.1; done",
        ],
        json!({"resources": {"memory": 64 << 20}}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "term"}));
    let stats = ok(&mut raw, "GetContainerStats", json!({"name": "term"}))["container"].clone();
    assert_eq!(stats["mem_limit"], 64 << 20, "{stats}");
    ok(&mut raw, "PauseContainer", json!({"name": "term"}));
    assert_eq!(inspect(&mut raw, "term")["State"]["Status"], "paused");
    ok(&mut raw, "UnpauseContainer", json!({"name": "term"}));
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "term", "timeout": 10}),
    );
    assert_eq!(inspect(&mut raw, "term")["State"]["ExitCode"], 143);
    create(&mut raw, "stubborn", &["sleep", "1000"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "stubborn"}));
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "stubborn", "timeout": 1}),
    );
    assert_eq!(inspect(&mut raw, "stubborn")["State"]["ExitCode"], 137);
    // Output, a terminal, and the runtime's own spec.
    create(
        &mut raw,
        "tty",
        &["sh", "-c", "tty; echo out"],
        json!({"tty": true}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "tty"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "tty"}))["exitcode"],
        0
    );
    let logs = ok(&mut raw, "GetContainerLogs", json!({"name": "tty"}))["container"].clone();
    assert!(logs.to_string().contains("/dev/pts/0"), "{logs}");
    assert_eq!(inspect(&mut raw, "tty")["OCIRuntime"], "crun");
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}
