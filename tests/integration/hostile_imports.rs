//! Hostile imports (issue 8, items 2-4 and 12): private store directories, import limits,
//! overlayfs attributes in image content, device nodes in a mounted root filesystem, and http
//! sources that stall. Needs root.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::fixtures::fixtures;
use crate::hostile_images::{
    Untouched, config, daemon_dir, docker_archive, image_ids, import, refused, sha,
};
use crate::util::{DaemonOptions, TestDaemon, assert_nothing_left, ok, privileged};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Runs `argv` as user and group 65534 with no supplementary groups; whether it succeeded.
/// Through a shell: setpriv itself still holds root's capabilities when it executes its
/// command (only the exec drops them), so it could reach any path; the shell cannot.
fn as_nobody(argv: &[&str]) -> bool {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["/bin/sh", "-c", "exec \"$@\"", "sh"])
        .args(argv)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn store_directories_are_private_and_fixed_at_start() {
    if !privileged("store_directories_are_private_and_fixed_at_start") {
        return;
    }
    let f = fixtures();
    let mut first = TestDaemon::start();
    let root = first.root.clone();
    let id = import(&mut first.raw(), &f.rootfs, "busybox");
    let layer = root.join("layers").join(&f.rootfs_diff_id[7..]);
    let private = [
        root.join("layers"),
        layer.clone(),
        root.join("images"),
        root.join("images").join(&id),
        root.join("tmp"),
    ];
    for dir in &private {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    // A host user can pass through the roots but reach nothing in a layer.
    let busybox = layer.join("diff/bin/busybox");
    let root_s = root.display().to_string();
    assert!(as_nobody(&["stat", &root_s]), "setpriv does not work here");
    assert!(!as_nobody(&["stat", &busybox.display().to_string()]));
    assert!(!as_nobody(&[&busybox.display().to_string(), "true"]));
    // (The same file, copied where the user can reach it, runs.)
    let copy = daemon_dir(&first).join("busybox-copy");
    std::fs::copy(&busybox, &copy).unwrap();
    assert!(as_nobody(&[&copy.display().to_string(), "true"]));

    // A store made with open directories is fixed when the service starts.
    first.stop_with(nix::sys::signal::Signal::SIGTERM);
    for dir in &private {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert!(as_nobody(&["stat", &busybox.display().to_string()]));
    let daemon = TestDaemon::start_with(DaemonOptions {
        root: Some(root.clone()),
        ..Default::default()
    });
    for dir in &private {
        assert_eq!(mode(dir), 0o700, "{} after restart", dir.display());
    }
    assert!(!as_nobody(&["stat", &busybox.display().to_string()]));
    assert_eq!(image_ids(&mut daemon.raw()), [id]);
}

/// A gzipped tarball holding one file of `size` zero bytes.
fn gzip_bomb(size: u64) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut b = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    b.append_data(&mut h, "zeros", std::io::repeat(0).take(size))
        .unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn imports_past_the_limits_are_refused_and_cleaned_up() {
    if !privileged("imports_past_the_limits_are_refused_and_cleaned_up") {
        return;
    }
    let daemon = TestDaemon::start_with(DaemonOptions {
        args: [
            "--import-max-bytes",
            "8388608",
            "--import-max-entries",
            "1000",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    });
    let mut raw = daemon.raw();
    let work = tempfile::tempdir().unwrap();
    let untouched = Untouched::snapshot(&daemon, &[]);

    // A small gzip that unpacks to 32 MiB, as a root filesystem and as a docker-archive.
    let bomb = gzip_bomb(32 << 20);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let path = work.path().join("bomb.tar.gz");
    std::fs::write(&path, &bomb).unwrap();
    let reason = refused(&mut raw, &path.display().to_string());
    assert!(reason.contains("--import-max-bytes"), "{reason}");
    untouched.check(&mut raw, "gzip bomb");

    let archive = {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&bomb[..])
            .read_to_end(&mut plain)
            .unwrap();
        let config = config(&[&format!("sha256:{}", sha(&plain))]);
        let tar = work.path().join("bomb-docker.tar");
        docker_archive(&tar, &config, &[("l.tar", &plain)], &["l.tar"]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&std::fs::read(&tar).unwrap()).unwrap();
        let path = work.path().join("bomb-docker.tar.gz");
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        path
    };
    let reason = refused(&mut raw, &format!("docker-archive:{}", archive.display()));
    assert!(reason.contains("--import-max-bytes"), "{reason}");
    untouched.check(&mut raw, "compressed docker-archive bomb");

    // Many entries in a small tarball.
    let many = {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut b = tar::Builder::new(gz);
        for i in 0..2000 {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_mode(0o644);
            b.append_data(&mut h, format!("f{i}"), &[][..]).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    };
    let path = work.path().join("many.tar.gz");
    std::fs::write(&path, &many).unwrap();
    let reason = refused(&mut raw, &path.display().to_string());
    assert!(reason.contains("--import-max-entries"), "{reason}");
    untouched.check(&mut raw, "many entries");

    // An ordinary image still fits.
    import(&mut raw, &fixtures().rootfs, "busybox");

    // A filesystem that would drop below the reserve.
    let daemon = TestDaemon::start_with(DaemonOptions {
        args: ["--import-min-free", "18446744073709551615"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    });
    let mut raw = daemon.raw();
    let untouched = Untouched::snapshot(&daemon, &[]);
    let reason = refused(&mut raw, &fixtures().rootfs.display().to_string());
    assert!(reason.contains("--import-min-free"), "{reason}");
    untouched.check(&mut raw, "free space");
}

#[test]
fn overlay_attributes_in_image_content_are_dropped() {
    if !privileged("overlay_attributes_in_image_content_are_dropped") {
        return;
    }
    let f = fixtures();
    let rootfs = std::fs::read(&f.rootfs).unwrap();
    // Layer 2 marks /etc opaque (it would hide the base layer's /etc) and gives a file a
    // redirect, beside an ordinary attribute that stays.
    let layer2 = {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("SCHILY.xattr.trusted.overlay.opaque", &b"y"[..])])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "etc/", &[][..]).unwrap();
        b.append_pax_extensions([
            ("SCHILY.xattr.trusted.overlay.redirect", &b"/bin"[..]),
            ("SCHILY.xattr.user.kept", &b"yes"[..]),
        ])
        .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(6);
        b.append_data(&mut h, "etc/motd", &b"hello\n"[..]).unwrap();
        b.into_inner().unwrap()
    };
    let config = config(&[&f.rootfs_diff_id, &format!("sha256:{}", sha(&layer2))]);
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("xattrs.tar");
    docker_archive(
        &archive,
        &config,
        &[("l1.tar", &rootfs), ("l2.tar", &layer2)],
        &["l1.tar", "l2.tar"],
    );
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    ok(
        &mut raw,
        "ImportImage",
        json!({"source": format!("docker-archive:{}", archive.display()), "reference": "xattrs"}),
    );
    let diff = daemon.root.join("layers").join(sha(&layer2)).join("diff");
    assert_eq!(
        xattr::get(diff.join("etc"), "trusted.overlay.opaque").unwrap(),
        None
    );
    assert_eq!(
        xattr::get(diff.join("etc/motd"), "trusted.overlay.redirect").unwrap(),
        None
    );
    assert_eq!(
        xattr::get(diff.join("etc/motd"), "user.kept").unwrap(),
        Some(b"yes".to_vec())
    );
    // A container sees both layers' /etc.
    ok(
        &mut raw,
        "CreateContainer",
        json!({"create": {"image": "xattrs", "name": "x", "command": ["cat", "/etc/passwd", "/etc/motd"]}}),
    );
    ok(&mut raw, "StartContainer", json!({"name": "x"}));
    let code = ok(&mut raw, "WaitContainer", json!({"name": "x"}))["exitcode"].clone();
    let logs = ok(&mut raw, "GetContainerLogs", json!({"name": "x"}))["container"].to_string();
    assert_eq!(code, 0, "{logs}");
    assert!(
        logs.contains("root:x:0:0") && logs.contains("hello"),
        "{logs}"
    );
    ok(
        &mut raw,
        "RemoveContainer",
        json!({"name": "x", "force": true}),
    );
    assert_nothing_left(&daemon);
}

/// An http server on 127.0.0.1 that reads each request and then stalls: on `/nothing` it
/// sends nothing, on `/body` headers and a few bytes of a body it never finishes.
struct StallingServer {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StallingServer {
    fn start() -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_secs(5)))
                            .unwrap();
                        let mut request = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => request.extend_from_slice(&buf[..n]),
                            }
                        }
                        if String::from_utf8_lossy(&request).contains("/body") {
                            let _ = stream.write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n\x1f\x8b",
                            );
                        }
                        held.push(stream);
                    }
                    // Not synchronisation: the server's accept loop polls its stop flag;
                    // no test waits on this.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        StallingServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for StallingServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_stalled_http_source_times_out() {
    if !privileged("a_stalled_http_source_times_out") {
        return;
    }
    let server = StallingServer::start();
    let daemon = TestDaemon::start_with(DaemonOptions {
        args: ["--http-read-timeout", "1"].map(String::from).to_vec(),
        ..Default::default()
    });
    let mut raw = daemon.raw();
    let untouched = Untouched::snapshot(&daemon, &[]);
    for path in ["nothing", "body"] {
        let url = format!("http://127.0.0.1:{}/{path}", server.port);
        let start = Instant::now();
        let reason = refused(&mut raw, &url);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(10), "{url}: took {took:?}");
        assert!(
            reason.contains(&url) && reason.contains("--http-read-timeout"),
            "{url}: {reason}"
        );
        untouched.check(&mut raw, &url);
    }
}

/// A listening socket on 127.0.0.1 whose accept queue is full: one more connection is
/// neither accepted nor refused (the kernel drops its SYNs), so connecting to it hangs.
/// Returns the listener (never accepting), the connections filling its queue, and its port.
fn full_listener() -> (std::net::TcpListener, Vec<std::net::TcpStream>, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    // std listens with a backlog of 128: the queue holds that many and one more.
    for _ in 0..1000 {
        match std::net::TcpStream::connect_timeout(&address, Duration::from_millis(300)) {
            Ok(stream) => fillers.push(stream),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return (listener, fillers, address.port());
            }
            Err(e) => panic!("connect to the full listener: {e}"),
        }
    }
    panic!("the kernel accepted every connection: cannot make a connect hang here");
}

#[test]
fn a_source_that_never_answers_the_connection_times_out() {
    if !privileged("a_source_that_never_answers_the_connection_times_out") {
        return;
    }
    let (_listener, _fillers, port) = full_listener();
    let daemon = TestDaemon::start_with(DaemonOptions {
        args: ["--http-connect-timeout", "1"].map(String::from).to_vec(),
        ..Default::default()
    });
    let mut raw = daemon.raw();
    let untouched = Untouched::snapshot(&daemon, &[]);
    let url = format!("http://127.0.0.1:{port}/rootfs.tar");
    let start = Instant::now();
    let reason = refused(&mut raw, &url);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        reason.contains(&url) && reason.contains("--http-connect-timeout"),
        "{reason}"
    );
    untouched.check(&mut raw, &url);
}

/// A container in a user namespace keeps its directories traversable (its mapped root must
/// reach its root filesystem), so a host user can reach its mounted root filesystem. A
/// world-writable device node shipped in the image must not open from there: the overlay
/// is mounted `nodev`, as containers/storage's usual `mountopt` has it.
#[test]
fn device_nodes_in_a_mounted_root_filesystem_do_not_open_from_the_host() {
    if !privileged("device_nodes_in_a_mounted_root_filesystem_do_not_open_from_the_host") {
        return;
    }
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let rootfs = std::fs::read(&fixtures().rootfs).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Char);
    h.set_mode(0o666);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    h.set_size(0);
    b.append_data(&mut h, "opennull", &[][..]).unwrap();
    let devices = b.into_inner().unwrap();
    let (a, d) = (
        format!("sha256:{}", sha(&rootfs)),
        format!("sha256:{}", sha(&devices)),
    );
    let archive = daemon_dir(&daemon).join("devices.tar");
    docker_archive(
        &archive,
        &config(&[&a, &d]),
        &[("rootfs.tar", &rootfs), ("devices.tar", &devices)],
        &["rootfs.tar", "devices.tar"],
    );
    ok(
        &mut raw,
        "ImportImage",
        json!({"source": format!("docker-archive:{}", archive.display()), "reference": "devices"}),
    );
    let id = ok(
        &mut raw,
        "CreateContainer",
        json!({"create": {"image": "devices", "name": "mapped", "command": ["sleep", "60"],
            "uidmap": ["0:100000:65536"]}}),
    )["container"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&mut raw, "StartContainer", json!({"name": "mapped"}));
    let merged = daemon.root.join("containers").join(&id).join("merged");
    let node = merged.join("opennull").display().to_string();
    assert!(
        as_nobody(&["test", "-c", &node]),
        "the host user does not reach {node}: the test shows nothing"
    );
    assert!(
        !as_nobody(&["sh", "-c", "echo x > \"$1\"", "sh", &node]),
        "a host user opened a device node in a container's root filesystem"
    );
    ok(
        &mut raw,
        "StopContainer",
        json!({"name": "mapped", "timeout": 0}),
    );
    ok(&mut raw, "RemoveContainer", json!({"name": "mapped"}));
    assert_nothing_left(&daemon);
}
