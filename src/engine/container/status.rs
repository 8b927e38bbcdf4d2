//! Where a container is in its life, and what that status allows.

use serde::{Deserialize, Serialize};

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Recorded, never initialized (no monitor, no runtime state).
    Configured,
    /// Initialized: its monitor runs and the runtime created it, but its command has not
    /// started (GetAttachSockets does this, so a client can attach before the start).
    Created,
    /// Its process runs.
    Running,
    /// Its processes are frozen.
    Paused,
    /// It ran (or was initialized) and exited.
    Exited,
}

impl ContainerStatus {
    /// Whether StartContainer may start it (initializing it first unless it is `Created`).
    pub fn can_start(self) -> bool {
        matches!(
            self,
            ContainerStatus::Configured | ContainerStatus::Created | ContainerStatus::Exited
        )
    }

    /// Whether it must be initialized (given a monitor and a process) before it can start or
    /// be attached to: it has no process.
    pub fn can_init(self) -> bool {
        matches!(self, ContainerStatus::Configured | ContainerStatus::Exited)
    }

    /// Whether StopContainer (or a restart, or a forced removal) has a process to stop.
    pub fn can_stop(self) -> bool {
        self.is_active()
    }

    /// Whether its stop signal can reach its command: it started (a created container's
    /// process waits in the runtime, and only SIGKILL ends it).
    pub fn can_stop_gracefully(self) -> bool {
        matches!(self, ContainerStatus::Running | ContainerStatus::Paused)
    }

    /// Whether KillContainer may signal it: its command runs (frozen or not).
    pub fn can_kill(self) -> bool {
        matches!(self, ContainerStatus::Running | ContainerStatus::Paused)
    }

    /// Whether ListContainerProcesses and GetContainerStats have processes to read: its
    /// command runs (frozen or not).
    pub fn can_read_processes(self) -> bool {
        matches!(self, ContainerStatus::Running | ContainerStatus::Paused)
    }

    /// Whether its processes are frozen, so a signal acts only once they are thawed.
    pub fn is_frozen(self) -> bool {
        self == ContainerStatus::Paused
    }

    /// Whether PauseContainer may freeze it (and the service may freeze it for a moment,
    /// to read its files): it runs.
    pub fn can_pause(self) -> bool {
        self == ContainerStatus::Running
    }

    /// Whether UnpauseContainer may thaw it.
    pub fn can_unpause(self) -> bool {
        self == ContainerStatus::Paused
    }

    /// Whether RemoveContainer may remove it without force: its command does not run. With
    /// force, any container is removed (stopped first).
    pub fn can_remove(self) -> bool {
        !matches!(self, ContainerStatus::Running | ContainerStatus::Paused)
    }

    /// Whether ContainerCheckpoint may checkpoint it: it runs (and is not frozen).
    pub fn can_checkpoint(self) -> bool {
        self == ContainerStatus::Running
    }

    /// Whether ContainerRestore may bring it back from a checkpoint: it has no process.
    pub fn can_restore(self) -> bool {
        matches!(self, ContainerStatus::Configured | ContainerStatus::Exited)
    }

    /// Whether it has a monitor (and a process, started or not), which its root filesystem
    /// and run directory serve.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused
        )
    }

    /// The word clients see.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Configured => "configured",
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Exited => "exited",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ContainerStatus::{self, *};

    /// One row per status: what each question answers. MountContainer, Commit and
    /// ExportContainer are allowed in every status, so they have no column.
    #[test]
    fn what_each_status_allows() {
        type Question = fn(ContainerStatus) -> bool;
        let questions: [(&str, Question); 13] = [
            ("start", ContainerStatus::can_start),
            ("init", ContainerStatus::can_init),
            ("stop", ContainerStatus::can_stop),
            ("stop gracefully", ContainerStatus::can_stop_gracefully),
            ("kill", ContainerStatus::can_kill),
            ("processes", ContainerStatus::can_read_processes),
            ("frozen", ContainerStatus::is_frozen),
            ("pause", ContainerStatus::can_pause),
            ("unpause", ContainerStatus::can_unpause),
            ("remove", ContainerStatus::can_remove),
            ("checkpoint", ContainerStatus::can_checkpoint),
            ("restore", ContainerStatus::can_restore),
            ("active", ContainerStatus::is_active),
        ];
        #[rustfmt::skip]
        let table: [(ContainerStatus, [bool; 13]); 5] = [
            //          start  init   stop   grace  kill   procs  frozen pause  unpau  remove chkpt  restor active
            (Configured, [true, true, false, false, false, false, false, false, false, true, false, true, false]),
            (Created, [true, false, true, false, false, false, false, false, false, true, false, false, true]),
            (Running, [false, false, true, true, true, true, false, true, false, false, true, false, true]),
            (Paused, [false, false, true, true, true, true, true, false, true, false, false, false, true]),
            (Exited, [true, true, false, false, false, false, false, false, false, true, false, true, false]),
        ];
        for (status, row) in table {
            for ((question, ask), expected) in questions.iter().zip(row) {
                assert_eq!(ask(status), expected, "{} {question}", status.as_str());
            }
        }
        assert_eq!(Exited.as_str(), "exited");
    }
}
