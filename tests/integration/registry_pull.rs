//! PullImage against real registries (issue 10): by tag, by digest, short names through
//! registries.conf, Docker schema 2 with gzip layers, manifest lists and image indexes, basic
//! and bearer authentication from `creds` and from auth.json, TLS through `certDir` and
//! client certificates, `tlsVerify: false`, signature policies, and progress with `more`.
//! Also the harness the other registry tests share: a daemon configured for test registries.
//! Needs root (layers keep their owners).

use std::path::PathBuf;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::fixtures::fixtures;
use crate::registries::Registry;
use crate::util::{DaemonOptions, RawConnection, TestDaemon, privileged};

/// A policy that lets every image in.
pub const ACCEPT_ANYTHING: &str = r#"{"default":[{"type":"insecureAcceptAnything"}]}"#;

/// A daemon set up for test registries: its registries.conf, policy, certificate directory
/// and auth file locations all live in `dir`, never the host's.
pub struct RegistryDaemon {
    /// The daemon.
    pub daemon: TestDaemon,
    /// Its configuration files and roots; `xdg/containers/auth.json` is its first auth file.
    pub dir: TempDir,
    options: DaemonOptions,
}

/// How a `RegistryDaemon` is set up.
#[derive(Default)]
pub struct Setup<'a> {
    /// Search registries, in order.
    pub search: &'a [&'a str],
    /// Insecure registries (plain HTTP or unverified TLS).
    pub insecure: &'a [&'a str],
    /// Blocked registries.
    pub blocked: &'a [&'a str],
    /// Extra daemon flags.
    pub args: &'a [&'a str],
    /// The policy file's text; `ACCEPT_ANYTHING` when `None`.
    pub policy: Option<&'a str>,
    /// More registries.conf text (v2 `[[registry]]` tables), appended.
    pub extra_conf: &'a str,
}

impl RegistryDaemon {
    /// Starts a daemon with `setup` (registry reads time out after 2 s and are tried 3 times,
    /// so fault tests stay short).
    pub fn start(setup: Setup) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("regd")
            .tempdir()
            .expect("temp dir");
        let list = |l: &[&str]| {
            l.iter()
                .map(|r| format!("'{r}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let conf = dir.path().join("registries.conf");
        std::fs::write(
            &conf,
            format!(
                "[registries.search]\nregistries = [{}]\n[registries.insecure]\nregistries = [{}]\n\
                 [registries.block]\nregistries = [{}]\n{}",
                list(setup.search),
                list(setup.insecure),
                list(setup.blocked),
                setup.extra_conf
            ),
        )
        .expect("write registries.conf");
        let policy = dir.path().join("policy.json");
        std::fs::write(&policy, setup.policy.unwrap_or(ACCEPT_ANYTHING)).expect("policy");
        for sub in ["certs.d", "xdg/containers", "home/.docker"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        let path = |p: &str| dir.path().join(p).display().to_string();
        let options = DaemonOptions {
            args: setup.args.iter().map(|a| a.to_string()).collect(),
            env: vec![
                ("PODLINK_REGISTRIES_CONF".into(), conf.display().to_string()),
                (
                    "PODLINK_SIGNATURE_POLICY".into(),
                    policy.display().to_string(),
                ),
                ("PODLINK_CERTS_DIR".into(), path("certs.d")),
                ("PODLINK_HTTP_READ_TIMEOUT".into(), "2".into()),
                ("PODLINK_REGISTRY_ATTEMPTS".into(), "3".into()),
                ("XDG_RUNTIME_DIR".into(), path("xdg")),
                ("HOME".into(), path("home")),
            ],
            // The roots live with the configuration, so a restart finds them.
            root: Some(dir.path().join("root")),
            runroot: Some(dir.path().join("run")),
            ..DaemonOptions::default()
        };
        let daemon = TestDaemon::start_with(options.clone());
        RegistryDaemon {
            daemon,
            dir,
            options,
        }
    }

    /// Starts a new daemon on the same roots and configuration (the old one is dropped).
    pub fn restart(&mut self) {
        let new = TestDaemon::start_with(self.options.clone());
        drop(std::mem::replace(&mut self.daemon, new));
    }

    /// The daemon's first auth file (under `XDG_RUNTIME_DIR`).
    pub fn auth_file(&self) -> PathBuf {
        self.dir.path().join("xdg/containers/auth.json")
    }

    /// A raw connection.
    pub fn raw(&self) -> RawConnection {
        self.daemon.raw()
    }
}

/// Calls `method` and returns its reply's parameters; fails on an error.
pub fn call_ok(raw: &mut RawConnection, method: &str, parameters: Value) -> Value {
    let reply = raw.call(&format!("io.podman.{method}"), parameters.clone());
    assert!(
        reply.get("error").is_none(),
        "{method} {parameters}: {reply}"
    );
    reply["parameters"].clone()
}

/// Calls `method`, expects the error `error` and returns its parameters as text (the reason,
/// and for a not-found error the name, each as JSON strings).
pub fn call_err(raw: &mut RawConnection, method: &str, parameters: Value, error: &str) -> String {
    let reply = raw.call(&format!("io.podman.{method}"), parameters.clone());
    assert_eq!(
        reply["error"],
        format!("io.podman.{error}"),
        "{method} {parameters}: {reply}"
    );
    reply["parameters"].to_string()
}

/// Pulls `name` with `extra` parameters; the image ID.
pub fn pull(raw: &mut RawConnection, name: &str, extra: Value) -> String {
    let mut parameters = json!({ "name": name });
    if let (Some(p), Some(e)) = (parameters.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    call_ok(raw, "PullImage", parameters)["id"]
        .as_str()
        .expect("an id")
        .to_string()
}

/// The names (repoTags) and repoDigests of every image, by ID.
pub fn listed(raw: &mut RawConnection) -> Vec<(String, Vec<String>, Vec<String>)> {
    let images = call_ok(raw, "ListImages", json!({}))["images"].clone();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    images
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["id"].as_str().unwrap_or_default().to_string(),
                strings(&i["repoTags"]),
                strings(&i["repoDigests"]),
            )
        })
        .collect()
}

#[test]
fn pull_by_tag_digest_and_short_name() {
    if !privileged("pull_by_tag_digest_and_short_name") {
        return;
    }
    let registry = Registry::plain();
    let host = registry.host();
    let digest = registry.push_busybox("tools/busybox:1.0");
    registry.push_busybox("busybox:latest");
    let setup = RegistryDaemon::start(Setup {
        search: &[&host],
        insecure: &[&host],
        ..Setup::default()
    });
    let mut raw = setup.raw();
    let want = fixtures().layered_id.clone();

    // By tag, fully qualified, with the docker:// prefix Podman accepted.
    assert_eq!(
        pull(
            &mut raw,
            &format!("docker://{host}/tools/busybox:1.0"),
            json!({})
        ),
        want
    );
    let images = listed(&mut raw);
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(images[0].1, vec![format!("{host}/tools/busybox:1.0")]);
    assert_eq!(images[0].2, vec![format!("{host}/tools/busybox@{digest}")]);

    // By digest: the same image, named by its repository and digest.
    let by_digest = format!("{host}/tools/busybox@{digest}");
    assert_eq!(pull(&mut raw, &by_digest, json!({})), want);
    let images = listed(&mut raw);
    assert!(
        images[0].1.contains(&by_digest) || images[0].2.contains(&by_digest),
        "{images:?}"
    );

    // A short name, through the search registry; `latest` by default.
    assert_eq!(pull(&mut raw, "busybox", json!({})), want);
    let images = listed(&mut raw);
    assert!(
        images[0].1.contains(&format!("{host}/busybox:latest")),
        "{images:?}"
    );

    // The pulled image runs as any other: its layers are the fixture's.
    let inspect = call_ok(&mut raw, "InspectImage", json!({"name": want}));
    let doc: Value = serde_json::from_str(inspect["image"].as_str().unwrap()).unwrap();
    assert_eq!(
        doc["RootFS"]["Layers"],
        json!(fixtures().layered_diff_ids),
        "{doc}"
    );

    // A tag the registry does not have: ImageNotFound naming the registry and the step.
    let why = call_err(
        &mut raw,
        "PullImage",
        json!({"name": format!("{host}/tools/busybox:nope")}),
        "ImageNotFound",
    );
    assert!(why.contains(&host) && why.contains("manifest"), "{why}");
}

#[test]
fn short_names_try_each_search_registry_in_order() {
    if !privileged("short_names_try_each_search_registry_in_order") {
        return;
    }
    let down = Registry::plain().host();
    let empty = Registry::plain();
    let full = Registry::plain();
    full.push_busybox("only/here:1");
    let (e, f) = (empty.host(), full.host());
    // One that is down, one without the name, then one with it.
    let setup = RegistryDaemon::start(Setup {
        search: &[&down, &e, &f],
        insecure: &[&down, &e, &f],
        ..Setup::default()
    });
    let mut raw = setup.raw();
    assert_eq!(
        pull(&mut raw, "only/here:1", json!({})),
        fixtures().layered_id
    );
    assert_eq!(listed(&mut raw)[0].1, vec![format!("{f}/only/here:1")]);
    // Missing everywhere reachable: an error naming every registry and why.
    let reply = raw.call("io.podman.PullImage", json!({"name": "not/anywhere"}));
    assert_eq!(reply["error"], "io.podman.ErrorOccurred", "{reply}");
    let why = reply["parameters"]["reason"].as_str().unwrap_or_default();
    assert!(
        why.contains(&down) && why.contains(&e) && why.contains(&f),
        "{reply}"
    );
    // Where every search registry answers that it has no such name: ImageNotFound.
    let setup = RegistryDaemon::start(Setup {
        search: &[&e, &f],
        insecure: &[&e, &f],
        ..Setup::default()
    });
    let mut raw = setup.raw();
    let reply = raw.call("io.podman.PullImage", json!({"name": "not/anywhere"}));
    assert_eq!(reply["error"], "io.podman.ImageNotFound", "{reply}");
}

#[test]
fn docker_schema2_gzip_and_lists_pick_this_platform() {
    if !privileged("docker_schema2_gzip_and_lists_pick_this_platform") {
        return;
    }
    let registry = Registry::plain();
    let host = registry.host();
    registry.push_busybox_v2s2_gzip("gz/busybox:1");
    let list = registry.push_manifest_list("multi/list:1");
    let index = registry.push_image_index("multi/index:1");
    let setup = RegistryDaemon::start(Setup {
        insecure: &[&host],
        ..Setup::default()
    });
    let mut raw = setup.raw();
    // Docker schema 2 with gzip layers: the same config, so the same image as the OCI push.
    assert_eq!(
        pull(&mut raw, &format!("{host}/gz/busybox:1"), json!({})),
        fixtures().layered_id
    );
    let inspect = call_ok(
        &mut raw,
        "InspectImage",
        json!({"name": fixtures().layered_id}),
    );
    assert!(
        inspect["image"].as_str().unwrap().contains("fixture"),
        "{inspect}"
    );
    call_ok(
        &mut raw,
        "RemoveImage",
        json!({"name": fixtures().layered_id, "force": true}),
    );

    for (fixture, name) in [(&list, "multi/list:1"), (&index, "multi/index:1")] {
        let id = pull(&mut raw, &format!("{host}/{name}"), json!({}));
        assert_eq!(id, fixture.amd64_image_id(), "{name}");
        // Only the amd64 image came: the others' marker label is nowhere.
        let images = listed(&mut raw);
        assert!(
            images
                .iter()
                .all(|i| i.0 != fixture.entry("linux/arm64").image_id),
            "{images:?}"
        );
    }
}

#[test]
fn basic_auth_tls_cert_dirs_and_tls_verify() {
    if !privileged("basic_auth_tls_cert_dirs_and_tls_verify") {
        return;
    }
    let registry = Registry::tls_auth("alice", "s3cret");
    let host = registry.host();
    registry.push_busybox("secure/busybox:1");
    let setup = RegistryDaemon::start(Setup::default());
    let mut raw = setup.raw();
    let name = format!("{host}/secure/busybox:1");
    let cert_dir = registry.cert_dir().display().to_string();

    // No CA: the registry's certificate is not trusted.
    let why = call_err(
        &mut raw,
        "PullImage",
        json!({"name": name, "creds": "alice:s3cret"}),
        "ErrorOccurred",
    );
    assert!(why.contains(&host), "{why}");
    // The CA from certDir, but no credentials, then wrong ones.
    let why = call_err(
        &mut raw,
        "PullImage",
        json!({"name": name, "certDir": cert_dir}),
        "ErrorOccurred",
    );
    assert!(why.contains("credentials") || why.contains("401"), "{why}");
    let why = call_err(
        &mut raw,
        "PullImage",
        json!({"name": name, "certDir": cert_dir, "creds": "alice:wrong"}),
        "ErrorOccurred",
    );
    assert!(why.contains("401"), "{why}");
    // Right credentials through `creds`.
    let id = pull(
        &mut raw,
        &name,
        json!({"certDir": cert_dir, "creds": "alice:s3cret"}),
    );
    assert_eq!(id, fixtures().layered_id);
    call_ok(&mut raw, "RemoveImage", json!({"name": id, "force": true}));
    // Credentials from the auth file, TLS unverified with tlsVerify: false.
    registry.auth_json(&setup.auth_file());
    assert_eq!(
        pull(&mut raw, &name, json!({"tlsVerify": false})),
        fixtures().layered_id
    );
    call_ok(&mut raw, "RemoveImage", json!({"name": id, "force": true}));
    // The daemon's certs.d/HOST:PORT serves when the call names no certDir.
    let certs = setup.dir.path().join("certs.d").join(&host);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(registry.ca_pem(), certs.join("ca.crt")).unwrap();
    assert_eq!(pull(&mut raw, &name, json!({})), fixtures().layered_id);
}

#[test]
fn client_certificates_from_the_cert_dir() {
    if !privileged("client_certificates_from_the_cert_dir") {
        return;
    }
    let registry = Registry::tls_client_certs();
    let host = registry.host();
    registry.push_busybox("certs/busybox:1");
    let setup = RegistryDaemon::start(Setup::default());
    let mut raw = setup.raw();
    let name = format!("{host}/certs/busybox:1");
    // The CA alone is not enough: the registry wants a client certificate.
    let why = call_err(
        &mut raw,
        "PullImage",
        json!({"name": name, "certDir": registry.cert_dir().display().to_string()}),
        "ErrorOccurred",
    );
    assert!(why.contains(&host), "{why}");
    let with_client = registry.client_cert_dir().display().to_string();
    assert_eq!(
        pull(&mut raw, &name, json!({"certDir": with_client})),
        fixtures().layered_id
    );
}

#[test]
fn signature_policies_accept_reject_and_name_what_they_cannot_check() {
    if !privileged("signature_policies_accept_reject_and_name_what_they_cannot_check") {
        return;
    }
    let registry = Registry::plain();
    let host = registry.host();
    registry.push_busybox("pol/busybox:1");
    let setup = RegistryDaemon::start(Setup {
        insecure: &[&host],
        policy: Some(r#"{"default":[{"type":"reject"}]}"#),
        ..Setup::default()
    });
    let mut raw = setup.raw();
    let name = format!("{host}/pol/busybox:1");
    let why = call_err(
        &mut raw,
        "PullImage",
        json!({"name": name}),
        "ErrorOccurred",
    );
    assert!(why.contains("rejected"), "{why}");
    let dir = setup.dir.path();
    let signed = dir.join("signed.json");
    std::fs::write(
        &signed,
        r#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k.gpg"}]}"#,
    )
    .unwrap();
    let why = call_err(
        &mut raw,
        "PullImage",
        json!({"name": name, "signaturePolicy": signed.display().to_string()}),
        "ErrorOccurred",
    );
    assert!(why.contains("signedBy"), "{why}");
    let accept = dir.join("accept.json");
    std::fs::write(&accept, ACCEPT_ANYTHING).unwrap();
    assert_eq!(
        pull(
            &mut raw,
            &name,
            json!({"signaturePolicy": accept.display().to_string()})
        ),
        fixtures().layered_id
    );
    assert_eq!(listed(&mut raw).len(), 1);
}

#[test]
fn progress_replies_with_more_then_the_id() {
    if !privileged("progress_replies_with_more_then_the_id") {
        return;
    }
    let registry = Registry::plain();
    let host = registry.host();
    registry.push_busybox("prog/busybox:1");
    let setup = RegistryDaemon::start(Setup {
        insecure: &[&host],
        ..Setup::default()
    });
    let mut raw = setup.raw();
    raw.send(&json!({
        "method": "io.podman.PullImage",
        "parameters": {"name": format!("{host}/prog/busybox:1")},
        "more": true,
    }));
    let mut replies = Vec::new();
    loop {
        let reply = raw.recv().expect("a reply");
        let more = reply["continues"] == true;
        replies.push(reply);
        if !more {
            break;
        }
    }
    let last = replies.last().unwrap();
    assert_eq!(last["parameters"]["id"], fixtures().layered_id, "{last}");
    let progress = &replies[..replies.len() - 1];
    for layer in &fixtures().layered_diff_ids {
        // The fixture's layers are uncompressed: each blob's digest is its DiffID.
        let done: Vec<&Value> = progress
            .iter()
            .filter(|r| r["parameters"]["layer"] == *layer)
            .collect();
        assert!(!done.is_empty(), "no progress for {layer}: {replies:?}");
        let end = done.last().unwrap();
        assert_eq!(
            end["parameters"]["done"], end["parameters"]["total"],
            "{end}"
        );
        assert_eq!(end["parameters"]["id"], "", "{end}");
    }
    // A second pull: every layer already present, said so.
    raw.send(&json!({
        "method": "io.podman.PullImage",
        "parameters": {"name": format!("{host}/prog/busybox:1")},
        "more": true,
    }));
    let mut present = 0;
    loop {
        let reply = raw.recv().expect("a reply");
        if reply["parameters"]["present"] == true {
            present += 1;
        }
        if reply["continues"] != true {
            assert_eq!(reply["parameters"]["id"], fixtures().layered_id);
            break;
        }
    }
    assert_eq!(present, 2);
    // Without `more`: one reply.
    let reply = raw.call(
        "io.podman.PullImage",
        json!({"name": format!("{host}/prog/busybox:1")}),
    );
    assert_eq!(reply, json!({"parameters": {"id": fixtures().layered_id}}));
}

#[test]
fn the_contract_pull_example_runs_verbatim() {
    if !privileged("the_contract_pull_example_runs_verbatim") {
        return;
    }
    // The example pulls registry.fedoraproject.org/fedora; registries.conf sends that name to
    // a local registry (a v2 `[[registry]]` whose location differs from its prefix).
    let registry = Registry::plain();
    let host = registry.host();
    registry.push_busybox("fedora:latest");
    let conf = format!(
        "[[registry]]\nprefix = 'registry.fedoraproject.org'\nlocation = '{host}'\ninsecure = true\n"
    );
    let setup = RegistryDaemon::start(Setup {
        extra_conf: &conf,
        ..Setup::default()
    });
    let example = r#"varlink call -m unix:/run/podman/io.podman/io.podman.PullImage '{"name": "registry.fedoraproject.org/fedora"}'"#;
    let words = crate::util::shell_words(
        &example.replace("unix:/run/podman/io.podman", &setup.daemon.address()),
    );
    let out = crate::util::run_ok(
        std::process::Command::new(crate::util::require_tool("varlink")).args(&words[1..]),
    );
    let replies: Vec<Value> = serde_json::Deserializer::from_str(&out)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert!(replies.len() > 1, "progress first: {out}");
    assert_eq!(
        replies.last().unwrap(),
        &json!({"id": fixtures().layered_id}),
        "{out}"
    );
    let mut raw = setup.raw();
    assert_eq!(
        listed(&mut raw)[0].1,
        vec!["registry.fedoraproject.org/fedora:latest".to_string()]
    );
}
