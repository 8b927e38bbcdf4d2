//! Registry faults (issue 10), through a fault-injecting proxy in front of a real registry:
//! transient ones (5xx, 429, reset connections, blobs cut short) are retried or resumed and the
//! pull succeeds; lasting ones (401, 403, 404, 5xx, oversized documents, wrong types, corrupt or
//! stalled blobs, a registry that is down) fail with an error naming the registry, the step and
//! the cause, while the daemon serves other calls and lists nothing half pulled. A daemon killed
//! mid-pull restarts clean. Cross-repository mounts and bearer tokens are seen on the wire.
//! Needs root.

use std::time::Duration;

use serde_json::json;

use crate::fault_proxy::{Fault, FaultProxy, Rule};
use crate::fixtures::fixtures;
use crate::registries::Registry;
use crate::registry_pull::{RegistryDaemon, Setup, call_err, call_ok, listed, pull};
use crate::util::{DEADLINE, privileged, wait_for};

/// A registry holding busybox as `f/busybox:1`, a proxy in front, and a daemon that trusts
/// the proxy as an insecure registry.
fn proxied() -> (Registry, FaultProxy, RegistryDaemon) {
    let registry = Registry::plain();
    registry.push_busybox("f/busybox:1");
    let proxy = FaultProxy::new(&registry);
    let host = proxy.host().to_string();
    let setup = RegistryDaemon::start(Setup {
        insecure: &[&host],
        ..Setup::default()
    });
    (registry, proxy, setup)
}

/// The blob path of the fixture's first (larger) layer.
fn layer_path() -> String {
    format!("/blobs/{}", fixtures().layered_diff_ids[0])
}

/// The blob path of the fixture's config.
fn config_path() -> String {
    format!("/blobs/sha256:{}", fixtures().layered_id)
}

/// Whether the daemon's staging directory is empty (nothing half pulled left).
fn staging_is_empty(setup: &RegistryDaemon) -> bool {
    let tmp = setup.daemon.root.join("tmp");
    std::fs::read_dir(&tmp).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn transient_faults_are_retried_or_resumed() {
    if !privileged("transient_faults_are_retried_or_resumed") {
        return;
    }
    let (_registry, proxy, setup) = proxied();
    let mut raw = setup.raw();
    let name = format!("{}/f/busybox:1", proxy.host());
    let id = fixtures().layered_id.clone();
    let cases = [
        Rule::new("GET", "/manifests/", Fault::Status(503)).times(2),
        Rule::new("GET", "/manifests/", Fault::Status(429)).times(1),
        Rule::new("GET", &config_path(), Fault::Status(502)).times(1),
        Rule::new("GET", &layer_path(), Fault::DropConnection).times(1),
        Rule::new("GET", "/v2/", Fault::DropConnection).times(1),
    ];
    for rule in cases {
        let what = format!("{rule:?}");
        proxy.clear_requests();
        proxy.add(rule);
        assert_eq!(pull(&mut raw, &name, json!({})), id, "{what}");
        call_ok(&mut raw, "RemoveImage", json!({"name": id, "force": true}));
        proxy.clear_faults();
    }
    // A blob cut short is asked for again from where it stopped.
    proxy.clear_requests();
    proxy.add(Rule::new("GET", &layer_path(), Fault::TruncateAfter(100_000)).times(1));
    assert_eq!(pull(&mut raw, &name, json!({})), id);
    let ranges: Vec<String> = proxy
        .requests_to("GET", &layer_path())
        .iter()
        .filter_map(|s| s.header("range").map(str::to_string))
        .collect();
    assert_eq!(ranges, ["bytes=100000-"], "{:?}", proxy.requests());
    call_ok(&mut raw, "RemoveImage", json!({"name": id, "force": true}));
    // A registry that ignores ranges sends it whole again; what was read is skipped.
    proxy.clear_faults();
    proxy.add(Rule::new("GET", &layer_path(), Fault::NoRange));
    proxy.add(Rule::new("GET", &layer_path(), Fault::TruncateAfter(100_000)).times(1));
    assert_eq!(pull(&mut raw, &name, json!({})), id);
    assert!(staging_is_empty(&setup));
}

#[test]
fn lasting_faults_fail_naming_registry_step_and_cause() {
    if !privileged("lasting_faults_fail_naming_registry_step_and_cause") {
        return;
    }
    let (registry, proxy, setup) = proxied();
    let mut raw = setup.raw();
    let host = proxy.host().to_string();
    let name = format!("{host}/f/busybox:1");
    let layer = fixtures().layered_diff_ids[0].clone();
    let cases: Vec<(Rule, &str, Vec<String>)> = vec![
        (
            Rule::new("GET", "/manifests/", Fault::Status(500)),
            "ErrorOccurred",
            vec!["manifest".into(), "500".into()],
        ),
        (
            Rule::new("GET", "/manifests/", Fault::Status(401)),
            "ErrorOccurred",
            vec!["401".into()],
        ),
        (
            Rule::new("GET", "/manifests/", Fault::Status(403)),
            "ErrorOccurred",
            vec!["403".into()],
        ),
        (
            Rule::new("GET", "/manifests/", Fault::Status(404)),
            "ImageNotFound",
            vec!["manifest".into(), "404".into()],
        ),
        (
            Rule::new("GET", "/manifests/", Fault::Status(429)),
            "ErrorOccurred",
            vec!["429".into()],
        ),
        (
            Rule::new("GET", "/manifests/", Fault::OversizeManifest),
            "ErrorOccurred",
            vec!["limit".into()],
        ),
        (
            Rule::new(
                "GET",
                "/manifests/",
                Fault::ContentType("text/plain".into()),
            ),
            "ErrorOccurred",
            vec!["Content-Type".into(), "text/plain".into()],
        ),
        (
            Rule::new("GET", &config_path(), Fault::OversizeConfig),
            "ErrorOccurred",
            vec!["longer than".into()],
        ),
        (
            Rule::new(
                "GET",
                "/manifests/",
                Fault::ContentType(
                    "application/vnd.docker.distribution.manifest.v1+prettyjws".into(),
                ),
            ),
            "ErrorOccurred",
            vec!["schema 1".into()],
        ),
        // A blob missing under a manifest that exists: the image is broken, not absent.
        (
            Rule::new("GET", &layer_path(), Fault::Status(404)),
            "ErrorOccurred",
            vec![layer.clone(), "404".into()],
        ),
        (
            Rule::new("GET", &layer_path(), Fault::CorruptBody),
            "ErrorOccurred",
            vec![layer.clone(), "digest".into()],
        ),
        (
            Rule::new("GET", &layer_path(), Fault::TruncateAfter(50_000)),
            "ErrorOccurred",
            vec![layer.clone(), "50000".into()],
        ),
        (
            Rule::new("GET", &layer_path(), Fault::Status(503)),
            "ErrorOccurred",
            vec![layer.clone(), "503".into()],
        ),
    ];
    for (rule, error, words) in cases {
        let what = format!("{rule:?}");
        proxy.add(rule);
        let why = call_err(&mut raw, "PullImage", json!({"name": name}), error);
        assert!(why.contains(&host), "{what}: {why}");
        for word in &words {
            assert!(why.contains(word.as_str()), "{what}: {why} lacks {word}");
        }
        assert!(listed(&mut raw).is_empty(), "{what}");
        assert!(staging_is_empty(&setup), "{what}: staging left");
        proxy.clear_faults();
    }
    // A manifest that says its config is over 8 MiB: refused before the config is fetched.
    let (bytes, media_type) = registry.manifest("f/busybox", "1");
    let mut manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    manifest["config"]["size"] = json!(9 << 20);
    registry.put_manifest(
        "f/busybox",
        "huge-config",
        &serde_json::to_vec(&manifest).unwrap(),
        &media_type,
    );
    proxy.clear_requests();
    let why = call_err(
        &mut raw,
        "PullImage",
        json!({"name": format!("{host}/f/busybox:huge-config")}),
        "ErrorOccurred",
    );
    assert!(
        why.contains("limit") && why.contains(&fixtures().layered_id),
        "{why}"
    );
    assert!(
        proxy.requests_to("GET", &config_path()).is_empty(),
        "{:?}",
        proxy.requests()
    );
}

#[test]
fn a_stalled_blob_times_out_while_other_calls_are_served() {
    if !privileged("a_stalled_blob_times_out_while_other_calls_are_served") {
        return;
    }
    let (_registry, proxy, setup) = proxied();
    let name = format!("{}/f/busybox:1", proxy.host());
    proxy.add(Rule::new(
        "GET",
        &layer_path(),
        Fault::StallAfter(10_000, Duration::from_secs(60)),
    ));
    let mut raw = setup.raw();
    let puller = {
        let mut raw = setup.raw();
        let name = name.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let reply = raw.call("io.podman.PullImage", json!({"name": name}));
            (reply, start.elapsed())
        })
    };
    // Meanwhile the daemon answers.
    wait_for("the layer request", DEADLINE, || {
        !proxy.requests_to("GET", &layer_path()).is_empty()
    });
    call_ok(&mut raw, "Ping", json!({}));
    assert!(listed(&mut raw).is_empty());
    let (reply, took) = puller.join().unwrap();
    assert_eq!(reply["error"], "io.podman.ErrorOccurred", "{reply}");
    let why = reply["parameters"]["reason"].as_str().unwrap_or_default();
    assert!(
        why.contains("no data") && why.contains(&fixtures().layered_diff_ids[0]),
        "{why}"
    );
    // Three attempts of a 2 s read timeout each, not the proxy's 60 s.
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(listed(&mut raw).is_empty());
}

#[test]
fn a_registry_that_is_down_is_named() {
    if !privileged("a_registry_that_is_down_is_named") {
        return;
    }
    let gone = {
        let registry = Registry::plain();
        registry.host()
    };
    let setup = RegistryDaemon::start(Setup {
        insecure: &[&gone],
        ..Setup::default()
    });
    let mut raw = setup.raw();
    let why = call_err(
        &mut raw,
        "PullImage",
        json!({"name": format!("{gone}/a/b:1")}),
        "ErrorOccurred",
    );
    assert!(why.contains(&gone) && why.contains("connect"), "{why}");
}

#[test]
fn push_mounts_layers_across_repositories() {
    if !privileged("push_mounts_layers_across_repositories") {
        return;
    }
    let (registry, proxy, setup) = proxied();
    // Gzip layers: what a push would upload, so they can be mounted.
    registry.push_busybox_v2s2_gzip("g/busybox:1");
    let mut raw = setup.raw();
    let host = proxy.host().to_string();
    let id = pull(&mut raw, &format!("{host}/g/busybox:1"), json!({}));
    proxy.clear_requests();
    call_ok(
        &mut raw,
        "PushImage",
        json!({"name": id, "tag": format!("{host}/elsewhere/busybox:2")}),
    );
    let mounts = proxy.requests_to("POST", "mount=");
    assert_eq!(mounts.len(), 2, "{:?}", proxy.requests());
    for m in &mounts {
        assert_eq!(m.query("from").as_deref(), Some("g/busybox"), "{m:?}");
    }
    assert!(
        proxy.requests_to("PATCH", "/blobs/uploads/").is_empty(),
        "{:?}",
        proxy.requests()
    );
    let (bytes, _) = registry.manifest("elsewhere/busybox", "2");
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(manifest["config"]["digest"], format!("sha256:{id}"));
    // A registry that refuses to mount gets the layers uploaded instead.
    proxy.add(Rule::new("POST", "mount=", Fault::Status(405)));
    proxy.clear_requests();
    call_ok(
        &mut raw,
        "PushImage",
        json!({"name": id, "tag": format!("{host}/refused/busybox:1")}),
    );
    // Each layer is known in two repositories by now (pulled from one, pushed to the other):
    // both are asked.
    assert_eq!(proxy.requests_to("POST", "mount=").len(), 4);
    assert_eq!(
        proxy.requests_to("PUT", "digest=").len(),
        3,
        "{:?}",
        proxy.requests()
    );
    proxy.clear_faults();
    // Pushing it again uploads no blob: each is found (HEAD) or mounted.
    proxy.clear_requests();
    call_ok(
        &mut raw,
        "PushImage",
        json!({"name": id, "tag": format!("{host}/elsewhere/busybox:3")}),
    );
    assert!(
        proxy.requests_to("PATCH", "/blobs/uploads/").is_empty()
            && proxy.requests_to("PUT", "digest=").is_empty(),
        "{:?}",
        proxy.requests()
    );
}

#[test]
fn sigkill_mid_pull_then_a_clean_restart() {
    if !privileged("sigkill_mid_pull_then_a_clean_restart") {
        return;
    }
    let registry = Registry::plain();
    let layout = crate::large_layouts::cached_large_layout(48, false);
    registry.push_layout(
        &layout,
        crate::large_layouts::LARGE_REF,
        "big/image:1",
        false,
    );
    let proxy = FaultProxy::new(&registry);
    let host = proxy.host().to_string();
    let mut setup = RegistryDaemon::start(Setup {
        insecure: &[&host],
        ..Setup::default()
    });
    proxy.add(Rule::new(
        "GET",
        "/blobs/sha256:",
        Fault::StallAfter(16 << 20, Duration::from_secs(60)),
    ));
    let name = format!("{host}/big/image:1");
    let puller = {
        let mut raw = setup.raw();
        let name = name.clone();
        std::thread::spawn(move || raw.call("io.podman.PullImage", json!({"name": name})))
    };
    // Wait until the layer is being unpacked into staging, then kill the daemon.
    let tmp = setup.daemon.root.join("tmp");
    wait_for("a staged layer", DEADLINE, || {
        std::fs::read_dir(&tmp).is_ok_and(|mut d| d.next().is_some())
    });
    setup.daemon.stop_with(nix::sys::signal::Signal::SIGKILL);
    let _ = puller.join();
    assert!(
        !staging_is_empty(&setup),
        "the kill left staging behind to clean"
    );
    // A new daemon on the same roots: staging is cleared before it answers, nothing listed.
    setup.restart();
    assert!(staging_is_empty(&setup), "staging survived the restart");
    let mut raw = setup.raw();
    assert!(listed(&mut raw).is_empty());
    proxy.clear_faults();
    pull(&mut raw, &name, json!({}));
    assert_eq!(listed(&mut raw).len(), 1);
}
#[test]
fn bearer_tokens_from_creds_and_auth_files() {
    if !privileged("bearer_tokens_from_creds_and_auth_files") {
        return;
    }
    let registry = Registry::plain();
    registry.push_busybox("tok/busybox:1");
    let proxy = FaultProxy::bearer(&registry, "bob", "tok3n");
    let host = proxy.host().to_string();
    let setup = RegistryDaemon::start(Setup {
        insecure: &[&host],
        ..Setup::default()
    });
    let mut raw = setup.raw();
    let name = format!("{host}/tok/busybox:1");
    let why = call_err(
        &mut raw,
        "PullImage",
        json!({"name": name, "creds": "bob:nope"}),
        "ErrorOccurred",
    );
    assert!(why.contains("log in") && why.contains("401"), "{why}");
    assert_eq!(
        pull(&mut raw, &name, json!({"creds": "bob:tok3n"})),
        fixtures().layered_id
    );
    assert!(!proxy.requests_to("GET", "/token").is_empty());
    call_ok(
        &mut raw,
        "RemoveImage",
        json!({"name": fixtures().layered_id, "force": true}),
    );
    // From ~/.docker/config.json (the last auth file looked at).
    proxy.auth_json(&setup.dir.path().join("home/.docker/config.json"));
    assert_eq!(pull(&mut raw, &name, json!({})), fixtures().layered_id);
}

#[test]
fn blobs_follow_redirects_to_storage_without_credentials() {
    if !privileged("blobs_follow_redirects_to_storage_without_credentials") {
        return;
    }
    let registry = Registry::plain();
    registry.push_busybox("redir/busybox:1");
    let proxy = FaultProxy::bearer(&registry, "carol", "pw");
    let host = proxy.host().to_string();
    let setup = RegistryDaemon::start(Setup {
        insecure: &[&host],
        ..Setup::default()
    });
    // Every blob is handed out at another address (the registry itself: "storage").
    proxy.add(Rule::new("GET", "/blobs/", Fault::RedirectUpstream));
    let mut raw = setup.raw();
    let name = format!("{host}/redir/busybox:1");
    assert_eq!(
        pull(&mut raw, &name, json!({"creds": "carol:pw"})),
        fixtures().layered_id
    );
    let redirected = proxy.answered_to("GET", "/blobs/");
    assert_eq!(redirected.len(), 3, "{:?}", proxy.requests());
    assert!(
        redirected.iter().all(|r| r.status == Some(307)),
        "{redirected:?}"
    );
}

#[test]
fn a_large_image_is_pushed_in_a_chunked_upload() {
    if !privileged("a_large_image_is_pushed_in_a_chunked_upload") {
        return;
    }
    let source = Registry::plain();
    let layout = crate::large_layouts::cached_large_layout(24, false);
    source.push_layout(
        &layout,
        crate::large_layouts::LARGE_REF,
        "big/image:1",
        false,
    );
    let target = Registry::plain();
    let proxy = FaultProxy::new(&target);
    let (from, to) = (source.host(), proxy.host().to_string());
    let setup = RegistryDaemon::start(Setup {
        insecure: &[&from, &to],
        ..Setup::default()
    });
    let mut raw = setup.raw();
    let id = pull(&mut raw, &format!("{from}/big/image:1"), json!({}));
    let tag = format!("{to}/pushed/big:1");
    call_ok(&mut raw, "PushImage", json!({"name": id, "tag": tag}));
    // The 24 MiB layer went up gzipped in a PATCH, the session closed by a PUT with its
    // digest; the config in one PUT.
    let patches = proxy.requests_to("PATCH", "/blobs/uploads/");
    assert_eq!(patches.len(), 1, "{:?}", proxy.requests());
    let puts = proxy.requests_to("PUT", "digest=");
    assert_eq!(puts.len(), 2, "layer and config: {:?}", proxy.requests());
    let (bytes, _) = target.manifest("pushed/big", "1");
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    // Pulled back by a fresh daemon: the same image.
    let other = RegistryDaemon::start(Setup {
        insecure: &[&to],
        ..Setup::default()
    });
    let mut raw2 = other.raw();
    assert_eq!(pull(&mut raw2, &tag, json!({})), id);
}
