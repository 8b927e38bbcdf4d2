//! One stage: FROM, then each instruction in order, then the stage's image composed.

use std::sync::Arc;

use parse_dockerfile::{Dockerfile, Instruction, Stage as ParsedStage};
use serde_json::json;

use super::state::{StageState, line_of};
use super::vars::{self, Vars};
use super::{Build, step_error};
use crate::engine::error::{Error, Result};
use crate::engine::image::compose::Composition;
use crate::engine::image::index::Image;
use crate::engine::image::pull::PullOptions;

/// Where an instruction's keyword starts.
pub(super) fn start_of(i: &Instruction) -> usize {
    match i {
        Instruction::Add(x) => x.add.span.start,
        Instruction::Arg(x) => x.arg.span.start,
        Instruction::Cmd(x) => x.cmd.span.start,
        Instruction::Copy(x) => x.copy.span.start,
        Instruction::Entrypoint(x) => x.entrypoint.span.start,
        Instruction::Env(x) => x.env.span.start,
        Instruction::Expose(x) => x.expose.span.start,
        Instruction::From(x) => x.from.span.start,
        Instruction::Healthcheck(x) => x.healthcheck.span.start,
        Instruction::Label(x) => x.label.span.start,
        Instruction::Maintainer(x) => x.maintainer.span.start,
        Instruction::Onbuild(x) => x.onbuild.span.start,
        Instruction::Run(x) => x.run.span.start,
        Instruction::Shell(x) => x.shell.span.start,
        Instruction::Stopsignal(x) => x.stopsignal.span.start,
        Instruction::User(x) => x.user.span.start,
        Instruction::Volume(x) => x.volume.span.start,
        Instruction::Workdir(x) => x.workdir.span.start,
        _ => 0,
    }
}

/// An instruction's text: from its keyword to the next instruction (comments and blank
/// lines after it dropped), continuation lines joined.
pub(super) fn text_of(text: &str, start: usize, next: Option<usize>) -> String {
    let end = next.unwrap_or(text.len());
    let lines: Vec<&str> = text[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    lines.join("\n").replace("\\\n", " ")
}

/// The global ARGs (before the first FROM), with their values: a build arg's, else the
/// default.
pub(super) fn global_args(build: &mut Build, dockerfile: &Dockerfile) -> Result<Vars> {
    let mut out = Vars::new();
    for arg in dockerfile.global_args() {
        let line = line_of(&build.text, arg.arg.span.start);
        let pairs = vars::pairs(&arg.arguments.value, &out, false)
            .map_err(|e| step_error("ARG", line, e))?;
        for (name, default) in pairs {
            build.consumed.insert(name.clone());
            let value = build.options.build_args.get(&name).cloned().or(default);
            if let Some(v) = value {
                out.insert(name, v);
            } else {
                out.insert(name, String::new());
            }
        }
    }
    Ok(out)
}

/// Runs stage `index` of `count`; returns its image's ID.
pub(super) fn run_stage(
    build: &mut Build,
    global: &Vars,
    index: usize,
    count: usize,
    stage: &ParsedStage,
) -> Result<String> {
    let text = build.text.clone();
    let from_line = line_of(&text, stage.from.from.span.start);
    let base_name = vars::word(&stage.from.image.value, global)
        .map_err(|e| step_error("FROM", from_line, e))?;
    build.say(format!(
        "STEP {}/{count}: FROM {base_name}{}",
        index + 1,
        stage
            .from
            .as_
            .as_ref()
            .map(|(_, n)| format!(" AS {}", n.value))
            .unwrap_or_default()
    ));
    let image = resolve_base(build, &base_name).map_err(|e| step_error("FROM", from_line, e))?;
    let last = index + 1 == count;
    let mut state = new_state(image.clone());
    let triggers: Vec<String> = state
        .settings
        .remove("OnBuild")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let key = match build.options.pull_always {
        true => None,
        false => stage_key(build, global, &image, &triggers, stage, from_line, last)?,
    };
    if let Some(id) = key.as_ref().and_then(|k| super::cache::lookup(build, k)) {
        build.say(format!("Using cache {id}"));
        if last {
            build.tag(&id)?;
        }
        return Ok(id);
    }
    for_each(
        build,
        &mut state,
        &triggers,
        stage,
        from_line,
        &mut |build, state, ins, ins_text, line, trigger| {
            match trigger {
                Some(t) => build.say(format!("ONBUILD {t}")),
                None => build.say(format!("STEP: {ins_text}")),
            }
            step(build, state, global, ins, ins_text, line)
        },
    )?;
    super::copy::flush_dirs(build, &mut state)?;
    let mut settings = state.settings.clone();
    if !build.options.docker_format && settings.remove("Shell").is_some() {
        build.say(
            "[Warning] SHELL is not supported for OCI image format, it is not kept in the \
             image's config: use the docker format",
        );
    }
    if last {
        for label in &build.options.labels {
            let (k, v) = label.split_once('=').unwrap_or((label, ""));
            let labels = settings.entry("Labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            labels[k] = json!(v);
        }
    }
    let composition = Composition {
        settings,
        history: state.history.clone(),
        author: state.author.clone(),
        docker_format: build.options.docker_format,
        names: if last {
            build.options.tags.clone()
        } else {
            Vec::new()
        },
        annotations: if last {
            build.options.annotations.clone()
        } else {
            Vec::new()
        },
    };
    // One new layer: the working container's changes, as the seed's Podman committed.
    let mut layer = super::work::changes(build, &state)?;
    let mut composition = composition;
    let new_history = &mut composition.history[state.base_history..];
    if layer.is_some() {
        squash_history(new_history);
    } else {
        new_history
            .iter_mut()
            .for_each(|e| e["empty_layer"] = json!(true));
    }
    let images = build.containers.images();
    let id = images.compose(
        state.image.as_deref(),
        super::work::as_layer(&mut layer),
        &composition,
    )?;
    drop(layer);
    if let Some(work) = state.work.take() {
        let remove = build.options.rm || build.options.force_rm;
        super::work::release(build, &work.id, remove);
    }
    if !last {
        build.journal.image(&id);
        build.stage_images.push(id.clone());
    }
    if let Some(key) = key
        && let Err(e) = super::cache::store(build, &key, &id)
    {
        log::warn!("build cache: {e}");
    }
    Ok(id)
}

/// A stage's state on `image` (`None`: scratch) before its first instruction.
fn new_state(image: Option<Arc<Image>>) -> StageState {
    let mut state = StageState {
        settings: image
            .as_ref()
            .and_then(|i| i.config["config"].as_object().cloned())
            .unwrap_or_default(),
        history: image
            .as_ref()
            .and_then(|i| i.config["history"].as_array().cloned())
            .unwrap_or_default(),
        author: String::new(),
        base_history: 0,
        shell: image
            .as_ref()
            .and_then(|i| i.config["config"]["Shell"].as_array().cloned())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]),
        image,
        work: None,
        args: Vars::new(),
        pending_dirs: Vec::new(),
    };
    state.base_history = state.history.len();
    state
}

/// What `for_each` does with each instruction: (build, stage, instruction, its text, its
/// line, the ONBUILD trigger it comes from).
type Visit<'v> = dyn FnMut(&mut Build, &mut StageState, &Instruction, String, usize, Option<&str>) -> Result<()>
    + 'v;

/// Visits the base's ONBUILD triggers, then the stage's instructions, in order.
fn for_each(
    build: &mut Build,
    state: &mut StageState,
    triggers: &[String],
    stage: &ParsedStage,
    from_line: usize,
    visit: &mut Visit,
) -> Result<()> {
    for trigger in triggers {
        let source = format!("FROM scratch\n{trigger}\n");
        let parsed = parse_dockerfile::parse(&source)
            .map_err(|e| step_error("ONBUILD trigger", from_line, e))?;
        for ins in parsed.instructions.iter().skip(1) {
            visit(build, state, ins, trigger.clone(), from_line, Some(trigger))?;
        }
    }
    let text = build.text.clone();
    let starts: Vec<usize> = stage.instructions.iter().map(start_of).collect();
    for (n, ins) in stage.instructions.iter().enumerate() {
        let next = build.starts.iter().copied().find(|&x| x > starts[n]);
        let line = line_of(&text, starts[n]);
        let ins_text = text_of(&text, starts[n], next);
        visit(build, state, ins, ins_text, line, None)?;
    }
    Ok(())
}

/// The stage's cache key (see `cache.rs`), from a dry pass: the config-only instructions
/// change a scratch state (the variables later ones expand), RUN, COPY and ADD are only
/// keyed. `None`: the stage cannot be keyed (ADD of a URL, a source that does not resolve).
fn stage_key(
    build: &mut Build,
    global: &Vars,
    image: &Option<Arc<Image>>,
    triggers: &[String],
    stage: &ParsedStage,
    from_line: usize,
    last: bool,
) -> Result<Option<String>> {
    let parent = image
        .as_ref()
        .map_or_else(|| "scratch".to_string(), |i| i.record.id.to_string());
    let mut key = Some(super::cache::first(build, &parent, last));
    let mut state = new_state(image.clone());
    state.settings.remove("OnBuild");
    for_each(
        build,
        &mut state,
        triggers,
        stage,
        from_line,
        &mut |build, state, ins, ins_text, line, _| {
            let Some(previous) = &key else {
                return Ok(());
            };
            key = match super::copy::sources_key(build, state, ins) {
                Ok(Some(sources)) => Some(super::cache::next(
                    previous,
                    &ins_text,
                    &state.vars(),
                    &sources,
                )),
                _ => None,
            };
            match ins {
                Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) => Ok(()),
                _ => step(build, state, global, ins, ins_text, line),
            }
        },
    )?;
    Ok(key)
}

/// The base image of a stage: an earlier stage, `scratch`, or an image: pulled when missing
/// with `pull`, always with `pull_always`; a missing one without either is an error.
fn resolve_base(build: &mut Build, name: &str) -> Result<Option<Arc<Image>>> {
    let images = build.containers.images();
    if name.eq_ignore_ascii_case("scratch") {
        return Ok(None);
    }
    if let Some(id) = build.stages.get(&name.to_ascii_lowercase()) {
        return images.resolve(id).map(Some);
    }
    if !build.options.pull_always
        && let Ok(image) = images.resolve(name)
    {
        return Ok(Some(image));
    }
    if !build.options.pull && !build.options.pull_always {
        // Podman 1.x's BuildImage: `pull` false is buildah's PullNever, true PullIfMissing,
        // `pull_always` PullAlways.
        return Err(Error::invalid(
            "build.pull",
            format!("image {name:?} is not stored, and pull is false"),
        ));
    }
    build.say(format!("Pulling {name}"));
    let options = PullOptions {
        name: name.to_string(),
        ..PullOptions::default()
    };
    let id = images.pull(&options, &mut |_| {})?;
    images.resolve(&id).map(Some)
}

/// Runs one instruction of the stage.
fn step(
    build: &mut Build,
    state: &mut StageState,
    global: &Vars,
    ins: &Instruction,
    ins_text: String,
    line: usize,
) -> Result<()> {
    match ins {
        Instruction::Run(run) => super::run::run(build, state, run, &ins_text, line),
        Instruction::Copy(copy) => super::copy::copy(build, state, copy, &ins_text, line),
        Instruction::Add(add) => super::copy::add(build, state, add, &ins_text, line),
        Instruction::Arg(arg) => {
            let pairs = vars::pairs(&arg.arguments.value, &state.vars(), false)
                .map_err(|e| step_error("ARG", line, e))?;
            for (name, default) in pairs {
                build.consumed.insert(name.clone());
                let value = build
                    .options
                    .build_args
                    .get(&name)
                    .cloned()
                    .or(default)
                    .or_else(|| global.get(&name).cloned())
                    .unwrap_or_default();
                state.args.insert(name, value);
            }
            state.record(&format!("/bin/sh -c #(nop) {ins_text}"), true);
            Ok(())
        }
        Instruction::From(_) => Err(Error::internal("build", "FROM inside a stage")),
        other => super::config::apply(build, state, other, &ins_text, line),
    }
}

/// The new history entries of a stage with a layer: one layer, the last change's.
fn squash_history(entries: &mut [serde_json::Value]) {
    // A stage whose only change is a WORKDIR's directory: that entry holds the layer.
    let Some(last) = entries
        .iter()
        .rposition(|e| e["empty_layer"] != json!(true))
        .or(entries.len().checked_sub(1))
    else {
        return;
    };
    if let Some(e) = entries[last].as_object_mut() {
        e.remove("empty_layer");
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if i != last {
            e["empty_layer"] = json!(true);
        }
    }
}
