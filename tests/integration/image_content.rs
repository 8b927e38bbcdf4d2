//! Images (issue 3): what an import writes: malicious tarballs write nothing outside the
//! store, whiteouts become overlay whiteouts and come back on export, ownership, modes,
//! xattrs, devices and times are kept. Needs root (device nodes, ownership, trusted xattrs).

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use serde_json::json;

use crate::fixtures::{fixtures, write_file};
use crate::images::{dir_entries, import, inspect, list_ids, sha256_hex};
use crate::util::{TestDaemon, ok, privileged};

/// Builds a tarball from raw entries, bypassing the tar crate's own path checks.
fn raw_tar(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn malicious_tarballs_write_nothing_outside() {
    if !privileged("malicious_tarballs_write_nothing_outside") {
        return;
    }
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    let work = tempfile::tempdir().unwrap();
    let outside = work.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let secret = write_file(&outside, "secret", b"do not touch\n");
    let outside_s = outside.display().to_string();
    let secret_s = secret.display().to_string();
    use tar::EntryType as T;
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "dotdot",
            raw_tar(&[(
                "../../../../../../../../escape-dotdot",
                T::Regular,
                "",
                b"x",
            )]),
            false,
        ),
        (
            "dotdot-inside",
            raw_tar(&[("a/../../escape", T::Regular, "", b"x")]),
            false,
        ),
        (
            "symlink-then-write",
            raw_tar(&[
                ("link", T::Symlink, &outside_s, b""),
                ("link/pwned", T::Regular, "", b"x"),
            ]),
            false,
        ),
        (
            "symlinked-parent-dir",
            raw_tar(&[
                ("d", T::Symlink, &outside_s, b""),
                ("d/sub/pwned", T::Regular, "", b"x"),
            ]),
            false,
        ),
        (
            "hardlink-dotdot",
            raw_tar(&[(
                "hl",
                T::Link,
                "../../../../../../../../../../etc/passwd",
                b"",
            )]),
            false,
        ),
        (
            "hardlink-absolute",
            raw_tar(&[("hl", T::Link, &secret_s, b"")]),
            false,
        ),
        (
            "hardlink-through-symlink",
            raw_tar(&[
                ("s", T::Symlink, &outside_s, b""),
                ("hl", T::Link, "s/secret", b""),
            ]),
            false,
        ),
        // Absolute paths are taken inside the layer: neutralized, not refused.
        (
            "absolute",
            raw_tar(&[(&format!("{outside_s}/abs-pwned"), T::Regular, "", b"x")]),
            true,
        ),
    ];
    for (name, tarball, accepted) in cases {
        let path = write_file(work.path(), &format!("{name}.tar"), &tarball);
        let reply = raw.call(
            "io.podman.ImportImage",
            json!({"source": path.display().to_string(), "reference": name}),
        );
        if accepted {
            assert!(reply.get("error").is_none(), "{name}: {reply}");
        } else {
            assert_eq!(
                reply["error"], "io.podman.ErrorOccurred",
                "{name} was not refused: {reply}"
            );
        }
        assert_eq!(dir_entries(&outside), ["secret"], "{name} wrote outside");
        assert_eq!(std::fs::read(&secret).unwrap(), b"do not touch\n");
        assert_eq!(
            std::fs::metadata(&secret).unwrap().nlink(),
            1,
            "{name} linked the secret"
        );
        assert!(
            dir_entries(&daemon.root.join("tmp")).is_empty(),
            "{name} left staging behind"
        );
    }
    for escaped in ["escape-dotdot", "escape"] {
        assert!(!Path::new("/").join(escaped).exists());
        assert!(
            !daemon.root.join(escaped).exists()
                && !daemon.root.join("layers").join(escaped).exists()
        );
    }
    // The absolute path landed inside its layer.
    let data = inspect(&mut raw, "absolute");
    let layer = data["RootFS"]["Layers"][0].as_str().unwrap()[7..].to_string();
    let inside = daemon
        .root
        .join("layers")
        .join(layer)
        .join("diff")
        .join(outside.strip_prefix("/").unwrap())
        .join("abs-pwned");
    assert!(inside.is_file(), "{}", inside.display());
    assert_eq!(list_ids(&mut raw).len(), 1);
}

#[test]
fn whiteouts_become_overlay_whiteouts_and_come_back_on_export() {
    if !privileged("whiteouts_become_overlay_whiteouts_and_come_back_on_export") {
        return;
    }
    let f = fixtures();
    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    import(
        &mut raw,
        &format!("docker-archive:{}", f.docker_archive.display()),
        "",
    );
    let top = daemon
        .root
        .join("layers")
        .join(&f.layered_diff_ids[1][7..])
        .join("diff");
    let whiteout = std::fs::symlink_metadata(top.join("removed")).unwrap();
    assert!(
        whiteout.file_type().is_char_device(),
        "removed is not a whiteout device"
    );
    assert_eq!(whiteout.rdev(), 0);
    assert!(!top.join(".wh.removed").exists());
    assert_eq!(
        xattr::get(top.join("opaque"), "trusted.overlay.opaque").unwrap(),
        Some(b"y".to_vec())
    );
    assert!(!top.join("opaque/.wh..wh..opq").exists());
    assert!(top.join("opaque/new").is_file());

    // Exported, the layer has its OCI whiteouts again, byte for byte.
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("x.tar");
    ok(
        &mut raw,
        "ExportImage",
        json!({"name": f.layered_id, "destination": archive.display().to_string()}),
    );
    let mut outer = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    let mut found = None;
    for entry in outer.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == format!("{}.tar", &f.layered_diff_ids[1][7..])
        {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            found = Some(bytes);
        }
    }
    let layer = found.expect("top layer in the export");
    assert_eq!(
        format!("sha256:{}", sha256_hex(&layer)),
        f.layered_diff_ids[1]
    );
    let names: Vec<String> = tar::Archive::new(&layer[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&".wh.removed".to_string()), "{names:?}");
    assert!(
        names.contains(&"opaque/.wh..wh..opq".to_string()),
        "{names:?}"
    );
}

#[test]
fn ownership_modes_xattrs_devices_and_times_are_kept() {
    if !privileged("ownership_modes_xattrs_devices_and_times_are_kept") {
        return;
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_uid(1234);
    h.set_gid(5678);
    h.set_mtime(1_600_000_000);
    h.set_size(0);
    b.append_data(&mut h, "owned/", &[][..]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o4755);
    h.set_uid(1234);
    h.set_gid(5678);
    h.set_mtime(1_500_000_000);
    h.set_size(4);
    b.append_pax_extensions([("SCHILY.xattr.user.origin", &b"fixture"[..])])
        .unwrap();
    b.append_data(&mut h, "owned/setuid", &b"#!x\n"[..])
        .unwrap();
    for (name, kind, major, minor) in [
        ("dev/null", tar::EntryType::Char, 1, 3),
        ("dev/loop9", tar::EntryType::Block, 7, 9),
        ("dev/fifo", tar::EntryType::Fifo, 0, 0),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(0o660);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_size(0);
        h.set_mtime(1_600_000_000);
        b.append_data(&mut h, name, &[][..]).unwrap();
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_uid(42);
    h.set_gid(43);
    h.set_size(0);
    b.append_link(&mut h, "owned/link", "setuid").unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    b.append_link(&mut h, "owned/hard", "owned/setuid").unwrap();
    let work = tempfile::tempdir().unwrap();
    let tarball = write_file(work.path(), "meta.tar", &b.into_inner().unwrap());

    let daemon = TestDaemon::start();
    let mut raw = daemon.raw();
    import(&mut raw, &tarball.display().to_string(), "meta");
    let layer = inspect(&mut raw, "meta")["RootFS"]["Layers"][0]
        .as_str()
        .unwrap()[7..]
        .to_string();
    let diff = daemon.root.join("layers").join(layer).join("diff");
    let dir = std::fs::metadata(diff.join("owned")).unwrap();
    assert_eq!(
        (dir.uid(), dir.gid(), dir.mode() & 0o7777),
        (1234, 5678, 0o750)
    );
    assert_eq!(
        dir.mtime(),
        1_600_000_000,
        "directory times are set after its entries"
    );
    let file = std::fs::metadata(diff.join("owned/setuid")).unwrap();
    assert_eq!(
        (file.uid(), file.gid(), file.mode() & 0o7777),
        (1234, 5678, 0o4755)
    );
    assert_eq!(file.mtime(), 1_500_000_000);
    assert_eq!(file.nlink(), 2, "hard link kept");
    assert_eq!(
        xattr::get(diff.join("owned/setuid"), "user.origin").unwrap(),
        Some(b"fixture".to_vec())
    );
    let null = std::fs::metadata(diff.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(null.permissions().mode() & 0o777, 0o660);
    let block = std::fs::metadata(diff.join("dev/loop9")).unwrap();
    assert!(block.file_type().is_block_device());
    assert_eq!(block.rdev(), nix::sys::stat::makedev(7, 9));
    assert!(
        std::fs::metadata(diff.join("dev/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let link = std::fs::symlink_metadata(diff.join("owned/link")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!((link.uid(), link.gid()), (42, 43));
}
