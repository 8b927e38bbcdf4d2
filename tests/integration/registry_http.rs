//! What the registry support shares: one HTTP request through curl (so plain, TLS and
//! client-certificate registries are reached the same way), auth.json, base64, file digests
//! and unique names.

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// One HTTP exchange with a registry.
#[derive(Debug)]
pub struct HttpReply {
    /// The status of the last response (after any `100 Continue`).
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body (empty for HEAD).
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Runs a curl request; the body goes to stdout, the headers to a file in `dir`.
pub fn curl_request(
    mut cmd: Command,
    dir: &Path,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Path>,
) -> HttpReply {
    let head_file = tempfile::NamedTempFile::new_in(dir).expect("header temp file");
    cmd.arg("-D").arg(head_file.path());
    match method {
        "HEAD" => {
            cmd.arg("--head");
        }
        "GET" => {}
        other => {
            cmd.args(["-X", other]);
        }
    }
    for (name, value) in headers {
        cmd.arg("-H").arg(format!("{name}: {value}"));
    }
    if let Some(file) = body {
        // -T streams the file (--data-binary would read it whole); -X above keeps the method.
        cmd.arg("-T").arg(file);
    }
    cmd.arg(url);
    let out = cmd.output().expect("run curl");
    assert!(
        out.status.success(),
        "{method} {url}: curl failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = std::fs::read_to_string(head_file.path()).expect("read headers");
    // After `100 Continue` comes the real response: keep the last block.
    let block = raw
        .split("\r\n\r\n")
        .filter(|b| !b.trim().is_empty())
        .last()
        .unwrap_or_default();
    let mut lines = block.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {url}: no status line in {raw:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpReply {
        status,
        headers,
        body: if method == "HEAD" {
            Vec::new()
        } else {
            out.stdout
        },
    }
}

/// The body of a reply as text, for failure messages.
pub fn body_text(reply: &HttpReply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// Writes a containers auth.json (`{"auths":{HOST:{"auth":base64(user:password)}}}`).
pub fn write_auth_json(path: &Path, host: &str, user: &str, password: &str) {
    let auth = base64(format!("{user}:{password}").as_bytes());
    let json = serde_json::json!({"auths": {host: {"auth": auth}}});
    std::fs::write(path, serde_json::to_vec_pretty(&json).expect("json")).expect("auth.json");
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The sha256 of a file, hex, read in pieces.
pub fn sha256_file(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    format!("{:x}", hasher.finalize())
}

/// A string unique to this process and call.
pub fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
