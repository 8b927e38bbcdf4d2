//! Offline test images, built once per test run from the `busybox-static` package.
//!
//! - `rootfs.tar` (and `.gz`, `.zst`, `.xz`): busybox with its applets, /etc/passwd, /etc/group;
//! - `layout/`: a two-layer OCI layout written here by hand: the rootfs, then a layer that
//!   adds a file, whites out another and makes a directory opaque;
//! - `busybox-docker.tar` and `busybox-oci.tar`: that layout copied by `skopeo` into a
//!   docker-archive and an oci-archive, so the archives podlink reads come from another tool.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::util::{require_tool, run_ok};

/// The busybox applets linked in the fixture root filesystem.
pub const APPLETS: &[&str] = &[
    "sh", "true", "false", "echo", "cat", "ls", "sleep", "id", "ps", "touch", "rm", "mkdir", "env",
    "yes", "head", "wc", "kill", "top", "stat", "dd", "grep", "hostname", "readlink", "stty", "tr",
    "printf", "tail", "test", "df", "mount", "ln",
];

/// Paths of the built fixtures.
pub struct Fixtures {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    /// `sha256:` digest of `rootfs.tar` (its DiffID).
    pub rootfs_diff_id: String,
    /// The two-layer image: its config digest (the image ID, hex) and layer DiffIDs.
    pub layered_id: String,
    pub layered_diff_ids: Vec<String>,
    pub docker_archive: PathBuf,
    pub oci_archive: PathBuf,
}

impl Fixtures {
    /// `rootfs.tar` compressed with `ext` (`gz`, `zst`, `xz`).
    pub fn compressed(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("rootfs.tar.{ext}"))
    }
}

/// The fixtures, built on first use.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(build)
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn build() -> Fixtures {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("fixtures-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // The root filesystem.
    let root = dir.join("rootfs");
    for sub in ["bin", "etc", "tmp", "removed-dir", "opaque"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    let busybox = require_tool("busybox");
    std::fs::copy(&busybox, root.join("bin/busybox")).unwrap();
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n").unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nextra:x:2000:app\n",
    )
    .unwrap();
    std::fs::write(root.join("removed"), "this file is whited out by layer 2\n").unwrap();
    std::fs::write(
        root.join("opaque/old"),
        "hidden by the opaque directory of layer 2\n",
    )
    .unwrap();
    let rootfs = dir.join("rootfs.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("--numeric-owner")
            .arg("-cf")
            .arg(&rootfs)
            .arg("."),
    );
    for (tool, ext) in [("gzip", "gz"), ("zstd", "zst"), ("xz", "xz")] {
        require_tool(tool);
        let out = dir.join(format!("rootfs.tar.{ext}"));
        let mut cmd = Command::new(tool);
        cmd.arg("-c").arg(&rootfs);
        let bytes = run_ok_bytes(&mut cmd);
        std::fs::write(out, bytes).unwrap();
    }
    let rootfs_bytes = std::fs::read(&rootfs).unwrap();
    let rootfs_diff_id = format!("sha256:{}", sha256(&rootfs_bytes));

    // The second layer: a new file, a whiteout, an opaque directory.
    let layer2 = {
        let mut b = tar::Builder::new(Vec::new());
        add_file(&mut b, "etc/hostname", b"fixture\n");
        add_file(&mut b, ".wh.removed", b"");
        add_file(&mut b, "opaque/.wh..wh..opq", b"");
        add_file(&mut b, "opaque/new", b"the only file left in opaque\n");
        b.into_inner().unwrap()
    };
    let diff_ids = vec![
        rootfs_diff_id.clone(),
        format!("sha256:{}", sha256(&layer2)),
    ];
    let config = serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "Labels": {"fixture": "yes"}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "fixture: busybox rootfs"},
            {"created": "2024-01-01T00:00:01Z", "created_by": "fixture: whiteouts", "comment": "layer two"}
        ]
    }))
    .unwrap();
    let layout = dir.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(&digest), bytes).unwrap();
        (format!("sha256:{digest}"), bytes.len())
    };
    let (config_digest, config_size) = put(&config);
    let (l1, l1_size) = put(&rootfs_bytes);
    let (l2, l2_size) = put(&layer2);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l1, "size": l1_size},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l2, "size": l2_size}
        ]
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = put(&manifest);
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "busybox:latest"}
            }]
        }))
        .unwrap(),
    )
    .unwrap();

    let skopeo = require_tool("skopeo");
    let docker_archive = dir.join("busybox-docker.tar");
    let oci_archive = dir.join("busybox-oci.tar");
    let source = format!("oci:{}:busybox:latest", layout.display());
    run_ok(
        Command::new(&skopeo)
            .args(["--insecure-policy", "copy", "-q", &source])
            .arg(format!(
                "docker-archive:{}:docker.io/library/busybox:latest",
                docker_archive.display()
            )),
    );
    run_ok(
        Command::new(&skopeo)
            .args(["--insecure-policy", "copy", "-q", &source])
            .arg(format!(
                "oci-archive:{}:docker.io/library/busybox:latest",
                oci_archive.display()
            )),
    );

    Fixtures {
        rootfs,
        rootfs_diff_id,
        layered_id: sha256(&config),
        layered_diff_ids: diff_ids,
        docker_archive,
        oci_archive,
        dir,
    }
}

fn run_ok_bytes(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Adds a regular file owned by root with mode 0644 and a fixed time.
pub fn add_file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, data).unwrap();
}

/// Writes `bytes` to a new file under `dir`.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(bytes).unwrap();
    path
}
