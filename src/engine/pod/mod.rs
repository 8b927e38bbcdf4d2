//! Pods: groups of containers that share namespaces (through an infra container) and a
//! cgroup, as Podman 1.x made them. A pod is a record of its own; its members are containers
//! whose records name it. Every pod method is a method of [`Pods`], which drives the
//! container room through its public operations and never touches a container's files.
//!
//! Lock order: a pod's operation lock, then (one at a time) its containers' own locks. The
//! infra container starts first and stops last.
//!
//! - `store.rs`: pod records on disk and in memory; finding a pod by ID, name or prefix.
//! - `create.rs`: CreatePod (and its infra container), and CreateContainer into a pod.
//! - `lifecycle.rs`: start, stop, restart, kill, pause, unpause, remove; a member's start.
//! - `view.rs`: ListPods, GetPod, InspectPod, GetPodStats, and the pod's status.

pub mod create;
pub mod lifecycle;
pub mod store;
pub mod view;

use std::sync::Arc;

pub use create::PodCreateOptions;
pub use store::{PodHandle, PodRecord, PodStore};
pub use view::PodSummary;

use crate::engine::container::{ContainerRecord, Containers};
use crate::engine::error::{Error, Result};

/// The pod operations: the pod records and the containers they are made of.
#[derive(Debug, Clone, Copy)]
pub struct Pods<'a> {
    store: &'a PodStore,
    containers: &'a Containers,
}

impl<'a> Pods<'a> {
    /// The pod operations over `store` and `containers`.
    pub fn new(store: &'a PodStore, containers: &'a Containers) -> Self {
        Pods { store, containers }
    }

    /// The pod records.
    pub fn store(&self) -> &PodStore {
        self.store
    }

    /// The containers.
    pub fn containers(&self) -> &Containers {
        self.containers
    }

    /// The containers of pod `id`, as last recorded: the infra container first, then the
    /// others oldest first.
    pub fn members(&self, id: &str) -> Vec<Arc<ContainerRecord>> {
        members_of(&self.all_containers(), id)
    }

    /// Every container, as last recorded (read once for listing many pods). After a restart,
    /// without waiting for the reconciliation of every container (`Containers::view_now`):
    /// an operation on a member has that member reconciled first.
    fn all_containers(&self) -> Vec<Arc<ContainerRecord>> {
        self.containers
            .store()
            .all()
            .iter()
            .filter_map(|h| self.containers.view_now(h))
            .collect()
    }

    /// Runs `op` on each container of `members`, every one whatever the others did; the
    /// failures as one `PodContainerError` of pod `pod`.
    fn each(
        &self,
        pod: &PodRecord,
        members: &[Arc<ContainerRecord>],
        mut op: impl FnMut(&ContainerRecord) -> Result<()>,
    ) -> Result<String> {
        let errors: Vec<(String, String)> = members
            .iter()
            .filter_map(|m| op(m).err().map(|e| (m.id.to_string(), e.to_string())))
            .collect();
        if errors.is_empty() {
            Ok(pod.id.to_string())
        } else {
            Err(Error::PodContainer {
                pod: pod.id.to_string(),
                errors,
            })
        }
    }
}

/// A client error about `field` of `method`'s input, as the container room words them
/// (`CreatePod: share: ...`): the message names the field by its last part.
pub(crate) fn invalid(method: &str, field: &'static str, why: impl std::fmt::Display) -> Error {
    let label = field.rsplit('.').next().unwrap_or(field);
    Error::invalid(field, format!("{method}: {label}: {why}"))
}

/// The containers of pod `id` among `all`: the infra container first, then the others oldest
/// first.
fn members_of(all: &[Arc<ContainerRecord>], id: &str) -> Vec<Arc<ContainerRecord>> {
    let mut members: Vec<Arc<ContainerRecord>> =
        all.iter().filter(|r| r.config.pod == id).cloned().collect();
    members.sort_by(|a, b| (!a.config.infra, &a.created).cmp(&(!b.config.infra, &b.created)));
    members
}
