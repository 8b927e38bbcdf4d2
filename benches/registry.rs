//! Registry benchmarks (`cargo bench --bench registry`, as root). Not tests: they print
//! figures, each against a floor measured in the same run.
//!
//! A Debian `docker-registry` on 127.0.0.1 holds two images pushed by `skopeo`:
//! - `big`: one layer of 111 MiB of random bytes (skopeo gzips it when pushing: a 116 MB
//!   blob that does not compress);
//! - `gz`: one gzip layer of about 40 MB (random and repeated text, about 120 MB unpacked).
//!
//! 1. Cold `PullImage` of each (the store empty before every run) against the floor: `curl` of
//!    the manifest, config and layer blobs one after another, then `tar -x` of the layer (with
//!    `-z` for gzip); and against `skopeo copy` to an `oci:` directory. Podman 4.3's `pull`,
//!    when installed, once, for reference.
//! 2. Warm `PullImage` (every layer stored): the median of 20.
//! 3. `PushImage` of `gz` (pulled before) to an empty registry (its layer gzipped again on
//!    the way, as podlink stores layers unpacked), against `skopeo copy` of the same image
//!    from an OCI layout (its gzip blob as is) to another empty registry; and `skopeo copy`
//!    out of containers/storage (what `podman push` does: layers stored unpacked, gzipped on
//!    the way).
//!
//! `REGISTRY_BENCH=push` runs only the pushes; `REGISTRY_BENCH_RUNS=N` makes N runs of each
//! (3 by default).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use podlink::varlink::client::VarlinkClientInterface;
use sha2::{Digest, Sha256};

#[path = "common/mod.rs"]
mod common;

fn main() {
    if common::skip_unless_root("registry", "layer ownership") {
        return;
    }
    for tool in ["docker-registry", "skopeo", "curl"] {
        if podlink::engine::runtime::resolve(Path::new(tool)).is_none() {
            println!("registry benchmark skipped: {tool} is not installed");
            return;
        }
    }
    let dir = common::temp_dir("plr");
    let push_only = std::env::var("REGISTRY_BENCH").is_ok_and(|v| v == "push");
    let runs: usize = std::env::var("REGISTRY_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let a = Registry::start(dir.path(), "a");
    let gz = layout(&dir.path().join("gz"), 120 << 20, true);
    let mut images = vec![(gz.clone(), "bench/gz:1")];
    if !push_only {
        images.push((
            layout(&dir.path().join("big"), 111 << 20, false),
            "bench/big:1",
        ));
    }
    for (layout, name) in &images {
        skopeo(&[
            "copy",
            &format!("oci:{}:latest", layout.display()),
            &format!("docker://{}/{name}", a.host),
        ]);
    }
    let conf = dir.path().join("registries.conf");
    std::fs::write(
        &conf,
        format!("[registries.insecure]\nregistries = ['{}']\n", a.host),
    )
    .expect("write registries.conf");
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .expect("policy");
    let daemon = common::Daemon::start(
        dir.path(),
        &[
            "--registries-conf",
            conf.to_str().unwrap(),
            "--signature-policy",
            policy.to_str().unwrap(),
        ],
    );
    let mut client = daemon.client();

    let pulled: &[(&str, bool)] = if push_only {
        &[]
    } else {
        &[("bench/big:1", false), ("bench/gz:1", true)]
    };
    for &(name, gzip) in pulled {
        let reference = format!("{}/{name}", a.host);
        let (blobs, size) = blob_urls(&a, name);
        let mut floor = Vec::new();
        let mut skopeo_times = Vec::new();
        let mut ours = Vec::new();
        for run in 0..runs {
            let target = dir.path().join(format!("floor{run}"));
            std::fs::create_dir(&target).expect("mkdir");
            let start = Instant::now();
            for (i, url) in blobs.iter().enumerate() {
                let out = target.join(format!("blob{i}"));
                run_ok(
                    Command::new("curl")
                        .args([
                            "-sfL",
                            "-H",
                            "Accept: application/vnd.oci.image.manifest.v1+json",
                        ])
                        .arg("-o")
                        .arg(&out)
                        .arg(url),
                );
            }
            let layer = target.join(format!("blob{}", blobs.len() - 1));
            let rootfs = target.join("rootfs");
            std::fs::create_dir(&rootfs).expect("mkdir");
            run_ok(
                Command::new("tar")
                    .arg(if gzip { "-xzpf" } else { "-xpf" })
                    .arg(&layer)
                    .arg("-C")
                    .arg(&rootfs),
            );
            floor.push(start.elapsed());
            let _ = std::fs::remove_dir_all(&target);

            let oci = dir.path().join(format!("skopeo{run}"));
            let start = Instant::now();
            skopeo(&[
                "copy",
                &format!("docker://{reference}"),
                &format!("oci:{}:x", oci.display()),
            ]);
            skopeo_times.push(start.elapsed());
            let _ = std::fs::remove_dir_all(&oci);

            let start = Instant::now();
            let id = client
                .pull_image(
                    reference.clone(),
                    String::new(),
                    String::new(),
                    String::new(),
                    false,
                )
                .call()
                .expect("pull")
                .id;
            ours.push(start.elapsed());
            client.remove_image(id, true).call().expect("remove");
        }
        let (floor, skopeo_t, ours) = (
            common::median(&mut floor),
            common::median(&mut skopeo_times),
            common::median(&mut ours),
        );
        println!(
            "cold pull {name} ({:.0} MB blob): podlink {:>7.1} ms   floor (curl + tar -x) {:>7.1} ms   \
             skopeo copy {:>7.1} ms   podlink/floor {:.2}   podlink/skopeo {:.2}   (median of {runs})",
            size as f64 / 1e6,
            common::ms(ours),
            common::ms(floor),
            common::ms(skopeo_t),
            ours.as_secs_f64() / floor.as_secs_f64(),
            ours.as_secs_f64() / skopeo_t.as_secs_f64(),
        );
        if podlink::engine::runtime::resolve(Path::new("podman")).is_some() {
            let root = dir.path().join("podman");
            let start = Instant::now();
            if podman(&root, &["pull", "-q", "--tls-verify=false", &reference]) {
                println!(
                    "  podman 4.3 pull: {:.1} ms (once)",
                    common::ms(start.elapsed())
                );
            }
            podman(&root, &["system", "reset", "-f"]);
            let _ = std::fs::remove_dir_all(&root);
        }
    }

    // Warm pulls.
    let reference = format!("{}/bench/gz:1", a.host);
    client
        .pull_image(
            reference.clone(),
            String::new(),
            String::new(),
            String::new(),
            false,
        )
        .call()
        .expect("pull");
    let mut warm = Vec::new();
    for _ in 0..if push_only { 0 } else { 20 } {
        let start = Instant::now();
        client
            .pull_image(
                reference.clone(),
                String::new(),
                String::new(),
                String::new(),
                false,
            )
            .call()
            .expect("warm pull");
        warm.push(start.elapsed());
    }
    if !warm.is_empty() {
        println!(
            "warm pull (every layer stored): median {:.2} ms of 20",
            common::ms(common::median(&mut warm))
        );
    }

    // Pushes of the gzip image, each to a registry of its own (started empty), so nothing
    // can be skipped or mounted: every byte goes up.
    // (Layers always go up gzipped: `compress` changes nothing for a registry.)
    for (compress, label) in [(true, "gzipped")] {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for run in 0..runs {
            let fresh = Registry::start(dir.path(), &format!("{label}{run}"));
            let conf_text = format!(
                "[registries.insecure]\nregistries = ['{}', '{}']\n",
                a.host, fresh.host
            );
            std::fs::write(&conf, conf_text).expect("write registries.conf");
            let start = Instant::now();
            client
                .push_image(
                    reference.clone(),
                    format!("{}/push/{label}:1", fresh.host),
                    false,
                    String::new(),
                    String::new(),
                    String::new(),
                    compress,
                    String::new(),
                    false,
                    String::new(),
                )
                .call()
                .expect("push");
            ours.push(start.elapsed());
            let other = Registry::start(dir.path(), &format!("skopeo-{label}{run}"));
            let start = Instant::now();
            skopeo(&[
                "copy",
                &format!("oci:{}:latest", gz.display()),
                &format!("docker://{}/skopeo/{label}:1", other.host),
            ]);
            theirs.push(start.elapsed());
        }
        let (ours, theirs) = (common::median(&mut ours), common::median(&mut theirs));
        println!(
            "push gz ({label}) to an empty registry: podlink {:>7.1} ms   skopeo copy (the gzip \
             blob as is) {:>7.1} ms   podlink/skopeo {:.2}   (median of {runs})",
            common::ms(ours),
            common::ms(theirs),
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
    }
    push_from_containers_storage(dir.path(), &reference, runs);
}

/// What `podman push` does, for reference: skopeo copying the image out of containers/storage
/// (layers stored unpacked, as podlink stores them, so they are compressed on the way) to an
/// empty registry. Skipped without podman.
fn push_from_containers_storage(dir: &Path, reference: &str, runs: usize) {
    if podlink::engine::runtime::resolve(Path::new("podman")).is_none() {
        return;
    }
    let store = dir.join("containers-storage");
    let (root, runroot) = (store.join("root"), store.join("run"));
    if !podman(&store, &["pull", "-q", "--tls-verify=false", reference]) {
        println!("  (podman could not pull {reference}: no containers-storage figure)");
        return;
    }
    let source = format!(
        "containers-storage:[overlay@{}+{}]{reference}",
        root.display(),
        runroot.display()
    );
    let mut times = Vec::new();
    for run in 0..runs {
        let target = Registry::start(dir, &format!("cs{run}"));
        let start = Instant::now();
        skopeo(&[
            "copy",
            &source,
            &format!("docker://{}/cs/gz:1", target.host),
        ]);
        times.push(start.elapsed());
    }
    println!(
        "  skopeo copy from containers-storage (podman push's path, gzipping): {:.1} ms (median of {runs})",
        common::ms(common::median(&mut times))
    );
    podman(&store, &["system", "reset", "-f"]);
}

/// Runs podman with its storage under `dir` (`root/`, `run/`), quietly; whether it succeeded.
fn podman(dir: &Path, args: &[&str]) -> bool {
    Command::new("podman")
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A `docker-registry` on 127.0.0.1, killed when dropped.
struct Registry {
    child: Child,
    host: String,
}

impl Registry {
    fn start(dir: &Path, name: &str) -> Registry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let root = dir.join(format!("registry-{name}"));
        std::fs::create_dir_all(&root).expect("mkdir");
        let config = root.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
                 delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                root.join("data").display()
            ),
        )
        .expect("write registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let host = format!("127.0.0.1:{port}");
        let start = Instant::now();
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "registry did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Registry { child, host }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URLs of an image's manifest, config and (one) layer, and the layer's size.
fn blob_urls(registry: &Registry, name: &str) -> (Vec<String>, u64) {
    let (repo, tag) = name.split_once(':').expect("name:tag");
    let base = format!("http://{}/v2/{repo}", registry.host);
    let out = Command::new("curl")
        .args([
            "-sf",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
        ])
        .arg(format!("{base}/manifests/{tag}"))
        .output()
        .expect("curl manifest");
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).expect("manifest");
    let config = manifest["config"]["digest"].as_str().expect("config");
    let layer = manifest["layers"][0]["digest"].as_str().expect("layer");
    let size = manifest["layers"][0]["size"].as_u64().expect("size");
    (
        vec![
            format!("{base}/manifests/{tag}"),
            format!("{base}/blobs/{config}"),
            format!("{base}/blobs/{layer}"),
        ],
        size,
    )
}

/// An OCI layout holding a one-layer image of about `bytes` unpacked: random bytes, or (for
/// `gzip`) a third random and the rest repeated text, stored gzipped.
fn layout(dir: &Path, bytes: usize, gzip: bool) -> PathBuf {
    let mut seed = 0x2545f4914f6cdd1du64;
    let mut data = vec![0u8; bytes];
    let random = if gzip { bytes / 3 } else { bytes };
    for chunk in data[..random].chunks_mut(8) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
    }
    let line = b"podlink registry benchmark: repeated text that compresses well\n";
    for (i, byte) in data[random..].iter_mut().enumerate() {
        *byte = line[i % line.len()];
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    tar.append_data(&mut header, "data.bin", &data[..])
        .expect("tar");
    let tarball = tar.into_inner().expect("tar");
    let diff_id = sha(&tarball);
    let (blob, media_type) = if gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tarball).expect("gzip");
        (
            gz.finish().expect("gzip"),
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )
    } else {
        (tarball, "application/vnd.oci.image.layer.v1.tar")
    };
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let put = |bytes: &[u8]| {
        let digest = sha(bytes);
        std::fs::write(blobs.join(&digest[7..]), bytes).expect("write blob");
        (digest, bytes.len())
    };
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/data.bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .expect("config");
    let (config_digest, config_size) = put(&config);
    let (layer_digest, layer_size) = put(&blob);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": media_type, "digest": layer_digest, "size": layer_size}],
    }))
    .expect("manifest");
    let (manifest_digest, manifest_size) = put(&manifest);
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }],
        }))
        .expect("index"),
    )
    .expect("index");
    dir.to_path_buf()
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn skopeo(args: &[&str]) {
    run_ok(
        Command::new("skopeo")
            .arg("--insecure-policy")
            .args(args)
            .args(["--src-tls-verify=false", "--dest-tls-verify=false"])
            .arg("-q"),
    );
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
