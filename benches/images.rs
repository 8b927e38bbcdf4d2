//! Image benchmarks (`cargo bench --bench images`, as root). Not tests: they print figures.
//!
//! 1. Import of a ~100 MB root filesystem tarball through `ImportImage`, against `tar -x` of
//!    the same file into an empty directory in the same run (the floor: extraction alone,
//!    with ownership and modes kept). Both read the tarball from the page cache.
//! 2. `ListImages` latency with 200 images in the store.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use podlink::varlink::client::VarlinkClientInterface;

#[path = "common/mod.rs"]
mod common;

const RUNS: usize = 3;

fn main() {
    if common::skip_unless_root("images", "device nodes, ownership") {
        return;
    }
    let dir = common::temp_dir("plb");
    let tarball = dir.path().join("rootfs.tar");
    let size = make_tarball(&tarball);
    println!(
        "rootfs tarball: {:.1} MB, {} files",
        size.0 as f64 / 1e6,
        size.1
    );

    let daemon = common::Daemon::start(dir.path(), &[]);
    let mut client = daemon.client();

    // Warm the page cache for both.
    std::fs::read(&tarball).expect("read tarball");
    let mut floor = Vec::new();
    let mut ours = Vec::new();
    for run in 0..RUNS {
        let target = dir.path().join(format!("x{run}"));
        std::fs::create_dir(&target).expect("mkdir");
        let start = Instant::now();
        let status = Command::new("tar")
            .arg("--numeric-owner")
            .arg("-xpf")
            .arg(&tarball)
            .arg("-C")
            .arg(&target)
            .status()
            .expect("run tar");
        assert!(status.success());
        floor.push(start.elapsed());

        let start = Instant::now();
        let id = common::import(&mut client, &tarball, &format!("bench{run}"));
        ours.push(start.elapsed());
        // Remove it again so the next run extracts instead of finding the layer stored.
        client.remove_image(id, true).call().expect("remove");
        let _ = std::fs::remove_dir_all(&target);
    }
    let best = |v: &[Duration]| v.iter().min().copied().unwrap_or_default();
    let (floor, ours) = (best(&floor), best(&ours));
    println!(
        "import {:.1} MB: podlink {:>7.1} ms   tar -x {:>7.1} ms   podlink/tar {:.2}   (best of {RUNS})",
        size.0 as f64 / 1e6,
        ours.as_secs_f64() * 1e3,
        floor.as_secs_f64() * 1e3,
        ours.as_secs_f64() / floor.as_secs_f64()
    );

    // ListImages with 200 images.
    let tiny = dir.path().join("tiny.tar");
    {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "hello", &b"hi\n"[..]).expect("tar");
        std::fs::write(&tiny, b.into_inner().expect("tar")).expect("write");
    }
    for n in 0..200 {
        client
            .import_image(
                tiny.display().to_string(),
                format!("img{n}"),
                String::new(),
                vec![format!("LABEL n={n}")],
            )
            .call()
            .expect("import tiny");
    }
    let mut times = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        let images = client.list_images().call().expect("list").images;
        times.push(start.elapsed());
        assert_eq!(images.len(), 200);
    }
    times.sort();
    println!(
        "ListImages with 200 images: median {:.2} ms   p99 {:.2} ms",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() * 99 / 100].as_secs_f64() * 1e3
    );
}

/// A tarball of about 100 MB shaped like a root filesystem: many small files, some large.
/// Returns (bytes, files).
fn make_tarball(path: &Path) -> (u64, usize) {
    let file = std::fs::File::create(path).expect("create tarball");
    let mut b = tar::Builder::new(std::io::BufWriter::new(file));
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut total = 0u64;
    let mut files = 0;
    let mut data = vec![0u8; 8 << 20];
    for chunk in data.chunks_mut(8) {
        chunk.copy_from_slice(&next().to_le_bytes()[..chunk.len()]);
    }
    let mut dir_n = 0;
    while total < 100_000_000 {
        if files % 50 == 0 {
            dir_n += 1;
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, format!("usr/lib/d{dir_n}/"), &[][..])
                .expect("dir");
        }
        // Mostly small files (config, scripts, small libraries), a few large ones.
        let size = match next() % 100 {
            0..=69 => (next() % 8_192) as usize,
            70..=97 => (next() % 131_072) as usize,
            _ => (next() % (4 << 20)) as usize,
        };
        let offset = (next() as usize) % (data.len() - size);
        let mut h = tar::Header::new_gnu();
        h.set_size(size as u64);
        h.set_mode(if files % 7 == 0 { 0o755 } else { 0o644 });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        b.append_data(
            &mut h,
            format!("usr/lib/d{dir_n}/f{files}"),
            &data[offset..offset + size],
        )
        .expect("file");
        total += size as u64;
        files += 1;
    }
    let mut out = b.into_inner().expect("finish tarball");
    out.flush().expect("flush");
    (std::fs::metadata(path).expect("stat").len(), files)
}
