//! What clients read about images: the list entries (`ListImages`, `GetImage`), the
//! history, and the typed `podman inspect` document.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::index::Image;
use super::service::Images;
use crate::engine::error::Result;
use crate::engine::storage::layers::LayerStore;

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

impl Images {
    /// Every image, newest first; `containers` counts the containers using an image.
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

    /// io.podman.InspectImage: `podman inspect` of an image.
    pub fn inspect_image(&self, name: &str) -> Result<Value> {
        let image = self.resolve(name)?;
        let mut doc = inspect(&image, &self.layers);
        // A built image's annotations live in its manifest.
        let manifest = std::fs::read(self.store.manifest_path(&image.record.id))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        if let Some(annotations) = manifest.as_ref().and_then(|m| m.get("annotations"))
            && annotations.is_object()
        {
            doc["Annotations"] = annotations.clone();
        }
        Ok(doc)
    }

    /// io.podman.HistoryImage: the history of an image, newest first.
    pub fn history_image(&self, name: &str) -> Result<Vec<HistoryEntry>> {
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
            top.id = image.record.id.to_string();
            top.tags = image.record.names.clone();
        }
        Ok(entries)
    }
}

fn summary(image: &Image, containers: usize) -> ImageSummary {
    ImageSummary {
        id: image.record.id.to_string(),
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
        digest: image.record.digest.as_str(),
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
