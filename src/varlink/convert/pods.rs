//! Pods: `PodCreate` → engine options; pod summaries → `ListPodData`.

use crate::engine::pod::{PodCreateOptions, PodSummary};
use crate::varlink::generated as wire;

/// `CreatePod`'s input.
pub fn pod_create_options(c: wire::PodCreate) -> PodCreateOptions {
    PodCreateOptions {
        name: c.name,
        cgroup_parent: c.cgroupParent,
        labels: c.labels.into_iter().collect(),
        share: c.share,
        infra: c.infra,
        infra_command: c.infraCommand,
        infra_image: c.infraImage,
        publish: c.publish,
    }
}

/// A `ListPods` entry, `GetPod`'s reply.
pub fn pod(p: PodSummary) -> wire::ListPodData {
    wire::ListPodData {
        numberofcontainers: p.containers.len().to_string(),
        containersinfo: p
            .containers
            .into_iter()
            .map(|(id, name, status)| wire::ListPodContainerInfo { name, id, status })
            .collect(),
        id: p.id,
        name: p.name,
        createdat: p.created,
        cgroup: p.cgroup_parent,
        status: p.status,
        labels: p.labels.into_iter().collect(),
    }
}
