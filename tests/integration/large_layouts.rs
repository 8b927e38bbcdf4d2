//! Large one-layer OCI layouts for the pull tests that need volume (a pull killed midway, a
//! benchmark): random bytes or text that compresses like real layers, built by streaming and
//! cached under `CARGO_TARGET_TMPDIR` so repeated runs skip the work. Push them with
//! `Registry::push_layout`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::registry_fixtures::OCI_MANIFEST;
use crate::registry_http::nonce;

/// The reference of the image in a `large_layout`.
pub const LARGE_REF: &str = "large:latest";

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// `large_layout` in the cache under `CARGO_TARGET_TMPDIR`, kept between test runs.
pub fn cached_large_layout(mib: u64, compressible: bool) -> PathBuf {
    large_layout(
        &Path::new(env!("CARGO_TARGET_TMPDIR")).join("registry-layouts"),
        mib,
        compressible,
    )
}

/// An OCI layout under `dir` (reused if already built there) holding `LARGE_REF`: one
/// uncompressed layer with one file of `mib` MiB, random bytes (incompressible) or text
/// that gzip shrinks to about a third (`compressible`: 111 MiB gives about 40 MB); its config
/// is linux/amd64 with the layer's DiffID. The same arguments always give the same digests.
pub fn large_layout(dir: &Path, mib: u64, compressible: bool) -> PathBuf {
    let kind = if compressible { "text" } else { "random" };
    let layout = dir.join(format!("large-{mib}mib-{kind}-v1"));
    if layout.join("index.json").exists() {
        return layout;
    }
    // Built aside and renamed into place: a layout with an index.json is complete, also
    // when another test process builds the same one at the same time.
    let building = dir.join(format!(".building-{}", nonce()));
    let blobs = building.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout dir");
    let layer_path = building.join("layer.tar");
    let file = std::fs::File::create(&layer_path).expect("layer file");
    let mut tar = tar::Builder::new(HashingWriter {
        inner: std::io::BufWriter::new(file),
        hasher: Sha256::new(),
    });
    let mut header = tar::Header::new_gnu();
    header.set_size(mib << 20);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    header.set_entry_type(tar::EntryType::Regular);
    let content = Payload::new(mib << 20, compressible);
    tar.append_data(&mut header, format!("large/{kind}.bin"), content)
        .expect("write layer");
    let mut writer = tar.into_inner().expect("finish layer");
    writer.inner.flush().expect("flush layer");
    let layer_hex = format!("{:x}", writer.hasher.finalize());
    let layer_size = std::fs::metadata(&layer_path).expect("layer size").len();
    std::fs::rename(&layer_path, blobs.join(&layer_hex)).expect("place layer");

    let put = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).expect("write blob");
        json!({"digest": format!("sha256:{hex}"), "size": bytes.len()})
    };
    let config = serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Labels": {"large": format!("{mib}MiB {kind}")}},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hex}")]},
        "history": [{
            "created": "2024-01-01T00:00:00Z",
            "created_by": format!("fixture: {mib} MiB of {kind}"),
        }],
    }))
    .expect("config json");
    let mut config_desc = put(&config);
    config_desc["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_desc,
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{layer_hex}"),
            "size": layer_size,
        }],
    }))
    .expect("manifest json");
    let mut manifest_desc = put(&manifest);
    manifest_desc["mediaType"] = json!(OCI_MANIFEST);
    manifest_desc["annotations"] = json!({"org.opencontainers.image.ref.name": LARGE_REF});
    std::fs::write(
        building.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let index = json!({"schemaVersion": 2, "manifests": [manifest_desc]});
    std::fs::write(building.join("index.json"), index.to_string()).expect("index.json");
    if std::fs::rename(&building, &layout).is_err() {
        // Another process finished the same layout first.
        std::fs::remove_dir_all(&building).expect("remove duplicate layout");
    }
    layout
}

/// Hashes what it writes.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Words for the compressible payload: lines of four words and twelve hex digits compress
/// about 2.8 times with gzip -6, near real image layers.
const WORDS: &[&str] = &[
    "layer",
    "image",
    "registry",
    "manifest",
    "digest",
    "config",
    "blob",
    "tag",
    "push",
    "pull",
    "index",
    "platform",
    "amd64",
    "arm64",
    "busybox",
    "container",
    "runtime",
    "mount",
    "overlay",
    "storage",
    "root",
    "bundle",
    "socket",
    "varlink",
    "podman",
    "monitor",
    "exit",
    "status",
    "signal",
    "kernel",
    "cgroup",
    "memory",
    "pids",
    "device",
    "network",
    "bridge",
    "port",
    "volume",
    "secret",
    "label",
    "annotation",
    "history",
    "created",
    "author",
    "entrypoint",
    "command",
    "environment",
    "user",
    "group",
    "workdir",
    "stop",
    "healthcheck",
    "shell",
];

/// A deterministic stream of `left` bytes: splitmix64 output, or text built from it.
struct Payload {
    left: u64,
    compressible: bool,
    state: u64,
    pending: Vec<u8>,
    at: usize,
}

impl Payload {
    fn new(len: u64, compressible: bool) -> Self {
        Payload {
            left: len,
            compressible,
            state: 0x05ee_d0f1_a59e_u64,
            pending: Vec::new(),
            at: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Refills `pending` with the next piece of the stream.
    fn refill(&mut self) {
        self.pending.clear();
        self.at = 0;
        if self.compressible {
            for _ in 0..64 {
                let r = self.next_u64();
                for i in 0..4 {
                    let word = WORDS[((r >> (6 * i)) % WORDS.len() as u64) as usize];
                    self.pending.extend_from_slice(word.as_bytes());
                    self.pending.push(b' ');
                }
                let hex = format!("{:012x}\n", self.next_u64() >> 16);
                self.pending.extend_from_slice(hex.as_bytes());
            }
        } else {
            for _ in 0..512 {
                let r = self.next_u64();
                self.pending.extend_from_slice(&r.to_le_bytes());
            }
        }
    }
}

impl Read for Payload {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        if self.at == self.pending.len() {
            self.refill();
        }
        let n = buf
            .len()
            .min(self.pending.len() - self.at)
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        self.left -= n as u64;
        Ok(n)
    }
}
