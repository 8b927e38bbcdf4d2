//! PushImage against real registries (issue 10): push then pull back as the same image,
//! formats and compression as skopeo reads them, bad input; ContainerRunlabel pulling what it
//! lacks; python-podman's pull, push and search. Needs root.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::fixtures::fixtures;
use crate::registries::Registry;
use crate::registry_pull::{RegistryDaemon, Setup, call_err, call_ok, listed, pull};
use crate::util::{privileged, require_tool, run_ok, test_file};

/// Where `contrib/scripts/setup-deps.sh test` installs python-podman 0.11.1.1.
const PYTHON_PODMAN: &str = "/opt/podlink-test/python-podman/bin/python";

/// The manifest of `repo:tag` as skopeo reads it.
fn skopeo_manifest(registry: &Registry, repo_tag: &str) -> Value {
    let out = run_ok(
        Command::new(require_tool("skopeo"))
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/{repo_tag}", registry.host())),
    );
    serde_json::from_str(&out).expect("a JSON manifest")
}

/// Imports the two-layer busybox fixture (a docker-archive) into `setup`'s daemon.
fn import_busybox(raw: &mut crate::util::RawConnection) -> String {
    let id = call_ok(
        raw,
        "ImportImage",
        json!({"source": format!("docker-archive:{}", fixtures().docker_archive.display())}),
    )["image"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(id, fixtures().layered_id);
    id
}

#[test]
fn push_then_pull_back_in_each_format() {
    if !privileged("push_then_pull_back_in_each_format") {
        return;
    }
    let registry = Registry::plain();
    let host = registry.host();
    let setup = RegistryDaemon::start(Setup {
        insecure: &[&host],
        ..Setup::default()
    });
    let mut raw = setup.raw();
    let id = import_busybox(&mut raw);
    let layer_types = |m: &Value| -> Vec<String> {
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["mediaType"].as_str().unwrap().to_string())
            .collect()
    };
    let digests = |m: &Value| -> Vec<String> {
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    };
    // The image's own format (Docker, from a docker-archive); layers gzipped, as Podman
    // pushed them to registries whatever `compress` said.
    let pushed = call_ok(
        &mut raw,
        "PushImage",
        json!({"name": "busybox", "tag": format!("{host}/own/busybox:1")}),
    );
    assert_eq!(pushed["image"], id);
    let m = skopeo_manifest(&registry, "own/busybox:1");
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(m["config"]["digest"], format!("sha256:{id}"));
    assert_eq!(
        layer_types(&m),
        ["application/vnd.docker.image.rootfs.diff.tar.gzip"; 2]
    );
    let own = digests(&m);
    assert_ne!(own, fixtures().layered_diff_ids);

    // OCI, under docker:// (as Podman accepted it), to another registry: the same gzip blobs
    // (a layer is always gzipped to the same bytes), in OCI media types.
    let second = Registry::plain();
    let host2 = second.host();
    std::fs::write(
        setup.dir.path().join("registries.conf"),
        format!("[registries.insecure]\nregistries = ['{host}', '{host2}']\n"),
    )
    .unwrap();
    call_ok(
        &mut raw,
        "PushImage",
        json!({"name": id, "tag": format!("docker://{host2}/oci/busybox:gz"), "format": "oci",
               "compress": true, "tlsverify": false}),
    );
    let m = skopeo_manifest(&second, "oci/busybox:gz");
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(
        layer_types(&m),
        ["application/vnd.oci.image.layer.v1.tar+gzip"; 2]
    );
    assert_eq!(digests(&m), own);
    // skopeo reads the whole image (config and every blob) back.
    let copy = tempfile::tempdir().unwrap();
    run_ok(
        Command::new(require_tool("skopeo"))
            .args(["--insecure-policy", "copy", "-q", "--src-tls-verify=false"])
            .arg(format!("docker://{host2}/oci/busybox:gz"))
            .arg(format!("oci:{}:x", copy.path().display())),
    );

    // A fresh daemon pulls each back as the same image.
    let other = RegistryDaemon::start(Setup {
        insecure: &[&host, &host2],
        ..Setup::default()
    });
    let mut raw2 = other.raw();
    for name in [
        format!("{host}/own/busybox:1"),
        format!("{host2}/oci/busybox:gz"),
    ] {
        assert_eq!(pull(&mut raw2, &name, json!({})), id, "{name}");
        call_ok(&mut raw2, "RemoveImage", json!({"name": id, "force": true}));
    }
    // v2s2 asked for by name, from an image imported as OCI: Docker media types.
    call_ok(
        &mut raw2,
        "ImportImage",
        json!({"source": format!("oci-archive:{}", fixtures().oci_archive.display())}),
    );
    call_ok(
        &mut raw2,
        "PushImage",
        json!({"name": id, "tag": format!("{host}/v2s2/busybox:1"), "format": "v2s2"}),
    );
    let m = skopeo_manifest(&registry, "v2s2/busybox:1");
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
}

#[test]
fn push_refuses_what_it_cannot_do() {
    if !privileged("push_refuses_what_it_cannot_do") {
        return;
    }
    let registry = Registry::plain();
    let host = registry.host();
    let setup = RegistryDaemon::start(Setup {
        insecure: &[&host],
        ..Setup::default()
    });
    let mut raw = setup.raw();
    import_busybox(&mut raw);
    let dest = format!("{host}/x/busybox:1");
    let why = call_err(
        &mut raw,
        "PushImage",
        json!({"name": "nope", "tag": dest}),
        "ImageNotFound",
    );
    assert!(why.contains("nope"), "{why}");
    let why = call_err(
        &mut raw,
        "PushImage",
        json!({"name": "busybox", "tag": dest, "signBy": "me@example.com"}),
        "ErrorOccurred",
    );
    assert!(why.contains("sign"), "{why}");
    let why = call_err(
        &mut raw,
        "PushImage",
        json!({"name": "busybox", "tag": dest, "format": "v1"}),
        "ErrorOccurred",
    );
    assert!(why.contains("v1"), "{why}");
    let why = call_err(
        &mut raw,
        "PushImage",
        json!({"name": "busybox", "tag": "just/a/name"}),
        "ErrorOccurred",
    );
    assert!(why.contains("registry"), "{why}");
    let why = call_err(
        &mut raw,
        "PushImage",
        json!({"name": "busybox", "tag": dest, "creds": "nocolon"}),
        "ErrorOccurred",
    );
    assert!(why.contains("user:password"), "{why}");
    // Nothing reached the registry.
    assert!(registry.catalog().is_empty(), "{:?}", registry.catalog());
}

#[test]
fn runlabel_pulls_a_missing_image() {
    if !privileged("runlabel_pulls_a_missing_image") {
        return;
    }
    let registry = Registry::plain();
    let host = registry.host();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("ran");
    let source = RegistryDaemon::start(Setup {
        insecure: &[&host],
        ..Setup::default()
    });
    let mut raw = source.raw();
    call_ok(
        &mut raw,
        "ImportImage",
        json!({
            "source": fixtures().rootfs.display().to_string(),
            "reference": "labelled:1",
            "changes": [format!("LABEL RUN=\"/bin/sh -c 'echo $IMAGE > {}'\"", file.display())],
        }),
    );
    let name = format!("{host}/labelled:1");
    call_ok(
        &mut raw,
        "PushImage",
        json!({"name": "labelled:1", "tag": name}),
    );

    let target = RegistryDaemon::start(Setup {
        insecure: &[&host],
        ..Setup::default()
    });
    let mut raw = target.raw();
    // Without pull: the image is missing.
    call_err(
        &mut raw,
        "ContainerRunlabel",
        json!({"runlabel": {"image": name, "label": "RUN"}}),
        "ImageNotFound",
    );
    call_ok(
        &mut raw,
        "ContainerRunlabel",
        json!({"runlabel": {"image": name, "label": "RUN", "pull": true, "tlsVerify": false}}),
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{name}\n"));
    assert_eq!(listed(&mut raw).len(), 1);
}

#[test]
fn python_podman_pulls_pushes_and_searches() {
    if !privileged("python_podman_pulls_pushes_and_searches") {
        return;
    }
    assert!(
        Path::new(PYTHON_PODMAN).exists(),
        "{PYTHON_PODMAN} is missing: run contrib/scripts/setup-deps.sh test"
    );
    let registry = Registry::plain();
    let host = registry.host();
    registry.push_busybox("py/busybox:1");
    let setup = RegistryDaemon::start(Setup {
        search: &[&host],
        insecure: &[&host],
        ..Setup::default()
    });
    let out = run_ok(
        Command::new(PYTHON_PODMAN)
            .arg(test_file("python/registry_client.py"))
            .arg(setup.daemon.address())
            .arg(&host),
    );
    assert!(out.contains("python-podman registry: ok"), "{out}");
    assert!(out.contains(&fixtures().layered_id), "{out}");
    // skopeo sees what python-podman pushed.
    let m = skopeo_manifest(&registry, "py/pushed:2");
    assert_eq!(
        m["config"]["digest"],
        format!("sha256:{}", fixtures().layered_id)
    );
}
