//! Containers (issue 4): attaching through the monitor's socket (with and without a
//! terminal), statistics, processes, and running an image's label. Needs root.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr, connect, recv, send, socket,
};
use serde_json::{Value, json};

use crate::containers::{create, daemon_with_busybox, fails, inspect, ok};
use crate::util::{DaemonOptions, RawConnection, assert_nothing_left, privileged, wait_for};

/// A client of a monitor's attach socket.
struct Attached {
    socket: OwnedFd,
}

impl Attached {
    fn connect(path: &str) -> Self {
        let socket = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        connect(socket.as_raw_fd(), &UnixAddr::new(path).unwrap()).expect("connect to attach");
        let timeout = nix::sys::time::TimeVal::new(20, 0);
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)
            .unwrap();
        Attached { socket }
    }

    fn send(&self, data: &[u8]) {
        send(self.socket.as_raw_fd(), data, MsgFlags::empty()).expect("send to attach");
    }

    /// One message: (stream byte, data); `None` at the end.
    fn recv(&self) -> Option<(u8, Vec<u8>)> {
        let mut buf = vec![0u8; 8193];
        let n = recv(self.socket.as_raw_fd(), &mut buf, MsgFlags::empty()).expect("recv");
        (n > 0).then(|| (buf[0], buf[1..n].to_vec()))
    }

    /// Reads until `stream`'s text so far contains `needle`; returns that text.
    fn read_until(&self, stream: u8, needle: &str) -> String {
        let mut text = String::new();
        while !text.contains(needle) {
            match self.recv() {
                Some((s, data)) if s == stream => text.push_str(&String::from_utf8_lossy(&data)),
                Some(_) => {}
                None => panic!("attach ended before {needle:?}; got {text:?}"),
            }
        }
        text
    }

    /// Everything until the end, by stream.
    fn read_to_end(&self) -> (String, String) {
        let (mut out, mut err) = (String::new(), String::new());
        while let Some((stream, data)) = self.recv() {
            let text = String::from_utf8_lossy(&data);
            match stream {
                2 => out.push_str(&text),
                3 => err.push_str(&text),
                other => panic!("unexpected stream byte {other}"),
            }
        }
        (out, err)
    }

    fn shutdown_write(&self) {
        nix::sys::socket::shutdown(self.socket.as_raw_fd(), nix::sys::socket::Shutdown::Write)
            .unwrap();
    }
}

fn sockets(raw: &mut RawConnection, name: &str) -> Value {
    ok(raw, "GetAttachSockets", json!({ "name": name }))["sockets"].clone()
}

fn mode(path: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn attach_writes_stdin_and_reads_stdout_and_stderr() {
    if !privileged("attach_writes_stdin_and_reads_stdout_and_stderr") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let id = create(
        &mut raw,
        "talk",
        &[
            "sh",
            "-c",
            "read line; echo got $line; echo warn >&2; cat; echo bye >&2",
        ],
        json!({"interactive": true}),
    );
    // Never started: GetAttachSockets initializes it, so the sockets exist before it runs.
    let s = sockets(&mut raw, "talk");
    assert_eq!(s["container_id"], id);
    let io = s["io_socket"].as_str().unwrap().to_string();
    let control = s["control_socket"].as_str().unwrap().to_string();
    assert_eq!(inspect(&mut raw, "talk")["State"]["Status"], "created");
    assert_eq!(mode(&io), 0o600, "attach socket mode");
    assert_eq!(mode(&control), 0o600, "ctl fifo mode");
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&control).unwrap().file_type().is_fifo());
    let attached = Attached::connect(&io);
    // A second client gets the same output.
    let watcher = Attached::connect(&io);
    ok(&mut raw, "StartContainer", json!({"name": "talk"}));
    assert_eq!(inspect(&mut raw, "talk")["State"]["Status"], "running");
    attached.send(b"hello\n");
    assert!(attached.read_until(2, "got hello").contains("got hello"));
    attached.send(b"echoed back\n");
    attached.read_until(2, "echoed back");
    // Ending our input closes the container's stdin: `cat` ends, the container exits.
    attached.shutdown_write();
    let (_, err) = attached.read_to_end();
    assert!(err.contains("bye"), "{err:?}");
    let (out, err) = watcher.read_to_end();
    assert!(
        out.contains("got hello") && out.contains("echoed back"),
        "{out:?}"
    );
    assert!(err.contains("warn") && err.contains("bye"), "{err:?}");
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "talk"}))["exitcode"],
        0
    );
    // The log has all of it, by stream.
    let lines: Vec<String> = serde_json::from_value(
        ok(&mut raw, "GetContainerLogs", json!({"name": "talk"}))["container"].clone(),
    )
    .unwrap();
    assert!(
        lines.iter().any(|l| l.ends_with(" stdout F got hello")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with(" stderr F bye")),
        "{lines:?}"
    );

    // An exited container is initialized again by GetAttachSockets, and runs again.
    let s = sockets(&mut raw, "talk");
    assert_eq!(inspect(&mut raw, "talk")["State"]["Status"], "created");
    let again = Attached::connect(s["io_socket"].as_str().unwrap());
    ok(&mut raw, "StartContainer", json!({"name": "talk"}));
    again.send(b"second\n");
    again.read_until(2, "got second");
    again.shutdown_write();
    again.read_to_end();
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "talk"}))["exitcode"],
        0
    );

    // A created container can be stopped and removed without force; it never ran.
    create(&mut raw, "never", &["true"], json!({}));
    sockets(&mut raw, "never");
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "never", "timeout": 5}),
    );
    assert_eq!(inspect(&mut raw, "never")["State"]["Status"], "exited");
    sockets(&mut raw, "never");
    ok(&mut raw, "RemoveContainer", json!({"name": "never"}));
    // Not found is reported as such.
    let reply = fails(
        &mut raw,
        "GetAttachSockets",
        json!({"name": "ghost"}),
        "ContainerNotFound",
    );
    assert_eq!(reply["name"], "ghost");
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

#[test]
fn a_tty_container_is_driven_through_its_terminal() {
    if !privileged("a_tty_container_is_driven_through_its_terminal") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    create(
        &mut raw,
        "term",
        &["sh"],
        json!({"tty": true, "interactive": true}),
    );
    let s = sockets(&mut raw, "term");
    let attached = Attached::connect(s["io_socket"].as_str().unwrap());
    ok(&mut raw, "StartContainer", json!({"name": "term"}));
    // Resize through the control fifo, then ask the terminal its size.
    let mut control = std::fs::OpenOptions::new()
        .write(true)
        .open(s["control_socket"].as_str().unwrap())
        .unwrap();
    control.write_all(b"1 30 100\n").unwrap();
    // The prompt means the shell is reading; the resize went in before it.
    attached.read_until(2, "# ");
    attached.send(b"tty; stty size; echo $((6*7))\n");
    let text = attached.read_until(2, "42");
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.contains("30 100"), "{text:?}");
    // Everything comes as stdout through a terminal, with its line endings.
    assert!(text.contains("\r\n"), "{text:?}");
    control.write_all(b"1 40 132\n").unwrap();
    // The monitor applies the resize when it reads the control socket: ask until the
    // terminal says so (each answer ends at the next prompt).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        attached.send(b"stty size\n");
        if attached.read_until(2, "# ").contains("40 132") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the resize never reached the terminal"
        );
    }
    let data = inspect(&mut raw, "term");
    assert_eq!(data["Config"]["Tty"], true);
    assert_eq!(data["Config"]["OpenStdin"], true);
    // A client leaving does not close a terminal: a second one carries on.
    drop(attached);
    let second = Attached::connect(s["io_socket"].as_str().unwrap());
    second.send(b"exit 3\n");
    second.read_to_end();
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "term"}))["exitcode"],
        3
    );
    let lines: Vec<String> = serde_json::from_value(
        ok(&mut raw, "GetContainerLogs", json!({"name": "term"}))["container"].clone(),
    )
    .unwrap();
    assert!(
        lines.iter().any(|l| l.contains(" stdout F 42")),
        "{lines:?}"
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "term"}));
    assert_nothing_left(&daemon);
}

fn stats(raw: &mut RawConnection, name: &str) -> Value {
    ok(raw, "GetContainerStats", json!({ "name": name }))["container"].clone()
}

#[test]
fn stats_and_processes_of_a_busy_container() {
    if !privileged("stats_and_processes_of_a_busy_container") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let id = create(
        &mut raw,
        "burner",
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/tmp/blob bs=1M count=8 2>/dev/null; sleep 1000 & echo busy; while :; do :; done",
        ],
        // Loopback only, so the network counters below stay at 0.
        json!({"resources": {"memory": 128 << 20, "pids_limit": 20}, "net_mode": "none"}),
    );
    // Not running: NoContainerRunning for stats, an error for processes.
    fails(
        &mut raw,
        "GetContainerStats",
        json!({"name": "burner"}),
        "NoContainerRunning",
    );
    fails(
        &mut raw,
        "ListContainerProcesses",
        json!({"name": "burner", "opts": []}),
        "ErrorOccurred",
    );
    ok(&mut raw, "StartContainer", json!({"name": "burner"}));
    // From "busy" on, the shell loops and its sleep waits.
    crate::containers::wait_for_log(&mut raw, "burner", "busy");
    let first = stats(&mut raw, "burner");
    let cpu_nano = |s: &Value| s["cpu_nano"].as_i64().unwrap();
    // A busy loop gathers about one CPU's worth of time a second, but the other tests keep
    // both CPUs busy too (CI once saw less than a third of one in a second): sample every
    // second until it has gathered 300 ms, for at most 20 s. `cpu` is the percentage since
    // the previous call, so it is checked against the last window as this test timed it.
    let began = Instant::now();
    let (mut previous, mut previous_at) = (first.clone(), Instant::now());
    let (second, window) = loop {
        std::thread::sleep(Duration::from_millis(1000));
        let sample = stats(&mut raw, "burner");
        let at = Instant::now();
        if cpu_nano(&sample) - cpu_nano(&first) > 300_000_000
            || began.elapsed() > Duration::from_secs(20)
        {
            break (sample, at - previous_at);
        }
        (previous, previous_at) = (sample, at);
    };
    assert_eq!(second["id"], id);
    assert_eq!(second["name"], "burner");
    assert!(
        cpu_nano(&second) - cpu_nano(&first) > 300_000_000,
        "{first} {second}"
    );
    let cpu = second["cpu"].as_f64().unwrap();
    let expected =
        (cpu_nano(&second) - cpu_nano(&previous)) as f64 * 100.0 / window.as_nanos() as f64;
    assert!(
        cpu > 0.0 && cpu < 250.0 && (cpu - expected).abs() < (expected * 0.25).max(10.0),
        "cpu {cpu}, {expected} measured over {window:?}"
    );
    assert_eq!(second["mem_limit"], 128 << 20);
    let usage = second["mem_usage"].as_i64().unwrap();
    assert!(usage > 0, "{second}");
    let percent = second["mem_perc"].as_f64().unwrap();
    assert!((percent - usage as f64 * 100.0 / (128 << 20) as f64).abs() < 1e-6);
    assert_eq!(second["pids"], 2, "the shell and its sleep");

    // Loopback only: nothing crosses a network interface.
    assert_eq!(
        (second["net_input"].clone(), second["net_output"].clone()),
        (json!(0), json!(0))
    );

    // Processes: the default table, and chosen descriptors.
    let rows: Vec<String> = serde_json::from_value(
        ok(
            &mut raw,
            "ListContainerProcesses",
            json!({"name": "burner", "opts": []}),
        )["container"]
            .clone(),
    )
    .unwrap();
    assert_eq!(
        rows[0],
        "USER\tPID\tPPID\t%CPU\tELAPSED\tTTY\tTIME\tCOMMAND"
    );
    assert_eq!(rows.len(), 3, "a header and two processes: {rows:?}");

    let init: Vec<&str> = rows[1].split('\t').collect();
    assert_eq!(&init[..3], ["root", "1", "0"], "{rows:?}");
    assert_eq!(init[5], "?");
    assert_eq!(init[7], "sh");
    let rows: Vec<String> = serde_json::from_value(
        ok(
            &mut raw,
            "ListContainerProcesses",
            json!({"name": "burner", "opts": ["pid,ppid", "hpid", "args", "%U", "seccomp"]}),
        )["container"]
            .clone(),
    )
    .unwrap();
    assert_eq!(rows[0], "PID\tPPID\tHPID\tCOMMAND\tUSER\tSECCOMP");
    let sleep = rows
        .iter()
        .find(|r| r.split('\t').nth(3) == Some("sleep 1000"))
        .unwrap_or_else(|| panic!("{rows:?}"));
    let fields: Vec<&str> = sleep.split('\t').collect();
    assert_eq!(fields[1], "1", "the sleep's parent is the shell: {rows:?}");
    let host_pid: i32 = fields[2].parse().unwrap();
    let host_cmdline = std::fs::read_to_string(format!("/proc/{host_pid}/cmdline")).unwrap();
    assert!(
        host_cmdline.starts_with("sleep\x001000"),
        "{host_cmdline:?}"
    );
    assert_eq!(fields[5], "filter");
    let reply = fails(
        &mut raw,
        "ListContainerProcesses",
        json!({"name": "burner", "opts": ["bogus"]}),
        "ErrorOccurred",
    );
    assert!(
        reply["reason"]
            .as_str()
            .unwrap()
            .contains("'bogus': unknown descriptor"),
        "{reply}"
    );

    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "burner", "timeout": 1}),
    );
    fails(
        &mut raw,
        "GetContainerStats",
        json!({"name": "burner"}),
        "NoContainerRunning",
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "burner"}));
    fails(
        &mut raw,
        "GetContainerStats",
        json!({"name": "burner"}),
        "ContainerNotFound",
    );
    assert_nothing_left(&daemon);
}

#[test]
fn runlabel_runs_the_label_command_on_the_server() {
    if !privileged("runlabel_runs_the_label_command_on_the_server") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("ran");
    ok(
        &mut raw,
        "ImportImage",
        json!({
            "source": crate::fixtures::fixtures().rootfs.display().to_string(),
            "reference": "labelled:1",
            "changes": [format!(
                "LABEL RUN=\"/bin/sh -c 'echo $0 $IMAGE ${{NAME}} $OPT1 \\\"$@\\\" > {}' IMAGE NAME\"",
                file.display()
            )],
        }),
    );
    let start = Instant::now();
    let reply = ok(
        &mut raw,
        "ContainerRunlabel",
        json!({"runlabel": {
            "image": "labelled:1", "label": "RUN", "name": "", "opts": {"opt1": "first"},
            "extraArgs": ["extra one", "two"]
        }}),
    );
    assert!(reply.as_object().is_none_or(|o| o.is_empty()), "{reply}");
    assert!(start.elapsed() < Duration::from_secs(10));
    // $0 is the image (the word IMAGE), then $IMAGE, ${NAME} (the image's base name), OPT1,
    // and the extra arguments, quoting kept.
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "localhost/labelled:1 localhost/labelled:1 labelled first labelled extra one two\n"
    );
    // `display` works the command out without running it; a name replaces the base name.
    std::fs::remove_file(&file).unwrap();
    ok(
        &mut raw,
        "ContainerRunlabel",
        json!({"runlabel": {"image": "labelled:1", "label": "RUN", "display": true}}),
    );
    assert!(!file.exists());

    ok(
        &mut raw,
        "ContainerRunlabel",
        json!({"runlabel": {"image": "labelled:1", "label": "RUN", "name": "mine"}}),
    );
    assert!(
        std::fs::read_to_string(&file).unwrap().contains(" mine "),
        "{:?}",
        std::fs::read_to_string(&file)
    );
    // A missing label, a missing image, a failing command.
    let reply = fails(
        &mut raw,
        "ContainerRunlabel",
        json!({"runlabel": {"image": "labelled:1", "label": "INSTALL"}}),
        "ErrorOccurred",
    );
    assert!(
        reply["reason"]
            .as_str()
            .unwrap()
            .contains("does not contain the label INSTALL"),
        "{reply}"
    );
    fails(
        &mut raw,
        "ContainerRunlabel",
        json!({"runlabel": {"image": "nothere", "label": "RUN"}}),
        "ImageNotFound",
    );
    ok(
        &mut raw,
        "ImportImage",
        json!({
            "source": crate::fixtures::fixtures().rootfs.display().to_string(),
            "reference": "failing",
            "changes": ["LABEL RUN=\"/bin/sh -c 'echo broken >&2; exit 4'\""],
        }),
    );
    let reply = fails(
        &mut raw,
        "ContainerRunlabel",
        json!({"runlabel": {"image": "failing", "label": "RUN"}}),
        "ErrorOccurred",
    );
    let reason = reply["reason"].as_str().unwrap();
    assert!(
        reason.contains("exit status: 4") && reason.contains("broken"),
        "{reason}"
    );
}

/// CPU time (user + system, in clock ticks) a process has used.
fn cpu_ticks(pid: i64) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn clients_come_and_go_and_a_mount_outlives_a_run() {
    if !privileged("clients_come_and_go_and_a_mount_outlives_a_run") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    create(
        &mut raw,
        "idle",
        &["sleep", "1000"],
        json!({"interactive": true}),
    );
    let s = sockets(&mut raw, "idle");
    ok(&mut raw, "StartContainer", json!({"name": "idle"}));
    let monitor = inspect(&mut raw, "idle")["State"]["ConmonPid"]
        .as_i64()
        .unwrap();
    let open_fds = || {
        std::fs::read_dir(format!("/proc/{monitor}/fd"))
            .unwrap()
            .count()
    };
    let idle_fds = open_fds();
    // Clients that hang up, one of them after ending its input: the monitor drops them and
    // goes back to sleep rather than spinning on their sockets.
    for _ in 0..3 {
        let client = Attached::connect(s["io_socket"].as_str().unwrap());
        client.send(b"ignored\n");
        drop(client);
    }
    let half = Attached::connect(s["io_socket"].as_str().unwrap());
    half.shutdown_write();
    drop(half);
    // The monitor has dropped them when it holds no more descriptors than before they came.
    wait_for(
        "the monitor closes the clients' sockets",
        Duration::from_secs(10),
        || open_fds() <= idle_fds,
    );
    let before = cpu_ticks(monitor);
    // Not synchronisation: the monitor's CPU time is measured over one idle second.
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(monitor) - before;
    assert!(
        used <= 5,
        "the monitor used {used} ticks in a second while idle"
    );
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "idle", "force": true}),
    );

    // A root filesystem the client mounted stays mounted when the container runs and exits.
    create(&mut raw, "mounted", &["true"], json!({}));
    let path = ok(&mut raw, "MountContainer", json!({"name": "mounted"}))["path"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&mut raw, "StartContainer", json!({"name": "mounted"}));
    assert_eq!(
        ok(&mut raw, "WaitContainer", json!({"name": "mounted"}))["exitcode"],
        0
    );
    assert_eq!(inspect(&mut raw, "mounted")["State"]["Status"], "exited");
    assert!(std::path::Path::new(&path).join("bin/busybox").exists());
    let mounts = ok(&mut raw, "ListContainerMounts", json!({}))["mounts"].clone();
    assert_eq!(mounts.as_object().unwrap().len(), 1, "{mounts}");
    ok(
        &mut raw,
        "UnmountContainer",
        json!({"name": "mounted", "force": false}),
    );
    assert!(!std::path::Path::new(&path).join("bin/busybox").exists());
    ok(&mut raw, "RemoveContainer", json!({"name": "mounted"}));
    assert_nothing_left(&daemon);
}
