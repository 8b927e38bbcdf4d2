//! Smoke tests of `FaultProxy` in front of a plain registry, through skopeo and curl: it
//! forwards pushes and pulls, records requests, and shows each fault. No root needed.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::fault_proxy::{Fault, FaultProxy, OVERSIZE_CONFIG_BYTES, OVERSIZE_MANIFEST_BYTES, Rule};
use crate::fixtures::fixtures;
use crate::registries::Registry;
use crate::registry_fixtures::OCI_MANIFEST;
use crate::registry_support::{curl, fetch, json, sha, skopeo};
use crate::util::{require_tool, wait_exit, wait_for};

#[test]
fn proxy_forwards_pushes_and_records_them() {
    let registry = Registry::plain();
    let proxy = FaultProxy::new(&registry);
    let source = format!(
        "oci:{}:busybox:latest",
        fixtures().dir.join("layout").display()
    );
    let dest = format!("docker://{}/via/proxy:latest", proxy.host());
    let out = skopeo(&[
        "--insecure-policy",
        "copy",
        "-q",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &source,
        &dest,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(registry.manifest("via/proxy", "latest").1, OCI_MANIFEST);

    let uploads = proxy.requests_to("POST", "/v2/via/proxy/blobs/uploads/");
    assert!(!uploads.is_empty(), "{:#?}", proxy.requests());
    // The registry's upload Location led the client back to the proxy.
    let finished = proxy.answered_to("PUT", "/v2/via/proxy/blobs/uploads/");
    assert!(
        finished
            .iter()
            .all(|s| s.query("digest").is_some() && s.status == Some(201)),
        "{finished:#?}"
    );
    assert!(
        proxy
            .answered_to("*", "")
            .iter()
            .all(|s| s.status.is_some_and(|c| c < 500))
    );

    let digest = &fixtures().layered_diff_ids[0];
    let mount = proxy.url(&format!(
        "/v2/other/blobs/uploads/?mount={digest}&from=via%2Fproxy"
    ));
    let (status, _, _) = fetch(&mount, &["-X", "POST"]);
    assert_eq!(status, 201, "mounted");
    let posted = proxy.requests_to("POST", "mount=");
    assert_eq!(posted[0].query("mount").as_ref(), Some(digest));
    assert_eq!(posted[0].query("from").as_deref(), Some("via/proxy"));
}

#[test]
fn proxy_faults_bodies_and_connections() {
    let registry = Registry::plain();
    registry.push_busybox("faults/busybox:latest");
    let proxy = FaultProxy::new(&registry);
    let digest = fixtures().layered_diff_ids[0].clone();
    let blob = proxy.url(&format!("/v2/faults/busybox/blobs/{digest}"));
    let size = std::fs::metadata(&fixtures().rootfs).unwrap().len() as usize;

    proxy.add(Rule::new("GET", &digest, Fault::CorruptBody).times(1));
    let (_, _, body) = fetch(&blob, &[]);
    assert_eq!(body.len(), size);
    assert_ne!(sha(&body), digest, "corrupted");
    assert_eq!(sha(&fetch(&blob, &[]).2), digest, "once only");

    proxy.add(Rule::new("GET", &digest, Fault::TruncateAfter(1000)).times(1));
    let out = curl(&[&blob]);
    assert_eq!(
        (out.status.code(), out.stdout.len()),
        (Some(18), 1000),
        "partial file"
    );
    let (status, _, rest) = fetch(&blob, &["-r", "1000-"]);
    assert_eq!(status, 206);
    assert_eq!(
        sha(&[&out.stdout[..], &rest[..]].concat()),
        digest,
        "resumed"
    );
    assert_eq!(
        proxy.requests().last().unwrap().header("range"),
        Some("bytes=1000-")
    );

    proxy.add(Rule::new("GET", &digest, Fault::NoRange).times(1));
    let (status, head, body) = fetch(&blob, &["-r", "1000-"]);
    assert_eq!((status, body.len()), (200, size));
    assert!(!head.contains("accept-ranges"), "{head}");

    let manifest = proxy.url("/v2/faults/busybox/manifests/latest");
    proxy.add(
        Rule::new(
            "GET",
            "/manifests/",
            Fault::ContentType("text/plain".into()),
        )
        .times(1),
    );
    let (_, head, _) = fetch(&manifest, &[]);
    assert!(head.contains("content-type: text/plain\r\n"), "{head}");

    proxy.add(Rule::new("GET", "/manifests/", Fault::DropConnection).times(1));
    let out = curl(&[&manifest]);
    assert_eq!(
        out.status.code(),
        Some(56),
        "reset: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    proxy.add(Rule::new("GET", "/manifests/", Fault::OversizeManifest).times(1));
    let (status, head, body) = fetch(&manifest, &[]);
    assert_eq!((status, body.len()), (200, OVERSIZE_MANIFEST_BYTES));
    assert!(
        head.contains(&format!("content-type: {OCI_MANIFEST}")),
        "{head}"
    );
    json(&body);
    proxy.add(Rule::new("GET", "/blobs/", Fault::OversizeConfig).times(1));
    assert_eq!(fetch(&blob, &[]).2.len(), OVERSIZE_CONFIG_BYTES);
    assert_eq!(sha(&fetch(&blob, &[]).2), digest, "every rule used up");
}

#[test]
fn proxy_status_faults_count_down() {
    let registry = Registry::plain();
    registry.push_busybox("status/busybox:latest");
    let proxy = FaultProxy::new(&registry);
    let manifest = proxy.url("/v2/status/busybox/manifests/latest");
    assert_eq!(fetch(&manifest, &[]).0, 200);
    assert_eq!(
        proxy.requests()[0].path(),
        "/v2/status/busybox/manifests/latest"
    );
    proxy.clear_requests();

    proxy.add(Rule::new("GET", "/manifests/latest", Fault::Status(503)).times(3));
    for _ in 0..3 {
        let (status, head, _) = fetch(&manifest, &[]);
        assert_eq!(status, 503);
        assert!(head.contains("retry-after: 0"), "{head}");
    }
    assert_eq!(fetch(&manifest, &[]).0, 200);
    let statuses: Vec<Option<u16>> = proxy
        .answered_to("GET", "/manifests/latest")
        .iter()
        .map(|s| s.status)
        .collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(503), Some(200)]);

    for (code, error) in [
        (401, "UNAUTHORIZED"),
        (403, "DENIED"),
        (404, "MANIFEST_UNKNOWN"),
        (429, "TOOMANYREQUESTS"),
        (500, "UNKNOWN"),
    ] {
        proxy.add(Rule::new("*", "/manifests/", Fault::Status(code)).times(1));
        let (status, head, body) = fetch(&manifest, &[]);
        assert_eq!(status, code);
        assert_eq!(json(&body)["errors"][0]["code"], error);
        assert_eq!(
            head.contains("www-authenticate: basic"),
            code == 401,
            "{head}"
        );
    }

    proxy.add(Rule::new("*", "/tags/list", Fault::Status(500)));
    let tags = proxy.url("/v2/status/busybox/tags/list");
    for _ in 0..3 {
        assert_eq!(fetch(&tags, &[]).0, 500, "forever");
    }
    proxy.clear_faults();
    let (status, _, body) = fetch(&tags, &[]);
    assert_eq!(
        (status, json(&body)["tags"][0].as_str()),
        (200, Some("latest"))
    );
}

#[test]
fn proxy_stalls_hold_the_connection_until_dropped() {
    let registry = Registry::plain();
    registry.push_busybox("stall/busybox:latest");
    let proxy = FaultProxy::new(&registry);
    let digest = fixtures().layered_diff_ids[0].clone();
    let blob = proxy.url(&format!("/v2/stall/busybox/blobs/{digest}"));

    proxy.add(
        Rule::new(
            "GET",
            &digest,
            Fault::StallAfter(100, Duration::from_millis(300)),
        )
        .times(1),
    );
    let start = Instant::now();
    assert_eq!(
        sha(&fetch(&blob, &[]).2),
        digest,
        "a stall ends and the body completes"
    );
    assert!(start.elapsed() >= Duration::from_millis(300));

    proxy.add(Rule::new(
        "GET",
        &digest,
        Fault::StallAfter(100, Duration::from_secs(3600)),
    ));
    let out = curl(&["--max-time", "1", &blob]);
    assert_eq!(
        (out.status.code(), out.stdout.len()),
        (Some(28), 100),
        "timed out after 100 bytes"
    );

    // A client stuck in a stall when the proxy goes away sees the connection close.
    let mut stuck = Command::new(require_tool("curl"))
        .args(["-sS", "-o", "/dev/null", &blob])
        .spawn()
        .expect("spawn curl");
    wait_for(
        "the second stalled request",
        Duration::from_secs(10),
        || proxy.requests_to("GET", &digest).len() == 3,
    );
    let start = Instant::now();
    drop(proxy);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "drop waited {:?}",
        start.elapsed()
    );
    let status = wait_exit(&mut stuck, Duration::from_secs(10)).expect("curl exits");
    assert!(!status.success());
}

#[test]
fn bearer_proxy_issues_tokens_by_scope() {
    let registry = Registry::plain();
    registry.push_busybox("auth/busybox:latest");
    let proxy = FaultProxy::bearer(&registry, "bob", "hunter2");
    let manifest = proxy.url("/v2/auth/busybox/manifests/latest");

    let (status, head, _) = fetch(&manifest, &[]);
    assert_eq!(status, 401);
    let challenge = format!(
        "www-authenticate: bearer realm=\"http://{}/token\",service=\"test\",\
         scope=\"repository:auth/busybox:pull\"",
        proxy.host()
    );
    assert!(head.contains(&challenge), "{head}");
    let token_url = proxy.url("/token?service=test&scope=repository%3Aauth%2Fbusybox%3Apull");
    assert_eq!(fetch(&token_url, &["-u", "bob:wrong"]).0, 401);
    let (status, _, body) = fetch(&token_url, &["-u", "bob:hunter2"]);
    assert_eq!(status, 200);
    let reply = json(&body);
    assert_eq!(reply["token"], reply["access_token"]);
    let bearer = format!("Authorization: Bearer {}", reply["token"].as_str().unwrap());
    assert_eq!(fetch(&manifest, &["-H", &bearer]).0, 200);
    // Faults apply past the token check only: the anonymous try leaves the rule alone.
    proxy.add(Rule::new("GET", "/manifests/", Fault::Status(503)).times(1));
    assert_eq!(fetch(&manifest, &[]).0, 401);
    assert_eq!(fetch(&manifest, &["-H", &bearer]).0, 503);
    assert_eq!(fetch(&manifest, &["-H", &bearer]).0, 200);
    // A pull token neither pushes nor reads another repository.
    let upload = proxy.url("/v2/auth/busybox/blobs/uploads/");
    let (status, head, _) = fetch(&upload, &["-X", "POST", "-H", &bearer]);
    assert_eq!(status, 401);
    assert!(
        head.contains("scope=\"repository:auth/busybox:pull,push\""),
        "{head}"
    );
    assert_eq!(
        fetch(&proxy.url("/v2/other/manifests/latest"), &["-H", &bearer]).0,
        401
    );

    // skopeo does the whole dance, reading and writing, with credentials or an auth.json.
    let url = format!("docker://{}/auth/busybox:latest", proxy.host());
    let out = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "bob:hunter2",
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "bob:nope",
        &url,
    ]);
    assert!(!out.status.success());
    let dir = tempfile::tempdir().expect("temp dir");
    let auth_json = dir.path().join("auth.json");
    proxy.auth_json(&auth_json);
    let dest = format!("docker://{}/auth/copy:latest", proxy.host());
    let out = skopeo(&[
        "--insecure-policy",
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--authfile",
        auth_json.to_str().unwrap(),
        &url,
        &dest,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(registry.manifest("auth/copy", "latest").1, OCI_MANIFEST);
    assert!(
        proxy
            .requests_to("GET", "/token?")
            .iter()
            .any(|s| s.query("scope").is_some_and(|s| s.ends_with(":pull,push")))
    );
}
