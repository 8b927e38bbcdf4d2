//! Containers (issue 4): capabilities, devices, confinement and cgroup resources of
//! `Create`, observed inside the container and in its cgroup on the host. Needs root.

use std::path::Path;

use podlink::varlink::client::VarlinkClientInterface;
use serde_json::json;

use crate::container_options::{
    cgroup_file, create_reply, logs, output, read_trimmed, status_field, stdout_of,
};
use crate::containers::{create, daemon_with_busybox, inspect, ok};
use crate::util::{DaemonOptions, assert_nothing_left, privileged};

#[test]
fn capabilities_devices_and_confinement() {
    if !privileged("capabilities_devices_and_confinement") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let status = "cat /proc/self/status";
    // Podman's fourteen default capabilities, the default seccomp filter, no NoNewPrivs.
    let out = stdout_of(&mut raw, "defaults", status, json!({}));
    assert_eq!(status_field(&out, "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&out, "CapBnd"), "00000000a80425fb");
    // Not inheritable: a switch to another user inside must not keep them.
    assert_eq!(status_field(&out, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(&out, "NoNewPrivs"), "0");
    assert_eq!(status_field(&out, "Seccomp"), "2");
    // Drop them all but one added.
    let out = stdout_of(
        &mut raw,
        "one-cap",
        status,
        json!({"cap_drop": ["ALL"], "cap_add": ["net_admin"]}),
    );
    assert_eq!(status_field(&out, "CapEff"), "0000000000001000");
    let data = inspect(&mut raw, "one-cap");
    assert_eq!(data["HostConfig"]["CapAdd"], json!(["CAP_NET_ADMIN"]));
    assert_eq!(data["HostConfig"]["CapDrop"], json!(["ALL"]));
    // A user other than root holds only the added ones (bounded by the defaults plus those).
    let out = stdout_of(
        &mut raw,
        "app-caps",
        status,
        json!({"user": "app", "cap_add": ["CAP_NET_RAW"], "cap_drop": ["KILL"]}),
    );
    assert_eq!(status_field(&out, "CapEff"), "0000000000002000");
    assert_eq!(status_field(&out, "CapBnd"), "00000000a80425db");
    // Privileged: every capability the service has (its own bounding set, which the test
    // shares), the host's devices, no seccomp.
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let full = status_field(&own, "CapBnd");

    let out = stdout_of(
        &mut raw,
        "privileged",
        "cat /proc/self/status; ls /dev; grep ' /sys ' /proc/mounts",
        json!({"privileged": true}),
    );
    assert_eq!(status_field(&out, "CapEff"), full);
    assert_eq!(status_field(&out, "Seccomp"), "0");
    assert!(out.contains("sysfs /sys sysfs rw"), "{out}");
    let host_only = std::fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| {
            n.starts_with("vd") || n.starts_with("sd") || n.starts_with("loop") || n == "kmsg"
        })
        .expect("a host device");
    assert!(
        out.lines().any(|l| l == host_only),
        "{host_only} not in {out}"
    );
    assert_eq!(
        inspect(&mut raw, "privileged")["HostConfig"]["Privileged"],
        true
    );
    // No new privileges, by field or by option; seccomp off, or a profile of the client's.
    for (name, extra) in [
        ("nnp-field", json!({"no_new_privs": true})),
        ("nnp-opt", json!({"security_opts": ["no-new-privileges"]})),
    ] {
        let out = stdout_of(&mut raw, name, status, extra);
        assert_eq!(status_field(&out, "NoNewPrivs"), "1", "{name}");
    }
    let out = stdout_of(
        &mut raw,
        "unconfined",
        status,
        json!({"security_opts": ["seccomp=unconfined", "label=disable", "apparmor=unconfined"]}),
    );
    assert_eq!(status_field(&out, "Seccomp"), "0");
    let profile = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        profile.path(),
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
    )
    .unwrap();
    let (code, _, err) = output(
        &mut raw,
        "profiled",
        "mkdir /made",
        json!({"seccomp_profile_path": profile.path().display().to_string()}),
    );
    assert_ne!(code, 0);
    assert!(err.contains("Operation not permitted"), "{err}");
    // Devices: renamed, and with read-only cgroup permission. (/dev/kmsg, because the
    // runtime allows the usual ones, /dev/null and /dev/zero among them, to every container.)
    let out = stdout_of(
        &mut raw,
        "devices",
        "test -c /dev/mynull && echo x > /dev/mynull && echo wrote; test -c /dev/kmsg-ro && echo present; (echo x > /dev/kmsg-ro) 2>/dev/null || echo write refused",
        json!({"devices": ["/dev/null:/dev/mynull", "/dev/kmsg:/dev/kmsg-ro:r"]}),
    );
    assert_eq!(out, "wrote\npresent\nwrite refused\n", "{out}");

    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// Memory, CPU, pids, block IO limits in the cgroup; OOM score and rlimits inside.
#[test]
fn resources_reach_the_cgroup() {
    if !privileged("resources_reach_the_cgroup") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let block_device = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| {
            !n.starts_with("loop") && !n.starts_with("ram") && Path::new("/dev").join(n).exists()
        })
        .map(|n| format!("/dev/{n}"));
    let mut resources = json!({
        "memory": 64 << 20, "memory_swap": 128 << 20, "memory_reservation": 32 << 20,
        "cpu_shares": 512, "cpus": 0.5, "cpuset_cpus": "0", "pids_limit": 50,
        "oom_score_adj": 300, "disable_oomkiller": true,
        "ulimit": ["nofile=100:200", "nproc=999999999"],
    });
    if let Some(device) = &block_device {
        resources["device_read_bps"] = json!([format!("{device}:1mb")]);
        resources["device_write_iops"] = json!([format!("{device}:100")]);
    }
    let id = create(
        &mut raw,
        "limited",
        &[
            "sh",
            "-c",
            "cat /proc/self/oom_score_adj; ulimit -n; ulimit -Hn; ulimit -Hu; sleep 1000",
        ],
        json!({ "resources": resources }),
    );
    ok(&mut raw, "StartContainer", json!({"name": "limited"}));
    let file = |controller: &str, name: &str| {
        read_trimmed(&cgroup_file(&daemon.root, &id, controller, name))
    };
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if unified {
        assert_eq!(file("", "memory.max"), (64 << 20).to_string());
        assert_eq!(file("", "cpu.max"), "50000 100000");
        assert_eq!(file("", "pids.max"), "50");
        assert_eq!(file("", "cpuset.cpus"), "0");
    } else {
        assert_eq!(
            file("memory", "memory.limit_in_bytes"),
            (64 << 20).to_string()
        );
        assert_eq!(
            file("memory", "memory.soft_limit_in_bytes"),
            (32 << 20).to_string()
        );
        let memsw = cgroup_file(&daemon.root, &id, "memory", "memory.memsw.limit_in_bytes");
        if memsw.exists() {
            assert_eq!(read_trimmed(&memsw), (128 << 20).to_string());
        }
        assert!(file("memory", "memory.oom_control").contains("oom_kill_disable 1"));
        assert_eq!(file("cpu", "cpu.shares"), "512");
        assert_eq!(file("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(file("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(file("cpuset", "cpuset.cpus"), "0");
        assert_eq!(file("pids", "pids.max"), "50");
        if let Some(device) = &block_device {
            use std::os::unix::fs::MetadataExt;
            let rdev = std::fs::metadata(device).unwrap().rdev();
            let numbers = format!(
                "{}:{}",
                nix::sys::stat::major(rdev),
                nix::sys::stat::minor(rdev)
            );
            assert_eq!(
                file("blkio", "blkio.throttle.read_bps_device"),
                format!("{numbers} 1048576")
            );
            assert_eq!(
                file("blkio", "blkio.throttle.write_iops_device"),
                format!("{numbers} 100")
            );
        }
    }
    // Inside: the OOM score and rlimits (nproc clamped to the service's own hard limit).
    let (own_nproc, _) = {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max processes"))
            .unwrap()
            .to_string();
        let fields: Vec<String> = line.split_whitespace().map(String::from).collect();
        (fields[3].clone(), fields[2].clone())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let out = loop {
        let (out, _) = logs(&mut raw, "limited");
        if out.lines().count() >= 4 || std::time::Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let own_nproc = if own_nproc == "unlimited" {
        "999999999".to_string()
    } else {
        own_nproc
            .parse::<u64>()
            .unwrap()
            .min(999_999_999)
            .to_string()
    };
    assert_eq!(out, format!("300\n100\n200\n{own_nproc}\n"), "{out}");
    let data = inspect(&mut raw, "limited");
    assert_eq!(data["HostConfig"]["Memory"], 64 << 20);
    assert_eq!(data["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(data["HostConfig"]["PidsLimit"], 50);
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "limited", "force": true}),
    );
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// A cgroup parent of the client's, removed with the container.
#[test]
fn a_cgroup_parent_of_the_clients() {
    if !privileged("a_cgroup_parent_of_the_clients") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // A cgroup parent of the client's.
    let parent = format!("{}/custom", crate::util::cgroup_parent(&daemon.root));
    let id = create(
        &mut raw,
        "parented",
        &["sleep", "1000"],
        json!({"cgroup_parent": parent}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "parented"}));
    let dirs = crate::util::cgroup_dirs(&format!("{parent}/{id}"));
    assert!(
        dirs.iter().any(|d| d.join("cgroup.procs").exists()),
        "{dirs:?}"
    );
    assert_eq!(
        inspect(&mut raw, "parented")["HostConfig"]["CgroupParent"],
        parent
    );
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "parented", "force": true}),
    );
    assert!(
        !dirs.iter().any(|d| d.exists()),
        "removed with the container"
    );
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// The OOM killer ends a container over its limit, and inspect says so.
#[test]
fn the_oom_killer_ends_a_container_over_its_limit() {
    if !privileged("the_oom_killer_ends_a_container_over_its_limit") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // The OOM killer ends a container over its limit, and inspect says so.
    let (code, _, _) = output(
        &mut raw,
        "hog",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' x); echo survived",
        json!({"resources": {"memory": 16 << 20, "memory_swap": 16 << 20}}),
    );
    assert_eq!(code, 137);
    assert_eq!(inspect(&mut raw, "hog")["State"]["OOMKilled"], true);
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// Block IO weights, where this host's IO scheduler has them; refused naming the field otherwise.
#[test]
fn block_io_weights_where_the_scheduler_has_them() {
    if !privileged("block_io_weights_where_the_scheduler_has_them") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    // Block IO weights, where this host's IO scheduler has them.
    let weight = create_reply(
        &mut raw,
        json!({"image": "busybox", "resources": {"blkio_weight": 300}}),
    );
    let weight_file = Path::new("/sys/fs/cgroup/blkio")
        .join(crate::util::cgroup_parent(&daemon.root).trim_start_matches('/'));
    // crun 1.8 writes only CFQ's weight file on v1; runc BFQ's too.
    let crun = daemon
        .client()
        .get_info()
        .call()
        .unwrap()
        .info
        .host
        .oci_runtime
        .unwrap()
        .name
        == "crun";
    let supported = unified
        || weight_file.join("blkio.weight").exists()
        || (!crun && weight_file.join("blkio.bfq.weight").exists());
    if supported {
        let id = weight["parameters"]["container"]
            .as_str()
            .expect("created")
            .to_string();
        ok(&mut raw, "StartContainer", json!({"name": id}));
        let (name, expected) = if unified {
            ("io.bfq.weight", "default 300")
        } else if weight_file.join("blkio.bfq.weight").exists() {
            ("blkio.bfq.weight", "300")
        } else {
            ("blkio.weight", "300")
        };
        let controller = if unified { "" } else { "blkio" };
        let path = cgroup_file(&daemon.root, &id, controller, name);
        if path.exists() {
            assert!(
                read_trimmed(&path).contains(expected),
                "{}",
                read_trimmed(&path)
            );
        }
        ok(
            &mut raw,
            "RemoveContainer",
            json!({"name": id, "force": true}),
        );
    } else {
        assert_eq!(weight["error"], "io.podman.ErrorOccurred", "{weight}");
        assert!(
            weight["parameters"]["reason"]
                .as_str()
                .unwrap()
                .contains("blkio_weight")
        );
    }
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}
