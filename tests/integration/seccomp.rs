//! Seccomp (issue 13): the same verdicts under runc and under crun, whose program podlink
//! compiles once and caches under the run root; a damaged cache entry is rebuilt; the
//! program crun loads from the annotation is the one crun compiles itself. Needs root.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use podlink::engine::runtime::{seccomp_bpf, seccomp_cache};
use serde_json::{Value, json};

use crate::container_options::{output, status_field};
use crate::containers::{create, daemon_with_busybox, inspect};
use crate::util::{DaemonOptions, RawConnection, assert_nothing_left, ok, privileged, run_ok};

/// A profile that allows everything but mkdir, which fails with `errno`.
fn profile(dir: &Path, errno: u32) -> String {
    let path = dir.join(format!("deny-mkdir-{errno}.json"));
    let text = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": errno}]
    });
    std::fs::write(&path, text.to_string()).unwrap();
    path.display().to_string()
}

/// The cache's entries (file names), sorted.
fn entries(daemon_runroot: &Path) -> Vec<String> {
    let dir = daemon_runroot.join(seccomp_cache::CACHE_DIR);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

const SCRIPT: &str = "grep Seccomp: /proc/self/status; mkdir /made; touch /ok && echo touched";

/// Runs SCRIPT under `profile` in container `name`; its stdout, after checking that mkdir
/// failed with `message` and the rest worked under a filter.
fn denied_with(raw: &mut RawConnection, name: &str, profile: &str, message: &str) -> String {
    let extra = json!({ "seccomp_profile_path": profile });
    let (code, out, err) = output(raw, name, SCRIPT, extra);
    assert_eq!(code, 0, "{name}: {out}{err}");
    assert_eq!(status_field(&out, "Seccomp"), "2", "{name}");
    assert!(err.contains(message), "{name}: {err}");
    assert!(out.contains("touched"), "{name}: {out}");
    out
}

#[test]
fn profiles_hold_under_runc_and_crun_with_and_without_a_cached_program() {
    if !privileged("profiles_hold_under_runc_and_crun_with_and_without_a_cached_program") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let eacces = profile(dir.path(), 13);
    let enospc = profile(dir.path(), 28);
    for runtime in ["runc", "crun"] {
        let options = DaemonOptions {
            args: vec!["--runtime".into(), runtime.into()],
            ..Default::default()
        };
        let daemon = daemon_with_busybox(options);
        let mut raw = daemon.raw();
        let crun = runtime == "crun";
        // A miss, then a hit: the same verdicts.
        denied_with(&mut raw, "miss", &eacces, "Permission denied");
        let first = entries(&daemon.runroot);
        assert_eq!(first.len(), usize::from(crun), "{runtime}: {first:?}");
        denied_with(&mut raw, "hit", &eacces, "Permission denied");
        assert_eq!(entries(&daemon.runroot), first, "{runtime}");
        // Only the errnoRet differs: another entry, and its own errno.
        denied_with(&mut raw, "other-errno", &enospc, "No space left on device");
        assert_eq!(entries(&daemon.runroot).len(), 2 * usize::from(crun));
        if crun {
            // The cache is read: the ENOSPC program planted as a valid entry under the EACCES
            // profile's key is the one the next EACCES container gets.
            let cache = daemon.runroot.join(seccomp_cache::CACHE_DIR);
            let other = entries(&daemon.runroot);
            let enospc_key = other.iter().find(|k| **k != first[0]).unwrap();
            let enospc_entry = std::fs::read(cache.join(enospc_key)).unwrap();
            let program = seccomp_cache::validate(enospc_key, &enospc_entry).unwrap();
            let planted = seccomp_cache::entry(&first[0], program);
            std::fs::write(cache.join(&first[0]), planted).unwrap();
            denied_with(&mut raw, "planted", &eacces, "No space left on device");
            // A byte flipped on disk: detected, compiled again, the right filter all the same.
            let path = daemon
                .runroot
                .join(seccomp_cache::CACHE_DIR)
                .join(&first[0]);
            let mut entry = std::fs::read(&path).unwrap();
            entry[5] ^= 0x10;
            std::fs::write(&path, &entry).unwrap();
            denied_with(&mut raw, "rebuilt", &eacces, "Permission denied");
            let entry = std::fs::read(&path).unwrap();
            assert!(
                seccomp_cache::validate(&first[0], &entry).is_some(),
                "not rebuilt"
            );
        }
        // The default profile filters too; unconfined, nothing does.
        let (code, out, _) = output(
            &mut raw,
            "default",
            "grep Seccomp: /proc/self/status",
            json!({}),
        );
        assert_eq!((code, status_field(&out, "Seccomp")), (0, "2".into()));
        let unconfined = json!({"security_opts": ["seccomp=unconfined"]});
        let (code, out, _) = output(&mut raw, "unconfined", SCRIPT, unconfined);
        assert_eq!((code, status_field(&out, "Seccomp")), (0, "0".into()));
        ok(&mut raw, "DeleteStoppedContainers", json!({}));
        assert_nothing_left(&daemon);
    }
}

/// The program a running crun container got from the annotation is the one in its
/// config.json, and the one crun compiles itself from that config's `linux.seccomp`.
#[test]
fn crun_loads_the_program_it_would_compile() {
    if !privileged("crun_loads_the_program_it_would_compile") {
        return;
    }
    let options = DaemonOptions {
        args: vec!["--runtime".into(), "crun".into()],
        ..Default::default()
    };
    let daemon = daemon_with_busybox(options);
    let mut raw = daemon.raw();
    let id = create(&mut raw, "sleeper", &["sleep", "60"], json!({}));
    ok(&mut raw, "StartContainer", json!({"name": "sleeper"}));
    let pid = inspect(&mut raw, "sleeper")["State"]["Pid"]
        .as_i64()
        .unwrap() as i32;
    let config_path = daemon
        .root
        .join("containers")
        .join(&id)
        .join("userdata/config.json");
    let config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    let annotation = config["annotations"][seccomp_bpf::BPF_ANNOTATION]
        .as_str()
        .expect("crun is given the program");
    let program = base64::engine::general_purpose::STANDARD
        .decode(annotation)
        .unwrap();
    assert_eq!(podlink::sys::seccomp_filter(pid).unwrap(), program);
    assert!(
        config["linux"]["seccomp"]["syscalls"].is_array(),
        "kept for runc"
    );

    // The cache entry is the one of the written config's final `linux.seccomp`.
    let cache = daemon.runroot.join(seccomp_cache::CACHE_DIR);
    let entry_path = seccomp_cache::entry_path(&cache, &config["linux"]["seccomp"]).unwrap();
    let key = entry_path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let entry = std::fs::read(&entry_path).expect("the cache entry of the final profile");
    assert_eq!(
        seccomp_cache::validate(&key, &entry),
        Some(program.as_slice())
    );
    // The same config without the annotation, run by crun itself in a bundle of its own.
    assert_eq!(
        crun_compiles(&config),
        program,
        "crun compiles another program"
    );
    // Comparisons and actions the default profile does not use, each against crun's own.
    for (what, rules) in more_profiles() {
        let mut other = config.clone();
        other["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": rules,
        });
        let ours = seccomp_bpf::compile(&other["linux"]["seccomp"]).unwrap();
        assert_eq!(crun_compiles(&other), ours, "another program for {what}");
    }
    // And with x32 back (where the kernel has none, podlink leaves it out), through
    // podlink's compiler against crun's own.
    let mut x32 = config.clone();
    let arches = x32["linux"]["seccomp"]["architectures"]
        .as_array_mut()
        .unwrap();
    if !arches.contains(&json!("SCMP_ARCH_X32")) && arches.contains(&json!("SCMP_ARCH_X86_64")) {
        arches.push(json!("SCMP_ARCH_X32"));
    }
    let ours = seccomp_bpf::compile(&x32["linux"]["seccomp"]).unwrap();
    assert_eq!(crun_compiles(&x32), ours, "another program with x32");
    // And crun does load the annotation's program rather than compile its own: given
    // another one, that one is what the container gets.
    let other = seccomp_bpf::compile(&json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
    }))
    .unwrap();
    assert_ne!(other, program);
    let mut given = config.clone();
    given["annotations"][seccomp_bpf::BPF_ANNOTATION] = json!(seccomp_bpf::annotation(&other));
    assert_eq!(crun_loads(&given), other, "crun ignored the annotation");

    ok(
        &mut raw,
        "KillContainer",
        json!({"name": "sleeper", "signal": 9}),
    );
    ok(&mut raw, "WaitContainer", json!({"name": "sleeper"}));
    ok(&mut raw, "DeleteStoppedContainers", json!({}));
    assert_nothing_left(&daemon);
}

/// Rules (none on what `sleep` calls) with MASKED_EQ, with LT/GT/GE, with an argument index
/// compared twice, and with the KILL_PROCESS, TRAP, LOG and TRACE actions.
fn more_profiles() -> Vec<(&'static str, Value)> {
    let errno = "SCMP_ACT_ERRNO";
    vec![
        (
            "MASKED_EQ",
            json!([{"names": ["personality"], "action": errno,
                    "args": [{"index": 0, "value": 255, "valueTwo": 8,
                              "op": "SCMP_CMP_MASKED_EQ"}]}]),
        ),
        (
            "LT/GT/GE",
            json!([{"names": ["setpriority"], "action": errno, "errnoRet": 13,
                    "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_LT"},
                             {"index": 1, "value": 100, "op": "SCMP_CMP_GT"},
                             {"index": 2, "value": 5, "op": "SCMP_CMP_GE"}]}]),
        ),
        (
            "a repeated index",
            json!([{"names": ["socket"], "action": errno,
                    "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"},
                             {"index": 0, "value": 16, "op": "SCMP_CMP_EQ"},
                             {"index": 1, "value": 3, "op": "SCMP_CMP_LE"}]}]),
        ),
        (
            "KILL_PROCESS, TRAP, LOG, TRACE",
            json!([{"names": ["mkdir"], "action": "SCMP_ACT_KILL_PROCESS"},
                   {"names": ["rmdir"], "action": "SCMP_ACT_TRAP"},
                   {"names": ["chroot"], "action": "SCMP_ACT_LOG"},
                   {"names": ["acct"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
                   {"names": ["swapon"], "action": "SCMP_ACT_KILL"}]),
        ),
    ]
}

/// The program crun 1.8 compiles itself from `config`'s `linux.seccomp` (the annotation
/// removed).
fn crun_compiles(config: &Value) -> Vec<u8> {
    let mut bare = config.clone();
    bare["annotations"]
        .as_object_mut()
        .unwrap()
        .remove(seccomp_bpf::BPF_ANNOTATION);
    crun_loads(&bare)
}

/// The program crun 1.8 loads for `config`, read back from a container it runs (detached,
/// `sleep`) in a bundle of its own.
fn crun_loads(config: &Value) -> Vec<u8> {
    let bundle = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut bare = config.clone();
    bare["process"]["args"] = json!(["sleep", "60"]);
    bare["process"]["terminal"] = json!(false);
    bare["linux"]["cgroupsPath"] = json!(format!("/podlink-seccomp-test-{}", std::process::id()));
    bare["linux"]["namespaces"] =
        json!([{"type": "mount"}, {"type": "pid"}, {"type": "uts"}, {"type": "ipc"}]);
    bare["linux"]["sysctl"] = json!({});
    std::fs::write(bundle.path().join("config.json"), bare.to_string()).unwrap();
    let bare_id = format!("podlink-seccomp-{}", std::process::id());
    let crun = |args: &[&str]| -> String {
        // crun 1.8 refuses hybrid cgroups unless their marker is hidden, as podlink does.
        let marker = podlink::engine::runtime::HYBRID_CGROUP_MARKER;
        let hide = if Path::new(marker).exists() {
            format!("mount --bind /dev/null {marker} && ")
        } else {
            String::new()
        };
        let root = state.path().display().to_string();
        let line = format!("{hide}exec crun --root {root} {}", args.join(" "));
        run_ok(Command::new("unshare").args(["-m", "sh", "-c", &line]))
    };
    let bundle_arg = bundle.path().display().to_string();
    // Detached, its stdio must not be ours: the test would wait for its end of the pipe.
    let quiet = format!("</dev/null >/dev/null 2>{bundle_arg}/crun.err");
    crun(&["run", "-d", "--bundle", &bundle_arg, &bare_id, &quiet]);
    let state_json: Value = serde_json::from_str(&crun(&["state", &bare_id])).unwrap();
    let bare_pid = state_json["pid"].as_i64().unwrap() as i32;
    let compiled = podlink::sys::seccomp_filter(bare_pid);
    crun(&["kill", &bare_id, "9"]);
    crate::util::wait_for(
        "bare crun container exit",
        std::time::Duration::from_secs(10),
        || !PathBuf::from(format!("/proc/{bare_pid}")).exists(),
    );
    crun(&["delete", "-f", &bare_id]);
    compiled.unwrap()
}
