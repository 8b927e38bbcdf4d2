//! Containers (issue 4): the fields of `Create` about identity, files, mounts and logs,
//! observed from inside the container; and the errors that name a field podlink cannot
//! honour. Needs root. Resources and confinement are in container_resources.rs, namespaces
//! in container_namespaces.rs; both use the helpers here.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::containers::{create, daemon_with_busybox, inspect, ok, wait_for_log};
use crate::fixtures::fixtures;
use crate::util::{DaemonOptions, RawConnection, assert_nothing_left, privileged};

/// Runs `script` with `sh -c` in a new container made with `extra`; its exit code, stdout
/// and stderr (from the log).
pub fn output(
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
pub fn logs(raw: &mut RawConnection, name: &str) -> (String, String) {
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
pub fn stdout_of(raw: &mut RawConnection, name: &str, script: &str, extra: Value) -> String {
    let (code, out, err) = output(raw, name, script, extra);
    assert_eq!(
        code, 0,
        "{name}: {script}\n--- stdout\n{out}--- stderr\n{err}"
    );
    out
}

/// A `Status:` field of /proc/self/status inside the container.
pub fn status_field(out: &str, field: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {out}"))
        .trim()
        .to_string()
}

/// A file of a running container's cgroup on the host, in `controller`'s hierarchy (v1), or
/// the unified one (v2, where `controller` is ignored).
pub fn cgroup_file(daemon_root: &Path, id: &str, controller: &str, file: &str) -> PathBuf {
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

pub fn read_trimmed(path: &Path) -> String {
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

pub fn create_reply(raw: &mut RawConnection, create: Value) -> Value {
    raw.call("io.podman.CreateContainer", json!({ "create": create }))
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
        (
            json!({"publish": ["8080:80"], "net_mode": "none"}),
            "publish",
        ),
        (
            json!({"publish_all": true, "net_mode": "host"}),
            "publish_all",
        ),
        (json!({"publish": ["80000:80"]}), "publish"),
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
