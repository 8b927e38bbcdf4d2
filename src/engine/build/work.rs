//! A stage's working container: made at the stage's first change (RUN, COPY, ADD, a
//! WORKDIR's directory) on the stage's base image, mounted for the whole stage; every RUN
//! runs in it and every COPY or ADD writes into it, so its upper directory holds the
//! stage's changes, committed as the stage's one new layer at its end (as buildah's working
//! container did). Removed at the stage's end with `rm` (or `force_rm`), and after a failure
//! with `force_rm`; unmounted in any case. Journaled, so a service killed mid-build removes it
//! at its next start.

use std::io::Read;
use std::path::PathBuf;

use super::Build;
use super::state::{StageState, Work};
use crate::engine::error::Result;
use crate::engine::image::compose::Composition;

/// The stage's working container, made and mounted when it has none yet; returns its root.
pub(super) fn ensure(build: &mut Build, state: &mut StageState) -> Result<PathBuf> {
    if let Some(w) = &state.work {
        return Ok(w.root.clone());
    }
    let containers = build.containers;
    let image = match &state.image {
        Some(image) => image.record.id.to_string(),
        None => {
            // `scratch`: a container needs a layer under it; an empty one, never part of
            // the stage's image (its layer is composed on no parent).
            let empty = [0u8; 1024];
            let id = containers.images().compose(
                None,
                Some(&mut &empty[..]),
                &Composition::default(),
            )?;
            build.journal.image(&id);
            build.intermediates.push(id.clone());
            id
        }
    };
    let mut options = build.options.run.clone();
    options.image = image;
    options.command = state.shell.clone();
    options.entrypoint = Some(Vec::new());
    options.rm = false;
    options.user = String::new();
    options.work_dir = String::new();
    let id = containers.create_container(options)?;
    build.journal.container(&id);
    build.live.push(id.clone());
    let root = containers.mount_container(&id)?;
    state.work = Some(Work {
        id,
        root: root.clone(),
    });
    Ok(root)
}

/// The stage's changes as a layer tarball, if it has a working container.
pub(super) fn changes(build: &Build, state: &StageState) -> Result<Option<std::fs::File>> {
    match &state.work {
        Some(w) => Ok(Some(build.containers.changes_tarball(&w.id)?)),
        None => Ok(None),
    }
}

/// Unmounts a working container and removes it when `remove`.
pub(super) fn release(build: &mut Build, id: &str, remove: bool) {
    let containers = build.containers;
    if let Err(e) = containers.unmount_container(id, true) {
        log::warn!("build: unmounting working container {id}: {e}");
    }
    if remove && let Err(e) = containers.remove_container(id, true) {
        log::warn!("build: removing working container {id}: {e}");
    }
    build.live.retain(|c| c != id);
}

/// `file` as a reader for `Images::compose`.
pub(super) fn as_layer(file: &mut Option<std::fs::File>) -> Option<&mut dyn Read> {
    file.as_mut().map(|f| f as &mut dyn Read)
}
