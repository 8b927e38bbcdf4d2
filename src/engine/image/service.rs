//! The `Images` service: the stores, the index over them and its lock, and the operations
//! that change names or remove images (tag, remove, prune).
//!
//! Locking: one `RwLock` over the index. Reads (list, inspect, resolve) share it. Imports
//! extract their layers without it, then take it for writing only to move the layers into
//! place and write the record, so a long import never blocks other calls for long. Removal
//! takes it for writing for the whole change, so a layer is never removed while an import
//! is adopting it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::index::{Found, Image, Index, name_matches_short, not_found, resolve_in};
use super::reference::Reference;
use super::settings::ImportSettings;
use crate::engine::error::{Error, Result};
use crate::engine::id::digest::Digest;
use crate::engine::registry::RegistrySettings;
use crate::engine::storage::budget::Budget;
use crate::engine::storage::images::{ImageRecord, ImageStore};
use crate::engine::storage::layers::LayerStore;
use crate::engine::storage::origins::{LayerOrigin, OriginStore};
use crate::engine::storage::trash::Trash;

/// The images of the engine.
#[derive(Debug)]
pub struct Images {
    pub(super) layers: LayerStore,
    pub(super) store: ImageStore,
    pub(super) index: RwLock<Index>,
    pub(super) tmp: PathBuf,
    /// What the last crash left, moved aside by [`Images::open`]; see [`Images::empty_trash`].
    pub(super) trash: Trash,
    pub(super) settings: ImportSettings,
    /// How registries are reached.
    pub(super) registry: RegistrySettings,
    /// Which registry blobs hold each layer; the mutex serializes its writes.
    pub(super) origins: std::sync::Mutex<OriginStore>,
}

impl Images {
    pub(super) fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, Index> {
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

    /// A fresh budget for one import or commit, under the configured limits.
    pub(super) fn budget(&self) -> Budget {
        Budget::new(&self.tmp, self.settings.limits.clone())
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

    /// io.podman.ImageExists: whether `name` resolves to an image. Only "not found" is
    /// `false`; an ambiguous name is also not found, as a client can use neither.
    pub fn image_exists(&self, name: &str) -> bool {
        matches!(resolve_in(&self.read(), name), Found::Image(..))
    }

    /// io.podman.TagImage: adds the name `tagged` to the image `name`, taking it from any
    /// other image. Returns the image's ID.
    pub fn tag_image(&self, name: &str, tagged: &str) -> Result<String> {
        let new_name = Reference::parse(tagged)
            .map_err(|e| Error::invalid("tagged", e.to_string()))?
            .normalized();
        let mut index = self.write();
        let image = match resolve_in(&index, name) {
            Found::Image(image, _) => image,
            Found::Missing(reason) => return Err(not_found(name, reason)),
        };
        let id = image.record.id.to_string();
        self.move_names(&mut index, &id, &[new_name])?;
        Ok(id)
    }

    /// Gives `names` to image `id`, removing them from every other image first.
    pub(super) fn move_names(&self, index: &mut Index, id: &str, names: &[String]) -> Result<()> {
        for name in names {
            if let Some(holder) = index
                .holder_of(name)
                .filter(|h| h.record.id.as_str() != id)
                .cloned()
            {
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
        let id = record.id.to_string();
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
        let id = image.record.id.to_string();
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
            return Err(Error::invalid(
                "force",
                format!(
                    "image {id} is in use by container(s) {}: remove them first or use force",
                    users.join(", ")
                ),
            ));
        }
        self.remove_locked(&mut index, &id)?;
        Ok(id)
    }

    fn remove_locked(&self, index: &mut Index, id: &str) -> Result<()> {
        let Some(image) = index.by_id.remove(id) else {
            return Ok(());
        };
        self.store.remove(&image.record.id)?;
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
            .map(|i| i.record.id.to_string())
            .filter(|id| in_use(id).is_empty())
            .collect();
        for id in &victims {
            self.remove_locked(&mut index, id)?;
        }
        Ok(victims)
    }

    /// Records that `origin` (a registry blob) holds layer `diff_id`, for later pushes; a
    /// record that cannot be written only costs an upload, so it is logged.
    pub(super) fn note_origin(&self, diff_id: &Digest, origin: LayerOrigin) {
        let add = self.origins.lock().unwrap().add(diff_id, origin);
        if let Err(e) = add {
            log::warn!("cannot record which registry blob holds layer {diff_id}: {e}");
        }
    }

    /// The stored config bytes of an image.
    pub(super) fn config_bytes(&self, image: &Image) -> Result<Vec<u8>> {
        let path = self.store.config_path(&image.record.id);
        std::fs::read(&path).map_err(|e| Error::io("read", path, e))
    }
}
