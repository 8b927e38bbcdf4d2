//! Test registries for pull and push: a real `docker-registry` (Debian's distribution 2.8.2)
//! on 127.0.0.1 with its own temporary storage, over plain HTTP, or over HTTPS with a fresh
//! CA, htpasswd basic auth and optionally required client certificates; and small HTTP
//! helpers (through curl, which handles every TLS variant the same way) to read and write its
//! manifests and blobs. Images pushed into it are in `registry_fixtures`.
//!
//! Nothing here calls podlink: these are the registries podlink's client is tested against.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::registry_http::{
    HttpReply, body_text, curl_request, nonce, sha256_file, write_auth_json,
};
use crate::registry_tls::{client_cert_dir, make_ca, write_client_cert};
use crate::util::{DEADLINE, require_tool, run_ok, wait_exit};

/// The `Accept` header of manifest reads: every manifest and list type a registry may hold.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// How a registry is started.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// HTTPS with a certificate from a fresh CA (`ca_pem()`), for `127.0.0.1` and `localhost`.
    pub tls: bool,
    /// Basic auth (htpasswd) with this user and password.
    pub auth: Option<(String, String)>,
    /// Refuse TLS clients without a certificate signed by the CA (`http.tls.clientcas`).
    pub require_client_certs: bool,
}

/// A running `docker-registry`, killed and reaped when dropped.
pub struct Registry {
    child: Child,
    dir: TempDir,
    port: u16,
    options: RegistryOptions,
}

impl Registry {
    /// A registry over plain HTTP without auth.
    pub fn plain() -> Self {
        Self::start(RegistryOptions::default())
    }

    /// A registry over HTTPS (fresh CA) with htpasswd basic auth for `user`.
    pub fn tls_auth(user: &str, password: &str) -> Self {
        Self::start(RegistryOptions {
            tls: true,
            auth: Some((user.to_string(), password.to_string())),
            require_client_certs: false,
        })
    }

    /// A registry over HTTPS that refuses clients without a certificate from its CA (no
    /// basic auth; combine both with `start`).
    pub fn tls_client_certs() -> Self {
        Self::start(RegistryOptions {
            tls: true,
            auth: None,
            require_client_certs: true,
        })
    }

    /// Starts a registry on a free port and waits until `GET /v2/` answers.
    pub fn start(options: RegistryOptions) -> Self {
        assert!(
            options.tls || !options.require_client_certs,
            "client certificates need TLS"
        );
        let binary = require_tool("docker-registry");
        let dir = tempfile::Builder::new()
            .prefix("registry")
            .tempdir()
            .expect("registry temp dir");
        if options.tls {
            make_ca(dir.path());
            let certs = dir.path().join("certs.d");
            std::fs::create_dir_all(&certs).expect("certs.d");
            std::fs::copy(dir.path().join("tls/ca.crt"), certs.join("ca.crt")).expect("ca.crt");
        }
        if let Some((user, password)) = &options.auth {
            // Cost 4: bcrypt's cost is paid on every request, and the default makes each one slow.
            let line = run_ok(
                Command::new(require_tool("htpasswd")).args(["-Bbn", "-C", "4", user, password]),
            );
            std::fs::write(dir.path().join("htpasswd"), line).expect("write htpasswd");
        }
        let nonce = nonce();
        let log = dir.path().join("registry.log");
        // A port found free may be taken before the registry binds it: then the registry
        // exits, and the next attempt picks another.
        for _ in 0..5 {
            let port = free_port();
            let config = config_yml(dir.path(), port, &nonce, &options);
            std::fs::write(dir.path().join("config.yml"), config).expect("write config.yml");
            let out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("registry log");
            let mut child = Command::new(&binary)
                .arg("serve")
                .arg(dir.path().join("config.yml"))
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log fd"))
                .stderr(out)
                .spawn()
                .expect("spawn docker-registry");
            if wait_ready(&mut child, dir.path(), port, &nonce, &options) {
                return Registry {
                    child,
                    dir,
                    port,
                    options,
                };
            }
        }
        panic!(
            "docker-registry did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// `127.0.0.1:PORT`, the host part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http(s)://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.options.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.host())
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.options.tls
    }

    /// The basic-auth user and password, if it has them.
    pub fn creds(&self) -> Option<(&str, &str)> {
        self.options
            .auth
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The registry's own directory (config, storage, log, certificates).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the registry logged (level warn and above).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("registry.log")).unwrap_or_default()
    }

    /// The CA certificate (PEM) that signed the server's certificate. TLS registries only.
    pub fn ca_pem(&self) -> PathBuf {
        assert!(self.options.tls, "a plain registry has no CA");
        self.dir().join("tls/ca.crt")
    }

    /// A directory laid out as containers' `certs.d/HOST/` wants it: `ca.crt` only.
    pub fn cert_dir(&self) -> PathBuf {
        assert!(self.options.tls, "a plain registry has no CA");
        self.dir().join("certs.d")
    }

    /// Writes `ca.crt`, and `client.cert` with `client.key` signed by the registry's CA, into
    /// `dir` (created): a certs.d directory for a client the registry accepts.
    pub fn write_client_cert(&self, dir: &Path) {
        assert!(self.options.tls, "a plain registry has no CA");
        write_client_cert(self.dir(), dir);
    }

    /// A certs.d directory with `ca.crt` and a client certificate pair, made once.
    pub fn client_cert_dir(&self) -> PathBuf {
        client_cert_dir(self.dir())
    }

    /// Writes a containers auth.json with this registry's credentials.
    pub fn auth_json(&self, path: &Path) {
        let (user, password) = self.creds().expect("the registry has no credentials");
        write_auth_json(path, &self.host(), user, password);
    }

    /// skopeo flags to reach this registry: `prefix` is `""` (inspect), `"src-"` or `"dest-"`.
    /// TLS: the cert dir (with the client pair when required) and the credentials.
    pub fn skopeo_args(&self, prefix: &str) -> Vec<String> {
        if !self.options.tls {
            return vec![format!("--{prefix}tls-verify=false")];
        }
        let certs = if self.options.require_client_certs {
            self.client_cert_dir()
        } else {
            self.cert_dir()
        };
        let mut args = vec![format!("--{prefix}cert-dir"), certs.display().to_string()];
        if let Some((user, password)) = self.creds() {
            args.push(format!("--{prefix}creds"));
            args.push(format!("{user}:{password}"));
        }
        args
    }

    /// A curl command that trusts the CA and sends the client certificate and credentials.
    pub fn curl(&self) -> Command {
        curl_for(self.dir(), &self.options)
    }

    /// One request to `path` (or an absolute URL); `body` is a file sent as it is.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Path>,
    ) -> HttpReply {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            self.url(path)
        };
        curl_request(self.curl(), self.dir(), method, &url, headers, body)
    }

    /// A manifest's bytes and content type.
    pub fn manifest(&self, repo: &str, reference: &str) -> (Vec<u8>, String) {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let reply = self.request("GET", &path, &[("Accept", MANIFEST_ACCEPT)], None);
        assert_eq!(
            reply.status,
            200,
            "GET {path}: {}\n--- registry log\n{}",
            body_text(&reply),
            self.log()
        );
        let content_type = reply.header("content-type").unwrap_or_default().to_string();
        (reply.body, content_type)
    }

    /// A blob's bytes.
    pub fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let reply = self.request("GET", &path, &[], None);
        assert_eq!(reply.status, 200, "GET {path}: {:?}", body_text(&reply));
        reply.body
    }

    /// The repositories the registry holds.
    pub fn catalog(&self) -> Vec<String> {
        let reply = self.request("GET", "/v2/_catalog", &[], None);
        assert_eq!(reply.status, 200, "catalog: {:?}", body_text(&reply));
        let value: serde_json::Value = serde_json::from_slice(&reply.body).expect("catalog JSON");
        value["repositories"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Uploads a file as a blob of `repo` (POST, then a monolithic PUT) unless it is there;
    /// its digest.
    pub fn put_blob(&self, repo: &str, file: &Path) -> String {
        let digest = format!("sha256:{}", sha256_file(file));
        let head = self.request("HEAD", &format!("/v2/{repo}/blobs/{digest}"), &[], None);
        if head.status == 200 {
            return digest;
        }
        let start = self.request("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], None);
        assert_eq!(start.status, 202, "start upload: {:?}", body_text(&start));
        let location = start.header("location").expect("upload location");
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = self.request(
            "PUT",
            &format!("{location}{separator}digest={digest}"),
            &[("Content-Type", "application/octet-stream")],
            Some(file),
        );
        assert_eq!(put.status, 201, "finish upload: {:?}", body_text(&put));
        digest
    }

    /// Uploads `bytes` as a blob of `repo`; its digest.
    pub fn put_blob_bytes(&self, repo: &str, bytes: &[u8]) -> String {
        let file = tempfile::NamedTempFile::new_in(self.dir()).expect("blob temp file");
        std::fs::write(file.path(), bytes).expect("write blob");
        self.put_blob(repo, file.path())
    }

    /// PUTs a manifest (or list) under `reference` (a tag or its digest); its digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> String {
        let file = tempfile::NamedTempFile::new_in(self.dir()).expect("manifest temp file");
        std::fs::write(file.path(), bytes).expect("write manifest");
        let path = format!("/v2/{repo}/manifests/{reference}");
        let reply = self.request(
            "PUT",
            &path,
            &[("Content-Type", media_type)],
            Some(file.path()),
        );
        assert_eq!(reply.status, 201, "PUT {path}: {:?}", body_text(&reply));
        let digest = format!("sha256:{:x}", Sha256::digest(bytes));
        assert_eq!(reply.header("docker-content-digest"), Some(digest.as_str()));
        digest
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        if wait_exit(&mut self.child, DEADLINE).is_none() && !std::thread::panicking() {
            panic!(
                "docker-registry {} did not exit after SIGKILL",
                self.child.id()
            );
        }
    }
}

/// Waits until the registry in `dir` (its `X-Podlink-Registry` header, not another process
/// that took the port) answers `/v2/`; false if it exited first.
fn wait_ready(
    child: &mut Child,
    dir: &Path,
    port: u16,
    nonce: &str,
    options: &RegistryOptions,
) -> bool {
    let scheme = if options.tls { "https" } else { "http" };
    let url = format!("{scheme}://127.0.0.1:{port}/v2/");
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if child.try_wait().expect("try_wait").is_some() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() && answers(dir, options, &url, nonce) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("docker-registry is not answering on port {port}");
}

/// Whether `url` answers with this registry's `nonce` header. A registry still starting may
/// reset the first connection: no -f, no panic.
fn answers(dir: &Path, options: &RegistryOptions, url: &str, nonce: &str) -> bool {
    let probe = curl_for(dir, options)
        .args(["-o", "/dev/null", "-D", "-", url])
        .output();
    let head = probe.map(|o| String::from_utf8_lossy(&o.stdout).to_ascii_lowercase());
    head.is_ok_and(|h| h.contains(&format!("x-podlink-registry: {nonce}")))
}

/// curl for the registry in `dir`: trusts its CA, sends its client certificate (when it
/// requires one) and its credentials.
fn curl_for(dir: &Path, options: &RegistryOptions) -> Command {
    let mut cmd = Command::new(require_tool("curl"));
    cmd.args(["-sS", "--max-time", "120"]);
    if options.tls {
        cmd.arg("--cacert").arg(dir.join("tls/ca.crt"));
    }
    if options.require_client_certs {
        let certs = client_cert_dir(dir);
        cmd.arg("--cert").arg(certs.join("client.cert"));
        cmd.arg("--key").arg(certs.join("client.key"));
    }
    if let Some((user, password)) = &options.auth {
        cmd.arg("--user").arg(format!("{user}:{password}"));
    }
    cmd
}

/// A port that was free a moment ago (never 5000: the kernel hands out ephemeral ports).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

fn config_yml(dir: &Path, port: u16, nonce: &str, options: &RegistryOptions) -> String {
    let d = dir.display();
    let mut yml = format!(
        "version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: '{d}/data'
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
catalog:
  maxentries: 10000
http:
  addr: 127.0.0.1:{port}
  secret: podlink-test-{nonce}
  headers:
    X-Podlink-Registry: ['{nonce}']
"
    );
    if options.tls {
        yml += &format!(
            "  tls:
    certificate: '{d}/tls/server.crt'
    key: '{d}/tls/server.key'
"
        );
        if options.require_client_certs {
            yml += &format!("    clientcas:\n      - '{d}/tls/ca.crt'\n");
        }
    }
    if options.auth.is_some() {
        yml += &format!(
            "auth:
  htpasswd:
    realm: podlink-test
    path: '{d}/htpasswd'
"
        );
    }
    yml
}
