//! Smoke tests of the registry support (`registries`, `registry_tls`, `registry_fixtures`),
//! driven by skopeo and curl only: they check the tools the pull and push tests will stand
//! on, not podlink; and the small skopeo and curl helpers `proxy_support` shares. No root
//! needed.

use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fixtures::fixtures;
use crate::large_layouts::{LARGE_REF, cached_large_layout, large_layout};
use crate::registries::{MANIFEST_ACCEPT, Registry};
use crate::registry_fixtures::{
    DOCKER_LIST, DOCKER_MANIFEST, LIST_PLATFORMS, OCI_INDEX, OCI_MANIFEST,
};
use crate::util::{require_tool, run_ok};

/// `sha256:` and the hex digest of `bytes`.
pub fn sha(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// `bytes` parsed as JSON; fails the test with them if they are not.
pub fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

/// skopeo with `args`, for its output (failures included).
pub fn skopeo(args: &[&str]) -> Output {
    Command::new(require_tool("skopeo"))
        .args(args)
        .output()
        .expect("run skopeo")
}

/// `skopeo inspect --raw` of `reference` on the registry: the manifest as stored.
fn raw_manifest(registry: &Registry, reference: &str) -> Value {
    let out = run_ok(
        Command::new(require_tool("skopeo"))
            .args(["inspect", "--raw"])
            .args(registry.skopeo_args(""))
            .arg(format!("docker://{}/{reference}", registry.host())),
    );
    json(out.as_bytes())
}

/// curl with `args` (plain HTTP, no retries), for its output (failures included).
pub fn curl(args: &[&str]) -> Output {
    Command::new(require_tool("curl"))
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .output()
        .expect("run curl")
}

/// curl of `url` (accepting every manifest type) that must succeed: the status, the headers
/// (lower case) and the body.
pub fn fetch(url: &str, extra: &[&str]) -> (u16, String, Vec<u8>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let head = dir.path().join("head");
    let accept = format!("Accept: {MANIFEST_ACCEPT}");
    let head_path = head.to_str().expect("utf-8 path");
    let out = curl(&[&["-D", head_path, "-H", &accept], extra, &[url]].concat());
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = std::fs::read_to_string(head)
        .expect("headers")
        .to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head, out.stdout)
}

fn layer_sizes(manifest: &Value) -> Vec<u64> {
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["size"].as_u64().expect("size"))
        .collect()
}

#[test]
fn plain_registry_takes_the_busybox_fixture_in_both_formats() {
    let f = fixtures();
    let registry = Registry::plain();
    let oci = registry.push_busybox("smoke/oci:latest");
    let docker = registry.push_busybox_v2s2_gzip("smoke/docker:v1");

    let manifest = raw_manifest(&registry, "smoke/oci:latest");
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    assert_eq!(
        manifest["config"]["digest"],
        format!("sha256:{}", f.layered_id)
    );
    for layer in manifest["layers"].as_array().expect("layers") {
        assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar");
    }
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("digest"))
        .collect();
    assert_eq!(
        layers, f.layered_diff_ids,
        "uncompressed: digests are DiffIDs"
    );

    let manifest = raw_manifest(&registry, "smoke/docker:v1");
    assert_eq!(manifest["mediaType"], DOCKER_MANIFEST);
    assert_eq!(
        manifest["config"]["digest"],
        format!("sha256:{}", f.layered_id)
    );
    for layer in manifest["layers"].as_array().expect("layers") {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
    }

    let (bytes, content_type) = registry.manifest("smoke/oci", "latest");
    assert_eq!((sha(&bytes), content_type.as_str()), (oci, OCI_MANIFEST));
    let (bytes, content_type) = registry.manifest("smoke/docker", "v1");
    assert_eq!(
        (sha(&bytes), content_type.as_str()),
        (docker, DOCKER_MANIFEST)
    );
    let config = registry.blob("smoke/docker", &format!("sha256:{}", f.layered_id));
    assert_eq!(sha(&config), format!("sha256:{}", f.layered_id));
    let mut catalog = registry.catalog();
    catalog.sort();
    assert_eq!(catalog, ["smoke/docker", "smoke/oci"]);
}

#[test]
fn list_fixtures_hold_three_platforms_of_both_kinds() {
    let registry = Registry::plain();
    let lists = [
        (
            registry.push_manifest_list("smoke/list:latest"),
            "smoke/list",
            DOCKER_LIST,
        ),
        (
            registry.push_image_index("smoke/index:latest"),
            "smoke/index",
            OCI_INDEX,
        ),
    ];
    for (list, repo, media_type) in &lists {
        let raw = raw_manifest(&registry, &format!("{repo}:latest"));
        assert_eq!(raw["mediaType"], *media_type);
        assert_eq!(list.media_type, *media_type);
        let entries = raw["manifests"].as_array().expect("manifests");
        assert_eq!(entries.len(), 3, "{raw}");
        for ((entry, expected), platform) in entries.iter().zip(&list.entries).zip(LIST_PLATFORMS) {
            assert_eq!(entry["digest"], expected.digest);
            let p = &entry["platform"];
            let mut found = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(variant) = p["variant"].as_str() {
                found += &format!("/{variant}");
            }
            assert_eq!(
                (found.as_str(), expected.platform.as_str()),
                (platform, platform)
            );
            let (bytes, content_type) = registry.manifest(repo, &expected.digest);
            assert_eq!(content_type, expected.media_type);
            let config = &json(&bytes)["config"]["digest"];
            assert_eq!(*config, format!("sha256:{}", expected.image_id));
        }
        assert_eq!(list.amd64_image_id(), fixtures().layered_id);
        let (bytes, _) = registry.manifest(repo, "latest");
        assert_eq!(sha(&bytes), list.digest);
    }
    // skopeo picks the arm entries by platform and sees their labels.
    for (arch, variant, reference) in [
        ("arm64", None, "smoke/list:latest"),
        ("arm", Some("v7"), "smoke/index:latest"),
    ] {
        let mut args = vec!["--override-arch", arch];
        if let Some(variant) = variant {
            args.extend(["--override-variant", variant]);
        }
        let url = format!("docker://{}/{reference}", registry.host());
        args.extend(["inspect", "--tls-verify=false", &url]);
        let out = skopeo(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let info = json(&out.stdout);
        assert_eq!(info["Architecture"], arch);
        let platform = format!(
            "linux/{arch}{}",
            variant.map(|v| format!("/{v}")).unwrap_or_default()
        );
        assert_eq!(info["Labels"]["platform"], platform);
    }
}

#[test]
fn large_layouts_are_built_once_and_push_both_ways() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = large_layout(dir.path(), 3, true);
    let random = large_layout(dir.path(), 3, false);
    let built = std::fs::metadata(text.join("index.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(large_layout(dir.path(), 3, true), text);
    let again = std::fs::metadata(text.join("index.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(built, again, "the second call reuses the layout");
    let cached = cached_large_layout(1, true);
    assert_eq!(cached_large_layout(1, true), cached);

    let registry = Registry::plain();
    let mut sizes = Vec::new();
    for (layout, name) in [(&text, "text"), (&random, "random")] {
        for compress in [false, true] {
            let tag = format!("large/{name}:{}", if compress { "gzip" } else { "plain" });
            registry.push_layout(layout, LARGE_REF, &tag, compress);
            let manifest = raw_manifest(&registry, &tag);
            sizes.push(layer_sizes(&manifest)[0]);
            if !compress {
                let config = json(&registry.blob(
                    &format!("large/{name}"),
                    manifest["config"]["digest"].as_str().unwrap(),
                ));
                assert_eq!(
                    (config["os"].as_str(), config["architecture"].as_str()),
                    (Some("linux"), Some("amd64"))
                );
                assert_eq!(
                    config["rootfs"]["diff_ids"][0],
                    manifest["layers"][0]["digest"]
                );
            }
        }
    }
    let [text_plain, text_gzip, random_plain, random_gzip] = sizes[..] else {
        panic!("{sizes:?}");
    };
    assert!(text_plain > 3 << 20 && random_plain > 3 << 20, "{sizes:?}");
    // About a third for text (compressors differ a little); nothing gained on random bytes.
    assert!(
        text_gzip * 2 < text_plain && text_gzip * 5 > text_plain,
        "{sizes:?}"
    );
    assert!(random_gzip * 100 > random_plain * 99, "{sizes:?}");
}

#[test]
fn tls_registry_wants_its_ca_and_credentials() {
    let registry = Registry::tls_auth("alice", "s3cret");
    assert!(registry.is_tls());
    assert!(registry.url("/v2/").starts_with("https://127.0.0.1:"));
    registry.push_busybox("secure/busybox:latest");
    let url = format!("docker://{}/secure/busybox:latest", registry.host());
    let cert_dir = registry.cert_dir();
    assert!(cert_dir.join("ca.crt").is_file());
    let cert_dir = cert_dir.to_str().unwrap();

    let auth = tempfile::tempdir().expect("temp dir");
    let auth_json = auth.path().join("auth.json");
    registry.auth_json(&auth_json);
    let out = skopeo(&[
        "inspect",
        "--raw",
        "--cert-dir",
        cert_dir,
        "--authfile",
        auth_json.to_str().unwrap(),
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = skopeo(&["inspect", "--raw", "--cert-dir", cert_dir, &url]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("unauthorized") || err.contains("authentication required"),
        "{err}"
    );
    let out = skopeo(&["inspect", "--raw", "--creds", "alice:s3cret", &url]);
    assert!(!out.status.success(), "no CA: the certificate is unknown");

    let v2 = registry.url("/v2/");
    let out = curl(&["-o", "/dev/null", &v2]);
    assert_eq!(out.status.code(), Some(60), "curl without the CA: {out:?}");
    let ca = registry.ca_pem();
    let (status, head, _) = fetch(&v2, &["--cacert", ca.to_str().unwrap()]);
    assert_eq!(status, 401);
    assert!(head.contains("www-authenticate: basic"), "{head}");
    let (status, _, _) = fetch(
        &v2.replace("127.0.0.1", "localhost"),
        &["--cacert", ca.to_str().unwrap(), "-u", "alice:s3cret"],
    );
    assert_eq!(status, 200, "the certificate names localhost too");
}

#[test]
fn tls_registry_can_require_client_certificates() {
    let registry = Registry::tls_client_certs();
    registry.push_busybox("mtls/busybox:latest");
    let url = format!("docker://{}/mtls/busybox:latest", registry.host());

    let ca_only = registry.cert_dir();
    let out = skopeo(&[
        "inspect",
        "--raw",
        "--cert-dir",
        ca_only.to_str().unwrap(),
        &url,
    ]);
    assert!(
        !out.status.success(),
        "no client certificate, yet: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = curl(&[
        "-o",
        "/dev/null",
        "--cacert",
        registry.ca_pem().to_str().unwrap(),
        &registry.url("/v2/"),
    ]);
    assert!(!out.status.success(), "curl without a client certificate");

    let dir = tempfile::tempdir().expect("temp dir");
    let certs = dir.path().join("certs.d");
    registry.write_client_cert(&certs);
    for name in ["ca.crt", "client.cert", "client.key"] {
        assert!(certs.join(name).is_file(), "{name}");
    }
    let out = skopeo(&[
        "inspect",
        "--raw",
        "--cert-dir",
        certs.to_str().unwrap(),
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
