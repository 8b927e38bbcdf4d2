//! A container keeps the runtime that created it (issue 13, review F1): one created and
//! started by a daemon on runc is stopped, paused, killed and removed by a later daemon on
//! crun over the same roots (crun cannot read runc's state). Needs root, runc and crun.

use nix::sys::signal::Signal;
use serde_json::json;

use crate::containers::{create, daemon_with_busybox, inspect};
use crate::util::{DaemonOptions, assert_nothing_left, ok, over, privileged, require_tool};

fn on(dir: &std::path::Path, runtime: &str) -> DaemonOptions {
    let mut options = over(dir);
    options.args = vec![
        "--runtime".into(),
        require_tool(runtime).display().to_string(),
    ];
    options
}

#[test]
fn containers_made_under_runc_stay_runcs_under_a_crun_daemon() {
    if !privileged("containers_made_under_runc_stay_runcs_under_a_crun_daemon") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    crate::util::traversable(dir.path());
    let mut before = daemon_with_busybox(on(dir.path(), "runc"));
    let mut raw = before.raw();
    let mut target = String::new();
    for name in ["napper", "target"] {
        target = create(&mut raw, name, &["sleep", "1000"], json!({}));
        ok(&mut raw, "StartContainer", json!({"name": name}));
        assert_eq!(inspect(&mut raw, name)["OCIRuntime"], "runc");
    }
    // Its containers run on, each with its monitor.
    before.stop_with(Signal::SIGKILL);
    // "target" as an older podlink recorded it, without its runtime: runc's state directory
    // tells.
    let state_path = dir
        .path()
        .join("root/containers")
        .join(&target)
        .join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!(state["runtime"]["name"], "runc", "{state}");
    state.as_object_mut().unwrap().remove("runtime");
    std::fs::write(&state_path, state.to_string()).unwrap();

    let daemon = daemon_with_busybox(on(dir.path(), "crun"));
    let mut raw = daemon.raw();
    assert_eq!(inspect(&mut raw, "napper")["State"]["Status"], "running");
    assert_eq!(inspect(&mut raw, "napper")["OCIRuntime"], "runc");
    ok(&mut raw, "PauseContainer", json!({"name": "napper"}));
    assert_eq!(inspect(&mut raw, "napper")["State"]["Status"], "paused");
    ok(&mut raw, "UnpauseContainer", json!({"name": "napper"}));
    assert_eq!(inspect(&mut raw, "napper")["State"]["Status"], "running");
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "napper", "timeout": 1}),
    );
    assert_eq!(inspect(&mut raw, "napper")["State"]["Status"], "exited");
    // Started again, it is crun's.
    ok(&mut raw, "StartContainer", json!({"name": "napper"}));
    assert_eq!(inspect(&mut raw, "napper")["OCIRuntime"], "crun");
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "napper", "timeout": 1}),
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "napper"}));

    ok(
        &mut raw,
        "KillContainer",
        json!({"name": "target", "signal": 9}),
    );
    let exit = ok(&mut raw, "WaitContainer", json!({"name": "target"}));
    assert_eq!(exit["exitcode"], 137);
    ok(&mut raw, "RemoveContainer", json!({"name": "target"}));
    assert_nothing_left(&daemon);
    drop(before);
}
