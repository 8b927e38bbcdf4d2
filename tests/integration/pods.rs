//! Pods (issue 11): CreatePod with and without an infra container, members sharing its
//! namespaces, hostname and /dev/shm, every pod method, partial failures, bad input, a daemon
//! killed with a pod running, the contract's examples and python-podman. Needs root.

use std::time::Duration;

use serde_json::{Value, json};

use crate::containers::{create, daemon_with_busybox, inspect};
use crate::util::{
    DaemonOptions, RawConnection, TestDaemon, assert_nothing_left, fails, ok, privileged,
    require_tool, seed_example, test_file, wait_for,
};

/// Creates a pod from `create`; its ID.
pub fn create_pod(raw: &mut RawConnection, create: Value) -> String {
    ok(raw, "CreatePod", json!({ "create": create }))["pod"]
        .as_str()
        .unwrap()
        .to_string()
}

/// GetPod's reply.
fn get_pod(raw: &mut RawConnection, name: &str) -> Value {
    ok(raw, "GetPod", json!({ "name": name }))["pod"].clone()
}

/// InspectPod's document.
fn inspect_pod(raw: &mut RawConnection, name: &str) -> Value {
    let text = ok(raw, "InspectPod", json!({ "name": name }))["pod"]
        .as_str()
        .unwrap()
        .to_string();
    serde_json::from_str(&text).unwrap()
}

/// Each member's status in GetPod, by container name.
fn statuses(raw: &mut RawConnection, pod: &str) -> Vec<(String, String)> {
    get_pod(raw, pod)["containersinfo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A namespace link of a running container's process.
fn ns_of(raw: &mut RawConnection, container: &str, kind: &str) -> String {
    let pid = inspect(raw, container)["State"]["Pid"].as_i64().unwrap();
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

/// Runs `script` in a container made in `pod` (with `extra`), started, waited on; its
/// output as the log holds it. The container is removed.
fn run_in_pod(raw: &mut RawConnection, pod: &str, name: &str, script: &str) -> String {
    create(raw, name, &["sh", "-c", script], json!({ "pod": pod }));
    ok(raw, "StartContainer", json!({ "name": name }));
    let code = ok(raw, "WaitContainer", json!({ "name": name }))["exitcode"].clone();
    let (out, err) = crate::container_options::logs(raw, name);
    assert_eq!(code, 0, "{name}: {script}\n{out}{err}");
    ok(raw, "RemoveContainer", json!({ "name": name }));
    out
}

/// Members share the infra's net, ipc and uts namespaces (not its pid one unless asked),
/// show the pod's name as host name, and share one /dev/shm; the pod's cgroup holds them.
#[test]
fn members_share_the_infra_namespaces_hostname_and_shm() {
    if !privileged("members_share_the_infra_namespaces_hostname_and_shm") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let pod = create_pod(&mut raw, json!({"name": "web", "infra": true}));
    let doc = inspect_pod(&mut raw, "web");
    let infra = doc["State"]["infraContainerID"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(infra.len(), 64, "{doc}");
    assert_eq!(doc["Config"]["sharesNet"], true, "{doc}");
    assert!(doc["Config"].get("sharesPid").is_none(), "{doc}");
    // A member started starts the infra container first.
    create(&mut raw, "a", &["sleep", "1000"], json!({"pod": "web"}));
    ok(&mut raw, "StartContainer", json!({"name": "a"}));
    assert_eq!(
        statuses(&mut raw, "web"),
        [
            (format!("{}-infra", &pod[..12]), "running".to_string()),
            ("a".to_string(), "running".to_string())
        ]
    );
    for kind in ["net", "ipc", "uts"] {
        assert_eq!(
            ns_of(&mut raw, "a", kind),
            ns_of(&mut raw, &infra, kind),
            "{kind}"
        );
    }
    assert_ne!(ns_of(&mut raw, "a", "pid"), ns_of(&mut raw, &infra, "pid"));
    // Seen from inside: the same links, the pod's host name, one /dev/shm.
    let out = run_in_pod(
        &mut raw,
        "web",
        "b",
        "for n in net ipc uts; do readlink /proc/self/ns/$n; done; hostname; \
         echo shared > /dev/shm/note; cat /etc/hostname",
    );
    let links: Vec<String> = ["net", "ipc", "uts"]
        .iter()
        .map(|k| ns_of(&mut raw, "a", k))
        .collect();
    assert_eq!(out, format!("{}\nweb\nweb\n", links.join("\n")));
    let out = run_in_pod(&mut raw, "web", "c", "cat /dev/shm/note; cat /etc/hosts");
    // The pod's address (the infra's, on the bridge) names the member in its /etc/hosts.
    let address = inspect(&mut raw, &infra)["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!address.is_empty());
    assert!(out.starts_with("shared\n"), "{out}");
    assert!(out.contains(&format!("{address}\tweb c\n")), "{out}");
    assert!(out.contains("\thost.containers.internal\n"), "{out}");
    // The members' cgroup is the pod's.
    let a = inspect(&mut raw, "a");
    let cgroup = doc["State"]["cgroupPath"].as_str().unwrap();
    assert!(cgroup.ends_with(&format!("/libpod_pod_{pod}")), "{cgroup}");
    assert_eq!(a["HostConfig"]["CgroupParent"], cgroup, "{a}");
    assert_eq!(inspect(&mut raw, &infra)["IsInfra"], true);
    assert_eq!(inspect(&mut raw, "a")["IsInfra"], false);
    // Infra containers list among containers, as Podman's did.
    let list = ok(&mut raw, "ListContainers", json!({}));
    assert!(list.to_string().contains(&infra), "{list}");
    // The infra container goes only with its pod.
    let reply = fails(
        &mut raw,
        "RemoveContainer",
        json!({"name": infra, "force": true}),
        "ErrorOccurred",
    );
    assert!(
        reply["reason"].as_str().unwrap().contains("infra"),
        "{reply}"
    );
    ok(&mut raw, "RemovePod", json!({"name": "web", "force": true}));
    fails(&mut raw, "GetPod", json!({"name": "web"}), "PodNotFound");
    assert_eq!(
        ok(&mut raw, "ListContainers", json!({}))["containers"],
        json!([])
    );
    assert_nothing_left(&daemon);
}

/// Every pod method on a pod of two members: status as Podman computed it, stop (infra
/// last), start (infra first), restart, kill, pause, unpause, stats, inspect, remove.
#[test]
fn every_pod_method() {
    if !privileged("every_pod_method") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let id = create_pod(
        &mut raw,
        json!({"name": "p", "infra": true, "share": ["net", "ipc", "uts", "pid", "cgroup"],
               "labels": {"tier": "front"}}),
    );
    assert_eq!(get_pod(&mut raw, "p")["status"], "Created");
    // A pod with only its infra container has it, so StartPod has something to start.
    for name in ["m1", "m2"] {
        create(
            &mut raw,
            name,
            &["sleep", "1000"],
            json!({"pod": &id[..10]}),
        );
    }
    assert_eq!(ok(&mut raw, "StartPod", json!({"name": "p"}))["pod"], id);
    let pod = get_pod(&mut raw, "p");
    assert_eq!(pod["status"], "Running", "{pod}");
    assert_eq!(pod["numberofcontainers"], "3", "{pod}");
    assert_eq!(pod["labels"]["tier"], "front", "{pod}");
    assert_eq!(ok(&mut raw, "ListPods", json!({}))["pods"][0]["id"], id);
    // The cgroup namespace too: the members' specs join the infra's (on this cgroup v1
    // host that is the host's own, so the inodes alone would not show it).
    let infra = inspect_pod(&mut raw, "p")["State"]["infraContainerID"]
        .as_str()
        .unwrap()
        .to_string();
    let infra_pid = inspect(&mut raw, &infra)["State"]["Pid"].as_i64().unwrap();
    assert_eq!(
        ns_of(&mut raw, "m1", "cgroup"),
        ns_of(&mut raw, &infra, "cgroup")
    );
    let spec: Value = serde_json::from_str(
        ok(
            &mut raw,
            "ContainerArtifacts",
            json!({"name": "m1", "artifactName": "config.json"}),
        )["config"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let cgroupns = spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == "cgroup")
        .cloned();
    assert_eq!(
        cgroupns,
        Some(json!({"type": "cgroup", "path": format!("/proc/{infra_pid}/ns/cgroup")})),
        "{spec}"
    );
    // A shared PID namespace: the infra's catatonit is PID 1 for the members.
    let out = run_in_pod(&mut raw, "p", "ps", "cat /proc/1/cmdline | tr '\\0' ' '");
    assert_eq!(out, "/catatonit -P \n");
    // Stats of each running member, the infra's included.
    let stats = ok(&mut raw, "GetPodStats", json!({"name": "p"}));
    assert_eq!(stats["pod"], id);
    assert_eq!(stats["containers"].as_array().unwrap().len(), 3, "{stats}");
    // Pause and unpause.
    ok(&mut raw, "PausePod", json!({"name": "p"}));
    assert_eq!(get_pod(&mut raw, "p")["status"], "Paused");
    ok(&mut raw, "UnpausePod", json!({"name": "p"}));
    assert_eq!(get_pod(&mut raw, "p")["status"], "Running");
    // Restart: every member runs again, with a new process.
    let before = inspect(&mut raw, "m1")["State"]["Pid"].clone();
    ok(&mut raw, "RestartPod", json!({"name": "p"}));
    assert_ne!(inspect(&mut raw, "m1")["State"]["Pid"], before);
    assert!(statuses(&mut raw, "p").iter().all(|(_, s)| s == "running"));
    // Kill: SIGKILL ends every member.
    ok(&mut raw, "KillPod", json!({"name": "p", "signal": 9}));
    wait_for("the pod to exit", Duration::from_secs(10), || {
        get_pod(&mut raw, "p")["status"] == "Exited"
    });
    // Start and stop again (with the PID namespace shared, sleep is not PID 1 and SIGTERM
    // ends it at once).
    ok(&mut raw, "StartPod", json!({"name": "p"}));
    ok(&mut raw, "StopPod", json!({"name": "p", "timeout": 5}));
    assert_eq!(get_pod(&mut raw, "p")["status"], "Exited");
    let doc = inspect_pod(&mut raw, "p");
    assert_eq!(doc["Config"]["name"], "p");
    assert_eq!(doc["Config"]["sharesPid"], true);
    assert_eq!(doc["Containers"].as_array().unwrap().len(), 3, "{doc}");
    assert!(
        doc["Containers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "exited")
    );
    // Stopped members: stats have nothing to read.
    fails(
        &mut raw,
        "GetPodStats",
        json!({"name": "p"}),
        "NoContainerRunning",
    );
    // Without force, a pod with members stays.
    let reply = fails(
        &mut raw,
        "RemovePod",
        json!({"name": "p", "force": false}),
        "ErrorOccurred",
    );
    assert!(
        reply["reason"].as_str().unwrap().contains("force"),
        "{reply}"
    );
    ok(&mut raw, "RemovePod", json!({"name": id, "force": true}));
    assert_eq!(ok(&mut raw, "ListPods", json!({}))["pods"], json!([]));
    assert_nothing_left(&daemon);
}

/// A pod method failing on some members answers one PodContainerError listing them; an
/// empty pod answers NoContainersInPod; unknown pods PodNotFound; bad input names its field.
#[test]
fn partial_failures_empty_pods_and_bad_input() {
    if !privileged("partial_failures_empty_pods_and_bad_input") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // A pod without infra (Go's zero value for `infra`): empty, so nothing to start.
    let empty = create_pod(&mut raw, json!({"name": "empty"}));
    let reply = fails(
        &mut raw,
        "StartPod",
        json!({"name": "empty"}),
        "NoContainersInPod",
    );
    assert_eq!(reply["name"], "empty");
    fails(
        &mut raw,
        "RestartPod",
        json!({"name": &empty[..12]}),
        "NoContainersInPod",
    );
    assert_eq!(
        inspect_pod(&mut raw, "empty")["State"]["infraContainerID"],
        ""
    );
    // Members of a pod without infra share only its cgroup.
    let good = create(
        &mut raw,
        "good",
        &["sleep", "1000"],
        json!({"pod": "empty"}),
    );
    // A member whose command does not exist: its start fails.
    let bad = create(
        &mut raw,
        "bad",
        &["/no/such/command"],
        json!({"pod": "empty"}),
    );
    let reply = fails(
        &mut raw,
        "StartPod",
        json!({"name": "empty"}),
        "PodContainerError",
    );
    assert_eq!(reply["podname"], empty, "{reply}");
    let errors = reply["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{reply}");
    assert_eq!(errors[0]["containerid"], bad, "{reply}");
    assert!(!errors[0]["reason"].as_str().unwrap().is_empty(), "{reply}");
    assert_eq!(inspect(&mut raw, &good)["State"]["Running"], true);
    assert_eq!(get_pod(&mut raw, "empty")["status"], "Running");
    // Unknown pods.
    for method in [
        "GetPod",
        "InspectPod",
        "StartPod",
        "RestartPod",
        "PausePod",
        "GetPodStats",
    ] {
        let reply = fails(&mut raw, method, json!({"name": "nope"}), "PodNotFound");
        assert_eq!(reply["name"], "nope", "{method}");
    }
    fails(
        &mut raw,
        "StopPod",
        json!({"name": "nope", "timeout": 1}),
        "PodNotFound",
    );
    fails(
        &mut raw,
        "KillPod",
        json!({"name": "nope", "signal": 9}),
        "PodNotFound",
    );
    fails(
        &mut raw,
        "RemovePod",
        json!({"name": "nope", "force": true}),
        "PodNotFound",
    );
    // Bad input, each naming its field.
    let refused = |raw: &mut RawConnection, create: Value, field: &str| {
        let reply = fails(
            raw,
            "CreatePod",
            json!({ "create": create }),
            "ErrorOccurred",
        );
        let reason = reply["reason"].as_str().unwrap().to_string();
        assert!(
            reason.starts_with(&format!("CreatePod: {field}: ")),
            "{create}: {reason}"
        );
    };
    refused(&mut raw, json!({"name": "empty"}), "name");
    refused(&mut raw, json!({"infra": true, "share": ["mnt"]}), "share");
    refused(
        &mut raw,
        json!({"infra": true, "share": ["bogus"]}),
        "share",
    );
    refused(&mut raw, json!({"share": ["net"]}), "share");
    refused(
        &mut raw,
        json!({"infra": true, "infraImage": "k8s.gcr.io/pause"}),
        "infraImage",
    );
    refused(
        &mut raw,
        json!({"infra": true, "infraCommand": "/pause"}),
        "infraCommand",
    );
    refused(
        &mut raw,
        json!({"cgroupParent": "machine.slice"}),
        "cgroupParent",
    );
    refused(&mut raw, json!({"publish": ["8080:80"]}), "publish");
    // Ports published on an infra container whose network no member shares: refused.
    refused(
        &mut raw,
        json!({"infra": true, "share": ["ipc"], "publish": ["8080:80"]}),
        "publish",
    );
    // The pod's name is its infra container's host name: at most 64 bytes.
    refused(
        &mut raw,
        json!({"infra": true, "name": "p".repeat(65)}),
        "name",
    );
    // Members of a pod sharing its network cannot pick another, nor publish ports.
    create_pod(&mut raw, json!({"name": "net", "infra": true}));
    for (extra, field) in [
        (json!({"net_mode": "host"}), "net_mode"),
        (json!({"publish": ["80"]}), "publish"),
        (json!({"uts_mode": "host"}), "uts_mode"),
        (json!({"cgroup_parent": "/elsewhere"}), "cgroup_parent"),
        (json!({"pod": "nope"}), "pod"),
    ] {
        let mut c = json!({"image": "busybox", "pod": "net"});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let reply = fails(
            &mut raw,
            "CreateContainer",
            json!({ "create": c }),
            "ErrorOccurred",
        );
        let reason = reply["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("CreateContainer: {field}: ")),
            "{reply}"
        );
    }
    // DeleteStoppedContainers leaves infra containers to their pods.
    let removed = ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_eq!(removed["containers"], json!([bad]));
    // A running pod (its infra alone) is not removed without force; stopped, it is.
    ok(&mut raw, "StartPod", json!({"name": "net"}));
    let reply = fails(
        &mut raw,
        "RemovePod",
        json!({"name": "net"}),
        "ErrorOccurred",
    );
    let reason = reply["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("RemovePod: force: pod net is running"),
        "{reason}"
    );
    ok(&mut raw, "StopPod", json!({"name": "net", "timeout": 5}));
    // Every pod left is removed, members and all.
    ok(
        &mut raw,
        "RemovePod",
        json!({"name": "net", "force": false}),
    );
    ok(
        &mut raw,
        "RemovePod",
        json!({"name": "empty", "force": true}),
    );
    assert_eq!(
        ok(&mut raw, "ListContainers", json!({}))["containers"],
        json!([])
    );
    assert_nothing_left(&daemon);
}

/// A daemon SIGKILLed with a pod running finds it running after a restart (members and
/// infra), and stops and removes it later leaving nothing.
#[test]
fn a_pod_survives_a_daemon_sigkill() {
    if !privileged("a_pod_survives_a_daemon_sigkill") {
        return;
    }
    let mut first = daemon_with_busybox(DaemonOptions::default());
    let mut raw = first.raw();
    create_pod(&mut raw, json!({"name": "lasting", "infra": true}));
    create(
        &mut raw,
        "member",
        &["sleep", "1000"],
        json!({"pod": "lasting"}),
    );
    ok(&mut raw, "StartPod", json!({"name": "lasting"}));
    let pid = inspect(&mut raw, "member")["State"]["Pid"].clone();
    drop(raw);
    first.leaves_containers("the second daemon takes them over");
    first.stop_with(nix::sys::signal::Signal::SIGKILL);
    let second = TestDaemon::start_with(DaemonOptions {
        root: Some(first.root.clone()),
        runroot: Some(first.runroot.clone()),
        ..Default::default()
    });
    let mut raw = second.raw();
    let pod = get_pod(&mut raw, "lasting");
    assert_eq!(pod["status"], "Running", "{pod}");
    assert!(
        statuses(&mut raw, "lasting")
            .iter()
            .all(|(_, s)| s == "running")
    );
    assert_eq!(inspect(&mut raw, "member")["State"]["Pid"], pid);
    ok(
        &mut raw,
        "StopPod",
        json!({"name": "lasting", "timeout": 2}),
    );
    ok(
        &mut raw,
        "RemovePod",
        json!({"name": "lasting", "force": true}),
    );
    assert_nothing_left(&second);
    drop(raw);
    drop(second);
    drop(first);
}

/// The contract's pod examples, verbatim through the `varlink` tool (names and IDs changed
/// to the test's own where the example names a pod that does not exist here).
#[test]
fn the_contracts_pod_examples() {
    if !privileged("the_contracts_pod_examples") {
        return;
    }
    require_tool("varlink");
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let reply = seed_example(
        &daemon,
        r#"varlink call unix:/run/podman/io.podman/io.podman.CreatePod '{"create": {"name": "test"}}'"#,
    );
    assert_eq!(reply["pod"].as_str().unwrap().len(), 64, "{reply}");
    let reply = seed_example(
        &daemon,
        r#"varlink call unix:/run/podman/io.podman/io.podman.CreatePod '{"create": {"infra": true, "share": ["ipc", "net", "uts"]}}'"#,
    );
    let id = reply["pod"].as_str().unwrap().to_string();
    // The examples name the pod `foobar`, `135d71b9495f`, `62f4fd98cb57`...: made here.
    create_pod(&mut raw, json!({"name": "foobar", "infra": true}));
    create(
        &mut raw,
        "upbeat_murdock",
        &["sleep", "1000"],
        json!({"pod": "foobar"}),
    );
    let examples = [
        r#"varlink call -m unix:/run/podman/io.podman/io.podman.StartPod '{"name": "foobar"}'"#,
        r#"varlink call -m unix:/run/podman/io.podman/io.podman.GetPod '{"name": "foobar"}'"#,
        r#"varlink call -m unix:/run/podman/io.podman/io.podman.ListPods"#,
        r#"varlink call -m unix:/run/podman/io.podman/io.podman.PausePod '{"name": "foobar"}'"#,
        r#"varlink call -m unix:/run/podman/io.podman/io.podman.UnpausePod '{"name": "foobar"}'"#,
        r#"varlink call -m unix:/run/podman/io.podman/io.podman.RestartPod '{"name": "foobar"}'"#,
        r#"varlink call unix:/run/podman/io.podman/io.podman.GetPodStats '{"name": "foobar"}'"#,
        r#"varlink call -m unix:/run/podman/io.podman/io.podman.KillPod '{"name": "foobar", "signal": 15}'"#,
        r#"varlink call -m unix:/run/podman/io.podman/io.podman.StopPod '{"name": "foobar"}'"#,
    ];
    for example in examples {
        let reply = seed_example(&daemon, example);
        assert!(
            reply.get("pod").or(reply.get("pods")).is_some(),
            "{example}: {reply}"
        );
    }
    let pod = get_pod(&mut raw, "foobar");
    assert_eq!(pod["numberofcontainers"], "2", "{pod}");
    let remove = format!(
        r#"varlink call -m unix:/run/podman/io.podman/io.podman.RemovePod '{{"name": "{}", "force": "true"}}'"#,
        &id[..12]
    );
    assert_eq!(seed_example(&daemon, &remove)["pod"], id);
    ok(
        &mut raw,
        "RemovePod",
        json!({"name": "foobar", "force": true}),
    );
    ok(
        &mut raw,
        "RemovePod",
        json!({"name": "test", "force": true}),
    );
    assert_nothing_left(&daemon);
}

/// The lifecycle of a pod on crun.
#[test]
fn pods_run_on_crun() {
    if !privileged("pods_run_on_crun") {
        return;
    }
    require_tool("crun");
    let daemon = daemon_with_busybox(DaemonOptions {
        args: vec!["--runtime".into(), "crun".into()],
        ..Default::default()
    });
    let mut raw = daemon.raw();
    create_pod(&mut raw, json!({"name": "c", "infra": true}));
    let out = run_in_pod(&mut raw, "c", "one", "hostname; echo x > /dev/shm/y");
    assert_eq!(out, "c\n");
    let out = run_in_pod(&mut raw, "c", "two", "cat /dev/shm/y");
    assert_eq!(out, "x\n");
    ok(&mut raw, "StopPod", json!({"name": "c", "timeout": 2}));
    ok(&mut raw, "RemovePod", json!({"name": "c", "force": false}));
    assert_nothing_left(&daemon);
}

/// python-podman 0.11.1.1 drives pods: create, get, list, start, stop, kill, pause,
/// unpause, stats, remove.
#[test]
fn python_podman_drives_pods() {
    if !privileged("python_podman_drives_pods") {
        return;
    }
    let python = std::path::Path::new("/opt/podlink-test/python-podman/bin/python");
    assert!(
        python.exists(),
        "python-podman: run contrib/scripts/setup-deps.sh test"
    );
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let out = crate::util::run_ok(
        std::process::Command::new(python)
            .arg(test_file("python/pod_client.py"))
            .arg(daemon.address())
            .arg(crate::fixtures::fixtures().rootfs.display().to_string()),
    );
    assert!(out.contains("python-podman pods: ok"), "{out}");
    let mut raw = daemon.raw();
    assert_eq!(ok(&mut raw, "ListPods", json!({}))["pods"], json!([]));
    assert_nothing_left(&daemon);
}

/// A port published for a pod reaches busybox httpd in a member, from 127.0.0.1; the pod's
/// infra container holds the address and the port, and both go with the pod.
#[test]
fn a_pods_published_port_reaches_httpd_in_a_member() {
    if !privileged("a_pods_published_port_reaches_httpd_in_a_member") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    create_pod(
        &mut raw,
        json!({"name": "site", "infra": true, "publish": [format!("127.0.0.1:{port}:80")]}),
    );
    let httpd = "mkdir -p /www && echo served-by-pod > /www/index.html && \
                 exec httpd -f -p 80 -h /www";
    create(
        &mut raw,
        "httpd",
        &["sh", "-c", httpd],
        json!({"pod": "site"}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "httpd"}));
    let address = format!("127.0.0.1:{port}");
    let get = || -> Option<String> {
        use std::io::{Read, Write};
        let mut s =
            std::net::TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_secs(2))
                .ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut response = String::new();
        s.read_to_string(&mut response).ok()?;
        Some(response)
    };
    wait_for("the pod's httpd", Duration::from_secs(20), || {
        get().is_some_and(|r| r.contains("served-by-pod"))
    });
    let doc = inspect_pod(&mut raw, "site");
    let bindings = &doc["Config"]["infraConfig"]["infraPortBindings"];
    assert_eq!(bindings[0]["hostPort"], port, "{doc}");
    assert_eq!(bindings[0]["containerPort"], 80, "{doc}");
    ok(
        &mut raw,
        "RemovePod",
        json!({"name": "site", "force": true}),
    );
    wait_for("the published port closed", Duration::from_secs(10), || {
        get().is_none()
    });
    assert_nothing_left(&daemon);
}
