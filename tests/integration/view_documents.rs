//! The container inspect document (and ContainerStateData's) keeps its shape: every key with the value podlink gave
//! before the engine built it as typed structs (it was a `json!` literal). The reference is
//! `view_documents/*.json`, recorded from the `json!` version on real containers, with the
//! values that change from run to run (IDs, roots, times, pids) replaced by placeholders.
//! `PODLINK_RECORD_DOCUMENTS=1` records them again (only to change the shape on purpose).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::containers::{create, daemon_with_busybox, inspect, ok};
use crate::images::inspect as inspect_image;
use crate::util::{DaemonOptions, RawConnection, assert_nothing_left, privileged, test_file};

/// What varies between runs, replaced by a placeholder of the same meaning.
struct Placeholders {
    /// (text, placeholder), longest text first so a root is replaced before its parent.
    texts: Vec<(String, String)>,
    /// Resource limits that default to the host's (the daemon's own hard limit).
    host_limits: Vec<u64>,
}

impl Placeholders {
    fn new(mut texts: Vec<(String, String)>) -> Self {
        texts.sort_by_key(|(text, _)| std::cmp::Reverse(text.len()));
        use nix::sys::resource::{Resource, getrlimit};
        let host_limits = [Resource::RLIMIT_NOFILE, Resource::RLIMIT_NPROC]
            .into_iter()
            .map(|r| getrlimit(r).unwrap().1.min(1 << 20))
            .collect();
        Placeholders { texts, host_limits }
    }

    fn string(&self, key: &str, s: &str) -> Value {
        if matches!(
            key,
            "Created" | "StartedAt" | "FinishedAt" | "startedAt" | "finishedAt"
        ) && humantime::parse_rfc3339_weak(s).is_ok()
            && !s.starts_with("0001-")
        {
            return json!("<TIME>");
        }
        // The suite runs on either runtime (the service's choice, or PODLINK_RUNTIME).
        if key == "OCIRuntime" && matches!(s, "runc" | "crun") {
            return json!("<RUNTIME>");
        }
        // The test daemon's network is its own (tests/integration/leftovers.rs, TestNetwork).
        if matches!(key, "IPAddress" | "Gateway" | "MacAddress" | "Bridge") && !s.is_empty() {
            return json!(format!("<{}>", key.to_uppercase()));
        }
        let mut s = s.to_string();
        for (text, placeholder) in &self.texts {
            s = s.replace(text.as_str(), placeholder);
        }
        // Layer and other store IDs: 64 hex digits.
        let mut out = String::new();
        let mut rest = s.as_str();
        while let Some(at) = rest.find(|c: char| c.is_ascii_hexdigit()) {
            out.push_str(&rest[..at]);
            let run = rest[at..]
                .find(|c: char| !c.is_ascii_hexdigit())
                .map_or(rest.len() - at, |n| n);
            if run == 64 {
                out.push_str("<HEX>");
            } else {
                out.push_str(&rest[at..at + run]);
            }
            rest = &rest[at + run..];
        }
        out.push_str(rest);
        json!(out)
    }

    fn value(&self, key: &str, v: &Value) -> Value {
        match v {
            Value::String(s) => self.string(key, s),
            Value::Number(n)
                if matches!(key, "Pid" | "ConmonPid" | "pid" | "monitorPid")
                    && n.as_i64() != Some(0) =>
            {
                json!("<PID>")
            }
            Value::Number(n)
                if matches!(key, "Soft" | "Hard")
                    && n.as_u64().is_some_and(|n| self.host_limits.contains(&n)) =>
            {
                json!("<HOST-LIMIT>")
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| self.value(key, i)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        (
                            self.string("", k).as_str().unwrap().to_string(),
                            self.value(k, v),
                        )
                    })
                    .collect::<Map<_, _>>(),
            ),
            other => other.clone(),
        }
    }
}

fn reference(name: &str) -> PathBuf {
    test_file(&format!("integration/view_documents/{name}.json"))
}

/// Compares `document` (placeholders applied) with the recorded reference `name`, key by key,
/// naming every difference.
fn same_as_recorded(name: &str, document: &Value) {
    let path = reference(name);
    if std::env::var("PODLINK_RECORD_DOCUMENTS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            serde_json::to_string_pretty(document).unwrap() + "\n",
        )
        .unwrap();
    }
    let recorded: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    let mut differences = Vec::new();
    compare("", &recorded, document, &mut differences);
    assert!(
        differences.is_empty(),
        "{name} differs from {}:\n{}\n--- now:\n{}",
        path.display(),
        differences.join("\n"),
        serde_json::to_string_pretty(document).unwrap()
    );
}

fn compare(at: &str, recorded: &Value, now: &Value, differences: &mut Vec<String>) {
    match (recorded, now) {
        (Value::Object(r), Value::Object(n)) => {
            for (key, value) in r {
                match n.get(key) {
                    Some(v) => compare(&format!("{at}.{key}"), value, v, differences),
                    None => differences.push(format!("{at}.{key}: missing (was {value})")),
                }
            }
            for key in n.keys().filter(|k| !r.contains_key(*k)) {
                differences.push(format!("{at}.{key}: new key ({})", n[key]));
            }
        }
        (r, n) if r != n => differences.push(format!("{at}: {r} became {n}")),
        _ => {}
    }
}

/// ContainerStateData's document.
fn state_data(raw: &mut RawConnection, name: &str) -> Value {
    let text = ok(raw, "ContainerStateData", json!({ "name": name }))["config"]
        .as_str()
        .unwrap()
        .to_string();
    serde_json::from_str(&text).unwrap()
}

fn placeholders(
    daemon_root: &Path,
    runroot: &Path,
    tmp: &Path,
    ids: &[(&str, &str)],
) -> Placeholders {
    let mut texts = vec![
        (daemon_root.display().to_string(), "<ROOT>".to_string()),
        (runroot.display().to_string(), "<RUNROOT>".to_string()),
        (tmp.display().to_string(), "<TMP>".to_string()),
        (
            crate::util::cgroup_parent(daemon_root),
            "<CGROUP-PARENT>".to_string(),
        ),
    ];
    for (id, name) in ids {
        texts.push((id.to_string(), format!("<ID:{name}>")));
        // The default host name.
        texts.push((id[..12].to_string(), format!("<ID12:{name}>")));
    }
    Placeholders::new(texts)
}

#[test]
fn inspect_documents_keep_their_shape() {
    if !privileged("inspect_documents_keep_their_shape") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let tmp = tempfile::tempdir().unwrap();
    let host = tmp.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    let log = tmp.path().join("full.log");

    // Defaults, never started.
    let plain = create(&mut raw, "plain", &["true"], json!({}));
    // As many fields of the document as a container can fill, running.
    let full = create(
        &mut raw,
        "full",
        &["sh", "-c", "sleep 1000"],
        json!({
            "env": {"GREETING": "hi"},
            "labels": {"app": "shape", "tier": "test"},
            "hostname": "box",
            "user": "app",
            "work_dir": "/tmp",
            "cap_add": ["net_admin"],
            "cap_drop": ["KILL"],
            "dns_servers": ["192.0.2.53"],
            "dns_search": ["example.com"],
            "dns_opt": ["ndots:2"],
            "host_add": ["db:192.0.2.1"],
            "group_add": ["app"],
            "exposed_ports": ["8080/tcp", "53/udp"],
            "tmpfs": ["/scratch:size=2m,mode=1777"],
            "volumes": [format!("{}:/rw", host.display()), format!("{}:/ro:ro", host.display()), "shaped:/named"],
            "devices": ["/dev/null:/dev/mynull"],
            "security_opts": ["no-new-privileges", "seccomp=unconfined"],
            "sys_ctl": {"net.ipv4.ip_forward": "1"},
            "stop_signal": 10,
            "stop_timeout": 30,
            "init": true,
            "log_driver": "k8s-file",
            "log_driver_opt": [format!("path={}", log.display())],
            "resources": {
                "memory": 64 << 20, "memory_swap": 128 << 20, "memory_reservation": 32 << 20,
                "cpu_shares": 512, "cpus": 0.5, "cpuset_cpus": "0", "pids_limit": 50,
                "oom_score_adj": 300, "disable_oomkiller": true, "ulimit": ["nofile=100:200", "nproc=1000:2000"],
            },
        }),
    );
    ok(&mut raw, "StartContainer", json!({"name": "full"}));
    let image = inspect_image(&mut raw, "busybox")["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let marks = placeholders(
        &daemon.root,
        &daemon.runroot,
        tmp.path(),
        &[(&plain, "plain"), (&full, "full"), (&image, "image")],
    );
    let full_doc = inspect(&mut raw, "full");
    assert_eq!(full_doc["State"]["Status"], "running");
    same_as_recorded("full_running", &marks.value("", &full_doc));
    same_as_recorded(
        "plain_created",
        &marks.value("", &inspect(&mut raw, "plain")),
    );
    same_as_recorded(
        "full_state_data",
        &marks.value("", &state_data(&mut raw, "full")),
    );
    same_as_recorded(
        "plain_state_data",
        &marks.value("", &state_data(&mut raw, "plain")),
    );

    // Stopped: exit code, finish time, restart count.
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "full", "timeout": 0}),
    );
    same_as_recorded("full_stopped", &marks.value("", &inspect(&mut raw, "full")));
    same_as_recorded(
        "full_stopped_state_data",
        &marks.value("", &state_data(&mut raw, "full")),
    );

    for name in ["full", "plain"] {
        ok(
            &mut raw,
            "RemoveContainer",
            json!({"name": name, "force": true}),
        );
    }
    assert_nothing_left(&daemon);
}
