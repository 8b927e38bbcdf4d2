//! The monitor launcher (issue 13): monitors are forked by one launcher process, started at
//! the first container start, and look exactly like executed ones (found again by their
//! command line); when the launcher is gone, monitors are executed as before. Needs root.

use serde_json::json;

use crate::containers::{create, daemon_with_busybox, inspect, ok};
use crate::util::{DaemonOptions, assert_nothing_left, privileged};

/// The command line of `pid`, its arguments.
fn args_of(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The parent of `pid`.
fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    rest.split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// The daemon's children that are monitor launchers.
fn launchers_of(daemon: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent_of(pid) == daemon)
        .filter(|&pid| args_of(pid).get(1).map(String::as_str) == Some("monitor-launcher"))
        .collect()
}

/// A running container's monitor: its command line names the container as an executed
/// monitor's does, and runs on its own (not a child of the daemon or of the launcher).
fn check_monitor(raw: &mut crate::util::RawConnection, name: &str, id: &str, daemon: i32) {
    let monitor = inspect(raw, name)["State"]["ConmonPid"].as_i64().unwrap() as i32;
    let args = args_of(monitor);
    assert_eq!(args.get(1).map(String::as_str), Some("monitor"), "{args:?}");
    let at = args.iter().position(|a| a == "--id").expect("--id");
    assert_eq!(args[at + 1], id);
    assert!(args[0].ends_with("podlink"), "{args:?}");
    assert_ne!(parent_of(monitor), daemon);
}

#[test]
fn monitors_are_forked_by_the_launcher_and_executed_without_it() {
    if !privileged("monitors_are_forked_by_the_launcher_and_executed_without_it") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let daemon_pid = daemon.pid() as i32;
    let mut raw = daemon.raw();
    assert!(
        launchers_of(daemon_pid).is_empty(),
        "started before any container"
    );

    let first = create(&mut raw, "first", &["sleep", "100"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "first"}));
    let launchers = launchers_of(daemon_pid);
    assert_eq!(launchers.len(), 1, "{launchers:?}");
    check_monitor(&mut raw, "first", &first, daemon_pid);
    // Its output and exit go through the forked monitor as through an executed one.
    let echo = create(
        &mut raw,
        "echo",
        &["sh", "-c", "echo forked; exit 7"],
        json!({}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "echo"}));
    let code = ok(&mut raw, "WaitContainer", json!({"name": echo}))["exitcode"].clone();
    assert_eq!(code, 7);
    let logs = ok(&mut raw, "GetContainerLogs", json!({"name": "echo"}))["container"].to_string();
    assert!(logs.contains("forked"), "{logs}");

    // A command line longer than the launcher's room for it (two paths near PATH_MAX): the
    // launcher's child executes the monitor instead, and it is the same.
    let dir = tempfile::tempdir().unwrap();
    let mut deep = dir.path().to_path_buf();
    while deep.as_os_str().len() < 3880 {
        deep.push("d".repeat(200));
    }
    std::fs::create_dir_all(&deep).unwrap();
    let long = create(
        &mut raw,
        "long",
        &["sh", "-c", "echo executed; sleep 100"],
        json!({
            "conmon_pidfile": deep.join("conmon.pid").display().to_string(),
            "log_driver_opt": [format!("path={}", deep.join("ctr.log").display())],
        }),
    );
    ok(&mut raw, "StartContainer", json!({"name": "long"}));
    check_monitor(&mut raw, "long", &long, daemon_pid);
    let monitor = inspect(&mut raw, "long")["State"]["ConmonPid"]
        .as_i64()
        .unwrap() as i32;
    assert!(
        args_of(monitor).join(" ").len() > 8192,
        "the command line fits the room"
    );
    assert_ne!(parent_of(monitor), launchers[0], "forked, not executed");
    let log = deep.join("ctr.log");
    crate::util::wait_for(
        "the container's log",
        std::time::Duration::from_secs(10),
        || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("executed")),
    );
    assert!(deep.join("conmon.pid").exists());
    assert_eq!(launchers_of(daemon_pid), launchers, "the launcher stays");

    // Without the launcher, the next monitor is executed, and is the same.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(launchers[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let second = create(&mut raw, "second", &["sleep", "100"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "second"}));
    check_monitor(&mut raw, "second", &second, daemon_pid);
    assert!(launchers_of(daemon_pid).is_empty());

    for name in ["first", "second", "echo", "long"] {
        ok(
            &mut raw,
            "RemoveContainer",
            json!({"name": name, "force": true}),
        );
    }
    assert_nothing_left(&daemon);
}
