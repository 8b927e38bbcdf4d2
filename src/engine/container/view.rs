//! What clients read about containers: lists, inspect data, existence, logs.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{ContainerRecord, ContainerStatus, lock};
use crate::engine::{Engine, Result, monitor};

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
}

impl Engine {
    /// io.podman.ListContainers: every container, newest first.
    pub fn list_containers(&self) -> Vec<ContainerSummary> {
        let mut list: Vec<ContainerSummary> = self
            .containers()
            .all()
            .iter()
            .filter(|h| self.refresh_and_reap(h))
            .map(|h| summary(&lock(h)))
            .collect();
        list.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        list
    }

    /// io.podman.GetContainer.
    pub fn get_container(&self, name: &str) -> Result<ContainerSummary> {
        let handle = self.find_container(name)?;
        let mut record = lock(&handle);
        self.refresh(&mut record);
        Ok(summary(&record))
    }

    /// io.podman.ContainerExists.
    pub fn container_exists(&self, name: &str) -> bool {
        self.find_container(name).is_ok()
    }

    /// io.podman.InspectContainer: the fields `podman inspect` gives.
    pub fn inspect_container(&self, name: &str) -> Result<Value> {
        let handle = self.find_container(name)?;
        let mut record = lock(&handle);
        self.refresh(&mut record);
        let overlay = self.overlay_of(&record);
        let status = record.status();
        let run_dir = self.containers().run_dir(&record.id);
        Ok(json!({
            "Id": record.id,
            "Created": record.created,
            "Path": record.command.first(),
            "Args": record.command.iter().skip(1).collect::<Vec<_>>(),
            "State": {
                "OciVersion": "1.0.2",
                "Status": status.as_str(),
                "Running": status == ContainerStatus::Running,
                "Paused": status == ContainerStatus::Paused,
                "Restarting": false,
                "OOMKilled": false,
                "Dead": false,
                "Pid": record.state.pid,
                "ExitCode": record.state.exit_code,
                "Error": "",
                "StartedAt": record.state.started_at,
                "FinishedAt": record.state.finished_at,
            },
            "Image": record.image_id,
            "ImageName": record.image_name,
            "Rootfs": "",
            "Name": record.name,
            "RestartCount": 0,
            "Driver": "overlay",
            "MountLabel": "",
            "ProcessLabel": "",
            "LogPath": run_dir.join(monitor::LOG_FILE),
            "Mounts": [],
            "GraphDriver": {
                "Name": "overlay",
                "Data": {
                    "LowerDir": overlay.lower.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"),
                    "UpperDir": overlay.upper,
                    "WorkDir": overlay.work,
                    "MergedDir": overlay.merged,
                },
            },
            "Config": {
                "Hostname": record.hostname,
                "User": record.user,
                "Env": record.env,
                "Cmd": record.command,
                "Image": record.image_name,
                "WorkingDir": record.work_dir,
                "Labels": record.labels,
                "StopSignal": record.stop_signal,
                "StopTimeout": record.stop_timeout,
                "Tty": false,
                "OpenStdin": false,
            },
            "HostConfig": {
                "AutoRemove": record.rm,
                "ReadonlyRootfs": record.readonly_rootfs,
                "NetworkMode": "private",
                "LogConfig": {"Type": "k8s-file", "Path": run_dir.join(monitor::LOG_FILE)},
            },
        }))
    }

    /// io.podman.GetContainerLogs: the log's lines as the monitor wrote them.
    pub fn container_logs(&self, name: &str) -> Result<Vec<String>> {
        let handle = self.find_container(name)?;
        let id = lock(&handle).id.clone();
        let path = self.containers().run_dir(&id).join(monitor::LOG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text.lines().map(str::to_string).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(crate::engine::Error::io("read", path, e)),
        }
    }
}

fn summary(record: &ContainerRecord) -> ContainerSummary {
    let status = record.status();
    let mut namespaces = HashMap::new();
    if status.is_active() && record.state.pid > 0 {
        // Keyed as the wire's ContainerNameSpace: "pidns" is the pid namespace, "pid" the pid.
        for (key, ns) in [
            ("user", "user"),
            ("uts", "uts"),
            ("pidns", "pid"),
            ("cgroup", "cgroup"),
            ("net", "net"),
            ("mnt", "mnt"),
            ("ipc", "ipc"),
        ] {
            if let Ok(link) = std::fs::read_link(format!("/proc/{}/ns/{ns}", record.state.pid)) {
                namespaces.insert(key.to_string(), link.display().to_string());
            }
        }
        namespaces.insert("pid".into(), record.state.pid.to_string());
    }
    ContainerSummary {
        id: record.id.clone(),
        image: record.image_name.clone(),
        image_id: record.image_id.clone(),
        command: record.command.clone(),
        created: record.created.clone(),
        running_for: running_for(&record.created),
        status: status.as_str().to_string(),
        name: record.name.clone(),
        labels: record.labels.clone(),
        running: status == ContainerStatus::Running,
        namespaces,
    }
}

/// "5 seconds", "3 minutes"... since `created`.
fn running_for(created: &str) -> String {
    let Ok(then) = humantime::parse_rfc3339_weak(created) else {
        return String::new();
    };
    let secs = std::time::SystemTime::now()
        .duration_since(then)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match secs {
        0..=59 => format!("{secs} seconds"),
        60..=3599 => format!("{} minutes", secs / 60),
        3600..=86399 => format!("{} hours", secs / 3600),
        _ => format!("{} days", secs / 86400),
    }
}

impl Engine {
    /// GetContainerLogs with `more`: hands `send` the lines there are, then new lines as the
    /// monitor writes them, until the container exits (or `send` returns false: the client
    /// went away). Returns after the last lines.
    pub fn follow_container_logs(
        &self,
        name: &str,
        send: &mut dyn FnMut(Vec<String>) -> bool,
    ) -> Result<()> {
        use std::io::{BufRead, Seek, SeekFrom};
        let handle = self.find_container(name)?;
        let id = lock(&handle).id.clone();
        let path = self.containers().run_dir(&id).join(monitor::LOG_FILE);
        let mut offset = 0u64;
        let mut partial = String::new();
        loop {
            // Whether it still runs is read before the log, so nothing written before the
            // exit is missed.
            let active = {
                let mut record = lock(&handle);
                self.refresh(&mut record);
                record.status().is_active()
            };
            let mut lines = Vec::new();
            if let Ok(mut file) = std::fs::File::open(&path) {
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| crate::engine::Error::io("read", &path, e))?;
                let mut reader = std::io::BufReader::new(file);
                loop {
                    let mut line = String::new();
                    let n = reader
                        .read_line(&mut line)
                        .map_err(|e| crate::engine::Error::io("read", &path, e))?;
                    if n == 0 {
                        break;
                    }
                    offset += n as u64;
                    partial.push_str(&line);
                    if partial.ends_with('\n') {
                        partial.pop();
                        lines.push(std::mem::take(&mut partial));
                    }
                }
            }
            if !lines.is_empty() && !send(lines) {
                return Ok(());
            }
            if !active {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
