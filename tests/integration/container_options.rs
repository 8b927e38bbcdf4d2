//! Containers (issue 4): every field of `Create` and `CreateResourceConfig`, observed from
//! inside the container or in its cgroup on the host; and the errors that name a field
//! podlink cannot honour. Needs root.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::containers::{create, daemon_with_busybox, fails, inspect, ok, wait_for_log};
use crate::fixtures::fixtures;
use crate::util::{DaemonOptions, RawConnection, assert_nothing_left, privileged};

/// Runs `script` with `sh -c` in a new container made with `extra`; its exit code, stdout
/// and stderr (from the log).
fn output(
    raw: &mut RawConnection,
    name: &str,
    script: &str,
    extra: Value,
) -> (i64, String, String) {
    create(raw, name, &["sh", "-c", script], extra);
    ok(raw, "StartContainer", json!({ "name": name }));
    let code = ok(raw, "WaitContainer", json!({ "name": name }))["exitcode"]
        .as_i64()
        .unwrap();
    let (out, err) = logs(raw, name);
    (code, out, err)
}

/// A container's log as stdout and stderr text.
fn logs(raw: &mut RawConnection, name: &str) -> (String, String) {
    let lines: Vec<String> = serde_json::from_value(
        ok(raw, "GetContainerLogs", json!({ "name": name }))["container"].clone(),
    )
    .unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    for line in lines {
        let mut parts = line.splitn(4, ' ');
        let (_, stream, _, text) = (parts.next(), parts.next(), parts.next(), parts.next());
        let target = if stream == Some("stderr") {
            &mut err
        } else {
            &mut out
        };
        target.push_str(text.unwrap_or_default());
        target.push('\n');
    }
    (out, err)
}

/// Runs `script` and expects exit code 0; its stdout.
fn stdout_of(raw: &mut RawConnection, name: &str, script: &str, extra: Value) -> String {
    let (code, out, err) = output(raw, name, script, extra);
    assert_eq!(
        code, 0,
        "{name}: {script}\n--- stdout\n{out}--- stderr\n{err}"
    );
    out
}

/// A `Status:` field of /proc/self/status inside the container.
fn status_field(out: &str, field: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {out}"))
        .trim()
        .to_string()
}

/// A file of a running container's cgroup on the host, in `controller`'s hierarchy (v1), or
/// the unified one (v2, where `controller` is ignored).
fn cgroup_file(daemon_root: &Path, id: &str, controller: &str, file: &str) -> PathBuf {
    let relative = format!("{}/{id}", crate::util::cgroup_parent(daemon_root));
    let relative = relative.trim_start_matches('/');
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        Path::new("/sys/fs/cgroup").join(relative).join(file)
    } else {
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(relative)
            .join(file)
    }
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// User, groups, working directory, host name, environment; the short ID as host name.
#[test]
fn identity_user_groups_hostname_and_environment() {
    if !privileged("identity_user_groups_hostname_and_environment") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // User, groups, working directory, host name, environment.
    let out = stdout_of(
        &mut raw,
        "who",
        "id -u; id -g; id -G; pwd; hostname; cat /etc/hostname; echo $GREETING $HOSTNAME $container $TERM",
        json!({
            "user": "app", "group_add": ["extra", "30"], "work_dir": "/tmp",
            "hostname": "box", "env": {"GREETING": "hi"}
        }),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["1000", "1000"], "{out}");
    let groups: Vec<&str> = lines[2].split(' ').collect();
    assert!(groups.contains(&"2000") && groups.contains(&"30"), "{out}");
    assert_eq!(&lines[3..6], ["/tmp", "box", "box"], "{out}");
    assert_eq!(lines[6], "hi box podman xterm", "{out}");
    // Without a host name: the short ID, as Podman.
    let id = create(&mut raw, "short", &["hostname"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "short"}));
    ok(&mut raw, "WaitContainer", json!({"name": "short"}));
    assert_eq!(logs(&mut raw, "short").0, format!("{}\n", &id[..12]));
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// A read-only root filesystem, with a tmpfs to write in.
#[test]
fn a_read_only_root_with_a_tmpfs() {
    if !privileged("a_read_only_root_with_a_tmpfs") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // A read-only root filesystem, with a tmpfs to write in.
    let (code, _, err) = output(
        &mut raw,
        "readonly",
        "grep ' /scratch ' /proc/mounts; touch /scratch/ok && touch /nope",
        json!({"readonly_rootfs": true, "tmpfs": ["/scratch:size=2m,mode=1777"]}),
    );
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    let (out, _) = logs(&mut raw, "readonly");
    assert!(
        out.contains("tmpfs /scratch tmpfs")
            && out.contains("size=2048k")
            && out.contains("noexec"),
        "{out}"
    );
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// Bind mounts (rw and ro), a named volume shared by two containers, image volumes.
#[test]
fn bind_mounts_named_volumes_and_image_volumes() {
    if !privileged("bind_mounts_named_volumes_and_image_volumes") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // Bind mounts (rw and ro), a named volume shared by two containers, an image volume
    // filled from the image.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in"), "from host\n").unwrap();
    let src = host.path().display().to_string();
    let out = stdout_of(
        &mut raw,
        "binds",
        "cat /rw/in; echo from container > /rw/out; echo x > /ro/y || echo ro refused; echo kept > /named/file",
        json!({"volumes": [format!("{src}:/rw"), format!("{src}:/ro:ro"), "shared:/named"]}),
    );
    assert_eq!(out, "from host\nro refused\n", "{out}");
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap(),
        "from container\n"
    );
    let out = stdout_of(
        &mut raw,
        "binds2",
        "cat /again/file",
        json!({"volumes": ["shared:/again"]}),
    );
    assert_eq!(out, "kept\n");
    assert!(daemon.root.join("volumes/shared/_data/file").is_file());
    let mounts = inspect(&mut raw, "binds")["Mounts"].clone();
    assert!(
        mounts
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Destination"] == "/ro" && m["RW"] == false && m["Source"] == src.as_str()),
        "{mounts}"
    );
    let listed =
        ok(&mut raw, "GetContainer", json!({"name": "binds"}))["container"]["mounts"].clone();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["destination"] == "/named"
                && m["type"] == "volume"
                && m["source"] == "shared"),
        "{listed}"
    );
    ok(
        &mut raw,
        "ImportImage",
        json!({
            "source": fixtures().rootfs.display().to_string(),
            "reference": "withvolume",
            "changes": ["VOLUME /opaque", "CMD [\"/bin/sh\"]"],
        }),
    );
    let out = stdout_of(
        &mut raw,
        "imgvol",
        "grep -c ' /opaque ' /proc/mounts; cat /opaque/old",
        json!({"image": "withvolume"}),
    );
    assert!(out.starts_with("1\nhidden by"), "{out}");
    let out = stdout_of(
        &mut raw,
        "imgvol-ignored",
        "grep -c ' /opaque ' /proc/mounts || true",
        json!({"image": "withvolume", "image_volume_type": "ignore"}),
    );
    assert_eq!(out, "0\n");
    let out = stdout_of(
        &mut raw,
        "imgvol-tmpfs",
        "grep ' /opaque ' /proc/mounts",
        json!({"image": "withvolume", "image_volume_type": "tmpfs"}),
    );
    assert!(out.starts_with("tmpfs /opaque tmpfs"), "{out}");
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// /dev/shm's size, DNS, extra hosts.
#[test]
fn shm_size_dns_and_extra_hosts() {
    if !privileged("shm_size_dns_and_extra_hosts") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // /dev/shm's size, DNS, extra hosts.
    let out = stdout_of(
        &mut raw,
        "net-files",
        "grep ' /dev/shm ' /proc/mounts; cat /etc/resolv.conf; grep db /etc/hosts",
        json!({
            "resources": {"shm_size": 2 << 20},
            "dns_servers": ["192.0.2.53"], "dns_search": ["example.com"], "dns_opt": ["ndots:2"],
            "host_add": ["db:192.0.2.10"]
        }),
    );
    assert!(out.contains("size=2048k"), "{out}");

    assert!(
        out.contains("search example.com\nnameserver 192.0.2.53\noptions ndots:2\n"),
        "{out}"
    );
    assert!(out.contains("192.0.2.10\tdb"), "{out}");
    let out = stdout_of(
        &mut raw,
        "no-dns",
        "grep -c resolv.conf /proc/mounts || true",
        json!({"dns_servers": ["none"]}),
    );
    assert_eq!(out, "0\n", "the image's own resolv.conf is left");
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// An image volume at a path through the image's own symlink to / is filled from the image.
#[test]
fn an_image_volume_through_a_symlink_is_filled_from_the_image() {
    if !privileged("an_image_volume_through_a_symlink_is_filled_from_the_image") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    // An image volume at a path through the image's own symlink to / is filled from the
    // image's files, not the host's.
    stdout_of(&mut raw, "linker", "ln -s / /x", json!({}));
    ok(
        &mut raw,
        "Commit",
        json!({"name": "linker", "image_name": "linked", "changes": ["VOLUME /x/etc"]}),
    );
    let out = stdout_of(
        &mut raw,
        "through-link",
        "ls /etc; grep -c ' /etc ' /proc/mounts",
        json!({"image": "linked"}),
    );
    assert!(out.contains("passwd\n"), "{out}");
    assert!(!out.contains("os-release"), "the host's /etc leaked: {out}");
    assert!(out.ends_with("1\n"), "{out}");
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// A log elsewhere, the monitor's pid in a file, an init as PID 1, the stop signal.
#[test]
fn log_path_pidfile_init_and_stop_signal() {
    if !privileged("log_path_pidfile_init_and_stop_signal") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let host = tempfile::tempdir().unwrap();
    // A log elsewhere, the monitor's pid in a file, an init as PID 1, the stop signal.
    let elsewhere = host.path().join("logs/elsewhere.log");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    let pidfile = host.path().join("monitor.pid");
    let out = stdout_of(
        &mut raw,
        "extras",
        "cat /proc/1/cmdline | tr '\\0' ' '; echo",
        json!({
            "log_driver": "k8s-file",
            "log_driver_opt": [format!("path={}", elsewhere.display())],
            "conmon_pidfile": pidfile.display().to_string(),
            "init": true,
        }),
    );
    assert!(out.starts_with("/dev/init -- sh -c"), "{out}");
    assert!(
        std::fs::read_to_string(&elsewhere)
            .unwrap()
            .contains(" stdout F /dev/init"),
        "the log went to the path asked for"
    );
    let data = inspect(&mut raw, "extras");
    assert_eq!(data["LogPath"], elsewhere.display().to_string());
    assert_eq!(data["HostConfig"]["Init"], true);
    let monitor_pid: i64 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(monitor_pid > 1);
    create(
        &mut raw,
        "usr1",
        &[
            "sh",
            "-c",
            "trap 'exit 42' USR1; echo ready; while true; do sleep 0.1; done",
        ],
        json!({"stop_signal": 10, "stop_timeout": 30, "exposed_ports": ["8080/tcp", "53/udp"]}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "usr1"}));
    // PID 1 ignores a signal it has no handler for: stop once the trap is set.
    wait_for_log(&mut raw, "usr1", "ready");
    let started = std::time::Instant::now();
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "usr1", "timeout": -1}),
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let data = inspect(&mut raw, "usr1");
    assert_eq!(data["State"]["ExitCode"], 42);
    assert_eq!(data["Config"]["StopSignal"], 10);
    assert_eq!(data["Config"]["StopTimeout"], 30);
    assert_eq!(
        data["Config"]["ExposedPorts"],
        json!({"8080/tcp": {}, "53/udp": {}})
    );
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

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
    let supported = unified
        || weight_file.join("blkio.weight").exists()
        || weight_file.join("blkio.bfq.weight").exists();
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

fn create_reply(raw: &mut RawConnection, create: Value) -> Value {
    raw.call("io.podman.CreateContainer", json!({ "create": create }))
}

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

#[test]
fn create_errors_name_their_field() {
    if !privileged("create_errors_name_their_field") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let apparmor = Path::new("/sys/kernel/security/apparmor").exists();
    let mut cases = vec![
        (json!({"cap_add": ["CAP_BOGUS"]}), "cap_add"),
        (
            json!({"cap_add": ["KILL"], "cap_drop": ["kill"]}),
            "cap_drop",
        ),
        (json!({"devices": ["/dev/no-such-device"]}), "devices"),
        (json!({"devices": ["/etc/passwd"]}), "devices"),
        (json!({"tmpfs": ["relative"]}), "tmpfs"),
        (json!({"tmpfs": ["/x:size=huge"]}), "tmpfs"),
        (json!({"volumes": ["/no/such/source:/x"]}), "volumes"),
        (json!({"volumes": ["/tmp:/x:bogus"]}), "volumes"),
        (json!({"volumes": ["/tmp:/x", "/tmp:/x"]}), "volumes"),
        (json!({"image_volume_type": "copy"}), "image_volume_type"),
        (json!({"resources": {"ulimit": ["nofile=10:5"]}}), "ulimit"),
        (json!({"resources": {"ulimit": ["bogus=1"]}}), "ulimit"),
        (
            json!({"resources": {"memory": 64 << 20, "memory_swap": 32 << 20}}),
            "memory_swap",
        ),
        (
            json!({"resources": {"cpus": 1.0, "cpu_quota": 50000}}),
            "cpus",
        ),
        (json!({"resources": {"cpu_period": 10}}), "cpu_period"),
        (
            json!({"resources": {"memory_swappiness": 200}}),
            "memory_swappiness",
        ),
        (
            json!({"resources": {"oom_score_adj": 5000}}),
            "oom_score_adj",
        ),
        (json!({"resources": {"pids_limit": -5}}), "pids_limit"),
        (json!({"resources": {"cpuset_cpus": "zero"}}), "cpuset_cpus"),
        (
            json!({"resources": {"device_read_bps": ["/dev/null:1mb"]}}),
            "device_read_bps",
        ),
        (json!({"resources": {"shm_size": -1}}), "shm_size"),
        (json!({"security_opts": ["bogus=1"]}), "security_opts"),
        (
            json!({"security_opts": ["label=type:spc_t"]}),
            "security_opts",
        ),
        (
            json!({"seccomp_profile_path": "/no/such/profile.json"}),
            "seccomp",
        ),
        (
            json!({"mount_label": "system_u:object_r:container_file_t:s0"}),
            "mount_label",
        ),
        (
            json!({"process_label": "system_u:system_r:container_t:s0"}),
            "process_label",
        ),
        (json!({"ipc_mode": "sideways"}), "ipc_mode"),
        (json!({"pid_mode": "container:ghost"}), "pid_mode"),
        (json!({"uts_mode": "ns:/no/such/ns"}), "uts_mode"),
        (json!({"userns_mode": "keep-id"}), "userns_mode"),
        (json!({"net_mode": "slirp4netns"}), "net_mode"),
        (json!({"net_mode": "mynetwork"}), "net_mode"),
        (json!({"network": "mynetwork"}), "network"),
        (json!({"publish": ["8080:80"]}), "publish"),
        (json!({"publish_all": true}), "publish_all"),
        (json!({"pod": "mypod"}), "pod"),
        (json!({"uidmap": ["0:100000"]}), "uidmap"),
        (json!({"subuidname": "no-such-user-here"}), "subuidname"),
        (json!({"dns_servers": ["dns.example.com"]}), "dns_servers"),
        (json!({"host_add": ["db"]}), "host_add"),
        (json!({"host_add": ["db:not-an-address"]}), "host_add"),
        (json!({"log_driver": "journald"}), "log_driver"),
        (
            json!({"log_driver_opt": ["max-size=10m"]}),
            "log_driver_opt",
        ),
        (json!({"sys_ctl": {"vm.swappiness": "10"}}), "sys_ctl"),
        (
            json!({"sys_ctl": {"net.ipv4.ip_forward": "1"}, "net_mode": "host"}),
            "sys_ctl",
        ),
        (json!({"stop_signal": 99}), "stop_signal"),
        (json!({"work_dir": "relative"}), "work_dir"),
        (json!({"init": true, "init_path": "/no/such/init"}), "init"),
        (json!({"init": true, "pid_mode": "host"}), "init"),
        (json!({"cgroup_parent": "machine.slice"}), "cgroup_parent"),
        (json!({"exposed_ports": ["http"]}), "exposed_ports"),
        (json!({"group_add": ["nosuchgroup"]}), "group_add"),
        (json!({"user": "nosuchuser"}), "user"),
        (json!({"hostname": "not a host name"}), "hostname"),
        (json!({"conmon_pidfile": "relative.pid"}), "conmon_pidfile"),
        (json!({"shm_dir": "/no/such/dir"}), "shm_dir"),
    ];
    if !apparmor {
        cases.push((json!({"apparmor_profile": "my-profile"}), "apparmor"));
        cases.push((
            json!({"security_opts": ["apparmor=my-profile"]}),
            "apparmor",
        ));
    }
    for (mut create, field) in cases {
        create["image"] = json!("busybox");
        let reply = create_reply(&mut raw, create.clone());
        assert_eq!(
            reply["error"], "io.podman.ErrorOccurred",
            "{create}: {reply}"
        );
        let reason = reply["parameters"]["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("{field}:")),
            "{create}: the reason does not name {field}: {reason}"
        );
    }
    // None of them left a container behind.
    assert_eq!(
        ok(&mut raw, "ListContainers", json!({}))["containers"],
        json!([])
    );
    // An image given by ID only, and as `args` (later revisions).
    let image_id = ok(&mut raw, "GetImage", json!({"name": "busybox"}))["image"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_id = create_reply(&mut raw, json!({"image_id": image_id, "command": ["true"]}));
    assert!(by_id["parameters"]["container"].is_string(), "{by_id}");
    let by_args = create_reply(&mut raw, json!({"args": ["busybox", "echo", "from args"]}));
    let id = by_args["parameters"]["container"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        inspect(&mut raw, &id)["Config"]["Cmd"],
        json!(["echo", "from args"])
    );
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}
