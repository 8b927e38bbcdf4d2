//! Credentials and authentication challenges.
//!
//! Credentials come from the call (`creds`, `user:password`), else from the first auth file
//! that has an entry for the registry, in the order Podman 1.x looked: the caller's
//! `authfile`, `${XDG_RUNTIME_DIR}/containers/auth.json`, `/run/containers/0/auth.json`,
//! `~/.docker/config.json` (the daemon computes the list at start-up, see
//! [`super::RegistrySettings::auth_files`]).
//!
//! A registry says how to authenticate in the `WWW-Authenticate` header of a 401: `Basic`
//! (the credentials go on every request) or `Bearer` (a token is fetched from the realm for
//! the repository's scope, with the credentials if there are any, and sent on every request).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A user name and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Never print a password, not even in a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, <password>)", self.user)
    }
}

impl Credentials {
    /// `user:password` as the `creds` parameter gives it; `None` for an empty string, an
    /// error for one without a `:`.
    pub fn parse(creds: &str) -> Result<Option<Self>, String> {
        if creds.is_empty() {
            return Ok(None);
        }
        let (user, password) = creds
            .split_once(':')
            .ok_or_else(|| "credentials must be given as user:password".to_string())?;
        Ok(Some(Credentials {
            user: user.to_string(),
            password: password.to_string(),
        }))
    }

    /// The value of a Basic `Authorization` header.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            base64_encode(format!("{}:{}", self.user, self.password).as_bytes())
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuthFile {
    auths: HashMap<String, AuthEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuthEntry {
    auth: String,
}

/// The credentials for `host` in the first of `files` that has an entry for it. A file
/// that is absent is skipped; one that cannot be read or parsed is an error naming it.
pub fn lookup(files: &[PathBuf], host: &str) -> Result<Option<Credentials>, String> {
    for file in files {
        let text = match std::fs::read(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("read {}: {e}", file.display())),
        };
        let parsed: AuthFile =
            serde_json::from_slice(&text).map_err(|e| format!("parse {}: {e}", file.display()))?;
        // The key that is exactly the registry first, then the others that name it (a
        // file written by both `podman login` and `docker login` may hold both) in a fixed
        // order: never whichever the map yields first.
        let mut keys: Vec<&String> = parsed
            .auths
            .iter()
            .filter(|(key, entry)| key_host(key) == host && !entry.auth.is_empty())
            .map(|(key, _)| key)
            .collect();
        keys.sort_by_key(|key| (key.as_str() != host, key.as_str()));
        if let Some(key) = keys.first() {
            return decode_entry(file, &parsed.auths[*key].auth).map(Some);
        }
    }
    Ok(None)
}

fn decode_entry(file: &Path, auth: &str) -> Result<Credentials, String> {
    let bad = |why: &str| format!("{}: the entry's auth {why}", file.display());
    let decoded = base64_decode(auth).ok_or_else(|| bad("is not base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad("is not UTF-8"))?;
    Credentials::parse(&decoded)
        .map_err(|_| bad("is not user:password"))?
        .ok_or_else(|| bad("is empty"))
}

/// The registry an auth file key names: keys may be `host`, `https://host` or
/// `https://host/v1/` (docker's own form for Docker Hub).
fn key_host(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or_default();
    // Docker Hub's credentials are stored under its index's name.
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        h => h,
    }
}

/// How a registry asks to be authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP basic authentication.
    Basic,
    /// A bearer token from `realm`, for `service`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The service name to ask the token for.
        service: Option<String>,
    },
}

/// The challenge of a `WWW-Authenticate` header, if it is one podlink can answer.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let params = parse_params(rest);
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
        })
    } else {
        None
    }
}

/// `key="value", key=value` pairs; quoted values may hold commas and escaped quotes.
fn parse_params(text: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| *c != ',') {
                value.push(c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    params
}

/// The token of a token endpoint's answer (`token`, or OAuth's `access_token`).
pub fn token_of(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        token: String,
        #[serde(default)]
        access_token: String,
    }
    let answer: Answer = serde_json::from_slice(body).ok()?;
    [answer.token, answer.access_token]
        .into_iter()
        .find(|t| !t.is_empty())
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Base64 by hand: two short functions beat another dependency for the few bytes of a
// credential (ureq's own base64 is private).
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in ["", "a", "ab", "abc", "user:pa ss:word", "ünïcode"] {
            let e = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&e).unwrap(), s.as_bytes(), "{e}");
        }
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
        assert!(base64_decode("not*base64").is_none());
    }

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="reg,istry",scope="repository:a:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg,istry".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn auth_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.json");
        let second = dir.path().join("second.json");
        std::fs::write(
            &second,
            r#"{"auths":{"https://127.0.0.1:5000/v1/":{"auth":"dXNlcjpwYXNz"},"other":{"auth":"eDp5"}}}"#,
        )
        .unwrap();
        let files = [dir.path().join("absent.json"), first.clone(), second];
        std::fs::write(&first, r#"{"auths":{"other":{"auth":"YTpi"}}}"#).unwrap();
        let found = lookup(&files, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(
            (found.user.as_str(), found.password.as_str()),
            ("user", "pass")
        );
        assert_eq!(lookup(&files, "other").unwrap().unwrap().user, "a");
        assert_eq!(lookup(&files, "nowhere").unwrap(), None);
        // Both forms of one registry: the exact key wins.
        let both = dir.path().join("both.json");
        std::fs::write(
            &both,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YTpi"},"docker.io":{"auth":"dXNlcjpwYXNz"}}}"#,
        )
        .unwrap();
        assert_eq!(lookup(&[both], "docker.io").unwrap().unwrap().user, "user");
        std::fs::write(&first, "{").unwrap();
        assert!(lookup(&files, "x").unwrap_err().contains("first.json"));
    }

    #[test]
    fn creds_parameter() {
        assert_eq!(Credentials::parse("").unwrap(), None);
        assert!(Credentials::parse("nocolon").is_err());
        let c = Credentials::parse("u:p:q").unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("u", "p:q"));
        assert!(!format!("{c:?}").contains("p:q"));
    }
}
