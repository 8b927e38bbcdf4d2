//! Image names: parsing, validation and normalization.
//!
//! Names are stored fully qualified (`registry/repository:tag`). A short name (no registry)
//! is stored under `localhost/`, and `docker.io/NAME` as `docker.io/library/NAME`, as Podman
//! does. The tag defaults to `latest` unless a digest is given.

use std::fmt;

/// The default tag.
pub const DEFAULT_TAG: &str = "latest";
/// Where short names are stored.
pub const LOCAL_DOMAIN: &str = "localhost";
const DOCKER_DOMAIN: &str = "docker.io";

/// A name that cannot be an image name; the message quotes it and says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReferenceError(String);

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry, or `None` for a short name.
    pub domain: Option<String>,
    /// The repository path under the registry.
    pub path: String,
    /// The tag, if one was given.
    pub tag: Option<String>,
    /// The digest (`sha256:<hex>`), if one was given.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `name`, refusing what cannot be an image name.
    pub fn parse(name: &str) -> Result<Self, ReferenceError> {
        let invalid = |why: &str| ReferenceError(format!("invalid image name {name:?}: {why}"));
        if name.is_empty() {
            return Err(invalid("empty"));
        }
        let (rest, digest) = match name.split_once('@') {
            Some((rest, digest)) => {
                let hex = digest
                    .strip_prefix("sha256:")
                    .ok_or_else(|| invalid("only sha256 digests are supported"))?;
                if !is_hex64(hex) {
                    return Err(invalid("malformed digest"));
                }
                (rest, Some(digest.to_string()))
            }
            None => (name, None),
        };
        // A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repo, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(invalid("malformed tag"));
        }
        let (domain, path) = match repo.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == LOCAL_DOMAIN =>
            {
                (Some(first.to_string()), path.to_string())
            }
            _ => (None, repo.to_string()),
        };
        if path.is_empty() || !path.split('/').all(valid_path_component) {
            return Err(invalid(
                "repository names are lowercase letters, digits and . _ -",
            ));
        }
        if let Some(domain) = &domain
            && !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:_[]".contains(c))
        {
            return Err(invalid("malformed registry"));
        }
        Ok(Reference {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Whether the name had no registry.
    pub fn is_short(&self) -> bool {
        self.domain.is_none()
    }

    /// The fully qualified repository (`localhost/x`, `docker.io/library/x`).
    pub fn repository(&self) -> String {
        let domain = self.domain.as_deref().unwrap_or(LOCAL_DOMAIN);
        if domain == DOCKER_DOMAIN && !self.path.contains('/') {
            format!("{domain}/library/{}", self.path)
        } else {
            format!("{domain}/{}", self.path)
        }
    }

    /// The tag to use: the given one, or `latest` when neither tag nor digest was given.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => Some(tag),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG),
        }
    }

    /// The fully qualified name as stored: `repository:tag` (or `repository@digest`).
    pub fn normalized(&self) -> String {
        match (self.effective_tag(), &self.digest) {
            (Some(tag), _) => format!("{}:{tag}", self.repository()),
            (None, Some(digest)) => format!("{}@{digest}", self.repository()),
            (None, None) => self.repository(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized())
    }
}

/// Splits a stored `repository:tag` name into its parts.
pub fn split_name(name: &str) -> (&str, &str) {
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], &name[last_slash + i + 1..]),
        None => (name, ""),
    }
}

/// Whether `s` is 64 lowercase hex digits (a full ID): the storage's own check of digests.
pub use crate::engine::id::digest::is_hex64;

/// Whether `s` is non-empty lowercase hex.
pub fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn valid_path_component(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && part.as_bytes()[0].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(name: &str) -> String {
        Reference::parse(name).unwrap().normalized()
    }

    #[test]
    fn short_names_go_to_localhost_and_docker_io_gets_library() {
        assert_eq!(norm("busybox"), "localhost/busybox:latest");
        assert_eq!(norm("busybox:1.35"), "localhost/busybox:1.35");
        assert_eq!(
            norm("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("docker.io/me/app:v2"), "docker.io/me/app:v2");
        assert_eq!(norm("quay.io/a/b/c:x"), "quay.io/a/b/c:x");
        assert_eq!(norm("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(norm("127.0.0.1:5000/app:1"), "127.0.0.1:5000/app:1");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            norm(&format!("busybox@{d}")),
            format!("localhost/busybox@{d}")
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in [
            "",
            "UPPER",
            "a//b",
            "a:bad tag",
            "x@md5:00",
            "-lead",
            "a/:t",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn split_stored_names() {
        assert_eq!(
            split_name("localhost:5000/app:1"),
            ("localhost:5000/app", "1")
        );
        assert_eq!(split_name("localhost/app"), ("localhost/app", ""));
    }
}
