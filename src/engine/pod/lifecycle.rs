//! A pod's life: StartPod, StopPod, RestartPod, KillPod, PausePod, UnpausePod, RemovePod,
//! and the start of one member (its infra container first). Each acts on the members one
//! at a time, every one whatever the others did, and answers once: the pod's ID, or one
//! `PodContainerError` listing each container that failed and why.

use super::Pods;
use super::store::PodRecord;
use crate::engine::container::{ContainerRecord, ContainerStatus};
use crate::engine::error::{Error, Result};
use crate::engine::runtime::cgroups;

impl Pods<'_> {
    /// io.podman.StartPod: the infra container first, then every member not running;
    /// `NoContainersInPod` for a pod without containers.
    pub fn start_pod(&self, name: &str) -> Result<String> {
        let handle = self.store().resolve(name)?;
        let _op = handle.lock(name)?;
        let pod = handle.record();
        let members = self.members(&pod.id);
        if members.is_empty() {
            return Err(Error::NoContainersInPod {
                name: name.to_string(),
            });
        }
        self.each(&pod, &members, |m| self.start_if_stopped(m))
    }

    /// io.podman.StopPod: every member that runs (or is paused or created), the infra
    /// container last; `timeout` as StopContainer's (negative: each container's own).
    pub fn stop_pod(&self, name: &str, timeout: i64) -> Result<String> {
        let handle = self.store().resolve(name)?;
        let _op = handle.lock(name)?;
        let pod = handle.record();
        self.stop_members(&pod, timeout)
    }

    fn stop_members(&self, pod: &PodRecord, timeout: i64) -> Result<String> {
        let mut members = self.members(&pod.id);
        members.reverse();
        self.each(pod, &members, |m| {
            if !m.status().can_stop() {
                return Ok(());
            }
            self.containers()
                .stop_container(&m.id, timeout)
                .map(drop)
                .or_else(gone_meanwhile)
        })
    }

    /// io.podman.RestartPod: the members that run are stopped (the infra container last),
    /// then every member but the paused is started (the infra container first);
    /// `NoContainersInPod` for a pod without containers.
    pub fn restart_pod(&self, name: &str) -> Result<String> {
        let handle = self.store().resolve(name)?;
        let _op = handle.lock(name)?;
        let pod = handle.record();
        let members = self.members(&pod.id);
        if members.is_empty() {
            return Err(Error::NoContainersInPod {
                name: name.to_string(),
            });
        }
        let stopped = self.stop_members(&pod, -1);
        let started = self.each(&pod, &self.members(&pod.id), |m| self.start_if_stopped(m));
        merge(stopped, started)
    }

    /// io.podman.KillPod: `signal` (-1 or 0: SIGTERM) to every member whose command runs,
    /// the infra container last.
    pub fn kill_pod(&self, name: &str, signal: i64) -> Result<String> {
        let signal = match signal {
            -1 | 0 => 15,
            n => i32::try_from(n)
                .ok()
                .filter(|&n| crate::engine::container::create::is_signal(n.into()))
                .ok_or_else(|| {
                    super::invalid("KillPod", "signal", format!("{n} is not a signal"))
                })?,
        };
        let handle = self.store().resolve(name)?;
        let _op = handle.lock(name)?;
        let pod = handle.record();
        let mut members = self.members(&pod.id);
        members.reverse();
        self.each(&pod, &members, |m| {
            if !m.status().can_kill() {
                return Ok(());
            }
            self.containers()
                .kill_container(&m.id, signal)
                .map(drop)
                .or_else(gone_meanwhile)
        })
    }

    /// io.podman.PausePod: freezes every running member.
    pub fn pause_pod(&self, name: &str) -> Result<String> {
        self.freeze(name, true)
    }

    /// io.podman.UnpausePod: thaws every paused member.
    pub fn unpause_pod(&self, name: &str) -> Result<String> {
        self.freeze(name, false)
    }

    fn freeze(&self, name: &str, pause: bool) -> Result<String> {
        let handle = self.store().resolve(name)?;
        let _op = handle.lock(name)?;
        let pod = handle.record();
        let members = self.members(&pod.id);
        self.each(&pod, &members, |m| {
            let c = self.containers();
            match (pause, m.status()) {
                (true, ContainerStatus::Running) => c.pause_container(&m.id).map(drop),
                (false, ContainerStatus::Paused) => c.unpause_container(&m.id).map(drop),
                _ => Ok(()),
            }
            .or_else(gone_meanwhile)
        })
    }

    /// io.podman.RemovePod: removes the pod, its containers and its cgroup. Without `force`
    /// a pod with containers other than its infra container, or whose infra container runs,
    /// is refused; with it, every container is stopped and removed (the infra container
    /// last). If some cannot be, the pod stays and the answer lists them.
    pub fn remove_pod(&self, name: &str, force: bool) -> Result<String> {
        let handle = self.store().resolve(name)?;
        let _op = handle.lock(name)?;
        let pod = handle.record();
        let mut members = self.members(&pod.id);
        if !force {
            let others = members.iter().filter(|m| !m.config.infra).count();
            if others > 0 {
                return Err(super::invalid(
                    "RemovePod",
                    "force",
                    format!(
                        "pod {} has {others} containers: remove them first, or remove the pod \
                         with force",
                        pod.name
                    ),
                ));
            }
            if members.iter().any(|m| m.status().is_active()) {
                return Err(super::invalid(
                    "RemovePod",
                    "force",
                    format!(
                        "pod {} is running: stop it first, or remove it with force",
                        pod.name
                    ),
                ));
            }
        }
        members.reverse();
        // The caller's force: without it, an infra container started since the check above
        // (StartContainer of the infra takes no pod lock) fails the removal, not stopped.
        self.each(&pod, &members, |m| {
            self.containers()
                .remove_container(&m.id, force)
                .map(drop)
                .or_else(gone_meanwhile)
        })?;
        let left = cgroups::remove(&pod.cgroup_path);
        if !left.is_empty() {
            log::warn!("pod {}: cgroups left: {left:?}", pod.id);
        }
        self.store().remove(&handle)?;
        Ok(pod.id.to_string())
    }

    /// io.podman.StartContainer (and the start of RestartContainer): a member of a pod with
    /// an infra container has that started first, since it joins its namespaces.
    pub fn start_container(&self, name: &str) -> Result<String> {
        let target = self.containers().store().resolve(name)?.snapshot();
        if target.config.pod.is_empty() || target.config.infra {
            return self.containers().start_container(name);
        }
        let handle = self.store().resolve(&target.config.pod)?;
        let _op = handle.lock(&target.config.pod)?;
        let pod = handle.record();
        if pod.infra {
            self.ensure_infra_running(&pod)?;
        }
        self.containers().start_container(name)
    }

    /// io.podman.RestartContainer for a member of a pod: stopped, then started as
    /// [`Pods::start_container`] starts it.
    pub fn restart_container(&self, name: &str, timeout: i64) -> Result<String> {
        let target = self.containers().store().resolve(name)?.snapshot();
        if target.config.pod.is_empty() || target.config.infra {
            return self.containers().restart_container(name, timeout);
        }
        if target.status().can_stop() {
            self.containers().stop_container(name, timeout)?;
        }
        self.start_container(name)
    }

    /// io.podman.RemoveContainer: a pod's infra container goes only with its pod.
    pub fn remove_container(&self, name: &str, force: bool) -> Result<String> {
        let target = self.containers().store().resolve(name)?.snapshot();
        if target.config.infra && self.store().resolve(&target.config.pod).is_ok() {
            return Err(super::invalid(
                "RemoveContainer",
                "name",
                format!(
                    "container {} is the infra container of pod {}: remove the pod instead",
                    target.id, target.config.pod
                ),
            ));
        }
        self.containers().remove_container(name, force)
    }

    /// Starts the pod's infra container unless it runs already.
    fn ensure_infra_running(&self, pod: &PodRecord) -> Result<()> {
        let infra = self.infra_id(pod)?;
        let handle = self.containers().store().resolve(&infra)?;
        let status = self
            .containers()
            .view(&handle)
            .map(|r| r.status())
            .unwrap_or(ContainerStatus::Exited);
        if status.can_start() {
            self.containers().start_container(&infra).map_err(|e| {
                Error::internal("start the pod's infra container", format!("{infra}: {e}"))
            })?;
        }
        Ok(())
    }

    /// Starts a member unless it runs (or is paused); a member of a pod with an infra
    /// container only once that runs (it comes first in the list).
    fn start_if_stopped(&self, m: &ContainerRecord) -> Result<()> {
        if !m.status().can_start() {
            return Ok(());
        }
        self.containers().start_container(&m.id).map(drop)
    }
}

/// A member removed while the pod operation ran, or that got where the operation takes it
/// by itself (it exited after a KillPod before a StopPod reached it), is not a failure of it.
fn gone_meanwhile(e: Error) -> Result<()> {
    match e {
        Error::ContainerNotFound { .. } | Error::InvalidState { .. } => Ok(()),
        e => Err(e),
    }
}

/// One answer for two steps: the errors of both, each container listed once (its first
/// failure).
fn merge(first: Result<String>, second: Result<String>) -> Result<String> {
    match (first, second) {
        (Ok(_), r) => r,
        (Err(e), Ok(_)) => Err(e),
        (
            Err(Error::PodContainer { pod, mut errors }),
            Err(Error::PodContainer { errors: more, .. }),
        ) => {
            for (id, reason) in more {
                if !errors.iter().any(|(known, _)| *known == id) {
                    errors.push((id, reason));
                }
            }
            Err(Error::PodContainer { pod, errors })
        }
        (Err(e), Err(_)) => Err(e),
    }
}
