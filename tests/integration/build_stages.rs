//! Builds (issue 12), stage by stage: one working container per stage and one layer, a
//! daemon killed mid-build, the per-stage cache, `pull`, SHELL. Needs root.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::builds::{build, context, inspect_image, output};
use crate::containers::{daemon_with_busybox, ok};
use crate::util::{DaemonOptions, TestDaemon, assert_nothing_left, over, privileged};

fn names(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every RUN, COPY and ADD of a stage changes one working container (the same host name
/// in each RUN), and the stage commits one layer: the history marks the stage's last change
/// as that layer, every other new entry as empty, and HistoryImage pairs them so.
#[test]
fn a_stage_runs_in_one_container_and_commits_one_layer() {
    if !privileged("a_stage_runs_in_one_container_and_commits_one_layer") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let dir = context(
        "one-container",
        &[
            (
                "Dockerfile",
                "FROM busybox\nRUN hostname > /h1\nCOPY a.txt /a.txt\nENV X=1\n\
                 RUN hostname > /h2 && cat /a.txt > /a2\nWORKDIR /w\nCMD [\"sh\"]\n",
            ),
            ("a.txt", "from the context\n"),
        ],
    );
    build(&mut raw, &dir, json!({ "tags": ["localhost/one"] }));
    let seen = output(
        &mut raw,
        "one",
        "localhost/one",
        &[
            "sh",
            "-c",
            "cat /a2; test -d /w && cmp /h1 /h2 && echo same",
        ],
    );
    assert_eq!(seen, "from the context\nsame");
    let base = inspect_image(&mut raw, "busybox");
    let image = inspect_image(&mut raw, "localhost/one");
    let base_layers = base["RootFS"]["Layers"].as_array().unwrap().len();
    assert_eq!(
        image["RootFS"]["Layers"].as_array().unwrap().len(),
        base_layers + 1,
        "{image}"
    );
    let history = ok(&mut raw, "HistoryImage", json!({ "name": "localhost/one" }))["history"]
        .as_array()
        .unwrap()
        .clone();
    let base_history = ok(&mut raw, "HistoryImage", json!({ "name": "busybox" }))["history"]
        .as_array()
        .unwrap()
        .len();
    // Six instructions after FROM, no entry for a layer without history.
    assert_eq!(history.len(), base_history + 6, "{history:?}");
    // Newest first: the WORKDIR and CMD entries are empty, the last RUN holds the layer.
    let sizes: Vec<i64> = history[..6]
        .iter()
        .map(|h| h["size"].as_i64().unwrap())
        .collect();
    assert_eq!(sizes.iter().filter(|s| **s > 0).count(), 1, "{history:?}");
    assert!(sizes[2] > 0, "{history:?}");
    assert!(
        history[2]["createdBy"]
            .as_str()
            .unwrap()
            .contains("hostname > /h2"),
        "{history:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
    assert_nothing_left(&daemon);
}

/// A daemon SIGKILLed during a slow RUN: restarted on the same storage, it lists nothing
/// of the build (no image, no working container) and leaves nothing behind.
#[test]
fn a_build_killed_mid_run_leaves_nothing_listed() {
    if !privileged("a_build_killed_mid_run_leaves_nothing_listed") {
        return;
    }
    let storage = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    crate::util::traversable(storage.path());
    let mut daemon = daemon_with_busybox(over(storage.path()));
    let mut raw = daemon.raw();
    let before_images = names(&ok(&mut raw, "ListImages", json!({})), "images");
    let dir = context(
        "killed",
        &[(
            "Dockerfile",
            "FROM busybox AS first\nRUN echo one > /one\n\
                 FROM busybox\nCOPY --from=first /one /one\nRUN touch /started && sleep 600\n",
        )],
    );
    let info = json!({
        "dockerfile": [dir.join("Dockerfile").display().to_string()],
        "tags": ["localhost/killed"],
    });
    raw.send(&json!({"method": "io.podman.BuildImage", "parameters": {"build": info}}));
    // Kill once the slow RUN runs: its container's upper directory has the file.
    let containers = storage.path().join("root/containers");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = std::fs::read_dir(&containers)
            .map(|d| d.flatten().any(|e| e.path().join("diff/started").exists()))
            .unwrap_or(false);
        if started {
            break;
        }
        assert!(Instant::now() < deadline, "the slow RUN never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.stop_with(Signal::SIGKILL);
    // Kept until the end: only the last daemon on these roots looks for leftovers.
    let _killed = daemon;
    let daemon = TestDaemon::start_with(over(storage.path()));
    let mut raw = daemon.raw();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let images = names(&ok(&mut raw, "ListImages", json!({})), "images");
        let containers = names(&ok(&mut raw, "ListContainers", json!({})), "containers");
        if images == before_images && containers.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still listed after the restart: images {images:?} (before: {before_images:?}), \
             containers {containers:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(dir);
    assert_nothing_left(&daemon);
}

/// Recovery of killed builds runs behind serving, once containers are reconciled: a build
/// started before it runs is this service's own, and keeps its working container.
#[test]
fn a_build_started_while_reconciling_is_not_recovered() {
    if !privileged("a_build_started_while_reconciling_is_not_recovered") {
        return;
    }
    let storage = tempfile::Builder::new().prefix("pl").tempdir().unwrap();
    crate::util::traversable(storage.path());
    let daemon = daemon_with_busybox(over(storage.path()));
    let mut raw = daemon.raw();
    // One record for reconciliation to be slowed on.
    crate::containers::create(&mut raw, "resident", &["true"], json!({}));
    drop(raw);
    let mut daemon = daemon;
    daemon.stop_with(Signal::SIGTERM);
    let _first = daemon;

    // Records read after 1.5 s, the one container reconciled 1.5 s later, then recovery:
    // the build's RUN is under way by then.
    let mut options = over(storage.path());
    options
        .env
        .push(("PODLINK_TEST_RECONCILE_DELAY_MS".into(), "1500".into()));
    let daemon = TestDaemon::start_with(options);
    let mut raw = daemon.raw();
    let dir = context(
        "reconciling",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN sleep 3 && echo built > /built\n",
        )],
    );
    let image = build(&mut raw, &dir, json!({ "tags": ["localhost/reconciling"] }));
    assert!(
        image["id"].as_str().is_some_and(|i| !i.is_empty()),
        "{image}"
    );
    assert_eq!(
        output(
            &mut raw,
            "reader",
            "localhost/reconciling",
            &["cat", "/built"]
        ),
        "built"
    );
    ok(
        &mut raw,
        "RemoveContainer",
        json!({ "name": "resident", "force": true }),
    );
    ok(
        &mut raw,
        "RemoveImage",
        json!({ "name": "localhost/reconciling", "force": true }),
    );
    let _ = std::fs::remove_dir_all(dir);
    assert_nothing_left(&daemon);
}

/// The cache per stage: an unchanged rebuild is the same image; a Dockerfile whose first
/// stage is unchanged reuses it (the same random ID it wrote) while its second stage runs
/// again; a source edited to the same size and time is seen by content; an entry whose
/// image was removed is a miss.
#[test]
fn the_cache_reuses_unchanged_stages() {
    if !privileged("the_cache_reuses_unchanged_stages") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let dockerfile = |second: &str| {
        format!(
            "FROM busybox AS first\nCOPY a.txt /a.txt\n\
             RUN cat /proc/sys/kernel/random/uuid > /id\n\
             FROM busybox\nCOPY --from=first /id /id\nRUN echo {second} > /v\n"
        )
    };
    let dir = context(
        "cache",
        &[("Dockerfile", &dockerfile("v1")), ("a.txt", "aaaa\n")],
    );
    let seen = |raw: &mut crate::util::RawConnection, name: &str, image: &str| {
        output(raw, name, image, &["cat", "/id", "/v"])
    };
    let first = build(&mut raw, &dir, json!({ "tags": ["localhost/cache:1"] }));
    let first_seen = seen(&mut raw, "c1", "localhost/cache:1");
    let again = build(&mut raw, &dir, json!({ "tags": ["localhost/cache:1b"] }));
    assert_eq!(again["id"], first["id"]);
    // The second stage changed: the first is reused, the second runs.
    std::fs::write(dir.join("Dockerfile"), dockerfile("v2")).unwrap();
    let second = build(&mut raw, &dir, json!({ "tags": ["localhost/cache:2"] }));
    assert_ne!(second["id"], first["id"]);
    let logs = second["logs"].to_string();
    assert!(
        logs.contains("Using cache") && logs.contains("echo v2"),
        "{logs}"
    );
    let second_seen = seen(&mut raw, "c2", "localhost/cache:2");
    let id_of = |s: &str| s.lines().next().unwrap().to_string();
    assert_eq!(id_of(&second_seen), id_of(&first_seen));
    assert!(second_seen.ends_with("v2"), "{second_seen}");
    // Same size, modification time put back: the content differs, the first stage runs.
    let a = dir.join("a.txt");
    let before = std::fs::metadata(&a).unwrap();
    std::fs::write(&a, "bbbb\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    build(&mut raw, &dir, json!({ "tags": ["localhost/cache:3"] }));
    let third_seen = seen(&mut raw, "c3", "localhost/cache:3");
    assert_ne!(id_of(&third_seen), id_of(&first_seen));
    // The cached image removed: a miss, built again.
    ok(
        &mut raw,
        "RemoveImage",
        json!({"name": "localhost/cache:3", "force": false}),
    );
    let fourth = build(&mut raw, &dir, json!({ "tags": ["localhost/cache:4"] }));
    let logs = fourth["logs"].to_string();
    assert!(logs.contains("echo v2"), "{logs}");
    let _ = std::fs::remove_dir_all(dir);
    assert_nothing_left(&daemon);
}

/// SHELL: later RUNs use it, a docker-format image keeps it in its config, and a child
/// build's ONBUILD trigger runs with it; an OCI image does not keep it (and the log says so).
#[test]
fn shell_is_used_kept_and_inherited() {
    if !privileged("shell_is_used_kept_and_inherited") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let parent = context(
        "shell",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN printf '#!/bin/sh\\necho used >> /used\\nexec /bin/sh \"$@\"\\n' > /myshell \
             && chmod 755 /myshell\n\
             SHELL [\"/myshell\", \"-c\"]\nRUN echo hi > /hi\nONBUILD RUN echo child > /child\n",
        )],
    );
    build(
        &mut raw,
        &parent,
        json!({ "tags": ["localhost/shell"], "image_format": "docker" }),
    );
    let image = inspect_image(&mut raw, "localhost/shell");
    assert_eq!(
        image["Config"]["Shell"],
        json!(["/myshell", "-c"]),
        "{image}"
    );
    let used = output(&mut raw, "s1", "localhost/shell", &["cat", "/used", "/hi"]);
    assert_eq!(used, "used\nhi");
    let child = context("shell-child", &[("Dockerfile", "FROM localhost/shell\n")]);
    build(
        &mut raw,
        &child,
        json!({ "tags": ["localhost/shell-child"] }),
    );
    let used = output(
        &mut raw,
        "s2",
        "localhost/shell-child",
        &["cat", "/used", "/child"],
    );
    assert_eq!(used, "used\nused\nchild");
    // OCI (the default): not kept, with a warning.
    let oci = build(
        &mut raw,
        &parent,
        json!({ "tags": ["localhost/shell-oci"] }),
    );
    assert!(
        oci["logs"].to_string().contains("SHELL is not supported"),
        "{oci}"
    );
    let image = inspect_image(&mut raw, "localhost/shell-oci");
    assert!(image["Config"]["Shell"].is_null(), "{image}");
    for d in [parent, child] {
        let _ = std::fs::remove_dir_all(d);
    }
    assert_nothing_left(&daemon);
}

/// Here-documents: one later in a RUN's line goes to the shell as written; COPY's are
/// files, named after their delimiters in a directory; the escape directive applies to
/// expansion.
#[test]
fn heredocs_anywhere_and_the_escape_directive() {
    if !privileged("heredocs_anywhere_and_the_escape_directive") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let dir = context(
        "heredocs",
        &[(
            "Dockerfile",
            "# escape=`\nFROM busybox\nENV WIN=C:\\dir `\n    OTHER=`$WIN\n\
             RUN cat <<'EOF' > /x\nkept $HOME\nEOF\n\
             COPY <<one.txt <<two.txt /docs/\nfirst\none.txt\nsecond\ntwo.txt\n\
             COPY <<EOF /single\nalone\nEOF\n",
        )],
    );
    build(&mut raw, &dir, json!({ "tags": ["localhost/heredocs"] }));
    let seen = output(
        &mut raw,
        "h1",
        "localhost/heredocs",
        &["cat", "/x", "/docs/one.txt", "/docs/two.txt", "/single"],
    );
    assert_eq!(seen, "kept $HOME\nfirst\nsecond\nalone");
    let image = inspect_image(&mut raw, "localhost/heredocs");
    let env = image["Config"]["Env"].to_string();
    assert!(
        env.contains(r#""WIN=C:\\dir""#) && env.contains(r#""OTHER=$WIN""#),
        "{env}"
    );
    let _ = std::fs::remove_dir_all(dir);
    assert_nothing_left(&daemon);
}

/// `COPY --from` of paths through absolute symlinks in the source image: resolved inside
/// that image's root filesystem, as chroot would, never on the host.
#[test]
fn copy_from_resolves_symlinks_inside_the_image() {
    if !privileged("copy_from_resolves_symlinks_inside_the_image") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let dir = context(
        "from-links",
        &[(
            "Dockerfile",
            "FROM busybox AS src\n\
             RUN mkdir -p /etc && echo image-file > /etc/os-release && ln -s /etc /abs \
             && ln -s /etc/os-release /osr && ln -s ../../etc/os-release /up\n\
             FROM busybox\nCOPY --from=src /abs/os-release /got1\n\
             COPY --from=src /osr /got2\nCOPY --from=src /up /got3\n",
        )],
    );
    build(&mut raw, &dir, json!({ "tags": ["localhost/from-links"] }));
    let seen = output(
        &mut raw,
        "fl",
        "localhost/from-links",
        &["cat", "/got1", "/got2", "/got3"],
    );
    assert_eq!(seen, "image-file\nimage-file\nimage-file");
    let _ = std::fs::remove_dir_all(dir);
    assert_nothing_left(&daemon);
}

/// FROM scratch: the stage's working container stands on an empty layer of a helper image,
/// which is neither part of the result (one layer) nor left listed.
#[test]
fn a_scratch_stage_has_one_layer_and_leaves_no_helper() {
    if !privileged("a_scratch_stage_has_one_layer_and_leaves_no_helper") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let dir = context(
        "scratch",
        &[
            (
                "Dockerfile",
                "FROM scratch\nCOPY --from=busybox /bin/busybox /bin/busybox\n\
                 COPY file /file\nRUN [\"/bin/busybox\", \"cp\", \"/file\", \"/copy\"]\n",
            ),
            ("file", "from scratch\n"),
        ],
    );
    build(&mut raw, &dir, json!({ "tags": ["localhost/scratch"] }));
    let seen = output(
        &mut raw,
        "sc",
        "localhost/scratch",
        &["/bin/busybox", "cat", "/copy"],
    );
    assert_eq!(seen, "from scratch");
    let image = inspect_image(&mut raw, "localhost/scratch");
    assert_eq!(
        image["RootFS"]["Layers"].as_array().unwrap().len(),
        1,
        "{image}"
    );
    let images = ok(&mut raw, "ListImages", json!({}))["images"].clone();
    assert_eq!(images.as_array().unwrap().len(), 2, "{images}");
    let _ = std::fs::remove_dir_all(dir);
    assert_nothing_left(&daemon);
}

/// A build whose second stage fails lists nothing it made: the first stage's image goes,
/// and with `force_rm` the failed stage's working container too.
#[test]
fn a_failed_build_lists_nothing_it_made() {
    if !privileged("a_failed_build_lists_nothing_it_made") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let before = names(&ok(&mut raw, "ListImages", json!({})), "images");
    let dir = context(
        "failed",
        &[(
            "Dockerfile",
            "FROM busybox AS one\nRUN echo one > /one\n\
             FROM busybox\nCOPY --from=one /one /one\nRUN exit 9\n",
        )],
    );
    let info = json!({
        "dockerfile": [dir.join("Dockerfile").display().to_string()],
        "tags": ["localhost/failed"],
        "force_rm": true,
    });
    let reason = crate::containers::fails(
        &mut raw,
        "BuildImage",
        json!({ "build": info }),
        "ErrorOccurred",
    );
    assert!(reason.to_string().contains("line 5"), "{reason}");
    let images = names(&ok(&mut raw, "ListImages", json!({})), "images");
    assert_eq!(images, before);
    let containers = ok(&mut raw, "ListContainers", json!({}))["containers"].clone();
    assert_eq!(containers.as_array().map_or(0, Vec::len), 0, "{containers}");
    let _ = std::fs::remove_dir_all(dir);
    assert_nothing_left(&daemon);
}
