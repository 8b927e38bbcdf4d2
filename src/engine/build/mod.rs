//! Builds: BuildImage from a Dockerfile, on podlink's own containers and layer store.
//!
//! The Dockerfile is parsed by the `parse-dockerfile` crate; this room adds the semantics:
//! variable scoping and expansion (`vars.rs`), the stages and their instructions
//! (`stage.rs`), RUN as a real container (`run.rs`), COPY and ADD from the context or an
//! earlier stage (`copy.rs`), and the cache per stage (`cache.rs`).
//!
//! Layers: each stage runs in one working container (`work.rs`): RUN runs in it, COPY and
//! ADD write into it (`apply.rs`), and its changes are committed as one new layer on the
//! base at the stage's end, as the seed's Podman (buildah) did; config-only instructions
//! add history entries and no layer. `squash` asks for no more than that. What a build makes
//! on the way is journaled (`journal.rs`), so a service killed mid-build removes it at its
//! next start.
//!
//! This room sits above containers and images (it drives both) and below the engine facade.
//!
//! - `options.rs`: `BuildOptions`, the engine's input
//! - `vars.rs`: words, quotes, `$VAR` expansion
//! - `stage.rs`: one stage, instruction by instruction; `state.rs`: what a stage has built
//! - `config.rs`: the config-only instructions
//! - `run.rs`: RUN
//! - `copy.rs`: COPY and ADD; `context.rs`: sources in the context, `.dockerignore`;
//!   `apply.rs`: their files written into the working container
//! - `work.rs`: a stage's working container; `journal.rs`: what a killed build left
//! - `heredoc.rs`: here-documents parse-dockerfile does not read
//! - `cache.rs`: the cache per instruction chain: an unchanged stage reuses its image

mod apply;
mod cache;
mod config;
mod context;
mod copy;
mod heredoc;
mod journal;
pub mod options;
mod run;
mod stage;
mod state;
pub mod vars;
mod work;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use journal::recover;
pub use options::BuildOptions;

use crate::engine::container::Containers;
use crate::engine::error::{Error, Result};

/// A running build: what every stage reads, and what must be cleaned up at the end.
pub(crate) struct Build<'a> {
    containers: &'a Containers,
    options: &'a BuildOptions,
    /// The context directory (the first Dockerfile's).
    context: PathBuf,
    /// The Dockerfile text (every file given, in order).
    text: String,
    /// `.dockerignore` patterns.
    ignore: Vec<String>,
    log: &'a mut dyn FnMut(String),
    /// Images made along the way, removed at the end.
    intermediates: Vec<String>,
    /// Images of the stages before the last, kept after a success (for the cache and
    /// `FROM`/`COPY --from` of a later build), removed after a failure.
    stage_images: Vec<String>,
    /// Stage name or index → its image ID.
    stages: BTreeMap<String, String>,
    /// Build args some ARG declared.
    consumed: BTreeSet<String>,
    /// Where each instruction starts in `text`, in order.
    starts: Vec<usize>,
    /// Working containers not yet released.
    live: Vec<String>,
    /// What the build made, for a restart after a crash.
    journal: journal::Journal,
}

/// io.podman.BuildImage: builds the image `options` describe, sending each log line to
/// `log` as it comes; returns the image ID.
pub fn build(
    containers: &Containers,
    options: &BuildOptions,
    log: &mut dyn FnMut(String),
) -> Result<String> {
    let first = options
        .dockerfiles
        .first()
        .ok_or_else(|| Error::invalid("build.dockerfile", "no Dockerfile given"))?;
    let context = first
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut text = String::new();
    for path in &options.dockerfiles {
        let part = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid(
                "build.dockerfile",
                format!("reading Dockerfile {}: {e}", path.display()),
            )
        })?;
        text.push_str(&part);
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    let text = heredoc::wrap_inline_heredocs(&text);
    let ignore = context::read_dockerignore(&context)?;
    let mut build = Build {
        containers,
        options,
        context,
        text,
        ignore,
        log,
        intermediates: Vec::new(),
        stage_images: Vec::new(),
        stages: BTreeMap::new(),
        consumed: BTreeSet::new(),
        starts: Vec::new(),
        live: Vec::new(),
        journal: journal::Journal::new(containers),
    };
    let outcome = build.run();
    if let Err(e) = &outcome {
        // The log says why it ended, as the error does (a streaming client reads both).
        build.say(format!("Error: {e}"));
    }
    build.clean_up(outcome.is_ok());
    let Build { journal, .. } = build;
    journal.finish();
    outcome
}

impl Build<'_> {
    fn say(&mut self, line: impl Into<String>) {
        (self.log)(line.into());
    }

    fn run(&mut self) -> Result<String> {
        let text = self.text.clone();
        let dockerfile = parse_dockerfile::parse(&text)
            .map_err(|e| Error::invalid("build.dockerfile", format!("Dockerfile: {e}")))?;
        let _escape = vars::set_escape(
            dockerfile
                .parser_directives
                .escape
                .as_ref()
                .map_or('\\', |d| d.value.value),
        );
        self.starts = dockerfile
            .instructions
            .iter()
            .map(stage::start_of)
            .collect();
        let global = stage::global_args(self, &dockerfile)?;
        let count = dockerfile.stages().len();
        if count == 0 {
            return Err(Error::invalid(
                "build.dockerfile",
                "Dockerfile: no FROM instruction",
            ));
        }
        let mut last = String::new();
        for (index, s) in dockerfile.stages().enumerate() {
            let id = stage::run_stage(self, &global, index, count, &s)?;
            self.stages.insert(index.to_string(), id.clone());
            if let Some((_, name)) = &s.from.as_ {
                self.stages
                    .insert(name.value.to_ascii_lowercase(), id.clone());
            }
            last = id;
        }
        let unused: Vec<&String> = self
            .options
            .build_args
            .keys()
            .filter(|k| !self.consumed.contains(*k))
            .collect();
        if !unused.is_empty() {
            let line = format!("[Warning] one or more build args were not consumed: {unused:?}");
            self.say(line);
        }
        self.say(last.clone());
        Ok(last)
    }

    /// Gives the image every name of `tags`.
    fn tag(&self, id: &str) -> Result<()> {
        for tag in &self.options.tags {
            self.containers.images().tag_image(id, tag)?;
        }
        Ok(())
    }

    /// Releases the working containers left (after a failure: removed with `force_rm`),
    /// and removes the intermediate images (their layers stay with the images that use
    /// them).
    fn clean_up(&mut self, succeeded: bool) {
        let remove = self.options.force_rm || (succeeded && self.options.rm);
        for id in self.live.clone() {
            work::release(self, &id, remove);
        }
        let images = self.containers.images();
        let store = self.containers.store();
        let mut gone = std::mem::take(&mut self.intermediates);
        if !succeeded {
            gone.append(&mut self.stage_images);
        }
        for id in gone.iter().rev() {
            if let Err(e) = images.remove(id, false, &|i| store.users_of(i)) {
                log::debug!("build: intermediate image {id}: {e}");
            }
        }
    }
}

/// An error about the instruction at `line`: `what` names it.
pub(crate) fn step_error(what: &str, line: usize, reason: impl std::fmt::Display) -> Error {
    Error::invalid("build", format!("{what} (line {line}): {reason}"))
}
