//! The in-memory index of the stored images, and name resolution over it: a full ID (with
//! or without `sha256:`), a name, a short name, `repository@digest`, or a unique ID prefix.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::document::string_map;
use super::reference::{Reference, is_hex, split_name};
use crate::engine::error::Error;
use crate::engine::id::image::ImageId;
use crate::engine::storage::images::ImageRecord;

/// One stored image, as kept in memory.
#[derive(Debug)]
pub struct Image {
    /// Its record.
    pub record: ImageRecord,
    /// Its config, parsed.
    pub config: Value,
}

impl Image {
    /// `sha256:<id>`.
    pub fn digest_id(&self) -> String {
        format!("sha256:{}", self.record.id)
    }

    /// When the image was created (RFC 3339), from its config.
    pub(super) fn created(&self) -> String {
        self.config["created"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub(super) fn labels(&self) -> HashMap<String, String> {
        string_map(&self.config["config"]["Labels"])
    }

    /// `repository@digest` for every repository the image is named in.
    pub(super) fn repo_digests(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for name in &self.record.names {
            let repo = split_name(name).0.split('@').next().unwrap_or_default();
            let entry = format!("{repo}@{}", self.record.digest);
            if !seen.contains(&entry) {
                seen.push(entry);
            }
        }
        seen
    }
}

/// Every image by ID.
#[derive(Debug, Default)]
pub(super) struct Index {
    pub(super) by_id: BTreeMap<String, Arc<Image>>,
    /// Highest names stamp in use.
    pub(super) stamp: u64,
}

impl Index {
    pub(super) fn all(&self) -> impl Iterator<Item = &Arc<Image>> {
        self.by_id.values()
    }

    pub(super) fn holder_of(&self, name: &str) -> Option<&Arc<Image>> {
        self.all()
            .find(|i| i.record.names.iter().any(|n| n == name))
    }
}

/// The outcome of resolving a name.
pub(super) enum Found {
    /// The image, and whether the name was an ID (full or prefix) rather than a name.
    Image(Arc<Image>, bool),
    /// Why nothing (or nothing unique) matched.
    Missing(String),
}

/// `ImageNotFound` for `name`.
pub(super) fn not_found(name: &str, reason: String) -> Error {
    Error::ImageNotFound {
        name: name.to_string(),
        reason,
    }
}

/// Whether stored `name` answers to the short `short` (`alpine` ~ `docker.io/library/alpine:latest`).
pub(super) fn name_matches_short(stored: &str, short: &str) -> bool {
    let Ok(reference) = Reference::parse(short) else {
        return false;
    };
    if !reference.is_short() {
        return false;
    }
    let (repo, tag) = split_name(stored);
    let wanted_tag = reference.effective_tag().unwrap_or_default();
    tag == wanted_tag && repo.ends_with(&format!("/{}", reference.path))
}

/// Finds what `name` refers to in `index`.
pub(super) fn resolve_in(index: &Index, name: &str) -> Found {
    if name.is_empty() {
        return Found::Missing("no image name given".into());
    }
    let bare = name.strip_prefix("sha256:").unwrap_or(name);
    if let Ok(id) = ImageId::parse(bare)
        && let Some(image) = index.by_id.get(id.as_str())
    {
        return Found::Image(image.clone(), true);
    }
    if let Ok(reference) = Reference::parse(name) {
        let full = reference.normalized();
        let by_digest = |i: &&Arc<Image>| {
            reference.digest.as_deref() == Some(i.record.digest.as_str())
                && i.record
                    .names
                    .iter()
                    .any(|n| split_name(n).0 == reference.repository())
        };
        if let Some(image) = index
            .holder_of(&full)
            .or_else(|| index.all().find(by_digest))
        {
            return Found::Image(image.clone(), false);
        }
        if reference.is_short() && reference.digest.is_none() {
            let candidates: Vec<&Arc<Image>> = index
                .all()
                .filter(|i| i.record.names.iter().any(|n| name_matches_short(n, name)))
                .collect();
            match candidates.as_slice() {
                [one] => return Found::Image((*one).clone(), false),
                [] => {}
                many => {
                    let names: Vec<String> = many
                        .iter()
                        .flat_map(|i| {
                            i.record
                                .names
                                .iter()
                                .filter(|n| name_matches_short(n, name))
                        })
                        .cloned()
                        .collect();
                    return Found::Missing(format!(
                        "short name {name:?} is ambiguous: it matches {}",
                        names.join(", ")
                    ));
                }
            }
        }
    }
    if is_hex(bare) {
        let matches: Vec<&Arc<Image>> = index
            .by_id
            .range(bare.to_string()..)
            .take_while(|(id, _)| id.starts_with(bare))
            .map(|(_, image)| image)
            .collect();
        match matches.as_slice() {
            [one] => return Found::Image((*one).clone(), true),
            [] => {}
            many => {
                let ids: Vec<&str> = many.iter().map(|i| i.record.id.as_str()).collect();
                return Found::Missing(format!(
                    "ID prefix {bare:?} is ambiguous: it matches {}",
                    ids.join(", ")
                ));
            }
        }
    }
    Found::Missing("no such image".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::id::digest::Digest;
    use crate::engine::storage::images::new_record;

    fn image(id: &str, names: &[&str]) -> Arc<Image> {
        Arc::new(Image {
            record: new_record(
                ImageId::parse(id).unwrap(),
                names.iter().map(|s| s.to_string()).collect(),
                Digest::of(b""),
                String::new(),
                Vec::new(),
                0,
            ),
            config: Value::Null,
        })
    }

    fn index(images: &[Arc<Image>]) -> Index {
        Index {
            by_id: images
                .iter()
                .map(|i| (i.record.id.to_string(), i.clone()))
                .collect(),
            stamp: 0,
        }
    }

    fn found(index: &Index, name: &str) -> crate::engine::error::Result<String> {
        match resolve_in(index, name) {
            Found::Image(i, _) => Ok(i.record.id.to_string()),
            Found::Missing(reason) => Err(not_found(name, reason)),
        }
    }

    #[test]
    fn resolution_by_id_name_short_name_and_prefix() {
        let a = format!("abc{}", "1".repeat(61));
        let b = format!("abd{}", "2".repeat(61));
        let c = format!("f00{}", "3".repeat(61));
        let idx = index(&[
            image(&a, &["localhost/busybox:latest"]),
            image(
                &b,
                &[
                    "docker.io/library/alpine:latest",
                    "docker.io/library/alpine:3",
                ],
            ),
            image(&c, &["quay.io/x/alpine:latest"]),
        ]);
        assert_eq!(found(&idx, &a).unwrap(), a);
        assert_eq!(found(&idx, &format!("sha256:{b}")).unwrap(), b);
        assert_eq!(found(&idx, "busybox").unwrap(), a);
        assert_eq!(found(&idx, "busybox:latest").unwrap(), a);
        assert_eq!(found(&idx, "localhost/busybox").unwrap(), a);
        assert_eq!(found(&idx, "docker.io/alpine").unwrap(), b);
        assert_eq!(found(&idx, "alpine:3").unwrap(), b);
        assert_eq!(found(&idx, "f00").unwrap(), c);
        let reason = found(&idx, "alpine").unwrap_err().to_string();
        assert!(
            reason.contains("ambiguous") && reason.contains("quay.io/x/alpine:latest"),
            "{reason}"
        );
        let reason = found(&idx, "ab").unwrap_err().to_string();
        assert!(
            reason.contains("ambiguous") && reason.contains(&a) && reason.contains(&b),
            "{reason}"
        );
        assert!(
            found(&idx, "nothere")
                .unwrap_err()
                .to_string()
                .contains("no such image")
        );
        assert!(found(&idx, "").is_err());
    }
}
