//! What clients read about containers in lists: `ListContainers`, `GetContainer`,
//! `ContainerExists`. Readers never wait for an operation on a container (see
//! `Containers::view`). The inspect document is `inspect.rs`.

use std::collections::HashMap;

use super::record::ContainerRecord;
use super::service::Containers;
use super::status::ContainerStatus;
use crate::engine::error::Result;
use crate::engine::network::PortMapping;
use crate::engine::runtime::spec::input::MountSource;

/// A container as `ListContainers` and `GetContainer` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSummary {
    /// Full ID.
    pub id: String,
    /// The image as named at creation.
    pub image: String,
    /// The image's ID.
    pub image_id: String,
    /// The command.
    pub command: Vec<String>,
    /// Creation time (RFC 3339).
    pub created: String,
    /// How long ago it was created, in words.
    pub running_for: String,
    /// `running`, `exited`...
    pub status: String,
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// Whether it runs.
    pub running: bool,
    /// Its namespaces (`/proc/PID/ns/*` links) while running.
    pub namespaces: HashMap<String, String>,
    /// Its mounts beyond the defaults.
    pub mounts: Vec<MountSummary>,
    /// The ports it publishes on the bridge.
    pub ports: Vec<PortMapping>,
}

/// A mount as `ListContainerData` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSummary {
    /// Path in the container.
    pub destination: String,
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Host path, volume name or `tmpfs`.
    pub source: String,
    /// Mount options.
    pub options: Vec<String>,
}

impl Containers {
    /// io.podman.ListContainers: every container, newest first. After a restart it answers
    /// once the records are read, without waiting for reconciliation (`view_now`).
    pub fn list_containers(&self) -> Vec<ContainerSummary> {
        let mut records: Vec<_> = self
            .store()
            .all()
            .iter()
            .filter_map(|h| self.view_now(h))
            .collect();
        // Sorted as records (pointers) rather than as summaries, which are large to move.
        records.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        let now = std::time::SystemTime::now();
        records.iter().map(|r| self.summary(r, now)).collect()
    }

    /// io.podman.GetContainer.
    pub fn get_container(&self, name: &str) -> Result<ContainerSummary> {
        let (_, record) = self.view_container(name)?;
        Ok(self.summary(&record, std::time::SystemTime::now()))
    }

    /// io.podman.ContainerExists.
    pub fn container_exists(&self, name: &str) -> bool {
        self.view_container(name).is_ok()
    }

    /// A container as listed, `now` (for how long ago it was created).
    fn summary(&self, record: &ContainerRecord, now: std::time::SystemTime) -> ContainerSummary {
        let status = record.status();
        let mut namespaces = HashMap::new();
        if status.is_active() && record.state.pid > 0 {
            // Keyed as the wire's ContainerNameSpace: "pidns" is the pid namespace, "pid" the
            // pid.
            for (key, ns) in [
                ("user", "user"),
                ("uts", "uts"),
                ("pidns", "pid"),
                ("cgroup", "cgroup"),
                ("net", "net"),
                ("mnt", "mnt"),
                ("ipc", "ipc"),
            ] {
                if let Ok(link) = std::fs::read_link(format!("/proc/{}/ns/{ns}", record.state.pid))
                {
                    namespaces.insert(key.to_string(), link.display().to_string());
                }
            }
            namespaces.insert("pid".into(), record.state.pid.to_string());
        }
        ContainerSummary {
            id: record.id.to_string(),
            image: record.image_name.clone(),
            image_id: record.image_id.to_string(),
            command: record.config.command.clone(),
            created: record.created.clone(),
            running_for: running_for(&record.created, now),
            status: status.as_str().to_string(),
            name: record.name.clone(),
            labels: record.config.labels.clone(),
            running: status == ContainerStatus::Running,
            namespaces,
            mounts: self.mount_summaries(record),
            ports: record
                .config
                .bridge
                .as_ref()
                .map(|b| b.ports.clone())
                .unwrap_or_default(),
        }
    }

    /// Its mounts beyond the defaults, as listed and inspected.
    pub(super) fn mount_summaries(&self, record: &ContainerRecord) -> Vec<MountSummary> {
        record
            .config
            .mounts
            .iter()
            .enumerate()
            .map(|(index, m)| {
                let (kind, source) = match &m.source {
                    MountSource::Bind { source } => ("bind", source.clone()),
                    MountSource::Volume { name } => ("volume", name.clone()),
                    MountSource::ImageVolume => (
                        "bind",
                        self.store()
                            .image_volume(&record.id, index)
                            .display()
                            .to_string(),
                    ),
                    MountSource::Tmpfs => ("tmpfs", "tmpfs".to_string()),
                };
                MountSummary {
                    destination: m.destination.clone(),
                    kind: kind.into(),
                    source,
                    options: m.options.clone(),
                }
            })
            .collect()
    }
}

/// "5 seconds", "3 minutes"... from `created` to `now`.
fn running_for(created: &str, now: std::time::SystemTime) -> String {
    let Ok(then) = humantime::parse_rfc3339_weak(created) else {
        return String::new();
    };
    let secs = now.duration_since(then).map(|d| d.as_secs()).unwrap_or(0);
    match secs {
        0..=59 => format!("{secs} seconds"),
        60..=3599 => format!("{} minutes", secs / 60),
        3600..=86399 => format!("{} hours", secs / 3600),
        _ => format!("{} days", secs / 86400),
    }
}
