//! Images: the in-memory index over the image and layer stores, name resolution, and every
//! local image operation (import, export, list, inspect, history, tag, remove, prune, and
//! the image half of commit). This room reads and writes image documents and drives the
//! stores in `storage`; it never touches containers, the runtime or the wire: operations
//! that must count or remove containers are the `Engine`'s, which passes them in.
//!
//! - `service.rs`: the `Images` service, its lock, tag, remove and prune
//! - `index.rs`: the in-memory index and name resolution
//! - `load.rs`: opening the stores at start-up, crash leftovers to the trash
//! - `inspect.rs`: list entries, history, the typed inspect document
//! - `commit.rs`: storing a new image, and `commit_layer` for io.podman.Commit
//! - `compose.rs`: an image from a parent, one new layer and a whole config (BuildImage)
//! - `import.rs`: io.podman.ImportImage from tarballs, URLs and archives
//! - `fetch.rs`: http(s) sources with timeouts
//! - `pull.rs`: io.podman.PullImage through the registry client
//! - `push.rs`: io.podman.PushImage
//! - `search.rs`: io.podman.SearchImage: which registries, and failures among them
//! - `settings.rs`: the bounds on imports (daemon flags)
//! - `blobs.rs`: reading an archive's or layout's files, blobs checked against their digest
//! - `export.rs`: io.podman.ExportImage to archives and layouts
//! - `document.rs`: media types, the manifests and configs podlink writes
//! - `reference.rs`: image names
//! - `changes.rs`: Dockerfile instructions applied to a config

mod blobs;
pub mod changes;
pub mod commit;
pub mod compose;
pub mod document;
pub mod export;
mod fetch;
pub mod import;
pub mod index;
pub mod inspect;
mod load;
pub mod pull;
pub mod push;
pub mod reference;
pub mod search;
pub mod service;
pub mod settings;

pub use commit::CommitOptions;
pub use export::ExportOptions;
pub use import::ImportOptions;
pub use index::Image;
pub use inspect::{HistoryEntry, ImageSummary};
pub use pull::{PullEvent, PullOptions};
pub use push::PushOptions;
pub use service::Images;
pub use settings::ImportSettings;
