//! Containers (issue 4): namespaces of `Create`: private, the host's, another container's,
//! and user namespaces with their ID maps. Needs root.

use serde_json::json;

use crate::container_options::stdout_of;
use crate::containers::{create, daemon_with_busybox, fails, inspect, ok};
use crate::util::{DaemonOptions, assert_nothing_left, privileged};

/// The `readlink /proc/self/ns/KIND` line of `out` for `kind`.
fn ns_link(out: &str, kind: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(&format!("{kind}:[")))
        .unwrap_or_else(|| panic!("no {kind} namespace in {out}"))
        .to_string()
}

/// Namespaces private by default, the host's when asked; loopback only; namespaced sysctls.
#[test]
fn namespaces_private_host_none_and_sysctls() {
    if !privileged("namespaces_private_host_none_and_sysctls") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let links = "for n in pid ipc uts net; do readlink /proc/self/ns/$n; done; hostname";
    let host = |kind: &str| {
        std::fs::read_link(format!("/proc/self/ns/{kind}"))
            .unwrap()
            .display()
            .to_string()
    };
    // Private by default; the host's when asked.
    let private = stdout_of(&mut raw, "private", links, json!({}));
    for kind in ["pid", "ipc", "uts", "net"] {
        assert_ne!(ns_link(&private, kind), host(kind), "{kind}");
    }
    let shared = stdout_of(
        &mut raw,
        "hosted",
        links,
        json!({"pid_mode": "host", "ipc_mode": "host", "uts_mode": "host", "net_mode": "host"}),
    );
    for kind in ["pid", "ipc", "uts", "net"] {
        assert_eq!(ns_link(&shared, kind), host(kind), "{kind}");
    }
    let hostname = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(shared.ends_with(&format!("{hostname}\n")), "{shared}");
    // "none" and the default have loopback only.
    let out = stdout_of(
        &mut raw,
        "none",
        "cat /proc/net/dev",
        json!({"net_mode": "none"}),
    );
    let interfaces: Vec<&str> = out
        .lines()
        .skip(2)
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(interfaces, ["lo"], "{out}");
    // Kernel parameters of the container's own network namespace.
    let out = stdout_of(
        &mut raw,
        "sysctl",
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
        json!({"sys_ctl": {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}}),
    );
    assert_eq!(out, "1\n1234\n");
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// Joining a running container's namespaces, by container and by path; a stopped one refused.
#[test]
fn joining_a_running_containers_namespaces() {
    if !privileged("joining_a_running_containers_namespaces") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let links = "for n in pid ipc uts net; do readlink /proc/self/ns/$n; done; hostname";
    // Joining a running container's namespaces, by container and by path.
    let owner = create(
        &mut raw,
        "owner",
        &["sleep", "1000"],
        json!({"hostname": "ownerbox"}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "owner"}));
    let owner_pid = inspect(&mut raw, "owner")["State"]["Pid"].as_i64().unwrap();
    let owner_ns = |kind: &str| {
        std::fs::read_link(format!("/proc/{owner_pid}/ns/{kind}"))
            .unwrap()
            .display()
            .to_string()
    };
    let out = stdout_of(
        &mut raw,
        "joiner",
        links,
        json!({
            "pid_mode": "container:owner", "ipc_mode": format!("container:{}", &owner[..12]),
            "net_mode": "container:owner", "uts_mode": format!("ns:/proc/{owner_pid}/ns/uts")
        }),
    );
    for kind in ["pid", "ipc", "uts", "net"] {
        assert_eq!(ns_link(&out, kind), owner_ns(kind), "{kind}");
    }
    assert!(out.ends_with("ownerbox\n"), "{out}");
    let data = inspect(&mut raw, "joiner");
    assert_eq!(data["HostConfig"]["PidMode"], format!("container:{owner}"));
    // The owner cannot go while another container joins it.
    let reply = fails(
        &mut raw,
        "RemoveContainer",
        json!({"name": "owner", "force": true}),
        "ErrorOccurred",
    );
    assert!(
        reply["reason"]
            .as_str()
            .unwrap()
            .contains("shares namespaces"),
        "{reply}"
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "joiner"}));
    // Joining a stopped container fails at start, saying why.
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "owner", "timeout": 0}),
    );
    create(
        &mut raw,
        "late",
        &["true"],
        json!({"net_mode": "container:owner"}),
    );
    let reply = fails(
        &mut raw,
        "StartContainer",
        json!({"name": "late"}),
        "ErrorOccurred",
    );
    assert!(
        reply["reason"].as_str().unwrap().contains("start it first"),
        "{reply}"
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "late"}));
    ok(&mut raw, "RemoveContainer", json!({"name": "owner"}));
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// A user namespace: root inside is 100000 outside, owns its root filesystem, commits as root.
#[test]
fn a_user_namespace_maps_root_and_owns_its_files() {
    if !privileged("a_user_namespace_maps_root_and_owns_its_files") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // A user namespace: root inside is 100000 outside, and owns its root filesystem.
    let out = stdout_of(
        &mut raw,
        "mapped",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /made-here && ls -n /made-here; echo ok > /tmp/x; cat /tmp/x",
        json!({"uidmap": ["0:100000:65536"], "volumes": ["mappedvol:/vol"]}),
    );
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0", "100000", "65536"], "{out}");
    assert_eq!(lines[1], ["0", "100000", "65536"], "{out}");
    assert_eq!(lines[2], ["0"], "{out}");
    assert_eq!(&lines[3][2..4], ["0", "0"], "owned by root inside: {out}");
    assert_eq!(lines[4], ["ok"], "{out}");
    let id = inspect(&mut raw, "mapped")["Id"]
        .as_str()
        .unwrap()
        .to_string();
    use std::os::unix::fs::MetadataExt;
    let upper = daemon
        .root
        .join("containers")
        .join(&id)
        .join("diff/made-here");
    assert_eq!(std::fs::metadata(&upper).unwrap().uid(), 100_000);
    let volume = daemon.root.join("volumes/mappedvol/_data");
    assert_eq!(std::fs::metadata(&volume).unwrap().uid(), 100_000);
    // Its changes are what it did, not the shift of every image file; committed, they
    // make a layer owned by the IDs inside, with the image's files intact below.
    let changes =
        ok(&mut raw, "ListContainerChanges", json!({"name": "mapped"}))["container"].clone();
    let list =
        |kind: &str| -> Vec<String> { serde_json::from_value(changes[kind].clone()).unwrap() };
    assert!(
        list("added").contains(&"/made-here".to_string()),
        "{changes}"
    );
    assert!(list("added").contains(&"/tmp/x".to_string()), "{changes}");
    assert!(
        !list("changed").iter().any(|p| p.starts_with("/bin")),
        "{changes}"
    );
    assert!(list("deleted").is_empty(), "{changes}");
    ok(
        &mut raw,
        "Commit",
        json!({"name": "mapped", "image_name": "from-mapped", "changes": []}),
    );
    let out = stdout_of(
        &mut raw,
        "unmapped",
        "ls -n /made-here; cat /tmp/x; busybox true && echo busybox intact",
        json!({"image": "from-mapped"}),
    );
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        &lines[0][2..4],
        ["0", "0"],
        "owned by root, not 100000: {out}"
    );
    assert_eq!(
        &lines[1..],
        [vec!["ok"], vec!["busybox", "intact"]],
        "{out}"
    );
    // It runs again (the ownership is shifted once), and a gid map alone serves both.

    ok(&mut raw, "StartContainer", json!({"name": "mapped"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "mapped"}))["exitcode"],
        0
    );
    let out = stdout_of(
        &mut raw,
        "mapped2",
        "cat /proc/self/uid_map",
        json!({"id_mappings": {"uid_map": {"container_id": 0, "host_id": 200000, "size": 1000},
                               "gid_map": {"container_id": 0, "host_id": 300000, "size": 1000}}}),
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "1000"]
    );
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}
