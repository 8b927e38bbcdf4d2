//! Manifests from a registry: fetched with a size limit and the right `Accept`, checked
//! against the digest asked for, parsed with `oci-spec`'s image types, and, for a manifest
//! list or image index, narrowed to the host's platform.
//!
//! Docker schema 2 and OCI manifests share one shape (`oci-spec`'s `ImageManifest` reads
//! both), as do Docker manifest lists and OCI indexes (`ImageIndex`). Docker schema 1 is
//! refused: it has no config blob and no DiffIDs, and registries have converted it on the
//! fly for years.

use std::io::Read;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::client::{Client, Scope, header};
use super::error::{Kind, Result};
use crate::engine::id::digest::Digest;

/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// The most bytes a manifest may have (as containers/image allows).
pub const MANIFEST_LIMIT: u64 = 4 * 1024 * 1024;

/// A manifest as the registry sent it.
#[derive(Debug, Clone)]
pub struct RawManifest {
    /// The bytes, exactly as sent (their digest is the manifest's digest).
    pub bytes: Vec<u8>,
    /// Its media type.
    pub media_type: String,
    /// `sha256` of the bytes.
    pub digest: Digest,
}

/// Which manifest to fetch.
#[derive(Debug, Clone, Copy)]
pub enum ManifestRef<'a> {
    /// By tag: whatever the tag names now.
    Tag(&'a str),
    /// By digest: only bytes with this digest are accepted.
    Digest(&'a Digest),
}

/// A parsed manifest.
#[derive(Debug)]
pub enum Manifest {
    /// One image (boxed, as the index is: both are large).
    Image(Box<ImageManifest>),
    /// A manifest list or image index.
    Index(Box<ImageIndex>),
}

impl Client {
    /// `GET /v2/REPO/manifests/REFERENCE`: by tag, or by `digest`, which the bytes received
    /// must have.
    pub fn manifest(&self, repo: &str, reference: ManifestRef<'_>) -> Result<RawManifest> {
        let (reference, expected) = match reference {
            ManifestRef::Tag(tag) => (tag.to_string(), None),
            ManifestRef::Digest(digest) => (digest.to_string(), Some(digest)),
        };
        let reference = reference.as_str();
        let step = format!("fetch manifest {repo}:{reference}");
        let step = step.replace(":sha256:", "@sha256:");
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let accept = [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX].join(", ");
        let response = self.send(&step, &Scope::pull(repo), &url, |auth| {
            let mut request = self.small(self.agent().get(&url)).header("Accept", &accept);
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        })?;
        if !response.status().is_success() {
            let e = self.status_error(&step, response);
            return Err(if e.kind == Kind::NotFound {
                e
            } else {
                e.kind(Kind::Other)
            });
        }
        let content_type = header(&response, "content-type");
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        if let Some(length) = header(&response, "content-length").parse::<u64>().ok()
            && length > MANIFEST_LIMIT
        {
            return Err(self.error(
                &step,
                format!("the manifest is {length} bytes, more than the limit of {MANIFEST_LIMIT}"),
            ));
        }
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(MANIFEST_LIMIT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.error(&step, format!("reading the manifest: {e}")))?;
        if bytes.len() as u64 > MANIFEST_LIMIT {
            return Err(self.error(
                &step,
                format!("the manifest is more than the limit of {MANIFEST_LIMIT} bytes"),
            ));
        }
        let digest = Digest::of(&bytes);
        if expected.is_some_and(|e| *e != digest) {
            return Err(self.error(
                &step,
                format!("the registry sent a manifest whose digest is {digest}"),
            ));
        }
        Ok(RawManifest {
            bytes,
            media_type,
            digest,
        })
    }
}

impl RawManifest {
    /// Parses the manifest. Its media type (the `Content-Type` it came with) must be one
    /// podlink asked for and agree with the `mediaType` inside, where there is one.
    pub fn parse(&self, client: &Client, step: &str) -> Result<Manifest> {
        let bad = |why: String| client.error(step, why);
        if SCHEMA1.contains(&self.media_type.as_str()) {
            return Err(bad(format!(
                "the manifest is Docker schema 1 ({}), which podlink does not support: push \
                 the image again with a current client",
                self.media_type
            )));
        }
        let value: serde_json::Value = serde_json::from_slice(&self.bytes)
            .map_err(|e| bad(format!("the manifest is not JSON: {e}")))?;
        if value["schemaVersion"] == 1 {
            return Err(bad(
                "the manifest is Docker schema 1, which podlink does not support".into(),
            ));
        }
        let inner = value["mediaType"].as_str().unwrap_or_default();
        let known = [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX];
        if !known.contains(&self.media_type.as_str()) {
            return Err(bad(format!(
                "the manifest came as Content-Type {:?}, which is not a manifest type podlink \
                 asked for",
                self.media_type
            )));
        }
        if !inner.is_empty() && inner != self.media_type {
            return Err(bad(format!(
                "the manifest came as {:?} but says it is {inner:?}",
                self.media_type
            )));
        }
        if self.media_type == DOCKER_LIST || self.media_type == OCI_INDEX {
            serde_json::from_value(value)
                .map(|i| Manifest::Index(Box::new(i)))
                .map_err(|e| bad(format!("the manifest list does not parse: {e}")))
        } else {
            serde_json::from_value(value)
                .map(|m| Manifest::Image(Box::new(m)))
                .map_err(|e| bad(format!("the manifest does not parse: {e}")))
        }
    }
}

/// The host's platform as image indexes name it (Go's names): (os, architecture, variant).
pub fn host_platform() -> (&'static str, &'static str, Option<&'static str>) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    };
    let variant = match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    };
    ("linux", arch, variant)
}

/// The entry of `index` for the platform `(os, arch, variant)`: an exact variant match if
/// there is one, else an entry without a variant, else any entry of that os/arch.
pub fn choose<'a>(
    index: &'a ImageIndex,
    (os, arch, variant): (&str, &str, Option<&str>),
) -> std::result::Result<&'a Descriptor, String> {
    let platform_of = |d: &Descriptor| {
        d.platform().as_ref().map(|p| {
            (
                p.os().to_string(),
                p.architecture().to_string(),
                p.variant().clone(),
            )
        })
    };
    let candidates: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| platform_of(d).is_some_and(|(o, a, _)| o == os && a == arch))
        .collect();
    let exact = candidates
        .iter()
        .find(|d| variant.is_some() && platform_of(d).and_then(|p| p.2).as_deref() == variant);
    let plain = candidates
        .iter()
        .find(|d| platform_of(d).is_some_and(|p| p.2.is_none()));
    if let Some(found) = exact.or(plain).or(candidates.first()) {
        return Ok(found);
    }
    let offered: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|d| {
            platform_of(d).map(|(o, a, v)| match v {
                Some(v) => format!("{o}/{a}/{v}"),
                None => format!("{o}/{a}"),
            })
        })
        .collect();
    Err(format!(
        "the manifest list has no image for {os}/{arch} (it has {})",
        if offered.is_empty() {
            "no platforms".to_string()
        } else {
            offered.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(&str, &str, Option<&str>)]) -> ImageIndex {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant))| {
                let mut platform = serde_json::json!({"os": os, "architecture": arch});
                if let Some(v) = variant {
                    platform["variant"] = (*v).into();
                }
                serde_json::json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": format!("sha256:{:064x}", i),
                    "size": 1,
                    "platform": platform,
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({"schemaVersion": 2, "manifests": manifests}))
            .unwrap()
    }

    #[test]
    fn platform_choice() {
        let list = index(&[
            ("linux", "arm64", Some("v8")),
            ("linux", "amd64", None),
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
        ]);
        let digest = |d: &Descriptor| d.digest().to_string();
        assert!(digest(choose(&list, ("linux", "amd64", None)).unwrap()).ends_with('1'));
        assert!(digest(choose(&list, ("linux", "arm", Some("v7"))).unwrap()).ends_with('3'));
        assert!(digest(choose(&list, ("linux", "arm64", Some("v8"))).unwrap()).ends_with('0'));
        let e = choose(&list, ("linux", "s390x", None)).unwrap_err();
        assert!(
            e.contains("linux/s390x") && e.contains("linux/arm/v7"),
            "{e}"
        );
    }

    #[test]
    fn host_is_named_as_go_names_it() {
        let (os, arch, _) = host_platform();
        assert_eq!(os, "linux");
        assert!(!arch.contains('_'), "{arch}");
    }
}
