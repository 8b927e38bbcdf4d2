//! Image views → wire structs (`ListImages`, `GetImage`, `HistoryImage`).

use crate::varlink::generated as wire;

/// `ListImages` / `GetImage` entry.
pub fn image(image: crate::engine::image::ImageSummary) -> wire::ImageInList {
    wire::ImageInList {
        id: image.id,
        parentId: String::new(),
        repoTags: image.repo_tags,
        repoDigests: image.repo_digests,
        created: image.created,
        size: image.size,
        virtualSize: image.size,
        containers: image.containers,
        labels: image.labels,
        isParent: false,
    }
}

/// `HistoryImage` entry.
pub fn history(entry: crate::engine::image::HistoryEntry) -> wire::ImageHistory {
    wire::ImageHistory {
        id: entry.id,
        created: entry.created,
        createdBy: entry.created_by,
        tags: entry.tags,
        size: entry.size,
        comment: entry.comment,
    }
}
