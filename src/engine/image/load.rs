//! Opening the image store at start-up: loading every image, and moving what a crash left
//! to the trash, which is emptied once the service answers.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::index::{Image, Index};
use super::service::Images;
use super::settings::ImportSettings;
use crate::engine::error::Result;
use crate::engine::registry::RegistrySettings;
use crate::engine::storage::images::ImageStore;
use crate::engine::storage::layers::LayerStore;
use crate::engine::storage::origins::OriginStore;
use crate::engine::storage::trash::Trash;

impl Images {
    /// Opens the stores under `root`, loads every image and moves what a crash left to the
    /// trash (removed later, by `Images::empty_trash`); imports follow `settings`, pulls and
    /// pushes `registry`.
    pub fn open(root: &Path, settings: ImportSettings, registry: RegistrySettings) -> Result<Self> {
        let layers = LayerStore::open(root)?;
        let store = ImageStore::open(root)?;
        let trash = Trash::open(root)?;
        let mut index = Index::default();
        let mut keep = HashSet::new();
        let mut owners: HashMap<String, (u64, String)> = HashMap::new();
        for stored in store.load_all(&trash)? {
            let config: Value = serde_json::from_slice(&stored.config).unwrap_or(Value::Null);
            keep.extend(stored.record.layers.iter().cloned());
            index.stamp = index.stamp.max(stored.record.names_stamp);
            for name in &stored.record.names {
                let stamp = stored.record.names_stamp;
                match owners.get(name) {
                    Some((s, _)) if *s >= stamp => {}
                    _ => {
                        owners.insert(name.clone(), (stamp, stored.record.id.to_string()));
                    }
                }
            }
            index.by_id.insert(
                stored.record.id.to_string(),
                Arc::new(Image {
                    record: stored.record,
                    config,
                }),
            );
        }
        // A crash in the middle of moving a name leaves it on two images: the newer keeps it.
        let ids: Vec<String> = index.by_id.keys().cloned().collect();
        for id in ids {
            let image = &index.by_id[&id];
            let names: Vec<String> = image
                .record
                .names
                .iter()
                .filter(|n| owners.get(*n).is_some_and(|(_, owner)| owner == &id))
                .cloned()
                .collect();
            if names != image.record.names {
                let mut record = image.record.clone();
                record.names = names;
                store.update(&record)?;
                let config = image.config.clone();
                index.by_id.insert(id, Arc::new(Image { record, config }));
            }
        }
        // Orphan layers (no image uses them) go now too, not in the background: a rename each
        // is cheap, and then no import that starts once the service answers can reuse a layer
        // on its way out.
        for moved in layers.collect_garbage(&keep, &trash)? {
            log::info!("moved leftover {moved} to the trash");
        }
        let origins = OriginStore::open(root);
        let stale = origins.retain(&keep);
        if stale > 0 {
            log::info!("removed the origin records of {stale} layer(s) no image uses");
        }
        Ok(Images {
            layers,
            store,
            index: RwLock::new(index),
            tmp: root.join(crate::engine::storage::layout::TMP_DIR),
            trash,
            settings,
            registry,
            origins: std::sync::Mutex::new(origins),
        })
    }

    /// Removes what [`Images::open`] moved to the trash (and what an earlier start left
    /// there). Slow with many files, so it runs after the service answers; nothing else
    /// uses the trash, so it needs no lock.
    pub(crate) fn empty_trash(&self) {
        let removed = self.trash.empty();
        if removed > 0 {
            log::info!("removed {removed} leftover(s) from the trash");
        }
    }
}
