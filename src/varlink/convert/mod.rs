//! Engine views ↔ wire structs, one file per area. Conversions only: what a field means is
//! decided by the engine, and nothing here calls it.
//!
//! - `system`: `GetVersion` and `GetInfo` replies;
//! - `images`: image list and history entries;
//! - `containers`: container list entries and stats; `Create` and `Runlabel` → engine options;
//! - `pods`: `PodCreate` → engine options; pod summaries → `ListPodData`;
//! - `registries`: TLS, certificate and credential arguments → the registry client's options;
//!   search results → `ImageSearch`.

pub(super) mod containers;
pub(super) mod images;
pub(super) mod pods;
pub(super) mod registries;
pub(super) mod system;
