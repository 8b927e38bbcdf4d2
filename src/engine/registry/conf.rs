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
    /// v2 `[[registry]]` tables whose `location` differs from their `prefix`: (prefix,
    /// location). A pulled name under the prefix is fetched from the location instead (a
    /// mirror or a local copy of a public registry).
    pub rewrites: Vec<(String, String)>,
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
            rewrites: Vec::new(),
        };
        conf.search.extend(file.unqualified_search_registries);
        for r in file.registry {
            if !r.prefix.is_empty() && !r.location.is_empty() && r.prefix != r.location {
                conf.rewrites.push((r.prefix.clone(), r.location.clone()));
            }
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

    /// Where `repository` (`host/path`) is fetched from: the location of the longest prefix
    /// that covers it (on a path boundary), with the rest of the name kept; else itself.
    pub fn rewrite(&self, repository: &str) -> String {
        let covers = |prefix: &str| {
            repository == prefix
                || repository
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        match self
            .rewrites
            .iter()
            .filter(|(prefix, _)| covers(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
        {
            Some((prefix, location)) => format!("{location}{}", &repository[prefix.len()..]),
            None => repository.to_string(),
        }
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
    fn prefixes_rewrite_to_their_location() {
        let conf = RegistriesConf::parse(
            "[[registry]]
prefix = 'registry.example.org'
location = '127.0.0.1:5000'
             [[registry]]
prefix = 'registry.example.org/team'
location = 'mirror:1/t'
             [[registry]]
location = 'same.example'
",
        )
        .unwrap();
        assert_eq!(
            conf.rewrite("registry.example.org/fedora"),
            "127.0.0.1:5000/fedora"
        );
        assert_eq!(
            conf.rewrite("registry.example.org/team/app"),
            "mirror:1/t/app"
        );
        assert_eq!(
            conf.rewrite("registry.example.orgx/fedora"),
            "registry.example.orgx/fedora"
        );
        assert_eq!(conf.rewrite("same.example/x"), "same.example/x");
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
