//! What clients read about pods: ListPods, GetPod, InspectPod, GetPodStats. Readers never
//! wait for an operation on a pod or its containers (they read the containers' current
//! records as `Containers::view` gives them).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::Pods;
use super::store::PodRecord;
use crate::engine::container::stats::ContainerStats;
use crate::engine::container::{ContainerRecord, ContainerStatus};
use crate::engine::error::{Error, Result};

/// A pod as ListPods and GetPod show it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSummary {
    /// Full ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Creation time (RFC 3339).
    pub created: String,
    /// Its cgroup parent.
    pub cgroup_parent: String,
    /// `Running`, `Paused`, `Exited`, `Stopped`, `Error` or `Created`.
    pub status: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Its containers: (ID, name, status as containers list it).
    pub containers: Vec<(String, String, String)>,
}

impl Pods<'_> {
    /// io.podman.ListPods: every pod, oldest first.
    pub fn list_pods(&self) -> Vec<PodSummary> {
        let all = self.all_containers();
        let mut pods: Vec<PodSummary> = self
            .store()
            .all()
            .iter()
            .map(|p| {
                let pod = p.record();
                summary(&pod, &super::members_of(&all, &pod.id))
            })
            .collect();
        pods.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
        pods
    }

    /// io.podman.GetPod.
    pub fn get_pod(&self, name: &str) -> Result<PodSummary> {
        let pod = self.store().resolve(name)?.record();
        Ok(summary(&pod, &self.members(&pod.id)))
    }

    /// io.podman.InspectPod: the document `podman pod inspect` gave (Config, State,
    /// Containers).
    pub fn inspect_pod(&self, name: &str) -> Result<Value> {
        let pod = self.store().resolve(name)?.record();
        let members = self.members(&pod.id);
        let infra = members.iter().find(|m| m.config.infra);
        let mut config = json!({
            "id": pod.id.as_str(),
            "name": pod.name,
            "labels": pod.labels,
            "cgroupParent": pod.cgroup_parent,
            // Podman 1.x's CreatePod always gave a pod its own cgroup.
            "sharesCgroup": true,
            "infraConfig": {
                "makeInfraContainer": pod.infra,
                "infraPortBindings": infra
                    .and_then(|i| i.config.bridge.as_ref())
                    .map(|b| {
                        b.ports
                            .iter()
                            .map(|p| {
                                json!({
                                    "hostPort": p.host_port,
                                    "containerPort": p.container_port,
                                    "protocol": p.protocol.as_str(),
                                    "hostIP": p.host_ip,
                                })
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default(),
            },
            "created": pod.created,
        });
        for (kind, key) in [
            ("pid", "sharesPid"),
            ("ipc", "sharesIpc"),
            ("net", "sharesNet"),
            ("uts", "sharesUts"),
        ] {
            // Podman omitted the false ones.
            if pod.shares(kind) {
                config[key] = json!(true);
            }
        }
        Ok(json!({
            "Config": config,
            "State": {
                "cgroupPath": pod.cgroup_path,
                "infraContainerID": infra.map(|i| i.id.to_string()).unwrap_or_default(),
            },
            "Containers": members
                .iter()
                .map(|m| json!({"id": m.id.as_str(), "state": m.status().as_str()}))
                .collect::<Vec<_>>(),
        }))
    }

    /// io.podman.GetPodStats: the pod's ID and the stats of each member whose processes
    /// run (the infra container's too); `NoContainerRunning` when none does.
    pub fn get_pod_stats(&self, name: &str) -> Result<(String, Vec<ContainerStats>)> {
        let pod = self.store().resolve(name)?.record();
        let stats: Vec<ContainerStats> = self
            .members(&pod.id)
            .iter()
            .filter(|m| m.status().can_read_processes())
            .filter_map(|m| self.containers().get_container_stats(&m.id).ok())
            .collect();
        if stats.is_empty() {
            return Err(Error::NoContainerRunning {
                id: pod.id.to_string(),
            });
        }
        Ok((pod.id.to_string(), stats))
    }
}

/// A pod's summary from its record and its members.
fn summary(pod: &PodRecord, members: &[Arc<ContainerRecord>]) -> PodSummary {
    PodSummary {
        id: pod.id.to_string(),
        name: pod.name.clone(),
        created: pod.created.clone(),
        cgroup_parent: pod.cgroup_parent.clone(),
        status: pod_status(members).to_string(),
        labels: pod.labels.clone(),
        containers: members
            .iter()
            .map(|m| {
                (
                    m.id.to_string(),
                    m.name.clone(),
                    m.status().as_str().to_string(),
                )
            })
            .collect(),
    }
}

/// A pod's status from its containers', as Podman 1.x's `GetPodStatus` computed it: Created
/// without containers; Running if any runs; Paused if all are; Exited if all stopped;
/// Stopped if some did; else Created. (Podman's Error, for a container in no known state,
/// cannot happen here: every status is known.)
fn pod_status(members: &[Arc<ContainerRecord>]) -> &'static str {
    if members.is_empty() {
        return "Created";
    }
    let count = |wanted: &[ContainerStatus]| {
        members
            .iter()
            .filter(|m| wanted.contains(&m.status()))
            .count()
    };
    let running = count(&[ContainerStatus::Running]);
    let paused = count(&[ContainerStatus::Paused]);
    let stopped = count(&[ContainerStatus::Exited]);
    if running > 0 {
        "Running"
    } else if paused == members.len() {
        "Paused"
    } else if stopped == members.len() {
        "Exited"
    } else if stopped > 0 {
        "Stopped"
    } else {
        "Created"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::new_record;
    use crate::engine::id::container::ContainerId;
    use crate::engine::id::image::ImageId;

    fn members(statuses: &[ContainerStatus]) -> Vec<Arc<ContainerRecord>> {
        statuses
            .iter()
            .map(|s| {
                let id = ContainerId::random();
                let image = ImageId::parse(&"c3".repeat(32)).unwrap();
                let mut record = new_record(id, "m".into(), image);
                record.state.status = Some(*s);
                Arc::new(record)
            })
            .collect()
    }

    /// Podman 1.x's GetPodStatus, case by case.
    #[test]
    fn pod_status_follows_podman() {
        use ContainerStatus::*;
        for (statuses, expected) in [
            (&[][..], "Created"),
            (&[Running, Exited][..], "Running"),
            (&[Paused, Paused][..], "Paused"),
            (&[Paused, Exited][..], "Stopped"),
            (&[Exited, Exited][..], "Exited"),
            (&[Exited, Configured][..], "Stopped"),
            (&[Created, Configured][..], "Created"),
        ] {
            assert_eq!(pod_status(&members(statuses)), expected, "{statuses:?}");
        }
    }
}
