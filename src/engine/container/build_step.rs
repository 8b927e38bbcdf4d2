//! A build's working container: BuildImage runs every RUN of a stage in the same container
//! (its upper directory collects the stage's changes, as buildah's working container did),
//! so the container's process is given anew before each start; and its changes are read as a
//! layer tarball for the stage's image. Only the build room calls these.

use std::path::PathBuf;

use super::service::Containers;
use crate::engine::error::{Error, Result};

/// The process a working container runs next: one RUN instruction's.
#[derive(Debug, Clone, Default)]
pub struct StepProcess {
    /// The full command.
    pub command: Vec<String>,
    /// `KEY=value` entries over the defaults (PATH, TERM, container).
    pub env: Vec<String>,
    /// Working directory; empty: `/`.
    pub work_dir: String,
    /// The user (`uid[:gid]` or names), looked up in the container's own files.
    pub user: String,
}

impl Containers {
    /// Starts an exited (or never started) working container again with `step`'s process:
    /// the record's process fields change, its log starts empty (the build follows it), and
    /// the runtime spec is made anew at this start. The user is looked up in the container's
    /// files as they are now (a RUN before may have added it).
    pub(crate) fn start_step(&self, name: &str, step: &StepProcess) -> Result<()> {
        let handle = self.find_container(name)?;
        let mut record = self.lock_container(&handle, name)?;
        self.refresh(&mut record);
        if record.status().is_active() {
            return Err(record.refuse("run a build step"));
        }
        let overlay = self.overlay_of(&record);
        let mut files: Vec<PathBuf> = vec![overlay.upper.clone()];
        files.extend(overlay.lower.iter().cloned());
        let (uid, gid, groups) = super::create::resolve_user(&step.user, &files)
            .map_err(|e| Error::invalid("build", format!("USER {:?}: {e}", step.user)))?;
        let c = &mut record.config;
        let mut env: Vec<String> = c
            .env
            .iter()
            .filter(|e| {
                ["PATH=", "TERM=", "container="]
                    .iter()
                    .any(|k| e.starts_with(k))
            })
            .filter(|e| {
                let key = e.split('=').next().unwrap_or_default();
                !step.env.iter().any(|s| s.split('=').next() == Some(key))
            })
            .cloned()
            .collect();
        env.extend(step.env.iter().cloned());
        c.command = step.command.clone();
        c.cmd = step.command.clone();
        c.entrypoint = Vec::new();
        c.env = env;
        c.work_dir = if step.work_dir.is_empty() {
            "/".into()
        } else {
            step.work_dir.clone()
        };
        c.user = step.user.clone();
        c.uid = uid;
        c.gid = gid;
        c.additional_gids = groups;
        if !c.log_path.is_empty() {
            let log = PathBuf::from(&c.log_path);
            match std::fs::File::create(&log) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("empty", &log, e)),
            }
        }
        self.store().save(&record)?;
        self.start_locked(&mut record)
    }

    /// The container's changes (its upper directory) as a layer tarball in an unlinked
    /// temporary file, rewound, read as `commit` reads them.
    pub(crate) fn changes_tarball(&self, name: &str) -> Result<std::fs::File> {
        let handle = self.find_container(name)?;
        let record = self.lock_container(&handle, name)?;
        let overlay = self.overlay_of(&record);
        super::commit::ensure_upper(&overlay)?;
        self.use_rootfs(&record);
        let layer = self.read_layer(&record, &overlay, false);
        self.done_with_rootfs(&record);
        layer
    }
}
