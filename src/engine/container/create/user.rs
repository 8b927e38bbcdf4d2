//! Users and groups, looked up in the image's /etc/passwd and /etc/group (in its layers,
//! topmost first).

use std::path::PathBuf;

use super::options::invalid;
use crate::engine::error::Result;

/// Resolves uid[:gid] or user and group names against the image's /etc/passwd and
/// /etc/group (found in its layers, topmost first). Returns uid, gid and the user's
/// supplementary groups.
pub fn resolve_user(user: &str, layers_top_first: &[PathBuf]) -> Result<(u32, u32, Vec<u32>)> {
    if user.is_empty() {
        return Ok((0, 0, Vec::new()));
    }
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_image_file(layers_top_first, "etc/passwd");
    let group = read_image_file(layers_top_first, "etc/group");
    let (uid, mut gid, name) = match user_part.parse::<u32>() {
        Ok(uid) => {
            let entry = passwd_lookup(&passwd, |fields| fields[2] == user_part);
            (uid, entry.as_ref().map_or(uid, |e| e.1), entry.map(|e| e.2))
        }
        Err(_) => {
            let (uid, gid, name) = passwd_lookup(&passwd, |fields| fields[0] == user_part)
                .ok_or_else(|| {
                    invalid(
                        "create.user",
                        format!("no user {user_part:?} in the image's /etc/passwd"),
                    )
                })?;
            (uid, gid, Some(name))
        }
    };
    if let Some(g) = group_part {
        gid = resolve_group("create.user", g, layers_top_first)?;
    }
    let additional = match name {
        Some(name) => group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .collect(),
        None => Vec::new(),
    };
    Ok((uid, gid, additional))
}

/// A group number, or a group name looked up in the image's /etc/group; an error names
/// `field`, the option the group came in.
pub(super) fn resolve_group(
    field: &'static str,
    group: &str,
    layers_top_first: &[PathBuf],
) -> Result<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    read_image_file(layers_top_first, "etc/group")
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[0] == group)
        .and_then(|f| f[2].parse().ok())
        .ok_or_else(|| {
            invalid(
                field,
                format!("no group {group:?} in the image's /etc/group"),
            )
        })
}

fn passwd_lookup(passwd: &str, matches: impl Fn(&[&str]) -> bool) -> Option<(u32, u32, String)> {
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .find(|f| matches(f))
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?, f[0].to_string())))
}

/// A file of the image (`path` relative to its root, such as `etc/passwd`): from the topmost
/// layer that has it as a regular file under real directories. Nothing a layer holds is
/// followed: a symlinked `etc` (say to the host's `/etc`) hides the file, as would a
/// whiteout, a regular file or a device in its place.
pub fn read_image_file(layers_top_first: &[PathBuf], path: &str) -> String {
    'layers: for layer in layers_top_first {
        let mut at = layer.clone();
        let mut parts = path.split('/').filter(|p| !p.is_empty()).peekable();
        while let Some(part) = parts.next() {
            at.push(part);
            let last = parts.peek().is_none();
            match std::fs::symlink_metadata(&at) {
                Ok(m) if last && m.is_file() => {
                    return std::fs::read_to_string(&at).unwrap_or_default();
                }
                Ok(m) if !last && m.is_dir() => {}
                // Anything else in the way hides lower layers' copies.
                Ok(_) => return String::new(),
                Err(_) => continue 'layers,
            }
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_against_the_image() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
        )
        .unwrap();
        let layers = vec![dir.path().to_path_buf()];
        assert_eq!(
            resolve_user("app", &layers).unwrap(),
            (1000, 1000, vec![2000])
        );
        assert_eq!(
            resolve_user("1000:extra", &layers).unwrap(),
            (1000, 2000, vec![2000])
        );
        assert_eq!(resolve_user("4242", &layers).unwrap(), (4242, 4242, vec![]));
        assert_eq!(resolve_user("4242:7", &layers).unwrap(), (4242, 7, vec![]));
        assert!(resolve_user("nobody-here", &layers).is_err());
        assert!(resolve_user("app:nogroup", &layers).is_err());
        assert_eq!(
            resolve_group("create.user", "extra", &layers).unwrap(),
            2000
        );
        assert!(resolve_group("create.user", "missing", &layers).is_err());
    }

    #[test]
    fn a_symlinked_etc_is_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("passwd"), "host:x:7:7::/:/bin/sh\n").unwrap();
        let top = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), top.path().join("etc")).unwrap();
        let lower = tempfile::tempdir().unwrap();
        std::fs::create_dir(lower.path().join("etc")).unwrap();
        std::fs::write(
            lower.path().join("etc/passwd"),
            "app:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        let layers = [top.path().to_path_buf(), lower.path().to_path_buf()];
        // The top layer's symlink hides the lower layer's etc, and is never followed.
        assert_eq!(read_image_file(&layers, "etc/passwd"), "");
        // Without it, the lower layer's file is read; a missing parent passes to the next.
        assert!(read_image_file(&layers[1..], "etc/passwd").starts_with("app:"));
        let empty = tempfile::tempdir().unwrap();
        let layers = [empty.path().to_path_buf(), lower.path().to_path_buf()];
        assert!(read_image_file(&layers, "etc/passwd").starts_with("app:"));
    }
}
