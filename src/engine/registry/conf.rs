//! registries.conf, in both of its formats: v1 (`[registries.search] registries = [...]`,
//! `[registries.insecure]`, `[registries.block]`) and v2 (`unqualified-search-registries`,
//! `[[registry]]` tables with `location`/`prefix`, `insecure` and `blocked`). Podman 1.x read
//! either; so does podlink, and a file may mix them.

use std::path::Path;

use serde::Deserialize;

/// What podlink uses of registries.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistriesConf {
    /// Registries a short name is looked up in, in order.
    pub search: Vec<String>,
    /// Registries reached over plain HTTP or unverified TLS.
    pub insecure: Vec<String>,
    /// Registries never contacted.
    pub blocked: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct File {
    registries: V1,
    #[serde(rename = "unqualified-search-registries")]
    unqualified_search_registries: Vec<String>,
    registry: Vec<V2>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct V1 {
    search: List,
    insecure: List,
    block: List,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct List {
    registries: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct V2 {
    location: String,
    prefix: String,
    insecure: bool,
    blocked: bool,
}

impl RegistriesConf {
    /// Reads `path`; an absent file is an empty configuration. A file that does not parse
    /// is an `InvalidData` error with the parser's message.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Parses the text of a registries.conf.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        let file: File = toml::from_str(text)?;
        let mut conf = RegistriesConf {
            search: file.registries.search.registries,
            insecure: file.registries.insecure.registries,
            blocked: file.registries.block.registries,
        };
        conf.search.extend(file.unqualified_search_registries);
        for r in file.registry {
            let location = if r.location.is_empty() {
                r.prefix
            } else {
                r.location
            };
            if r.insecure {
                conf.insecure.push(location.clone());
            }
            if r.blocked {
                conf.blocked.push(location);
            }
        }
        Ok(conf)
    }

    /// Whether `host` is listed as insecure.
    pub fn is_insecure(&self, host: &str) -> bool {
        self.insecure.iter().any(|r| matches(r, host))
    }

    /// Whether `host` is blocked.
    pub fn is_blocked(&self, host: &str) -> bool {
        self.blocked.iter().any(|r| matches(r, host))
    }
}

/// Whether a registries.conf entry (`host[:port]`, possibly with a path after it, or
/// `*.domain`) names `host`.
fn matches(entry: &str, host: &str) -> bool {
    let entry = entry.split('/').next().unwrap_or_default();
    if let Some(domain) = entry.strip_prefix("*.") {
        return host
            .split(':')
            .next()
            .is_some_and(|h| h.ends_with(&format!(".{domain}")));
    }
    entry == host
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_mixed() {
        let conf = RegistriesConf::parse(
            "unqualified-search-registries = ['quay.io']\n\
             [registries.search]\nregistries = ['docker.io']\n\
             [registries.insecure]\nregistries = ['localhost:5000']\n\
             [registries.block]\nregistries = ['evil.example']\n\
             [[registry]]\nlocation = '127.0.0.1:6000'\ninsecure = true\n\
             [[registry]]\nprefix = '*.blocked.example'\nblocked = true\n",
        )
        .unwrap();
        assert_eq!(conf.search, ["docker.io", "quay.io"]);
        assert!(conf.is_insecure("localhost:5000"));
        assert!(conf.is_insecure("127.0.0.1:6000"));
        assert!(!conf.is_insecure("127.0.0.1:6001"));
        assert!(conf.is_blocked("evil.example"));
        assert!(conf.is_blocked("a.blocked.example"));
        assert!(!conf.is_blocked("blocked.example.org"));
    }

    #[test]
    fn absent_is_empty_and_garbage_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            RegistriesConf::read(&dir.path().join("none")).unwrap(),
            RegistriesConf::default()
        );
        std::fs::write(dir.path().join("bad"), "[registries\n").unwrap();
        let e = RegistriesConf::read(&dir.path().join("bad")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    }
}
