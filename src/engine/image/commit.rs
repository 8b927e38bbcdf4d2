//! Storing new images: an image whose layers are staged (from an import or a container's
//! changes) is moved into the stores under one write lock; and `commit_layer`, the image
//! side of io.podman.Commit.

use std::sync::Arc;

use serde_json::{Value, json};

use super::changes;
use super::document::{OCI_MANIFEST, config_diff_ids, oci_manifest};
use super::index::Image;
use super::reference::Reference;
use super::service::Images;
use crate::engine::error::{Error, Result};
use crate::engine::id::digest::Digest;
use crate::engine::id::image::ImageId;
use crate::engine::storage::images::new_record;
use crate::engine::storage::layers::{LayerStore, StagedLayer};
use crate::engine::time::now_rfc3339;

/// `Commit`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Name of the new image (optional).
    pub image_name: String,
    /// Dockerfile instructions applied to the config.
    pub changes: Vec<String>,
    /// Author recorded in the config.
    pub author: String,
    /// History comment.
    pub message: String,
    /// Freeze the container while its changes are read.
    pub pause: bool,
}

/// A layer of a new image: extracted now, or already stored.
pub(super) enum NewLayer {
    Staged(StagedLayer),
    Existing(Digest),
}

impl NewLayer {
    pub(super) fn diff_id(&self) -> &Digest {
        match self {
            NewLayer::Staged(s) => &s.record.diff_id,
            NewLayer::Existing(diff_id) => diff_id,
        }
    }
}

/// An image ready to be stored: its layers, config and manifest.
pub(super) struct NewImage {
    pub(super) layers: Vec<NewLayer>,
    pub(super) config: Vec<u8>,
    pub(super) manifest: Vec<u8>,
    pub(super) manifest_type: String,
    pub(super) names: Vec<String>,
}

/// Sizes of the layers of a new image.
pub(super) fn layer_sizes(store: &LayerStore, layers: &[NewLayer]) -> Result<Vec<(Digest, u64)>> {
    layers
        .iter()
        .map(|l| match l {
            NewLayer::Staged(s) => Ok((s.record.diff_id.clone(), s.record.size)),
            NewLayer::Existing(diff_id) => Ok((diff_id.clone(), store.record(diff_id)?.size)),
        })
        .collect()
}

impl Images {
    /// Stores a new image whose layers are staged: moves the layers into place and writes
    /// the record. An image with the same ID already stored gains the names instead.
    pub(super) fn store_image(&self, new: NewImage) -> Result<String> {
        let id = ImageId::of_config(&new.config);
        let config: Value = serde_json::from_slice(&new.config)
            .map_err(|e| Error::invalid("source", format!("image config is not JSON: {e}")))?;
        let diff_ids = config_diff_ids(&config)?;
        let staged_ids: Vec<Digest> = new.layers.iter().map(|l| l.diff_id().clone()).collect();
        if diff_ids != staged_ids {
            return Err(Error::invalid(
                "source",
                format!(
                    "image config lists layers {diff_ids:?} but the archive holds {staged_ids:?}"
                ),
            ));
        }
        let mut index = self.write();
        if index.by_id.contains_key(id.as_str()) {
            self.move_names(&mut index, &id, &new.names)?;
            return Ok(id.to_string());
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
            Digest::of(&new.manifest),
            new.manifest_type,
            staged_ids,
            size,
        );
        self.store.create(&record, &new.config, &new.manifest)?;
        index
            .by_id
            .insert(id.to_string(), Arc::new(Image { record, config }));
        self.move_names(&mut index, &id, &new.names)?;
        Ok(id.to_string())
    }

    /// A new image: `base` plus one layer read from `tarball` (a container's changes), with
    /// the config changed as `options` say. Returns its ID.
    pub fn commit_layer(
        &self,
        base: &Image,
        tarball: impl std::io::Read,
        options: &CommitOptions,
    ) -> Result<String> {
        let mut settings = base.config["config"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        changes::apply(&mut settings, &options.changes)
            .map_err(|e| Error::invalid("changes", e.to_string()))?;
        let names = if options.image_name.is_empty() {
            Vec::new()
        } else {
            vec![
                Reference::parse(&options.image_name)
                    .map_err(|e| Error::invalid("image_name", e.to_string()))?
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
        self.store_image(NewImage {
            layers,
            config,
            manifest,
            manifest_type: OCI_MANIFEST.into(),
            names,
        })
    }
}
