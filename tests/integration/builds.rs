//! Builds (issue 12): BuildImage from Dockerfiles, RUN on the real runtime, offline (the
//! busybox fixture as the base). Needs root.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::containers::{create, daemon_with_busybox, fails, ok};
use crate::util::{DaemonOptions, RawConnection, assert_nothing_left, privileged};

/// A fresh context directory with `files` (path, contents) in it.
pub(crate) fn context(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("build-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

pub(crate) fn build(raw: &mut RawConnection, dir: &Path, extra: Value) -> Value {
    let mut info = json!({ "dockerfile": [dir.join("Dockerfile").display().to_string()] });
    if let Value::Object(extra) = extra {
        info.as_object_mut().unwrap().extend(extra);
    }
    ok(raw, "BuildImage", json!({ "build": info }))["image"].clone()
}

pub(crate) fn inspect_image(raw: &mut RawConnection, name: &str) -> Value {
    let text = ok(raw, "InspectImage", json!({ "name": name }))["image"]
        .as_str()
        .unwrap()
        .to_string();
    serde_json::from_str(&text).unwrap()
}

/// Runs a container of `image` with `command`; its output.
pub(crate) fn output(raw: &mut RawConnection, name: &str, image: &str, command: &[&str]) -> String {
    create(raw, name, command, json!({ "image": image }));
    ok(raw, "StartContainer", json!({ "name": name }));
    let code = ok(raw, "WaitContainer", json!({ "name": name }))["exitcode"].clone();
    let logs = ok(raw, "GetContainerLogs", json!({ "name": name }))["container"].clone();
    ok(
        raw,
        "RemoveContainer",
        json!({ "name": name, "force": true }),
    );
    assert_eq!(code, 0, "{name}: {logs}");
    logs.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l.as_str()
                .unwrap()
                .splitn(4, ' ')
                .nth(3)
                .unwrap_or("")
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A multi-stage build: ARG/ENV expansion and build args, RUN writing files, COPY --from,
/// the config instructions visible in InspectImage, and a container of the result printing
/// what the build put there.
#[test]
fn multi_stage_build_with_config_and_args() {
    if !privileged("multi_stage_build_with_config_and_args") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let dir = context(
        "multi",
        &[
            (
                "Dockerfile",
                r#"ARG BASE=busybox
FROM $BASE AS builder
ARG GREETING=hello
ENV TARGET=/out
RUN mkdir -p $TARGET && echo "$GREETING from ${TARGET:-none}" > $TARGET/msg
COPY data.txt /out/data.txt

FROM ${BASE}
ARG UNSET
LABEL org.example.kind="test build" other=${UNSET:-fallback}
ENV APP_HOME=/app
WORKDIR $APP_HOME
COPY --from=builder /out/ ./
COPY --chown=1000:1000 data.txt owned.txt
RUN echo "builder:x:1234:4321::/home:/bin/sh" >> /etc/passwd && echo "crew:x:777:" >> /etc/group
COPY --chown=builder data.txt by-name.txt
COPY --chown=builder:crew data.txt by-names.txt
RUN echo built > /app/run.txt
USER 1000
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
MAINTAINER someone@example.com
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/msg /app/data.txt /app/run.txt"]
"#,
            ),
            ("data.txt", "context data\n"),
        ],
    );
    let reply = build(
        &mut raw,
        &dir,
        json!({
            "tags": ["localhost/built:1"],
            "build_args": {"GREETING": "hi", "NOPE": "x"},
            "label": ["from.buildinfo=yes"],
            "memory": "256m",
            "cpu_shares": 512,
        }),
    );
    let id = reply["id"].as_str().unwrap().to_string();
    let logs = reply["logs"].to_string();
    assert!(
        logs.contains("NOPE"),
        "no warning for the unused build arg: {logs}"
    );
    let image = inspect_image(&mut raw, "localhost/built:1");
    assert!(image["Id"].as_str().unwrap().contains(&id), "{image}");
    let config = &image["Config"];
    assert_eq!(config["WorkingDir"], "/app", "{config}");
    assert_eq!(config["User"], "1000");
    assert_eq!(config["Labels"]["org.example.kind"], "test build");
    assert_eq!(config["Labels"]["other"], "fallback");
    assert_eq!(config["Labels"]["from.buildinfo"], "yes");
    assert!(config["ExposedPorts"]["8080/tcp"].is_object(), "{config}");
    assert!(config["ExposedPorts"]["53/udp"].is_object(), "{config}");
    assert!(config["Volumes"]["/data"].is_object(), "{config}");
    assert_eq!(config["Entrypoint"], json!(["/bin/sh", "-c"]));
    assert_eq!(
        config["Cmd"],
        json!(["cat /app/msg /app/data.txt /app/run.txt"])
    );
    assert_eq!(config["StopSignal"], "SIGTERM");
    assert_eq!(image["Author"], "someone@example.com", "{image}");
    assert!(
        config["Env"].to_string().contains("APP_HOME=/app"),
        "{config}"
    );
    let out = output(&mut raw, "built", "localhost/built:1", &[]);
    assert_eq!(out, "hi from /out\ncontext data\nbuilt", "{out}");
    let owner = output(
        &mut raw,
        "owner",
        "localhost/built:1",
        &["stat -c %u:%g /app/owned.txt"],
    );
    assert_eq!(owner, "1000:1000");
    let owners = output(
        &mut raw,
        "owners",
        "localhost/built:1",
        &["stat -c %u:%g /app/by-name.txt /app/by-names.txt"],
    );
    assert_eq!(owners, "1234:4321\n1234:777");
    // Nothing half-built is listed: busybox, the result, and the first stage's image
    // (complete, unnamed, kept for the cache as Docker keeps intermediate images).
    let images = ok(&mut raw, "ListImages", json!({}))["images"].clone();
    assert_eq!(images.as_array().unwrap().len(), 3, "{images}");
    let containers = ok(&mut raw, "ListContainers", json!({}))["containers"].clone();
    assert_eq!(containers.as_array().map_or(0, Vec::len), 0, "{containers}");
    // One new layer for the stage (WORKDIR's directory, two COPYs and a RUN).
    assert_eq!(
        image["RootFS"]["Layers"].as_array().unwrap().len(),
        2,
        "{image}"
    );
    // A rebuild of the same inputs is the same image, from the cache.
    let start = std::time::Instant::now();
    let again = build(
        &mut raw,
        &dir,
        json!({
            "tags": ["localhost/built:2"],
            "build_args": {"GREETING": "hi", "NOPE": "x"},
            "label": ["from.buildinfo=yes"],
        }),
    );
    eprintln!("cached rebuild: {:?}", start.elapsed());
    assert_eq!(again["id"], reply["id"]);
    assert!(again["logs"].to_string().contains("Using cache"), "{again}");
    // A source edited to the same size with its modification time put back (as `cp -p`
    // or `touch -d` do) is still seen: no cache, and the new content in the result.
    let data = dir.join("data.txt");
    let before = std::fs::metadata(&data).unwrap();
    let old = std::fs::read(&data).unwrap();
    let edited: Vec<u8> = old
        .iter()
        .map(|b| if *b == b'\n' { *b } else { b'X' })
        .collect();
    assert_ne!(old, edited);
    std::fs::write(&data, &edited).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&data)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    let edited_build = build(
        &mut raw,
        &dir,
        json!({
            "tags": ["localhost/built:3"],
            "build_args": {"GREETING": "hi", "NOPE": "x"},
            "label": ["from.buildinfo=yes"],
        }),
    );
    assert!(
        !edited_build["logs"].to_string().contains("Using cache"),
        "{edited_build}"
    );
    assert_ne!(edited_build["id"], reply["id"]);
    ok(
        &mut raw,
        "RemoveImage",
        json!({"name": "localhost/built:3", "force": false}),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_nothing_left(&daemon);
}

/// A failing RUN, a COPY escaping the context, a syntax error, a missing Dockerfile: each an
/// ErrorOccurred naming the instruction and line, with nothing left behind.
#[test]
fn bad_builds_fail_with_the_instruction_and_line() {
    if !privileged("bad_builds_fail_with_the_instruction_and_line") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "run",
            "FROM busybox\nRUN echo before\nRUN exit 3\n",
            &["RUN (line 3)", "exit 3", "code 3"],
        ),
        (
            "escape",
            "FROM busybox\nCOPY ../../etc/passwd /x\n",
            &["COPY (line 2)", "outside the build context"],
        ),
        (
            "link",
            "FROM busybox\nCOPY link /x\n",
            &["COPY (line 2)", "outside the build context"],
        ),
        (
            "missing",
            "FROM busybox\nCOPY nothing-here /x\n",
            &["COPY (line 2)", "nothing-here"],
        ),
        ("syntax", "FROM busybox\nFROBNICATE x\n", &["line 2"]),
        (
            "mount",
            "FROM busybox\nRUN --mount=type=cache,target=/c true\n",
            &["RUN (line 2)", "--mount"],
        ),
        (
            "from",
            "FROM localhost:1/nothing/here\n",
            &["FROM (line 1)"],
        ),
    ];
    for (name, text, needles) in cases {
        let dir = context(name, &[("Dockerfile", text)]);
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).unwrap();
        // As Docker: a failed RUN's container stays for a look, unless `force_rm`.
        let info = json!({
            "dockerfile": [dir.join("Dockerfile").display().to_string()],
            "force_rm": true,
        });
        let reply = fails(
            &mut raw,
            "BuildImage",
            json!({ "build": info }),
            "ErrorOccurred",
        );
        let reason = reply["reason"].as_str().unwrap_or_default().to_string();
        for needle in *needles {
            assert!(
                reason.contains(needle),
                "{name}: {reason:?} lacks {needle:?}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    // Without force_rm, the failed RUN's container stays (as Docker's), and nothing else.
    let kept = context("kept", &[("Dockerfile", "FROM busybox\nRUN exit 4\n")]);
    let info = json!({ "dockerfile": [kept.join("Dockerfile").display().to_string()] });
    fails(
        &mut raw,
        "BuildImage",
        json!({ "build": info }),
        "ErrorOccurred",
    );
    let containers = ok(&mut raw, "ListContainers", json!({}))["containers"].clone();
    assert_eq!(containers.as_array().map_or(0, Vec::len), 1, "{containers}");
    let name = containers[0]["id"].as_str().unwrap().to_string();
    ok(
        &mut raw,
        "RemoveContainer",
        json!({ "name": name, "force": true }),
    );
    let _ = std::fs::remove_dir_all(&kept);
    let info = json!({ "dockerfile": ["/nonexistent/Dockerfile"] });
    fails(
        &mut raw,
        "BuildImage",
        json!({ "build": info }),
        "ErrorOccurred",
    );
    let images = ok(&mut raw, "ListImages", json!({}))["images"].clone();
    assert_eq!(images.as_array().unwrap().len(), 1, "{images}");
    let containers = ok(&mut raw, "ListContainers", json!({}))["containers"].clone();
    assert_eq!(containers.as_array().map_or(0, Vec::len), 0, "{containers}");
    assert_nothing_left(&daemon);
}

/// ADD of a local tar (extracted), `.dockerignore`, here-documents in RUN and COPY,
/// HEALTHCHECK and ONBUILD stored (and the trigger run by a build FROM the image), squash
/// (one new layer), and the image format.
#[test]
fn context_features_heredocs_onbuild_and_squash() {
    if !privileged("context_features_heredocs_onbuild_and_squash") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let dir = context(
        "features",
        &[
            (
                "Dockerfile",
                "FROM busybox\n\
                 ADD archive.tar /unpacked/\n\
                 COPY . /ctx/\n\
                 RUN <<EOF\n\
                 echo from heredoc > /heredoc.txt\n\
                 echo second line >> /heredoc.txt\n\
                 EOF\n\
                 COPY <<EOF /copied.txt\n\
                 copied text\n\
                 EOF\n\
                 RUN rm /bin/ln && mkdir /data && echo 1 > /data/a && echo 1 > /data/gone\n\
                 RUN rm -rf /data && mkdir /data && echo 2 > /data/b && rm /bin/tr\n\
                 HEALTHCHECK --interval=5s --retries=2 CMD true\n\
                 ONBUILD RUN echo triggered > /onbuild.txt\n\
                 CMD [\"sh\", \"-c\", \"cat /unpacked/inner/file.txt /heredoc.txt /copied.txt; ls /ctx\"]\n",
            ),
            (".dockerignore", "secret*\nsub/skip.txt\n"),
            ("secret.key", "do not copy\n"),
            ("kept.txt", "kept\n"),
            ("sub/skip.txt", "skipped\n"),
            ("sub/keep.txt", "kept too\n"),
        ],
    );
    let mut tarball = tar::Builder::new(Vec::new());
    crate::fixtures::add_file(&mut tarball, "inner/file.txt", b"from the archive\n");
    std::fs::write(dir.join("archive.tar"), tarball.into_inner().unwrap()).unwrap();
    let reply = build(
        &mut raw,
        &dir,
        json!({
            "tags": ["localhost/features"],
            "squash": true,
            "image_format": "docker",
            "annotations": ["org.example.note=annotated"],
        }),
    );
    assert!(reply["id"].is_string(), "{reply}");
    let out = output(&mut raw, "features", "localhost/features", &[]);
    assert_eq!(
        out,
        "from the archive\nfrom heredoc\nsecond line\ncopied text\nDockerfile\narchive.tar\nkept.txt\nsub",
        "{out}"
    );
    let sub = output(
        &mut raw,
        "sub",
        "localhost/features",
        &["ls", "-a", "/ctx/sub", "/ctx"],
    );
    assert!(
        sub.contains(".dockerignore") && !sub.contains("secret"),
        "{sub}"
    );
    assert!(
        sub.contains("keep.txt") && !sub.contains("skip.txt"),
        "{sub}"
    );
    // Deletions and a directory made anew read as they did layer by layer.
    let data = output(
        &mut raw,
        "data",
        "localhost/features",
        &[
            "sh",
            "-c",
            "ls /data; test ! -e /bin/ln && test ! -e /bin/tr && echo gone",
        ],
    );
    assert_eq!(data, "b\ngone");
    let image = inspect_image(&mut raw, "localhost/features");
    // Squashed: the base's one layer and one new one.
    assert_eq!(
        image["RootFS"]["Layers"].as_array().unwrap().len(),
        2,
        "{image}"
    );
    assert_eq!(
        image["Annotations"]["org.example.note"], "annotated",
        "{image}"
    );
    let check = &image["Config"]["Healthcheck"];
    assert_eq!(check["Test"], json!(["CMD-SHELL", "true"]), "{image}");
    assert_eq!(check["Interval"], 5_000_000_000u64);
    assert_eq!(check["Retries"], 2);
    assert_eq!(
        image["Config"]["OnBuild"],
        json!(["RUN echo triggered > /onbuild.txt"])
    );
    assert!(
        image["ManifestType"]
            .as_str()
            .unwrap_or_default()
            .contains("docker")
            || image.to_string().contains("docker.distribution.manifest"),
        "{image}"
    );
    // A build FROM it (by digest) runs the trigger.
    let by_digest = image["RepoDigests"][0].as_str().unwrap().to_string();
    let child = context("child", &[("Dockerfile", &format!("FROM {by_digest}\n"))]);
    build(&mut raw, &child, json!({ "tags": ["localhost/child"] }));
    let triggered = output(
        &mut raw,
        "child",
        "localhost/child",
        &["cat", "/onbuild.txt"],
    );
    assert_eq!(triggered, "triggered");
    for d in [dir, child] {
        let _ = std::fs::remove_dir_all(d);
    }
    assert_nothing_left(&daemon);
}

/// With `more`, log lines arrive as the build runs, then the ID; two builds run at once
/// while the daemon answers other calls.
#[test]
fn streaming_and_concurrent_builds() {
    if !privileged("streaming_and_concurrent_builds") {
        return;
    }
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let dirs: Vec<PathBuf> = (0..2)
        .map(|i| {
            context(
                &format!("stream{i}"),
                &[(
                    "Dockerfile",
                    &format!("FROM busybox\nRUN echo line-one-{i}; sleep 0.5; echo line-two-{i}\n"),
                )],
            )
        })
        .collect();
    let threads: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let mut raw = daemon.raw();
            let dockerfile = dir.join("Dockerfile").display().to_string();
            std::thread::spawn(move || {
                raw.send(&json!({
                    "method": "io.podman.BuildImage",
                    "parameters": { "build": { "dockerfile": [dockerfile], "tags": [format!("localhost/stream{i}")] } },
                    "more": true,
                }));
                let mut lines = Vec::new();
                loop {
                    let reply = raw.recv().expect("a reply");
                    assert!(reply.get("error").is_none(), "{reply}");
                    let image = &reply["parameters"]["image"];
                    if reply["continues"] == json!(true) {
                        lines.extend(image["logs"].as_array().unwrap().iter().cloned());
                    } else {
                        return (lines, image["id"].as_str().unwrap().to_string());
                    }
                }
            })
        })
        .collect();
    // A failing build streams its log, then the error.
    let failing = context(
        "stream-fail",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo about to fail; exit 7\n",
        )],
    );
    let mut raw = daemon.raw();
    raw.send(&json!({
        "method": "io.podman.BuildImage",
        "parameters": { "build": { "dockerfile": [failing.join("Dockerfile").display().to_string()], "force_rm": true } },
        "more": true,
    }));
    let mut streamed = Vec::new();
    let error = loop {
        let reply = raw.recv().expect("a reply");
        if reply.get("error").is_some() {
            break reply;
        }
        streamed.push(reply["parameters"]["image"]["logs"].to_string());
    };
    let streamed = streamed.join("");
    assert!(streamed.contains("about to fail"), "{streamed}");
    assert!(streamed.contains("code 7"), "{streamed}");
    assert!(
        error["parameters"]["reason"].to_string().contains("code 7"),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(&failing);
    // The daemon answers meanwhile.
    let mut raw = daemon.raw();
    ok(&mut raw, "Ping", json!({}));
    for (i, t) in threads.into_iter().enumerate() {
        let (lines, id) = t.join().unwrap();
        let text = serde_json::to_string(&lines).unwrap();
        let one = text.find(&format!("line-one-{i}")).expect(&text);
        let two = text.find(&format!("line-two-{i}")).expect(&text);
        assert!(one < two && !id.is_empty(), "{text}");
    }
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    assert_nothing_left(&daemon);
}

/// python-podman 0.11's `images.build`, end to end.
#[test]
fn python_podman_builds() {
    if !privileged("python_podman_builds") {
        return;
    }
    let python = "/opt/podlink-test/python-podman/bin/python";
    assert!(
        Path::new(python).exists(),
        "{python} is missing: run contrib/scripts/setup-deps.sh test"
    );
    let daemon = crate::util::TestDaemon::start();
    let dir = context("python", &[]);
    std::fs::create_dir_all(&dir).unwrap();
    let out = crate::util::run_ok(
        std::process::Command::new(python)
            .arg(crate::util::test_file("python/build_client.py"))
            .arg(daemon.address())
            .arg(&crate::fixtures::fixtures().rootfs)
            .arg(&dir),
    );
    assert!(out.contains("python-podman build: ok"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
    assert_nothing_left(&daemon);
}

/// Podman 4.3 loads the export of a built image with the same ID and config.
#[test]
fn podman_loads_a_built_image() {
    if !privileged("podman_loads_a_built_image") {
        return;
    }
    let podman = crate::util::require_tool("podman");
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let dir = context(
        "load",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo loaded > /f\nENV K=v\nWORKDIR /w\nCMD [\"cat\", \"/f\"]\n",
        )],
    );
    let id = build(&mut raw, &dir, json!({ "tags": ["localhost/loadme"] }))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let archive = dir.join("out.tar");
    ok(
        &mut raw,
        "ExportImage",
        json!({ "name": "localhost/loadme", "destination": format!("docker-archive:{}", archive.display()), "compress": false, "tags": [] }),
    );
    let storage = tempfile::tempdir().unwrap();
    let podman_cmd = || crate::util::podman_on(&podman, storage.path());
    crate::util::run_ok(podman_cmd().args(["load", "-q", "-i"]).arg(&archive));
    let inspected = crate::util::run_ok(podman_cmd().args(["image", "inspect", &id]));
    let doc: Value = serde_json::from_str(&inspected).unwrap();
    let config = &doc[0]["Config"];
    assert_eq!(config["Cmd"], json!(["cat", "/f"]), "{doc}");
    assert_eq!(config["WorkingDir"], "/w", "{doc}");
    assert!(config["Env"].to_string().contains("K=v"), "{doc}");
    let _ = std::fs::remove_dir_all(&dir);
    assert_nothing_left(&daemon);
}

/// ADD of an http URL (a one-shot server on loopback); RUN with the build's `add_hosts` and
/// `volume` mounts.
#[test]
fn add_fetches_a_url_and_run_sees_added_hosts() {
    if !privileged("add_fetches_a_url_and_run_sees_added_hosts") {
        return;
    }
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf).unwrap();
        let body = "fetched over http\n";
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    });
    let daemon = daemon_with_busybox(DaemonOptions::default());
    let mut raw = daemon.raw();
    let shared = context("shared", &[("note", "from a volume\n")]);
    let dir = context(
        "url",
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox\nADD http://127.0.0.1:{port}/remote.txt /downloads/\n\
                 RUN grep -q 'buildhost' /etc/hosts && echo hosts-ok > /hosts.txt\n\
                 RUN cat /mnt/shared/note > /from-volume.txt\n"
            ),
        )],
    );
    build(
        &mut raw,
        &dir,
        json!({
            "tags": ["localhost/url"],
            "add_hosts": ["buildhost:10.1.2.3"],
            "volume": [format!("{}:/mnt/shared:ro", shared.display())],
        }),
    );
    server.join().unwrap();
    let out = output(
        &mut raw,
        "url",
        "localhost/url",
        &[
            "cat",
            "/downloads/remote.txt",
            "/hosts.txt",
            "/from-volume.txt",
        ],
    );
    assert_eq!(out, "fetched over http\nhosts-ok\nfrom a volume");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&shared);
    assert_nothing_left(&daemon);
}

/// A missing base image is pulled from its registry with `pull` (without, the build fails,
/// as Podman 1.x's PullNever did); `pull_always` pulls it again (and skips the cache).
#[test]
fn from_pulls_a_missing_base() {
    if !privileged("from_pulls_a_missing_base") {
        return;
    }
    use crate::registry_pull::{RegistryDaemon, Setup};
    let registry = crate::registries::Registry::plain();
    let host = registry.host();
    registry.push_busybox("base/busybox:1");
    let setup = RegistryDaemon::start(Setup {
        insecure: &[&host],
        ..Setup::default()
    });
    let mut raw = setup.raw();
    let dir = context(
        "pull",
        &[(
            "Dockerfile",
            &format!("FROM {host}/base/busybox:1\nRUN echo pulled > /p\n"),
        )],
    );
    let info = json!({
        "dockerfile": [dir.join("Dockerfile").display().to_string()],
        "tags": ["localhost/pulled"],
    });
    let refused = fails(
        &mut raw,
        "BuildImage",
        json!({ "build": info }),
        "ErrorOccurred",
    );
    assert!(refused.to_string().contains("pull is false"), "{refused}");
    assert_eq!(
        ok(&mut raw, "ListImages", json!({}))["images"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let first = build(
        &mut raw,
        &dir,
        json!({ "tags": ["localhost/pulled"], "pull": true }),
    );
    assert!(first["logs"].to_string().contains("Pulling"), "{first}");
    let images = ok(&mut raw, "ListImages", json!({}))["images"].clone();
    assert_eq!(images.as_array().unwrap().len(), 2, "{images}");
    let again = build(
        &mut raw,
        &dir,
        json!({ "tags": ["localhost/pulled"], "pull_always": true }),
    );
    let logs = again["logs"].to_string();
    assert!(
        logs.contains("Pulling") && !logs.contains("Using cache"),
        "{logs}"
    );
    let out = output(&mut raw, "pulled", "localhost/pulled", &["cat", "/p"]);
    assert_eq!(out, "pulled");
    let _ = std::fs::remove_dir_all(&dir);
    assert_nothing_left(&setup.daemon);
}
