//! The build context: which paths a source names (paths and globs), kept under the root
//! with symlinks resolved; `.dockerignore`; `--chown`.

use std::path::{Path, PathBuf};

use super::state::absolute;
use crate::engine::container::create::read_image_file;
use crate::engine::error::{Error, Result};

/// The context paths `src` names (a path or a glob), each resolved and checked to stay
/// under `root`: (path relative to the root, resolved path).
pub(super) fn resolve(
    root: &Path,
    src: &str,
    ignore: &[String],
) -> std::result::Result<Vec<(String, PathBuf)>, String> {
    let rel = absolute("/", src);
    let rel = rel.trim_start_matches('/').to_string();
    if src.split('/').any(|c| c == "..") && !escapes_ok(src) {
        return Err(format!("{src:?} is outside the build context"));
    }
    let candidates: Vec<String> = if rel.contains(['*', '?', '[']) {
        let mut all = Vec::new();
        walk(root, root, &mut all);
        all.into_iter().filter(|p| glob(&rel, p)).collect()
    } else {
        vec![rel]
    };
    let real_root = root
        .canonicalize()
        .map_err(|e| format!("{}: {e}", root.display()))?;
    let mut out = Vec::new();
    for c in candidates {
        if !c.is_empty() && ignored(&c, ignore) {
            continue;
        }
        let path = root.join(&c);
        let real = match path.canonicalize() {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "{src:?}: no such file or directory in the build context"
                ));
            }
            Err(e) => return Err(format!("{src:?}: {e}")),
        };
        if !real.starts_with(&real_root) {
            return Err(format!("{src:?} is outside the build context"));
        }
        out.push((c, real));
    }
    Ok(out)
}

/// Whether a path with `..` still stays inside (`a/../b`).
pub(super) fn escapes_ok(src: &str) -> bool {
    let mut depth: i32 = 0;
    for c in src.split('/') {
        match c {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().to_string());
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(root, &path, out);
        }
    }
}

/// Whether `path` matches `pattern` (`*` and `?` within a component, `**` across).
pub(super) fn glob(pattern: &str, path: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) if p.get(1) == Some(&b'*') => {
                let rest = p[2..].strip_prefix(b"/").unwrap_or(&p[2..]);
                (0..=s.len()).any(|i| m(rest, &s[i..]))
            }
            (Some(b'*'), _) => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| m(&p[1..], &s[i..])),
            (Some(b'?'), Some(c)) if *c != b'/' => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pattern.trim_end_matches('/').as_bytes(), path.as_bytes())
}

/// `.dockerignore`'s patterns, `!` exceptions kept in order.
pub(super) fn read_dockerignore(context: &Path) -> Result<Vec<String>> {
    let path = context.join(".dockerignore");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (neg, p) = l.strip_prefix('!').map_or((false, l), |p| (true, p));
                let p = absolute("/", p).trim_start_matches('/').to_string();
                if neg { format!("!{p}") } else { p }
            })
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Whether `.dockerignore` leaves `rel` out: the last matching pattern decides; a path
/// under an ignored directory is ignored.
pub(super) fn ignored(rel: &str, patterns: &[String]) -> bool {
    let mut out = false;
    for p in patterns {
        let (neg, p) = p
            .strip_prefix('!')
            .map_or((false, p.as_str()), |p| (true, p));
        let hit = glob(p, rel)
            || rel
                .char_indices()
                .filter(|(_, c)| *c == '/')
                .any(|(i, _)| glob(p, &rel[..i]));
        if hit {
            out = !neg;
        }
    }
    out
}

/// `--chown=USER[:GROUP]`: numbers, or names looked up in the stage's `/etc/passwd` and
/// `/etc/group` (`layers`: its layers' directories, topmost first). A user alone gives its
/// primary group too (a number alone, the same number), as Docker does.
pub(super) fn chown(value: &str, layers: &[PathBuf]) -> std::result::Result<(u64, u64), String> {
    let (user, group) = match value.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (value, None),
    };
    let passwd = read_image_file(layers, "etc/passwd");
    let (uid, primary) = match user.parse::<u64>() {
        Ok(n) => (n, n),
        Err(_) => entry(&passwd, user)
            .and_then(|f| Some((f.first()?.parse().ok()?, f.get(1)?.parse().ok()?)))
            .ok_or_else(|| format!("--chown={value}: no user {user:?} in the image"))?,
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u64>() {
            Ok(n) => n,
            Err(_) => entry(&read_image_file(layers, "etc/group"), g)
                .and_then(|f| f.first()?.parse().ok())
                .ok_or_else(|| format!("--chown={value}: no group {g:?} in the image"))?,
        },
    };
    Ok((uid, gid))
}

/// The fields after the name and password of `name`'s line in a passwd or group file.
fn entry(text: &str, name: &str) -> Option<Vec<String>> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&name)).then(|| fields[2..].iter().map(|f| f.to_string()).collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_dockerignore() {
        assert!(glob("*.txt", "a.txt"));
        assert!(!glob("*.txt", "dir/a.txt"));
        assert!(glob("**/*.txt", "dir/sub/a.txt"));
        assert!(glob("dir/?.txt", "dir/a.txt"));
        let patterns = vec!["secret*".to_string(), "logs".into(), "!logs/keep".into()];
        assert!(ignored("secret.key", &patterns));
        assert!(ignored("logs/x", &patterns));
        assert!(!ignored("logs/keep", &patterns));
        assert!(!ignored("src/secret.key", &patterns));
    }

    #[test]
    fn paths_stay_inside() {
        assert!(escapes_ok("a/../b"));
        assert!(!escapes_ok("a/../../b"));
        assert!(!escapes_ok("../x"));
    }

    #[test]
    fn chown_by_number_and_name() {
        let dir = std::env::temp_dir().join(format!("podlink-chown-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("etc/passwd"), "app:x:1001:1002::/:/bin/sh\n").unwrap();
        std::fs::write(dir.join("etc/group"), "staff:x:50:\n").unwrap();
        let layers = vec![dir.clone()];
        assert_eq!(chown("5", &layers).unwrap(), (5, 5));
        assert_eq!(chown("5:6", &layers).unwrap(), (5, 6));
        assert_eq!(chown("app", &layers).unwrap(), (1001, 1002));
        assert_eq!(chown("app:staff", &layers).unwrap(), (1001, 50));
        assert!(chown("nobody", &layers).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
