//! Composing an image from a parent's layers, at most one new layer and a config written
//! whole: the image half of BuildImage. The build room decides the config (settings,
//! history, author); this file only stores what it is given.

use std::io::Read;

use serde_json::{Map, Value, json};

use super::commit::{NewImage, NewLayer};
use super::document::{DOCKER_MANIFEST, OCI_MANIFEST, docker_manifest, go_arch, oci_manifest};
use super::index::Image;
use super::reference::Reference;
use super::service::Images;
use crate::engine::error::{Error, Result};
use crate::engine::time::now_rfc3339;

/// What a composed image's config says besides its layers.
#[derive(Debug, Clone, Default)]
pub struct Composition {
    /// The `config` object (Env, Cmd, Labels, ...).
    pub settings: Map<String, Value>,
    /// The whole history, the parent's entries included.
    pub history: Vec<Value>,
    /// The config's `author`; empty: none.
    pub author: String,
    /// A Docker schema 2 manifest instead of an OCI one.
    pub docker_format: bool,
    /// Names given to the image.
    pub names: Vec<String>,
    /// `KEY=VALUE` annotations of the manifest.
    pub annotations: Vec<String>,
}

impl Images {
    /// A new image: the layers of `parent` (none without one), then `layer` when given (a
    /// layer tarball), with the config `composition` says. Returns its ID.
    pub fn compose(
        &self,
        parent: Option<&Image>,
        layer: Option<&mut dyn Read>,
        composition: &Composition,
    ) -> Result<String> {
        let parent_layers = parent.map(|p| p.record.layers.clone()).unwrap_or_default();
        self.compose_on(&parent_layers, layer, composition)
    }

    /// An image of `parent`'s first `keep` layers, then one layer holding what all of its
    /// others hold together, with the config `composition` says: a squashed build. Each
    /// layer's entries are taken in order, less those a later layer overrides (the same path),
    /// deletes (a whiteout of it or of a directory above it) or hides (an opaque directory
    /// above it): so the one layer reads as the stack did.
    pub fn compose_squashed(
        &self,
        parent: &Image,
        keep: usize,
        composition: &Composition,
    ) -> Result<String> {
        let layers = &parent.record.layers;
        let keep = keep.min(layers.len());
        let tmp = self.tmp.clone();
        let new = &layers[keep..];
        let mut seen: Vec<LayerPaths> = Vec::new();
        for diff_id in new {
            seen.push(self.layer_paths(diff_id)?);
        }
        let file = crate::engine::storage::unlinked_temp_file(&tmp, "squash")?;
        let mut out = tar::Builder::new(file);
        for (i, diff_id) in new.iter().enumerate() {
            let read_err = |e| Error::io("read", self.layers.diff_dir(diff_id), e);
            let mut archive = tar::Archive::new(self.layers.tarball(diff_id)?);
            for entry in archive.entries().map_err(read_err)? {
                let mut entry = entry.map_err(read_err)?;
                let path = entry.path().map_err(read_err)?.into_owned();
                let name = normal(&path.to_string_lossy());
                if seen[i + 1..].iter().any(|later| later.supersedes(&name)) {
                    continue;
                }
                let mut header = entry.header().clone();
                match entry.link_name() {
                    Ok(Some(link)) => {
                        let link = link.into_owned();
                        out.append_link(&mut header, &path, link)
                    }
                    _ => out.append_data(&mut header, &path, &mut entry),
                }
                .map_err(|e| Error::io("write", &tmp, e))?;
            }
        }
        let mut file = out.into_inner().map_err(|e| Error::io("write", &tmp, e))?;
        std::io::Seek::rewind(&mut file).map_err(|e| Error::io("rewind", &tmp, e))?;
        self.compose_on(&layers[..keep], Some(&mut file), composition)
    }

    /// What a layer's tarball names: its paths, the paths it whites out, its opaque
    /// directories.
    fn layer_paths(&self, diff_id: &crate::engine::id::digest::Digest) -> Result<LayerPaths> {
        let read_err = |e| Error::io("read", self.layers.diff_dir(diff_id), e);
        let mut out = LayerPaths::default();
        let mut archive = tar::Archive::new(self.layers.tarball(diff_id)?);
        for entry in archive.entries().map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let name = normal(&entry.path().map_err(read_err)?.to_string_lossy());
            let (dir, base) = name.rsplit_once('/').unwrap_or(("", &name));
            if base == ".wh..wh..opq" {
                out.opaque.insert(dir.to_string());
            } else if let Some(target) = base.strip_prefix(".wh.") {
                out.whiteouts.insert(join(dir, target));
            }
            out.paths.insert(name);
        }
        Ok(out)
    }

    fn compose_on(
        &self,
        parent_layers: &[crate::engine::id::digest::Digest],
        layer: Option<&mut dyn Read>,
        composition: &Composition,
    ) -> Result<String> {
        let mut names = Vec::new();
        for name in &composition.names {
            names.push(
                Reference::parse(name)
                    .map_err(|e| Error::invalid("tags", e.to_string()))?
                    .normalized(),
            );
        }
        let mut layers: Vec<NewLayer> = parent_layers
            .iter()
            .cloned()
            .map(NewLayer::Existing)
            .collect();
        if let Some(tarball) = layer {
            layers.push(NewLayer::Staged(
                self.layers.stage(tarball, &self.budget())?,
            ));
        }
        let diff_ids: Vec<_> = layers.iter().map(|l| l.diff_id().clone()).collect();
        let mut config = json!({
            "created": now_rfc3339(),
            "architecture": go_arch(),
            "os": "linux",
            "config": Value::Object(composition.settings.clone()),
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": composition.history,
        });
        if !composition.author.is_empty() {
            config["author"] = json!(composition.author);
        }
        let config = serde_json::to_vec(&config).expect("a JSON value serializes");
        let sizes = super::commit::layer_sizes(&self.layers, &layers)?;
        let (manifest, manifest_type) = match composition.docker_format {
            true => (docker_manifest(&config, &sizes), DOCKER_MANIFEST),
            false => (oci_manifest(&config, &sizes), OCI_MANIFEST),
        };
        let manifest = annotated(manifest, &composition.annotations);
        self.store_image(NewImage {
            layers,
            config,
            manifest,
            manifest_type: manifest_type.into(),
            names,
        })
    }
}

/// `manifest` with `annotations` (`KEY=VALUE`) added.
fn annotated(manifest: Vec<u8>, annotations: &[String]) -> Vec<u8> {
    if annotations.is_empty() {
        return manifest;
    }
    let Ok(mut doc) = serde_json::from_slice::<Value>(&manifest) else {
        return manifest;
    };
    let mut map = Map::new();
    for a in annotations {
        let (k, v) = a.split_once('=').unwrap_or((a, ""));
        map.insert(k.to_string(), json!(v));
    }
    doc["annotations"] = Value::Object(map);
    serde_json::to_vec(&doc).expect("a JSON value serializes")
}

/// The paths of one layer, for squashing.
#[derive(Default)]
struct LayerPaths {
    paths: std::collections::HashSet<String>,
    whiteouts: std::collections::HashSet<String>,
    opaque: std::collections::HashSet<String>,
}

impl LayerPaths {
    /// Whether an earlier layer's entry `name` is overridden, deleted or hidden by this one.
    fn supersedes(&self, name: &str) -> bool {
        if self.paths.contains(name) || self.whiteouts.contains(name) {
            return true;
        }
        // An earlier whiteout of a path this layer puts back.
        let (dir, base) = name.rsplit_once('/').unwrap_or(("", name));
        if let Some(target) = base.strip_prefix(".wh.")
            && target != ".wh..opq"
            && self.paths.contains(&join(dir, target))
        {
            return true;
        }
        let mut ancestor = name;
        while let Some((up, _)) = ancestor.rsplit_once('/') {
            if self.whiteouts.contains(up) || self.opaque.contains(up) {
                return true;
            }
            ancestor = up;
        }
        // Top-level entries under an opaque root.
        self.opaque.contains("") && !name.is_empty()
    }
}

/// A tarball path without `./`, leading or trailing slashes.
fn normal(path: &str) -> String {
    path.trim_start_matches("./").trim_matches('/').to_string()
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}
