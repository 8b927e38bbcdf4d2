//! Images: the in-memory index over the image and layer stores, name resolution, and every
//! local image operation (import, export, list, inspect, history, tag, remove, prune).
//!
//! Locking: one `RwLock` over the index. Reads (list, inspect, resolve) share it. Imports
//! extract their layers without it, then take it for writing only to move the layers into
//! place and write the record, so a long import never blocks other calls for long. Removal
//! takes it for writing for the whole change, so a layer is never removed while an import
//! is adopting it.

pub mod changes;
mod load;
pub mod reference;
mod transport;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::storage::digest::Digest;
use super::storage::images::{ImageRecord, ImageStore, new_record};
use super::storage::layers::{LayerStore, StagedLayer};
use super::storage::trash::Trash;
use crate::engine::error::{Error, Result};
use reference::{Reference, is_hex, is_hex64, split_name};

pub use transport::{ExportOptions, ImportOptions, ImportSettings};

/// Media types podlink writes.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker uncompressed layer.
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

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

    fn created(&self) -> String {
        self.config["created"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn labels(&self) -> HashMap<String, String> {
        string_map(&self.config["config"]["Labels"])
    }

    /// `repository@digest` for every repository the image is named in.
    fn repo_digests(&self) -> Vec<String> {
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

fn string_map(value: &Value) -> HashMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// An image as `ListImages` and `GetImage` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSummary {
    /// Full ID (hex).
    pub id: String,
    /// Names (`repo:tag`).
    pub repo_tags: Vec<String>,
    /// `repo@digest` entries.
    pub repo_digests: Vec<String>,
    /// When the image was created (RFC 3339), from its config.
    pub created: String,
    /// Size of its layers.
    pub size: i64,
    /// Containers using it.
    pub containers: i64,
    /// Its labels.
    pub labels: HashMap<String, String>,
}

/// One entry of an image's history, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The image ID for the newest entry, `<missing>` for the others (as Podman shows).
    pub id: String,
    /// When the step ran.
    pub created: String,
    /// The command of the step.
    pub created_by: String,
    /// The image's names, on the newest entry.
    pub tags: Vec<String>,
    /// Size of the layer the step made (0 for steps without a layer).
    pub size: i64,
    /// Its comment.
    pub comment: String,
}

/// The images of the engine.
#[derive(Debug)]
pub struct Images {
    layers: LayerStore,
    store: ImageStore,
    index: RwLock<Index>,
    tmp: PathBuf,
    /// What the last crash left, moved aside by [`Images::open`]; see [`Images::empty_trash`].
    trash: Trash,
    settings: ImportSettings,
}

#[derive(Debug, Default)]
struct Index {
    by_id: BTreeMap<String, Arc<Image>>,
    /// Highest names stamp in use.
    stamp: u64,
}

impl Index {
    fn all(&self) -> impl Iterator<Item = &Arc<Image>> {
        self.by_id.values()
    }

    fn holder_of(&self, name: &str) -> Option<&Arc<Image>> {
        self.all()
            .find(|i| i.record.names.iter().any(|n| n == name))
    }
}

/// The outcome of resolving a name.
enum Found {
    /// The image, and whether the name was an ID (full or prefix) rather than a name.
    Image(Arc<Image>, bool),
    Missing(String),
}

impl Images {
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The layer store (containers build their root filesystems from it).
    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    /// How many images there are.
    pub fn count(&self) -> usize {
        self.read().by_id.len()
    }

    /// Finds the image `name` refers to: a full ID (with or without `sha256:`), a name, or a
    /// unique ID prefix. An ambiguous name or prefix is `ImageNotFound` listing the candidates.
    pub fn resolve(&self, name: &str) -> Result<Arc<Image>> {
        self.resolve_detail(name).map(|(image, _)| image)
    }

    /// As [`Images::resolve`], also telling whether `name` was an ID (full or prefix).
    pub fn resolve_detail(&self, name: &str) -> Result<(Arc<Image>, bool)> {
        match resolve_in(&self.read(), name) {
            Found::Image(image, by_id) => Ok((image, by_id)),
            Found::Missing(reason) => Err(not_found(name, reason)),
        }
    }

    /// Every image, newest first.
    pub fn list(&self, containers: &dyn Fn(&str) -> usize) -> Vec<ImageSummary> {
        let index = self.read();
        let mut list: Vec<ImageSummary> = index
            .all()
            .map(|i| summary(i, containers(&i.record.id)))
            .collect();
        list.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        list
    }

    /// One image.
    pub fn get(&self, name: &str, containers: &dyn Fn(&str) -> usize) -> Result<ImageSummary> {
        let image = self.resolve(name)?;
        Ok(summary(&image, containers(&image.record.id)))
    }

    /// Whether `name` resolves to an image. Only "not found" is `false`; an ambiguous name
    /// is also not found, as a client can use neither.
    pub fn exists(&self, name: &str) -> bool {
        matches!(resolve_in(&self.read(), name), Found::Image(..))
    }

    /// `podman inspect` of an image.
    pub fn inspect(&self, name: &str) -> Result<Value> {
        let image = self.resolve(name)?;
        Ok(inspect(&image, &self.layers))
    }

    /// The history of an image, newest first.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        let image = self.resolve(name)?;
        let mut sizes = image
            .record
            .layers
            .iter()
            .map(|l| self.layers.record(l).map(|r| r.size as i64).unwrap_or(0));
        let mut entries = Vec::new();
        let history = image.config["history"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for step in &history {
            let empty = step["empty_layer"].as_bool().unwrap_or(false);
            entries.push(HistoryEntry {
                id: "<missing>".into(),
                created: step["created"].as_str().unwrap_or_default().into(),
                created_by: step["created_by"].as_str().unwrap_or_default().into(),
                tags: Vec::new(),
                size: if empty { 0 } else { sizes.next().unwrap_or(0) },
                comment: step["comment"].as_str().unwrap_or_default().into(),
            });
        }
        // Layers without a history step still show, as Podman does.
        for size in sizes {
            entries.push(HistoryEntry {
                id: "<missing>".into(),
                created: image.created(),
                created_by: String::new(),
                tags: Vec::new(),
                size,
                comment: String::new(),
            });
        }
        entries.reverse();
        if let Some(top) = entries.first_mut() {
            top.id = image.record.id.clone();
            top.tags = image.record.names.clone();
        }
        Ok(entries)
    }

    /// Adds the name `tagged` to the image `name`, taking it from any other image.
    pub fn tag(&self, name: &str, tagged: &str) -> Result<String> {
        let new_name = Reference::parse(tagged)
            .map_err(Error::InvalidArgument)?
            .normalized();
        let mut index = self.write();
        let image = match resolve_in(&index, name) {
            Found::Image(image, _) => image,
            Found::Missing(reason) => return Err(not_found(name, reason)),
        };
        let id = image.record.id.clone();
        self.move_names(&mut index, &id, &[new_name])?;
        Ok(id)
    }

    /// Gives `names` to image `id`, removing them from every other image first.
    fn move_names(&self, index: &mut Index, id: &str, names: &[String]) -> Result<()> {
        for name in names {
            if let Some(holder) = index.holder_of(name).filter(|h| h.record.id != id).cloned() {
                let mut record = holder.record.clone();
                record.names.retain(|n| n != name);
                self.replace_record(index, &holder, record)?;
            }
        }
        let image = index.by_id[id].clone();
        let mut record = image.record.clone();
        for name in names {
            if !record.names.contains(name) {
                record.names.push(name.clone());
            }
        }
        if record != image.record {
            self.replace_record(index, &image, record)?;
        }
        Ok(())
    }

    fn replace_record(
        &self,
        index: &mut Index,
        image: &Image,
        mut record: ImageRecord,
    ) -> Result<()> {
        index.stamp += 1;
        record.names_stamp = index.stamp;
        self.store.update(&record)?;
        let id = record.id.clone();
        let config = image.config.clone();
        index.by_id.insert(id, Arc::new(Image { record, config }));
        Ok(())
    }

    /// Removes an image, or only the name given when the image has others and was named
    /// (as `podman rmi` does). `in_use` lists the containers using an image; with any, the
    /// removal needs `force`, and the caller removes those containers first.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> Vec<String>,
    ) -> Result<String> {
        let mut index = self.write();
        let (image, by_id) = match resolve_in(&index, name) {
            Found::Image(image, by_id) => (image, by_id),
            Found::Missing(reason) => return Err(not_found(name, reason)),
        };
        let id = image.record.id.clone();
        if !by_id && image.record.names.len() > 1 {
            let full = Reference::parse(name)
                .map(|r| r.normalized())
                .unwrap_or_default();
            let matched = image
                .record
                .names
                .iter()
                .find(|n| **n == full || name_matches_short(n, name))
                .cloned();
            if let Some(matched) = matched {
                let mut record = image.record.clone();
                record.names.retain(|n| *n != matched);
                self.replace_record(&mut index, &image, record)?;
                return Ok(id);
            }
        }
        let users = in_use(&id);
        if !users.is_empty() && !force {
            return Err(Error::InvalidArgument(format!(
                "image {id} is in use by container(s) {}: remove them first or use force",
                users.join(", ")
            )));
        }
        self.remove_locked(&mut index, &id)?;
        Ok(id)
    }

    fn remove_locked(&self, index: &mut Index, id: &str) -> Result<()> {
        let Some(image) = index.by_id.remove(id) else {
            return Ok(());
        };
        self.store.remove(&Digest::from_hex(id)?)?;
        let still_used: HashSet<&Digest> =
            index.all().flat_map(|i| i.record.layers.iter()).collect();
        for layer in &image.record.layers {
            if !still_used.contains(layer) {
                self.layers.remove(layer)?;
            }
        }
        Ok(())
    }

    /// Removes every image no container uses (with `dangling_only`, only those without
    /// names); returns their IDs.
    pub fn prune(
        &self,
        dangling_only: bool,
        in_use: &dyn Fn(&str) -> Vec<String>,
    ) -> Result<Vec<String>> {
        let mut index = self.write();
        let victims: Vec<String> = index
            .all()
            .filter(|i| !dangling_only || i.record.names.is_empty())
            .map(|i| i.record.id.clone())
            .filter(|id| in_use(id).is_empty())
            .collect();
        for id in &victims {
            self.remove_locked(&mut index, id)?;
        }
        Ok(victims)
    }

    /// Stores a new image whose layers are staged: moves the layers into place and writes
    /// the record. An image with the same ID already stored gains the names instead.
    fn commit(&self, new: NewImage) -> Result<String> {
        let id = hex_digest(&new.config);
        let config: Value = serde_json::from_slice(&new.config)
            .map_err(|e| Error::InvalidArgument(format!("image config is not JSON: {e}")))?;
        let diff_ids = transport::config_diff_ids(&config)?;
        let staged_ids: Vec<Digest> = new.layers.iter().map(|l| l.diff_id().clone()).collect();
        if diff_ids != staged_ids {
            return Err(Error::InvalidArgument(format!(
                "image config lists layers {diff_ids:?} but the archive holds {staged_ids:?}"
            )));
        }
        let mut index = self.write();
        if index.by_id.contains_key(&id) {
            self.move_names(&mut index, &id, &new.names)?;
            return Ok(id);
        }
        let mut size = 0;
        for layer in new.layers {
            size += match layer {
                NewLayer::Staged(staged) => self.layers.adopt(staged)?.size,
                // Checked under the write lock: no removal can take it away from here on.
                NewLayer::Existing(diff_id) => self.layers.record(&diff_id)?.size,
            };
        }
        let record = new_record(
            id.clone(),
            Vec::new(),
            format!("sha256:{}", hex_digest(&new.manifest)),
            new.manifest_type,
            staged_ids,
            size,
        );
        self.store.create(&record, &new.config, &new.manifest)?;
        index
            .by_id
            .insert(id.clone(), Arc::new(Image { record, config }));
        self.move_names(&mut index, &id, &new.names)?;
        Ok(id)
    }

    /// A new image: `base` plus one layer read from `tarball` (a container's changes), with
    /// the config changed as `options` say. Returns its ID.
    pub fn commit_layer(
        &self,
        base: &Image,
        tarball: impl std::io::Read,
        options: &crate::engine::container::commit::CommitOptions,
    ) -> Result<String> {
        let mut settings = base.config["config"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        changes::apply(&mut settings, &options.changes).map_err(Error::InvalidArgument)?;
        let names = if options.image_name.is_empty() {
            Vec::new()
        } else {
            vec![
                Reference::parse(&options.image_name)
                    .map_err(Error::InvalidArgument)?
                    .normalized(),
            ]
        };
        let staged = self.layers.stage(tarball, &self.budget())?;
        let created = now_rfc3339();
        let mut config = base.config.clone();
        config["created"] = json!(created);
        config["config"] = Value::Object(settings);
        if !options.author.is_empty() {
            config["author"] = json!(options.author);
        }
        let mut diff_ids = base.record.layers.clone();
        diff_ids.push(staged.record.diff_id.clone());
        config["rootfs"] = json!({ "type": "layers", "diff_ids": diff_ids });
        let mut step = json!({ "created": created, "created_by": "podlink commit" });
        if !options.message.is_empty() {
            step["comment"] = json!(options.message);
        }
        if !options.author.is_empty() {
            step["author"] = json!(options.author);
        }
        let mut history = config["history"].as_array().cloned().unwrap_or_default();
        history.push(step);
        config["history"] = Value::Array(history);
        let config = serde_json::to_vec(&config).expect("a JSON value serializes");
        let mut sizes = Vec::new();
        for layer in &base.record.layers {
            sizes.push((layer.clone(), self.layers.record(layer)?.size));
        }
        sizes.push((staged.record.diff_id.clone(), staged.record.size));
        let manifest = oci_manifest(&config, &sizes);
        let mut layers: Vec<NewLayer> = base
            .record
            .layers
            .iter()
            .cloned()
            .map(NewLayer::Existing)
            .collect();
        layers.push(NewLayer::Staged(staged));
        self.commit(NewImage {
            layers,
            config,
            manifest,
            manifest_type: OCI_MANIFEST.into(),
            names,
        })
    }

    /// The stored config bytes of an image.
    fn config_bytes(&self, image: &Image) -> Result<Vec<u8>> {
        let path = self.store.config_path(&Digest::from_hex(&image.record.id)?);
        std::fs::read(&path).map_err(|e| Error::io("read", path, e))
    }
}

/// A layer of a new image: extracted now, or already stored.
enum NewLayer {
    Staged(StagedLayer),
    Existing(Digest),
}

impl NewLayer {
    fn diff_id(&self) -> &Digest {
        match self {
            NewLayer::Staged(s) => &s.record.diff_id,
            NewLayer::Existing(diff_id) => diff_id,
        }
    }
}

/// An image ready to be stored: its layers, config and manifest.
struct NewImage {
    layers: Vec<NewLayer>,
    config: Vec<u8>,
    manifest: Vec<u8>,
    manifest_type: String,
    names: Vec<String>,
}

fn not_found(name: &str, reason: String) -> Error {
    Error::ImageNotFound {
        name: name.to_string(),
        reason,
    }
}

/// Whether stored `name` answers to the short `short` (`alpine` ~ `docker.io/library/alpine:latest`).
fn name_matches_short(stored: &str, short: &str) -> bool {
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

fn resolve_in(index: &Index, name: &str) -> Found {
    if name.is_empty() {
        return Found::Missing("no image name given".into());
    }
    let bare = name.strip_prefix("sha256:").unwrap_or(name);
    if is_hex64(bare)
        && let Some(image) = index.by_id.get(bare)
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

fn summary(image: &Image, containers: usize) -> ImageSummary {
    ImageSummary {
        id: image.record.id.clone(),
        repo_tags: image.record.names.clone(),
        repo_digests: image.repo_digests(),
        created: image.created(),
        size: image.record.size as i64,
        containers: containers as i64,
        labels: image.labels(),
    }
}

/// The fields `podman inspect` gives an image.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageInspect<'a> {
    id: &'a str,
    digest: &'a str,
    repo_tags: &'a [String],
    repo_digests: Vec<String>,
    parent: &'a str,
    comment: &'a str,
    created: String,
    config: &'a Value,
    /// The same object as `Config`: python-podman 0.10-0.11 and pypodman read it under this
    /// older name (Docker's inspect has both; Podman 1.x served both).
    container_config: &'a Value,
    version: &'a str,
    author: &'a str,
    architecture: &'a str,
    os: &'a str,
    size: u64,
    virtual_size: u64,
    graph_driver: Value,
    #[serde(rename = "RootFS")]
    root_fs: Value,
    labels: HashMap<String, String>,
    annotations: HashMap<String, String>,
    manifest_type: &'a str,
    user: &'a str,
    history: &'a Value,
    names_history: &'a [String],
}

fn inspect(image: &Image, layers: &LayerStore) -> Value {
    let config = &image.config;
    let dirs: Vec<String> = image
        .record
        .layers
        .iter()
        .rev()
        .map(|l| layers.diff_dir(l).display().to_string())
        .collect();
    let history_comment = config["history"]
        .as_array()
        .and_then(|h| h.last())
        .and_then(|h| h["comment"].as_str())
        .unwrap_or_default();
    let inspect = ImageInspect {
        id: &image.record.id,
        digest: &image.record.digest,
        repo_tags: &image.record.names,
        repo_digests: image.repo_digests(),
        parent: "",
        comment: config["comment"].as_str().unwrap_or(history_comment),
        created: image.created(),
        config: &config["config"],
        container_config: &config["config"],
        version: config["docker_version"].as_str().unwrap_or_default(),
        author: config["author"].as_str().unwrap_or_default(),
        architecture: config["architecture"].as_str().unwrap_or_default(),
        os: config["os"].as_str().unwrap_or_default(),
        size: image.record.size,
        virtual_size: image.record.size,
        graph_driver: json!({
            "Name": "overlay",
            "Data": {
                "UpperDir": dirs.first(),
                "LowerDir": dirs.iter().skip(1).cloned().collect::<Vec<_>>().join(":"),
            },
        }),
        root_fs: json!({ "Type": "layers", "Layers": image.record.layers }),
        labels: image.labels(),
        annotations: HashMap::new(),
        manifest_type: &image.record.manifest_type,
        user: config["config"]["User"].as_str().unwrap_or_default(),
        history: &config["history"],
        names_history: &image.record.names,
    };
    serde_json::to_value(inspect).unwrap_or(Value::Null)
}

/// Hex SHA-256 of `bytes`.
pub fn hex_digest(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The current time in RFC 3339 with nanoseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// An OCI manifest for `config` and uncompressed `layers` (diff ID, size).
pub fn oci_manifest(config: &[u8], layers: &[(Digest, u64)]) -> Vec<u8> {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": format!("sha256:{}", hex_digest(config)),
            "size": config.len(),
        },
        "layers": layers.iter().map(|(digest, size)| json!({
            "mediaType": OCI_LAYER,
            "digest": digest,
            "size": size,
        })).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&manifest).expect("a JSON value serializes")
}

/// The config of an image made from one root filesystem tarball.
fn rootfs_config(diff_id: &Digest, message: &str, changes: &[String]) -> Result<Vec<u8>> {
    let created = now_rfc3339();
    let mut settings = Map::new();
    changes::apply(&mut settings, changes).map_err(Error::InvalidArgument)?;
    let mut history = json!({
        "created": created,
        "created_by": format!("/bin/sh -c #(nop) ADD file:{} in / ", diff_id.hex()),
    });
    if !message.is_empty() {
        history["comment"] = json!(message);
    }
    let config = json!({
        "created": created,
        "architecture": go_arch(),
        "os": "linux",
        "config": settings,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [history],
    });
    Ok(serde_json::to_vec(&config).expect("a JSON value serializes"))
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, names: &[&str]) -> Arc<Image> {
        Arc::new(Image {
            record: new_record(
                id.to_string(),
                names.iter().map(|s| s.to_string()).collect(),
                String::new(),
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
                .map(|i| (i.record.id.clone(), i.clone()))
                .collect(),
            stamp: 0,
        }
    }

    fn found(index: &Index, name: &str) -> std::result::Result<String, String> {
        match resolve_in(index, name) {
            Found::Image(i, _) => Ok(i.record.id.clone()),
            Found::Missing(reason) => Err(reason),
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
        let reason = found(&idx, "alpine").unwrap_err();
        assert!(
            reason.contains("ambiguous") && reason.contains("quay.io/x/alpine:latest"),
            "{reason}"
        );
        let reason = found(&idx, "ab").unwrap_err();
        assert!(
            reason.contains("ambiguous") && reason.contains(&a) && reason.contains(&b),
            "{reason}"
        );
        assert!(
            found(&idx, "nothere")
                .unwrap_err()
                .contains("no such image")
        );
        assert!(found(&idx, "").is_err());
    }
}
