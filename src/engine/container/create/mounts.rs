//! Volumes, tmpfs mounts, image volumes and devices: the client's strings parsed into
//! mounts with clean, absolute destinations.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::options::{CreateOptions, invalid};
use super::resources::parse_size;
use crate::engine::container::config::DeviceMapping;
use crate::engine::error::Result;
use crate::engine::runtime::spec::input::{MountSource, MountSpec};
use crate::engine::volume::valid_volume_name;

pub(super) fn parse_device(spec: &str) -> Result<Vec<DeviceMapping>> {
    let parts: Vec<&str> = spec.split(':').collect();
    let valid_mode =
        |m: &str| !m.is_empty() && m.chars().all(|c| "rwm".contains(c)) && m.len() <= 3;
    let (host, container, permissions) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, m] if valid_mode(m) => (*h, *h, *m),
        [h, c] => (*h, *c, "rwm"),
        [h, c, m] if valid_mode(m) => (*h, *c, *m),
        _ => {
            return Err(invalid(
                "create.devices",
                format!("{spec:?}: use /dev/host[:/dev/ctr][:rwm]"),
            ));
        }
    };
    if !host.starts_with('/') || !container.starts_with('/') {
        return Err(invalid(
            "create.devices",
            format!("{spec:?}: paths must be absolute"),
        ));
    }
    let resolved = std::fs::canonicalize(host)
        .map_err(|e| invalid("create.devices", format!("{host}: {e}")))?;
    let meta = std::fs::metadata(&resolved)
        .map_err(|e| invalid("create.devices", format!("{host}: {e}")))?;
    if meta.is_dir() {
        if parts.len() == 3 {
            return Err(invalid(
                "create.devices",
                format!("{spec:?}: a directory takes no destination and mode"),
            ));
        }
        let found: Vec<DeviceMapping> =
            crate::engine::runtime::spec::devices::device_nodes(&resolved, &[])
                .into_iter()
                .map(|path| {
                    let relative = path.strip_prefix(&resolved).unwrap_or(&path);
                    DeviceMapping {
                        host: path.display().to_string(),
                        container: Path::new(container).join(relative).display().to_string(),
                        permissions: permissions.to_string(),
                    }
                })
                .collect();
        if found.is_empty() {
            return Err(invalid(
                "create.devices",
                format!("no devices under {host}"),
            ));
        }
        return Ok(found);
    }
    if !(meta.file_type().is_char_device() || meta.file_type().is_block_device()) {
        return Err(invalid("create.devices", format!("{host} is not a device")));
    }
    Ok(vec![DeviceMapping {
        host: resolved.display().to_string(),
        container: container.to_string(),
        permissions: permissions.to_string(),
    }])
}

/// Volumes, tmpfs mounts and image volumes; one mount per destination.
pub(super) fn mounts(image: &Value, o: &CreateOptions) -> Result<Vec<MountSpec>> {
    let mut mounts: Vec<MountSpec> = Vec::new();
    for volume in &o.volumes {
        mounts.push(parse_volume(volume)?);
    }
    for tmpfs in &o.tmpfs {
        mounts.push(parse_tmpfs(tmpfs)?);
    }
    let mut seen = std::collections::HashSet::new();
    for m in &mounts {
        if !seen.insert(m.destination.clone()) {
            return Err(invalid(
                "create.volumes",
                format!("{} is mounted twice", m.destination),
            ));
        }
    }
    // Image volumes, unless a mount of the client's covers them.
    let mut image_volumes: Vec<String> = image["Volumes"]
        .as_object()
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default();
    image_volumes.extend(o.builtin_imgvolumes.iter().cloned());
    image_volumes.sort();
    image_volumes.dedup();
    let kind = match o.image_volume_type.as_str() {
        "" | "bind" => Some(MountSource::ImageVolume),
        "tmpfs" => Some(MountSource::Tmpfs),
        "ignore" => None,
        other => {
            return Err(invalid(
                "create.image_volume_type",
                format!("{other:?}: use bind, tmpfs or ignore"),
            ));
        }
    };
    if let Some(kind) = kind {
        for destination in image_volumes {
            let destination = clean_destination("create.builtin_imgvolumes", &destination)?;
            if seen.insert(destination.clone()) {
                let mut options = vec!["rprivate".into(), "rw".into(), "nodev".into()];
                if kind == MountSource::ImageVolume {
                    options.insert(0, "rbind".into());
                }
                mounts.push(MountSpec {
                    destination,
                    source: kind.clone(),
                    options,
                });
            }
        }
    }
    Ok(mounts)
}

pub(super) fn clean_destination(field: &'static str, path: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(invalid(
            field,
            format!("{path:?}: destinations must be absolute"),
        ));
    }
    let mut clean = PathBuf::from("/");
    for part in Path::new(path).components() {
        match part {
            std::path::Component::Normal(p) => clean.push(p),
            std::path::Component::ParentDir => {
                return Err(invalid(field, format!("{path:?}: .. is not allowed")));
            }
            _ => {}
        }
    }
    Ok(clean.display().to_string())
}
/// `src:dst[:options]` or `/path`. A source that starts with `/` is a host path, which must
/// exist; anything else names a volume.
fn parse_volume(spec: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, options) = match parts.as_slice() {
        [one] => (*one, *one, ""),
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(invalid(
                "create.volumes",
                format!("{spec:?}: use SRC:DST[:OPTIONS]"),
            ));
        }
    };
    let destination = clean_destination("create.volumes", destination)?;
    let source = if source.starts_with('/') {
        // It must exist now: a missing source fails the create, not a later start.
        std::fs::metadata(source)
            .map_err(|e| invalid("create.volumes", format!("source {source}: {e}")))?;
        MountSource::Bind {
            source: source.to_string(),
        }
    } else if source.starts_with('.') {
        return Err(invalid(
            "create.volumes",
            format!("{spec:?}: a host path must be absolute on the server"),
        ));
    } else if valid_volume_name(source) {
        MountSource::Volume {
            name: source.to_string(),
        }
    } else {
        return Err(invalid(
            "create.volumes",
            format!("{source:?} is not a volume name"),
        ));
    };
    let mut opts: Vec<String> = Vec::new();
    let has = |group: &[&str], opts: &[String]| opts.iter().any(|o| group.contains(&o.as_str()));
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        let groups: [&[&str]; 6] = [
            &["rw", "ro"],
            &["z", "Z"],
            &[
                "shared", "rshared", "slave", "rslave", "private", "rprivate",
            ],
            &["exec", "noexec"],
            &["suid", "nosuid"],
            &["dev", "nodev"],
        ];
        let group = groups
            .iter()
            .find(|g| g.contains(&opt))
            .copied()
            .or(if opt == "bind" || opt == "rbind" {
                Some(&["bind", "rbind"][..])
            } else {
                None
            })
            .ok_or_else(|| {
                invalid(
                    "create.volumes",
                    format!("{spec:?}: unknown option {opt:?}"),
                )
            })?;
        if has(group, &opts) {
            return Err(invalid(
                "create.volumes",
                format!("{spec:?}: {opt:?} conflicts with another option"),
            ));
        }
        // z and Z relabel for SELinux, which is not enabled here: nothing to do.
        if group[0] != "z" {
            opts.push(opt.to_string());
        }
    }
    if !has(&["bind", "rbind"], &opts) {
        opts.push("rbind".into());
    }
    if !has(&["rw", "ro"], &opts) {
        opts.push("rw".into());
    }
    if !has(
        &[
            "shared", "rshared", "slave", "rslave", "private", "rprivate",
        ],
        &opts,
    ) {
        opts.push("rprivate".into());
    }
    Ok(MountSpec {
        destination,
        source,
        options: opts,
    })
}

/// `/dst[:options]`: a tmpfs; rw, noexec, nosuid and nodev unless the options say otherwise.
fn parse_tmpfs(spec: &str) -> Result<MountSpec> {
    let (destination, options) = spec.split_once(':').unwrap_or((spec, ""));
    let destination = clean_destination("create.tmpfs", destination)?;
    let mut opts: Vec<String> = Vec::new();
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        let (key, value) = opt.split_once('=').unwrap_or((opt, ""));
        let ok = match key {
            "rw" | "ro" | "exec" | "noexec" | "suid" | "nosuid" | "dev" | "nodev" | "shared"
            | "rshared" | "slave" | "rslave" | "private" | "rprivate" | "strictatime"
            | "nostrictatime" | "atime" | "noatime" | "relatime" | "norelatime" | "diratime"
            | "nodiratime" | "sync" | "async" => value.is_empty(),
            "size" => parse_size(value).is_some() || value.ends_with('%'),
            "mode" => u32::from_str_radix(value, 8).is_ok(),
            "uid" | "gid" | "nr_inodes" | "nr_blocks" => value.parse::<u64>().is_ok(),
            _ => false,
        };
        if !ok {
            return Err(invalid(
                "create.tmpfs",
                format!("{spec:?}: bad option {opt:?}"),
            ));
        }
        let opt = match key {
            // The kernel takes size in bytes or with k/m/g suffixes; normalize to bytes.
            "size" if !value.ends_with('%') => {
                format!("size={}", parse_size(value).unwrap_or_default())
            }
            _ => opt.to_string(),
        };
        opts.push(opt);
    }
    for (default, opposite) in [
        ("rw", "ro"),
        ("noexec", "exec"),
        ("nosuid", "suid"),
        ("nodev", "dev"),
    ] {
        if !opts.iter().any(|o| o == default || o == opposite) {
            opts.push(default.into());
        }
    }
    Ok(MountSpec {
        destination,
        source: MountSource::Tmpfs,
        options: opts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_parse_like_podman() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().display().to_string();
        let m = parse_volume(&format!("{src}:/data:ro,Z")).unwrap();
        assert_eq!(m.destination, "/data");
        assert_eq!(
            m.source,
            MountSource::Bind {
                source: src.clone()
            }
        );
        assert_eq!(m.options, ["ro", "rbind", "rprivate"]);
        let m = parse_volume("cache:/var/cache//x/").unwrap();
        assert_eq!(m.destination, "/var/cache/x");
        assert_eq!(
            m.source,
            MountSource::Volume {
                name: "cache".into()
            }
        );
        assert_eq!(m.options, ["rbind", "rw", "rprivate"]);
        let m = parse_volume(&format!("{src}:/d:shared,noexec")).unwrap();
        assert_eq!(m.options, ["shared", "noexec", "rbind", "rw"]);
        for bad in [
            "/no/such/dir/here:/d".to_string(),
            format!("{src}:relative"),
            format!("{src}:/d:ro,rw"),
            format!("{src}:/d:bogus"),
            "./rel:/d".into(),
            "bad name:/d".into(),
            format!("{src}:/d/../x"),
        ] {
            assert!(parse_volume(&bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn tmpfs_defaults_and_options() {
        let m = parse_tmpfs("/run").unwrap();
        assert_eq!(m.options, ["rw", "noexec", "nosuid", "nodev"]);
        let m = parse_tmpfs("/cache:exec,size=1m,mode=1777").unwrap();
        assert_eq!(
            m.options,
            ["exec", "size=1048576", "mode=1777", "rw", "nosuid", "nodev"]
        );
        assert!(parse_tmpfs("/x:size=lots").is_err());
        assert!(parse_tmpfs("rel").is_err());
        assert!(parse_tmpfs("/x:bogus").is_err());
    }

    #[test]
    fn devices_parse_and_must_exist() {
        let d = parse_device("/dev/null").unwrap();
        assert_eq!(
            d,
            [DeviceMapping {
                host: "/dev/null".into(),
                container: "/dev/null".into(),
                permissions: "rwm".into()
            }]
        );
        let d = parse_device("/dev/zero:/dev/nothing:r").unwrap();
        assert_eq!(
            (d[0].container.as_str(), d[0].permissions.as_str()),
            ("/dev/nothing", "r")
        );
        let d = parse_device("/dev/zero:rw").unwrap();
        assert_eq!(
            (d[0].container.as_str(), d[0].permissions.as_str()),
            ("/dev/zero", "rw")
        );
        assert!(parse_device("/etc/passwd").is_err());
        assert!(parse_device("/dev/no-such-device").is_err());
        assert!(parse_device("/dev/null:/x:rwx").is_err());
    }
}
