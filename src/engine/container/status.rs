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
    /// Whether StartContainer may start it.
    pub fn can_start(self) -> bool {
        matches!(
            self,
            ContainerStatus::Configured | ContainerStatus::Created | ContainerStatus::Exited
        )
    }

    /// Whether it has a monitor (and a process, started or not).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused
        )
    }

    /// Whether its command runs (frozen or not): removal then needs force.
    pub fn is_running(self) -> bool {
        matches!(self, ContainerStatus::Running | ContainerStatus::Paused)
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
    use super::*;

    #[test]
    fn statuses() {
        assert!(ContainerStatus::Configured.can_start());
        assert!(ContainerStatus::Exited.can_start());
        assert!(!ContainerStatus::Running.can_start());
        assert!(ContainerStatus::Paused.is_active());
        assert_eq!(ContainerStatus::Exited.as_str(), "exited");
    }
}
