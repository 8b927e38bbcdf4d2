//! Build benchmark (`cargo bench --bench build`, as root). Not a test: it prints figures.
//!
//! The same three-instruction Dockerfile (FROM a busybox image, RUN writing a file, COPY of a
//! 10 MB context file) built by podlink's BuildImage and by `podman build --no-cache`
//! (Podman 4.3, overlay storage, runc as podlink uses) in one run, each on a fresh change of the Dockerfile so
//! neither reuses an earlier result; the ratio of the medians. Then podlink's cached rebuild
//! of unchanged inputs.

use std::process::{Command, Stdio};
use std::time::Instant;

use common::{median, ms, run};
use podlink::varlink::client::{BuildInfo, VarlinkClientInterface};

#[path = "common/mod.rs"]
mod common;

const ROUNDS: usize = 5;

fn main() {
    if common::skip_unless_root("build", "mounts, runc") {
        return;
    }
    let dir = common::temp_dir("plbb");
    let tarball = common::busybox_tarball(dir.path(), &["sh", "echo", "cat"]);
    let context = dir.path().join("context");
    std::fs::create_dir_all(&context).expect("mkdir");
    let big: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(context.join("big"), big).expect("write");
    let dockerfile = context.join("Dockerfile");
    let write_dockerfile = |round: usize| {
        std::fs::write(
            &dockerfile,
            format!("FROM localhost/bench\nRUN echo round {round} > /f\nCOPY big /big\n"),
        )
        .expect("write Dockerfile")
    };

    let daemon = common::Daemon::start(dir.path(), &["--runtime", "runc"]);
    let mut client = daemon.client();
    common::import(&mut client, &tarball, "localhost/bench");
    let info = || BuildInfo {
        dockerfile: vec![dockerfile.display().to_string()],
        tags: vec!["localhost/built".into()],
        rm: true,
        ..Default::default()
    };
    let mut podlink = Vec::new();
    for round in 0..ROUNDS {
        write_dockerfile(round);
        let start = Instant::now();
        client.build_image(info()).call().expect("build");
        podlink.push(start.elapsed());
    }
    let start = Instant::now();
    client.build_image(info()).call().expect("cached build");
    let cached = start.elapsed();

    let podman_root = dir.path().join("podman");
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(podman_root.join("root"))
            .arg("--runroot")
            .arg(podman_root.join("run"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none"])
            .args(args)
            .stdin(Stdio::null());
        c
    };
    run(&mut podman(&[
        "import",
        &tarball.display().to_string(),
        "localhost/bench",
    ]));
    let mut theirs = Vec::new();
    for round in 0..ROUNDS {
        write_dockerfile(round + ROUNDS);
        let start = Instant::now();
        run(&mut podman(&[
            "build",
            "--no-cache",
            "-q",
            // As podlink's RUN containers: crun needs podlink's workaround on this host.
            "--runtime",
            "runc",
            "-t",
            "localhost/built",
            &context.display().to_string(),
        ]));
        theirs.push(start.elapsed());
    }
    let _ = podman(&["system", "reset", "-f"]).output();
    let ours = median(&mut podlink);
    let podman_median = median(&mut theirs);
    println!(
        "build (FROM, RUN, COPY 10 MB): podlink {:.1} ms, podman build {:.1} ms: {:.2}x (target <= 0.5x)",
        ms(ours),
        ms(podman_median),
        ours.as_secs_f64() / podman_median.as_secs_f64()
    );
    println!("cached rebuild: {:.1} ms (target <= 50 ms)", ms(cached));
}
