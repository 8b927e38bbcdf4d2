//! ContainerRunlabel: runs the command an image carries in a label (`RUN`, `INSTALL`...) on
//! the server, as `podman container runlabel` did.
//!
//! The label's text, with the extra arguments appended, is split like a shell would (no
//! shell runs it). Words that are exactly `IMAGE`, `$IMAGE`, `NAME` or `$NAME` (or
//! `IMAGE=IMAGE`-style assignments) become the image's name and the container name; then
//! `$IMAGE`, `${IMAGE}`, `$NAME`, `$OPT1`..`$OPT3` and `$PWD` are expanded anywhere, and
//! other variables are left for the command (Podman 1.x blanked them, which broke labels
//! running `sh -c '... $HOME'`). The command sees the service's environment plus `NAME`,
//! `IMAGE`, `OPTn` and `PODMAN_RUNLABEL_NESTED=1`.
//!
//! A label that starts with `podman` or `docker` runs that program on the server; it uses its
//! own storage, not podlink's. Pulling a missing image waits for registry support.

use std::collections::HashMap;
use std::path::PathBuf;

use super::service::Containers;
use crate::engine::error::{Error, Result};
use crate::engine::image::PullOptions;
use crate::engine::registry::CallOptions;

/// How long a label's command may run.
const RUNLABEL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// ContainerRunlabel's input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunlabelOptions {
    /// The image.
    pub image: String,
    /// The label holding the command.
    pub label: String,
    /// The container name substituted for NAME (the image's base name when empty).
    pub name: String,
    /// Pull the image if it is missing.
    pub pull: bool,
    /// How to reach the registry when pulling: TLS, certificates, credentials, auth file.
    pub registry: CallOptions,
    /// The signature policy of the pull; `None`: the daemon's.
    pub signature_policy: Option<PathBuf>,
    /// Only work out the command; do not run it.
    pub display: bool,
    /// Arguments appended to the label's command.
    pub extra_args: Vec<String>,
    /// `opt1`..`opt3`: values of `$OPT1`..`$OPT3`.
    pub opts: HashMap<String, String>,
}

/// What was (or, with `display`, would be) run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunlabelOutcome {
    /// The command line.
    pub argv: Vec<String>,
    /// Its output (stdout then stderr), when it ran.
    pub output: String,
}

/// The repository's last path component, without tag or digest (`docker.io/library/nginx:1`
/// → `nginx`).
fn base_name(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split(':').next().unwrap_or(last).to_string()
}

/// Expands `$VAR` and `${VAR}` for the variables in `vars`; others stay as written.
fn expand(text: &str, vars: &HashMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match vars.get(name) {
            Some(value) if consumed > 0 => {
                out.push_str(value);
                rest = &after[consumed..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Why a label gives no command.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    /// An extra argument cannot be quoted (it holds a NUL).
    #[error("{0}")]
    Argument(shlex::QuoteError),
    #[error("the label's command has unbalanced quotes")]
    Unbalanced,
    #[error("the label's command is empty")]
    Empty,
}

impl CommandError {
    /// The wire field at fault.
    fn field(&self) -> &'static str {
        match self {
            CommandError::Argument(_) => "runlabel.extraArgs",
            CommandError::Unbalanced | CommandError::Empty => "runlabel.label",
        }
    }
}

/// The command of a label: split, substituted, expanded.
fn command(
    label: &str,
    extra_args: &[String],
    image: &str,
    name: &str,
    vars: &HashMap<&str, String>,
) -> std::result::Result<Vec<String>, CommandError> {
    let mut text = label.to_string();
    for arg in extra_args {
        text.push(' ');
        text.push_str(&shlex::try_quote(arg).map_err(CommandError::Argument)?);
    }
    let words = shlex::split(&text).ok_or(CommandError::Unbalanced)?;
    let words: Vec<String> = words
        .into_iter()
        .map(|w| match w.as_str() {
            "IMAGE" | "$IMAGE" => image.to_string(),
            "NAME" | "$NAME" => name.to_string(),
            "IMAGE=IMAGE" | "IMAGE=$IMAGE" => format!("IMAGE={image}"),
            "NAME=NAME" | "NAME=$NAME" => format!("NAME={name}"),
            "$GLOBAL_OPTS" => String::new(),
            _ => expand(&w, vars),
        })
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Err(CommandError::Empty);
    }
    Ok(words)
}

impl Containers {
    /// io.podman.ContainerRunlabel.
    pub fn container_runlabel(&self, options: &RunlabelOptions) -> Result<RunlabelOutcome> {
        let image = match self.images().resolve(&options.image) {
            Ok(image) => image,
            Err(Error::ImageNotFound { .. }) if options.pull => {
                let pull = PullOptions {
                    name: options.image.clone(),
                    call: options.registry.clone(),
                    signature_policy: options.signature_policy.clone(),
                };
                let id = self.images().pull(&pull, &mut |_| {})?;
                self.images().resolve(&id)?
            }
            Err(e) => return Err(e),
        };
        let label = image.config["config"]["Labels"][&options.label]
            .as_str()
            .filter(|l| !l.trim().is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    "runlabel.label",
                    format!(
                        "{} does not contain the label {}",
                        options.image, options.label
                    ),
                )
            })?;
        let image_name = image
            .record
            .names
            .first()
            .cloned()
            .unwrap_or_else(|| image.record.id.to_string());
        let name = if options.name.is_empty() {
            base_name(&image_name)
        } else {
            options.name.clone()
        };
        let pwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let mut vars: HashMap<&str, String> = HashMap::from([
            ("IMAGE", image_name.clone()),
            ("NAME", name.clone()),
            ("PWD", pwd),
        ]);
        let mut env = vec![
            ("NAME".to_string(), name.clone()),
            ("IMAGE".to_string(), image_name.clone()),
            ("PODMAN_RUNLABEL_NESTED".to_string(), "1".to_string()),
        ];
        for (key, var) in [("opt1", "OPT1"), ("opt2", "OPT2"), ("opt3", "OPT3")] {
            let value = options.opts.get(key).cloned().unwrap_or_default();
            if !value.is_empty() {
                env.push((var.to_string(), value.clone()));
            }
            vars.insert(var, value);
        }
        let argv = command(label, &options.extra_args, &image_name, &name, &vars)
            .map_err(|e| Error::invalid(e.field(), format!("label {}: {e}", options.label)))?;
        if options.display {
            return Ok(RunlabelOutcome {
                argv,
                output: String::new(),
            });
        }
        // Output goes to unlinked files: a command writing more than a pipe holds must not
        // block on a reader that waits for it to end.
        let tmp = self.root().join(crate::engine::storage::TMP_DIR);
        let capture = || crate::engine::storage::unlinked_temp_file(&tmp, "runlabel");
        let (out, err) = (capture()?, capture()?);
        // The command is the one the client chose (the label and its arguments): that it
        // cannot start, fails or outlasts its time is reported as about that label.
        let failed = |why: String| {
            Error::invalid(
                "runlabel.label",
                format!("`{}` failed: {why}", argv.join(" ")),
            )
        };
        let duplicate = |e| Error::io("duplicate output file in", &tmp, e);
        let mut child = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .envs(env)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().map_err(duplicate)?)
            .stderr(err.try_clone().map_err(duplicate)?)
            .spawn()
            .map_err(|e| failed(e.to_string()))?;
        let (status, killed) =
            crate::engine::process::wait_timeout(&mut child, RUNLABEL_TIMEOUT)
                .map_err(|e| Error::io("wait for the label's command, output in", &tmp, e))?;
        let read = |mut f: std::fs::File| {
            use std::io::{Read, Seek};
            let mut text = String::new();
            let _ = f.rewind();
            let _ = f.take(1 << 20).read_to_string(&mut text);
            text
        };
        let text = format!("{}{}", read(out), read(err));
        if killed {
            return Err(failed(format!(
                "still running after {} s, killed",
                RUNLABEL_TIMEOUT.as_secs()
            )));
        }
        if !status.success() {
            return Err(failed(format!("{status}: {}", text.trim())));
        }
        Ok(RunlabelOutcome { argv, output: text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names() {
        assert_eq!(base_name("docker.io/library/nginx:1.2"), "nginx");
        assert_eq!(base_name("localhost/busybox:latest"), "busybox");
        assert_eq!(base_name("registry:5000/a/b@sha256:abc"), "b");
    }

    #[test]
    fn labels_become_commands() {
        let vars = HashMap::from([
            ("IMAGE", "localhost/app:latest".to_string()),
            ("NAME", "web".to_string()),
            ("OPT1", "-d".to_string()),
            ("PWD", "/srv".to_string()),
        ]);
        let argv = command(
            "podman run $OPT1 --name NAME -e NAME=NAME -v ${PWD}:/x IMAGE sh -c 'echo $HOME ${IMAGE}'",
            &["--extra arg".to_string()],
            "localhost/app:latest",
            "web",
            &vars,
        )
        .unwrap();
        assert_eq!(
            argv,
            [
                "podman",
                "run",
                "-d",
                "--name",
                "web",
                "-e",
                "NAME=web",
                "-v",
                "/srv:/x",
                "localhost/app:latest",
                "sh",
                "-c",
                "echo $HOME localhost/app:latest",
                "--extra arg"
            ]
        );
        assert!(command("sh -c 'unbalanced", &[], "i", "n", &vars).is_err());
        assert!(command("   ", &[], "i", "n", &vars).is_err());
        assert_eq!(expand("a$UNKNOWN ${NAME}$", &vars), "a$UNKNOWN web$");
    }
}
