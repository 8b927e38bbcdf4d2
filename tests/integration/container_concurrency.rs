//! Containers (issue 4): many clients at once, logs followed while they come, and a slow
//! stop that holds up only its own container. Needs root.

use std::time::{Duration, Instant};

use podlink::varlink::client::VarlinkClientInterface;
use serde_json::json;

use crate::containers::{create, daemon_with_busybox, inspect, ok, run, wait_for_log};
use crate::util::{DaemonOptions, assert_nothing_left, privileged};

#[test]
fn concurrent_clients_create_start_and_remove() {
    if !privileged("concurrent_clients_create_start_and_remove") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let clients = 20;
    let per_client = 10;
    let ids: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let daemon = &daemon;
                s.spawn(move || {
                    let mut client = daemon.client();
                    let mut ids = Vec::new();
                    for n in 0..per_client {
                        let create = podlink::varlink::client::Create {
                            image: "busybox".into(),
                            name: format!("c{c}-{n}"),
                            command: vec!["true".into()],
                            ..Default::default()
                        };
                        let id = client.create_container(create).call().unwrap().container;
                        client.start_container(id.clone()).call().unwrap();
                        assert_eq!(
                            client.wait_container(id.clone()).call().unwrap().exitcode,
                            0
                        );
                        assert_eq!(
                            client
                                .remove_container(id.clone(), false)
                                .call()
                                .unwrap()
                                .container,
                            id
                        );
                        ids.push(id);
                    }
                    ids
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: std::collections::HashSet<&String> = ids.iter().flatten().collect();
    assert_eq!(all.len(), clients * per_client, "duplicated IDs");
    let mut raw = daemon.raw();
    assert_eq!(
        ok(&mut raw, "ListContainers", json!({}))["containers"],
        json!([])
    );
    // Their files go on the daemon's reclaim thread, after the replies.
    crate::util::wait_for(
        "the containers' files deleted",
        Duration::from_secs(30),
        || {
            std::fs::read_dir(daemon.root.join("containers"))
                .unwrap()
                .next()
                .is_none()
        },
    );
    assert_nothing_left(&daemon);
}

#[test]
fn logs_follow_until_the_container_exits() {
    if !privileged("logs_follow_until_the_container_exits") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    create(
        &mut raw,
        "talker",
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do echo line $i; echo oops $i >&2; sleep 0.2; done",
        ],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "talker"}));
    let mut follow = daemon.raw();
    follow.send(&json!({"method": "io.podman.GetContainerLogs", "parameters": {"name": "talker"}, "more": true}));
    let mut lines = Vec::new();
    let mut replies = 0;
    loop {
        let reply = follow.recv().expect("a reply");
        assert!(reply.get("error").is_none(), "{reply}");
        replies += 1;
        lines.extend(
            reply["parameters"]["container"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_string()),
        );
        if reply.get("continues") != Some(&json!(true)) {
            break;
        }
    }
    assert!(
        replies >= 3,
        "lines were not pushed as they came: {replies} replies"
    );
    let stdout: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" stdout F line "))
        .collect();
    let stderr: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" stderr F oops "))
        .collect();
    assert_eq!((stdout.len(), stderr.len()), (5, 5), "{lines:?}");
    // The stream ended because the container exited.
    assert_eq!(inspect(&mut raw, "talker")["State"]["Status"], "exited");
    // The connection goes on.
    assert_eq!(
        follow.call("io.podman.Ping", json!({}))["parameters"]["ping"]["message"],
        "OK"
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "talker"}));
}

#[test]
fn a_slow_stop_holds_up_only_its_own_container() {
    if !privileged("a_slow_stop_holds_up_only_its_own_container") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // Notes SIGTERM and carries on: a stop waits out its whole timeout.
    create(
        &mut raw,
        "slow",
        &[
            "sh",
            "-c",
            "trap 'echo got TERM' TERM; echo ready; while true; do sleep 0.1; done",
        ],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "slow"}));
    // PID 1 ignores a signal it has no handler for: stop once the trap is set.
    wait_for_log(&mut raw, "slow", "ready");
    let stopping = std::thread::scope(|s| {
        let stopper = s.spawn(|| {
            let mut raw = daemon.raw();
            let start = Instant::now();
            ok(
                &mut raw,
                "StopContainer",
                json!({"name": "slow", "timeout": 4}),
            );
            start.elapsed()
        });
        // The container logging the signal means the stop is under way (and holds the
        // container until its timeout).
        wait_for_log(&mut daemon.raw(), "slow", "got TERM");
        // Meanwhile, other clients list, inspect (the stopping one too), and run other
        // containers, without waiting for the stop.
        let start = Instant::now();
        let mut other = daemon.raw();
        let list = ok(&mut other, "ListContainers", json!({}))["containers"].clone();
        assert_eq!(list[0]["status"], "running");
        assert_eq!(inspect(&mut other, "slow")["State"]["Status"], "running");
        assert_eq!(run(&mut other, "quick", &["true"]), 0);
        ok(&mut other, "RemoveContainer", json!({"name": "quick"}));
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "other calls waited for the stop: {:?}",
            start.elapsed()
        );
        // A second call on the stopping container waits its turn, then finds it stopped.
        let reply = other.call(
            "io.podman.StopContainer",
            json!({"name": "slow", "timeout": 1}),
        );
        assert_eq!(reply["error"], "io.podman.ErrorOccurred", "{reply}");
        assert!(
            reply["parameters"]["reason"]
                .as_str()
                .unwrap()
                .contains("exited")
        );
        stopper.join().unwrap()
    });
    assert!(stopping >= Duration::from_secs(4), "{stopping:?}");
    assert_eq!(inspect(&mut raw, "slow")["State"]["ExitCode"], 137);
    ok(&mut raw, "RemoveContainer", json!({"name": "slow"}));
    assert_nothing_left(&daemon);
}
