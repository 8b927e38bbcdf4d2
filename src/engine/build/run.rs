//! RUN: the command as a real container on the engine, from the stage's image so far, with
//! the stage's environment (ARGs and ENV), working directory and user, on the default
//! network and with the build's RUN options, in the stage's working container (`work.rs`);
//! its output goes to the build log; its changes stay in that container's upper directory.

use parse_dockerfile::{Command, RunInstruction};

use super::state::StageState;
use super::{Build, step_error};
use crate::engine::caller::Detached;
use crate::engine::container::build_step::StepProcess;
use crate::engine::error::Result;

/// Runs a RUN instruction.
pub(super) fn run(
    build: &mut Build,
    state: &mut StageState,
    run: &RunInstruction,
    ins_text: &str,
    line: usize,
) -> Result<()> {
    if let Some(flag) = run.options.first() {
        return Err(step_error(
            "RUN",
            line,
            format!("--{} is not supported", flag.name.value),
        ));
    }
    super::copy::flush_dirs(build, state)?;
    if state.image.is_none() && state.work.is_none() {
        return Err(step_error(
            "RUN",
            line,
            "the stage has no files yet (FROM scratch): nothing to run",
        ));
    }
    let argv: Vec<String> = match &run.arguments {
        Command::Exec(a) => a.value.iter().map(|v| v.value.to_string()).collect(),
        Command::Shell(text) => {
            let mut argv = state.shell.clone();
            argv.push(script(text.value, run));
            argv
        }
        _ => return Err(step_error("RUN", line, "unsupported command form")),
    };
    super::work::ensure(build, state).map_err(|e| step_error("RUN", line, e))?;
    let id = state.work.as_ref().expect("ensured").id.clone();
    let step = StepProcess {
        command: argv.clone(),
        env: state
            .vars()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        work_dir: setting(state, "WorkingDir"),
        user: setting(state, "User"),
    };
    match run_container(build, &id, &step) {
        Ok(0) => {}
        Ok(code) => {
            return Err(step_error(
                "RUN",
                line,
                format!("{argv:?} exited with code {code}"),
            ));
        }
        Err(e) => return Err(step_error("RUN", line, e)),
    }
    let command = ins_text
        .split_once(char::is_whitespace)
        .map_or("", |(_, c)| c);
    state.record(&format!("/bin/sh -c {command}"), false);
    Ok(())
}

/// Starts the container, sends its output to the log as it comes, and returns its exit code.
fn run_container(build: &mut Build, id: &str, step: &StepProcess) -> Result<i32> {
    let containers = build.containers;
    containers.start_step(id, step)?;
    let log = &mut build.log;
    containers.get_container_logs_follow(id, &Detached, &mut |lines| {
        for l in lines {
            // `<time> <stream> <F|P> <text>`
            let text = l.splitn(4, ' ').nth(3).unwrap_or_default();
            log(text.to_string());
        }
        true
    })?;
    Ok(containers.wait_container(id, &Detached)?.unwrap_or(-1))
}

/// The shell-form script. With a here-document (`RUN <<EOF`, which parse-dockerfile reads at
/// the start of the text only, leaving in `text` what follows the delimiter on its line):
/// the document is the script, or, when a command follows the delimiter, that command's
/// standard input. A here-document later in the command (`RUN cat <<EOF > /x`), which
/// `heredoc::wrap_inline_heredocs` made readable to the parser, is the shell's: the command
/// line, the document and its delimiter line go to the shell as written.
fn script(text: &str, run: &RunInstruction) -> String {
    let Some(doc) = run.here_docs.first() else {
        return text.to_string();
    };
    if text.trim().is_empty() {
        return doc.value.to_string();
    }
    let mut body = doc.value.to_string();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    if let Some(delimiter) = super::heredoc::delimiters(text).first() {
        return format!("{}\n{body}{delimiter}\n", text.trim());
    }
    format!("{text} <<'PODLINK_HEREDOC'\n{body}PODLINK_HEREDOC\n")
}

fn setting(state: &StageState, key: &str) -> String {
    state
        .settings
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use parse_dockerfile::{Command, Instruction};

    #[test]
    fn a_here_document_is_the_script() {
        // (parse-dockerfile 0.1.9 reads a here-document only at the start of RUN's text.)
        let text = "FROM x\nRUN <<EOF\necho a > /f\necho b\nEOF\n";
        let parsed = parse_dockerfile::parse(text).unwrap();
        let scripts: Vec<String> = parsed.instructions[1..]
            .iter()
            .map(|i| match i {
                Instruction::Run(run) => match &run.arguments {
                    Command::Shell(s) => super::script(s.value, run),
                    _ => panic!(),
                },
                _ => panic!(),
            })
            .collect();
        assert_eq!(scripts[0], "echo a > /f\necho b\n");
    }

    #[test]
    fn a_here_document_later_in_the_line_goes_to_the_shell() {
        let text = "FROM x\nRUN cat <<'EOF' > /x\nline $HOME\nEOF\nRUN true\n";
        let wrapped = crate::engine::build::heredoc::wrap_inline_heredocs(text);
        assert_eq!(wrapped.lines().count(), text.lines().count());
        let parsed = parse_dockerfile::parse(&wrapped).unwrap();
        assert_eq!(parsed.instructions.len(), 3);
        let Instruction::Run(run) = &parsed.instructions[1] else {
            panic!()
        };
        let Command::Shell(s) = &run.arguments else {
            panic!()
        };
        assert_eq!(
            super::script(s.value, run),
            "cat <<'EOF' > /x\nline $HOME\nEOF\n"
        );
        assert_eq!(
            crate::engine::build::heredoc::delimiters("COPY <<a.sh <<-\"B\" /d/"),
            ["a.sh", "B"]
        );
        // `<<<` and arithmetic shifts are no here-documents.
        assert!(
            crate::engine::build::heredoc::delimiters("cat <<< x; echo $((1 << 2))").is_empty()
        );
    }
}
