//! Signature policy files (`policy.json`, containers-policy.json(5)): whether an image from
//! a registry may be pulled.
//!
//! The requirements for a `docker` reference are those of its most specific scope in
//! `transports.docker` (the full reference, then the repository, then each enclosing
//! namespace, then the registry, then `*.domain` wildcards), else the transport's `""` entry,
//! else `default`. All must be satisfied. podlink satisfies `insecureAcceptAnything` and
//! never `reject`; it cannot verify signatures, so a requirement of one (`signedBy`,
//! `sigstoreSigned`, ...) is an error that names it: it is never silently accepted.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Policy {
    #[serde(default)]
    default: Option<Vec<Requirement>>,
    #[serde(default)]
    transports: HashMap<String, HashMap<String, Vec<Requirement>>>,
}

#[derive(Debug, Deserialize)]
struct Requirement {
    #[serde(rename = "type")]
    kind: String,
}

/// Whether `policy` is a policy file podlink can read.
pub fn validate(policy: &Path) -> Result<(), String> {
    read(policy).map(drop)
}

fn read(policy: &Path) -> Result<Policy, String> {
    let text =
        std::fs::read(policy).map_err(|e| format!("signature policy {}: {e}", policy.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("signature policy {}: {e}", policy.display()))
}

/// Whether `policy` lets `reference` (`host/repo:tag` or `host/repo@digest`, in repository
/// `host/repo`) in; the error says why not, naming the file.
pub fn check(policy: &Path, reference: &str, repository: &str) -> Result<(), String> {
    let text =
        std::fs::read(policy).map_err(|e| format!("signature policy {}: {e}", policy.display()))?;
    let parsed: Policy = serde_json::from_slice(&text)
        .map_err(|e| format!("signature policy {}: {e}", policy.display()))?;
    let (scope, requirements) = requirements(&parsed, reference, repository).ok_or_else(|| {
        format!(
            "signature policy {} has no default and nothing for {reference}",
            policy.display()
        )
    })?;
    if requirements.is_empty() {
        return Err(format!(
            "signature policy {} lists no requirement for {scope} (an empty list is invalid)",
            policy.display()
        ));
    }
    for requirement in requirements {
        match requirement.kind.as_str() {
            "insecureAcceptAnything" => {}
            "reject" => {
                return Err(format!(
                    "{reference} is rejected by signature policy {} ({scope})",
                    policy.display()
                ));
            }
            other => {
                return Err(format!(
                    "signature policy {} requires {other:?} for {reference} ({scope}), which \
                     podlink cannot verify",
                    policy.display()
                ));
            }
        }
    }
    Ok(())
}

/// The requirements that apply, and the scope they came from.
fn requirements<'a>(
    policy: &'a Policy,
    reference: &str,
    repository: &str,
) -> Option<(String, &'a [Requirement])> {
    if let Some(docker) = policy.transports.get("docker") {
        let mut scopes = vec![reference.to_string()];
        let mut namespace = repository;
        loop {
            scopes.push(namespace.to_string());
            match namespace.rfind('/') {
                Some(i) => namespace = &namespace[..i],
                None => break,
            }
        }
        let host = repository.split('/').next().unwrap_or_default();
        let host_name = host.split(':').next().unwrap_or_default();
        let mut labels = host_name;
        while let Some(i) = labels.find('.') {
            labels = &labels[i + 1..];
            scopes.push(format!("*.{labels}"));
        }
        scopes.push(String::new());
        for scope in scopes {
            if let Some(found) = docker.get(&scope) {
                let name = if scope.is_empty() {
                    "the docker transport's default".to_string()
                } else {
                    format!("scope {scope:?}")
                };
                return Some((name, found));
            }
        }
    }
    policy
        .default
        .as_deref()
        .map(|d| ("the default".to_string(), d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(text: &str, reference: &str) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.json");
        std::fs::write(&path, text).unwrap();
        // "host:port/repo:tag": the repository is everything before the last tag or digest.
        let repo = match reference.rfind('@') {
            Some(i) => &reference[..i],
            None => match reference.rfind(':') {
                Some(i) if !reference[i..].contains('/') => &reference[..i],
                _ => reference,
            },
        };
        check(&path, reference, repo)
    }

    #[test]
    fn accept_reject_and_unsupported() {
        let accept = r#"{"default":[{"type":"insecureAcceptAnything"}]}"#;
        assert!(check_text(accept, "127.0.0.1:5000/a/b:latest").is_ok());
        let reject = r#"{"default":[{"type":"reject"}]}"#;
        let e = check_text(reject, "127.0.0.1:5000/a/b:latest").unwrap_err();
        assert!(e.contains("rejected"), "{e}");
        let signed = r#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k"}]}"#;
        let e = check_text(signed, "127.0.0.1:5000/a/b:latest").unwrap_err();
        assert!(e.contains("signedBy") && e.contains("cannot verify"), "{e}");
        let empty = r#"{"default":[]}"#;
        assert!(check_text(empty, "h/a:b").is_err());
    }

    #[test]
    fn most_specific_scope_wins() {
        let policy = r#"{
            "default": [{"type": "reject"}],
            "transports": {"docker": {
                "127.0.0.1:5000": [{"type": "insecureAcceptAnything"}],
                "127.0.0.1:5000/secret": [{"type": "reject"}],
                "127.0.0.1:5000/secret/ok:1": [{"type": "insecureAcceptAnything"}],
                "*.example.com": [{"type": "insecureAcceptAnything"}]
            }}
        }"#;
        assert!(check_text(policy, "127.0.0.1:5000/busybox:latest").is_ok());
        assert!(check_text(policy, "127.0.0.1:5000/secret/x:1").is_err());
        assert!(check_text(policy, "127.0.0.1:5000/secret/ok:1").is_ok());
        assert!(check_text(policy, "reg.example.com/a:1").is_ok());
        assert!(check_text(policy, "quay.io/a:1").is_err());
        assert!(
            check_text("{", "h/a:1")
                .unwrap_err()
                .contains("policy.json")
        );
    }
}
