//! SearchImage against real registries: distribution's `docker-registry` on loopback over
//! plain HTTP, filled by `skopeo` from the busybox layout. Distribution has no v1 search, so
//! every search here goes through `/v2/_catalog`.
//!
//! The catalog lists a repository by its `_layers` directory in the registry's storage;
//! the paging tests make many repositories that way (empty, but listed), rather than push
//! a hundred images.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::fixtures::fixtures;
use crate::util::{DEADLINE, DaemonOptions, TestDaemon, require_tool, run_ok, wait_for};

/// Where `contrib/scripts/setup-deps.sh test` installs python-podman 0.11.1.1.
const PYTHON_PODMAN: &str = "/opt/podlink-test/python-podman/bin/python";

/// A `docker-registry` serving plain HTTP on a free loopback port, its storage in a temp
/// directory; killed on drop.
struct Registry {
    child: Child,
    dir: TempDir,
    /// `127.0.0.1:PORT`.
    host: String,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let host = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {host}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("write registry config");
        let child = Command::new(require_tool("docker-registry"))
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Its error log (every blob skopeo probes before uploading is a 404) stays here.
            .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("log file"))
            .spawn()
            .expect("start docker-registry");
        // Owned before the wait, so a registry that never listens is still killed.
        let registry = Registry { child, dir, host };
        wait_for("docker-registry listening", DEADLINE, || {
            TcpStream::connect(&registry.host).is_ok()
        });
        registry
    }

    /// Pushes the busybox layout as `REPO:TAG`.
    fn push(&self, reference: &str) {
        let layout = fixtures().dir.join("layout");
        run_ok(
            Command::new(require_tool("skopeo"))
                .args([
                    "--insecure-policy",
                    "copy",
                    "--quiet",
                    "--dest-tls-verify=false",
                ])
                .arg(format!("oci:{}:busybox:latest", layout.display()))
                .arg(format!("docker://{}/{reference}", self.host)),
        );
    }

    /// Makes `repos` appear in the catalog without content (see the module doc).
    fn list_empty(&self, repos: impl IntoIterator<Item = String>) {
        let root = self.dir.path().join("data/docker/registry/v2/repositories");
        for repo in repos {
            std::fs::create_dir_all(root.join(repo).join("_layers")).expect("make repository");
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registry stub (Python's http.server) that has docker's v1 search, as Docker Hub has:
/// its three results echo the query's `q` and `n`, whatever `n` says. Killed on drop.
struct V1Stub {
    child: Child,
    host: String,
}

const V1_STUB: &str = r#"
import json
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse, parse_qs

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/v2/":
            body = {}
        elif url.path == "/v1/search":
            q = parse_qs(url.query)
            term, n = q["q"][0], q["n"][0]
            body = {"num_results": 3, "results": [
                {"name": "library/" + term, "description": "n=" + n, "star_count": 7,
                 "is_official": True, "is_automated": False},
                {"name": "someone/" + term + "-tool", "description": None, "star_count": 1,
                 "is_official": False, "is_automated": True},
                {"name": "third/" + term}]}
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

impl V1Stub {
    fn start() -> V1Stub {
        let mut child = Command::new(require_tool("python3"))
            .args(["-c", V1_STUB])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the v1 stub");
        let stdout = child.stdout.take().expect("stub stdout");
        let mut stub = V1Stub {
            child,
            host: String::new(),
        };
        let mut port = String::new();
        BufReader::new(stdout)
            .read_line(&mut port)
            .expect("the stub's port");
        stub.host = format!("127.0.0.1:{}", port.trim());
        stub
    }
}

impl Drop for V1Stub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (bound, then released).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A registries.conf in `dir` with these search, insecure and blocked registries.
fn registries_conf(dir: &Path, search: &[&str], insecure: &[&str], blocked: &[&str]) -> PathBuf {
    let list = |hosts: &[&str]| {
        let quoted: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
        format!("[{}]", quoted.join(", "))
    };
    let path = dir.join("registries.conf");
    std::fs::write(
        &path,
        format!(
            "[registries.search]\nregistries = {}\n[registries.insecure]\nregistries = {}\n\
             [registries.block]\nregistries = {}\n",
            list(search),
            list(insecure),
            list(blocked)
        ),
    )
    .expect("write registries.conf");
    path
}

/// A daemon reading `conf`, its log in `log` when given.
fn daemon(conf: &Path, log: Option<PathBuf>) -> TestDaemon {
    TestDaemon::start_with(DaemonOptions {
        env: vec![("PODLINK_REGISTRIES_CONF".into(), conf.display().to_string())],
        log,
        ..DaemonOptions::default()
    })
}

/// SearchImage's result names, or its error's reason.
fn search(daemon: &TestDaemon, name: &str, limit: i64) -> Result<Vec<String>, String> {
    let reply = daemon.raw().call(
        "io.podman.SearchImage",
        json!({"name": name, "limit": limit}),
    );
    if let Some(error) = reply.get("error") {
        assert_eq!(error, "io.podman.ErrorOccurred", "{reply}");
        return Err(reply["parameters"]["reason"].as_str().unwrap_or("").into());
    }
    let images = reply["parameters"]["images"].as_array().expect("images");
    Ok(images
        .iter()
        .map(|i| i["name"].as_str().expect("name").to_string())
        .collect())
}

#[test]
fn search_matches_catalog_names() {
    let registry = Registry::start();
    registry.push("library/busybox:latest");
    registry.push("tools/busybox-extra:1");
    registry.push("other/shell:latest");
    let host = &registry.host;
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(&registries_conf(dir.path(), &[host], &[host], &[]), None);
    let both = vec![
        format!("{host}/library/busybox"),
        format!("{host}/tools/busybox-extra"),
    ];
    assert_eq!(search(&daemon, "busy", 0), Ok(both.clone()));
    assert_eq!(search(&daemon, "BusyBox", -1), Ok(both.clone()));
    assert_eq!(
        search(&daemon, "lib*box", 25),
        Ok(vec![format!("{host}/library/busybox")])
    );
    assert_eq!(search(&daemon, "busy", 1).map(|r| r.len()), Ok(1));
    assert_eq!(search(&daemon, "alpine", 0), Ok(vec![]));

    // A catalog result carries only its name.
    let reply = daemon.raw().call(
        "io.podman.SearchImage",
        json!({"name": "shell", "limit": 5}),
    );
    assert_eq!(
        reply["parameters"]["images"],
        json!([{"name": format!("{host}/other/shell"), "description": "",
                "is_official": false, "is_automated": false, "star_count": 0}]),
        "{reply}"
    );
}

#[test]
fn a_term_naming_the_registry_searches_only_it() {
    let registry = Registry::start();
    registry.push("library/busybox:latest");
    registry.push("other/shell:latest");
    let host = &registry.host;
    let dir = tempfile::tempdir().unwrap();
    // No search registries: only the term says where to look.
    let daemon = daemon(&registries_conf(dir.path(), &[], &[host], &[]), None);
    assert_eq!(
        search(&daemon, &format!("{host}/busy"), 0),
        Ok(vec![format!("{host}/library/busybox")])
    );
    // `HOST/` lists every repository.
    assert_eq!(
        search(&daemon, &format!("{host}/"), 0),
        Ok(vec![
            format!("{host}/library/busybox"),
            format!("{host}/other/shell")
        ])
    );
    let reason = search(&daemon, "busy", 0).unwrap_err();
    assert!(reason.contains("lists no search registries"), "{reason}");
    let reason = search(&daemon, "", 0).unwrap_err();
    assert!(reason.contains("empty"), "{reason}");
}

#[test]
fn v1_search_answers_are_used_where_a_registry_has_them() {
    let stub = V1Stub::start();
    let host = &stub.host;
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(&registries_conf(dir.path(), &[host], &[host], &[]), None);
    let reply = daemon.raw().call(
        "io.podman.SearchImage",
        json!({"name": "busybox", "limit": 2}),
    );
    // The registry's own matches and fields, capped at the limit it was sent (and ignored).
    assert_eq!(
        reply["parameters"]["images"],
        json!([
            {"name": format!("{host}/library/busybox"), "description": "n=2",
             "is_official": true, "is_automated": false, "star_count": 7},
            {"name": format!("{host}/someone/busybox-tool"), "description": "",
             "is_official": false, "is_automated": true, "star_count": 1},
        ]),
        "{reply}"
    );
    assert_eq!(search(&daemon, "x", 0).map(|r| r.len()), Ok(3));
}

#[test]
fn search_follows_catalog_pages_within_the_limit() {
    let registry = Registry::start();
    // 150 fillers sort before `zz/`: the match is on the second page of 100.
    registry.list_empty((0..150).map(|i| format!("filler/repo-{i:03}")));
    registry.list_empty(["zz/busybox".to_string()]);
    registry.list_empty((0..130).map(|i| format!("many/match-{i:03}")));
    let host = &registry.host;
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(&registries_conf(dir.path(), &[host], &[host], &[]), None);
    assert_eq!(
        search(&daemon, "busybox", 0),
        Ok(vec![format!("{host}/zz/busybox")])
    );
    // The limit counts across pages; without one, 25.
    let found = search(&daemon, "match", 120).unwrap();
    assert_eq!(found.len(), 120);
    assert_eq!(found[119], format!("{host}/many/match-119"));
    assert_eq!(search(&daemon, "match", 0).map(|r| r.len()), Ok(25));
    assert_eq!(search(&daemon, "repo-1*9", 1000).map(|r| r.len()), Ok(5));
}

#[test]
fn a_registry_down_is_skipped_while_another_answers() {
    let registry = Registry::start();
    registry.push("library/busybox:latest");
    let up = registry.host.as_str();
    let down = format!("127.0.0.1:{}", free_port());
    let blocked = format!("127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().unwrap();
    let conf = registries_conf(
        dir.path(),
        &[&down, &blocked, up],
        &[&down, &blocked, up],
        &[&blocked],
    );
    let log = dir.path().join("daemon.log");
    let daemon = daemon(&conf, Some(log.clone()));
    assert_eq!(
        search(&daemon, "busy", 0),
        Ok(vec![format!("{up}/library/busybox")])
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("skipping a registry") && l.contains(&down)),
        "{log}"
    );
    // A blocked registry is not asked, not even when the term names it.
    assert!(!log.contains(&format!("registry {blocked}")), "{log}");
    let reason = search(&daemon, &format!("{blocked}/busy"), 0).unwrap_err();
    assert!(reason.contains("blocked"), "{reason}");
}

#[test]
fn every_registry_down_is_an_error_naming_each() {
    let first = format!("127.0.0.1:{}", free_port());
    let second = format!("127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().unwrap();
    let hosts = [first.as_str(), second.as_str()];
    let daemon = daemon(&registries_conf(dir.path(), &hosts, &hosts, &[]), None);
    let reason = search(&daemon, "busy", 0).unwrap_err();
    for host in hosts {
        assert!(
            reason.contains(&format!("registry {host}: connect")),
            "{reason}"
        );
    }
    assert!(reason.contains("no registry could be searched"), "{reason}");
}

#[test]
fn python_podman_searches() {
    assert!(
        Path::new(PYTHON_PODMAN).exists(),
        "{PYTHON_PODMAN} is missing: run contrib/scripts/setup-deps.sh test"
    );
    let registry = Registry::start();
    registry.push("library/busybox:latest");
    let host = &registry.host;
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(&registries_conf(dir.path(), &[host], &[host], &[]), None);
    let script = "import json, sys, podman\n\
                  client = podman.Client(uri=sys.argv[1])\n\
                  print(json.dumps([r._asdict() for r in client.images.search('busy')]))\n";
    let out = run_ok(
        Command::new(PYTHON_PODMAN)
            .args(["-c", script])
            .arg(daemon.address()),
    );
    let found: Value = serde_json::from_str(out.trim()).expect("JSON from the script");
    assert_eq!(
        found,
        json!([{"name": format!("{host}/library/busybox"), "description": "",
                "is_official": false, "is_automated": false, "star_count": 0}]),
    );
}
