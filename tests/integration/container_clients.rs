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
    // The example writes to a fixed path: a file left there by an earlier run must not
    // stand in for this one's.
    let _ = std::fs::remove_file("/tmp/payne.tar");
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
            "trap 'exit 143' TERM; echo ready; while true; do sleep 0.1; done",
        ],
        json!({"resources": {"memory": 64 << 20}}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "term"}));
    // PID 1 ignores a signal it has no handler for: the stop below needs the trap set.
    crate::containers::wait_for_log(&mut raw, "term", "ready");
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

/// The name a generated client's `ContainerNotFound` error carries; any other error fails.
fn not_found(e: podlink::varlink::client::Error) -> String {
    match e.kind() {
        podlink::varlink::client::ErrorKind::ContainerNotFound(Some(args)) => args.name.clone(),
        other => panic!("expected ContainerNotFound, got {other}"),
    }
}

/// Every container method through the client generated from the interface, as a Rust
/// program would use it, error cases included.
#[test]
fn every_container_method_through_the_rust_client() {
    use podlink::varlink::client::{Create, ErrorKind, VarlinkClientInterface};
    if !privileged("every_container_method_through_the_rust_client") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut c = daemon.client();
    assert_eq!(
        not_found(c.get_container("nobody".into()).call().unwrap_err()),
        "nobody"
    );
    let create = |name: &str, command: &[&str]| Create {
        image: "busybox".into(),
        name: name.into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let id = c
        .create_container(Create {
            interactive: true,
            ..create("rusty", &["sh", "-c", "echo out; echo err >&2; sleep 1000"])
        })
        .call()
        .unwrap()
        .container;
    assert_eq!(c.container_exists("rusty".into()).call().unwrap().exists, 0);
    let sockets = c.get_attach_sockets(id[..8].into()).call().unwrap().sockets;
    assert_eq!(sockets.container_id, id);
    assert_eq!(
        c.start_container("rusty".into()).call().unwrap().container,
        id
    );
    let running = c.get_container(id.clone()).call().unwrap().container;
    assert!(running.containerrunning && running.status == "running");
    assert!(!running.namespaces.pidns.is_empty());
    let listed = c.list_containers().call().unwrap().containers;
    assert_eq!(listed.len(), 1);
    let data: Value = serde_json::from_str(
        &c.inspect_container("rusty".into())
            .call()
            .unwrap()
            .container,
    )
    .unwrap();
    assert_eq!(data["State"]["Running"], true);
    let stats = c
        .get_container_stats("rusty".into())
        .call()
        .unwrap()
        .container;
    assert_eq!(stats.pids, 1);
    // The shell execs its last command; until then PID 1 is `sh`.
    let mut rows = Vec::new();
    crate::util::wait_for("PID 1 becomes sleep", Duration::from_secs(10), || {
        rows = c
            .list_container_processes("rusty".into(), vec!["pid".into(), "comm".into()])
            .call()
            .unwrap()
            .container;
        rows.get(1).is_some_and(|r| r != "1\tsh")
    });
    assert_eq!(rows, ["PID\tCOMMAND", "1\tsleep"]);
    // Logs so far, then followed with `more` until the container is killed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while c
        .get_container_logs("rusty".into())
        .call()
        .unwrap()
        .container
        .len()
        < 2
    {
        assert!(Instant::now() < deadline, "no output");
        std::thread::sleep(Duration::from_millis(20));
    }
    c.pause_container("rusty".into()).call().unwrap();
    assert!(matches!(
        c.pause_container("rusty".into()).call().unwrap_err().kind(),
        ErrorKind::ErrorOccurred(_)
    ));
    c.unpause_container("rusty".into()).call().unwrap();
    let mut follower = daemon.client();
    let mut follow = follower.get_container_logs("rusty".into());
    let replies = follow.more().unwrap();
    // The first reply (the lines so far) means the follow is under way: kill it then.
    let mut followed = replies.next().expect("a first reply").unwrap().container;
    c.kill_container("rusty".into(), 9).call().unwrap();
    for reply in replies {
        followed.extend(reply.unwrap().container);
    }
    assert_eq!(followed.len(), 2, "{followed:?}");
    assert_eq!(
        c.wait_container("rusty".into()).call().unwrap().exitcode,
        137
    );
    assert!(matches!(
        c.get_container_stats("rusty".into())
            .call()
            .unwrap_err()
            .kind(),
        ErrorKind::NoContainerRunning(_)
    ));
    // Restart, stop, remove: a running one only with force.
    c.restart_container("rusty".into(), 1).call().unwrap();
    assert!(matches!(
        c.remove_container("rusty".into(), false)
            .call()
            .unwrap_err()
            .kind(),
        ErrorKind::ErrorOccurred(_)
    ));
    c.stop_container("rusty".into(), 1).call().unwrap();
    let removed = c.delete_stopped_containers().call().unwrap().containers;
    assert_eq!(removed, [id]);
    assert_nothing_left(&daemon);
}

/// A container's filesystem and podlink's records through the generated Rust client, and a
/// container with `rm`.
#[test]
fn container_files_and_records_through_the_rust_client() {
    use podlink::varlink::client::{Create, Runlabel, VarlinkClientInterface};
    if !privileged("container_files_and_records_through_the_rust_client") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut c = daemon.client();
    let create = |name: &str, command: &[&str]| Create {
        image: "busybox".into(),
        name: name.into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let id = c
        .create_container(create("rusty", &["true"]))
        .call()
        .unwrap()
        .container;
    c.start_container("rusty".into()).call().unwrap();
    assert_eq!(c.wait_container("rusty".into()).call().unwrap().exitcode, 0);
    // The filesystem: changes, mounts, export, commit.
    let changes = c
        .list_container_changes("rusty".into())
        .call()
        .unwrap()
        .container;
    assert!(
        changes.added.is_empty() && changes.deleted.is_empty(),
        "{changes:?}"
    );
    let path = c.mount_container("rusty".into()).call().unwrap().path;
    assert_eq!(
        c.list_container_mounts().call().unwrap().mounts.get(&id),
        Some(&path)
    );
    c.unmount_container("rusty".into(), false).call().unwrap();
    let out = tempfile::tempdir().unwrap();
    let tar = out.path().join("rusty.tar").display().to_string();
    assert_eq!(
        c.export_container("rusty".into(), tar.clone())
            .call()
            .unwrap()
            .tarfile,
        tar
    );
    let image = c
        .commit(
            "rusty".into(),
            "rusty-image".into(),
            vec!["LABEL RUN=true".into()],
            "me".into(),
            "from rust".into(),
            false,
            "oci".into(),
        )
        .call()
        .unwrap()
        .image;
    assert_eq!(image.len(), 64);
    c.container_runlabel(Runlabel {
        image: "rusty-image".into(),
        label: "RUN".into(),
        ..Default::default()
    })
    .call()
    .unwrap();
    // podlink's own records.
    for dump in [
        c.container_config("rusty".into()).call().unwrap().config,
        c.container_inspect_data("rusty".into())
            .call()
            .unwrap()
            .config,
        c.container_state_data("rusty".into())
            .call()
            .unwrap()
            .config,
        c.container_artifacts("rusty".into(), "create-config".into())
            .call()
            .unwrap()
            .config,
    ] {
        let value: Value = serde_json::from_str(&dump).unwrap();
        assert!(value.is_object(), "{dump}");
    }
    // A container with `rm` goes by itself; DeleteStoppedContainers takes the rest.
    let gone = c
        .create_container(Create {
            rm: true,
            ..create("gone", &["true"])
        })
        .call()
        .unwrap()
        .container;
    c.start_container(gone.clone()).call().unwrap();
    assert_eq!(c.wait_container(gone.clone()).call().unwrap().exitcode, 0);
    assert_eq!(
        not_found(c.get_container(gone.clone()).call().unwrap_err()),
        gone
    );
    let removed = c.delete_stopped_containers().call().unwrap().containers;
    assert_eq!(removed, [id]);
    assert_eq!(c.container_exists("rusty".into()).call().unwrap().exists, 1);
    assert_nothing_left(&daemon);
}
