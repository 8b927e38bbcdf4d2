//! The config-only instructions: each changes the stage's config and adds a history entry
//! without a layer (WORKDIR's directory is made with the next layer).

use parse_dockerfile::{Command, HealthcheckArguments, Instruction, JsonOrStringArray};
use serde_json::{Map, Value, json};

use super::state::{StageState, absolute};
use super::vars;
use super::{Build, step_error};
use crate::engine::error::Result;

/// Applies `ins` to the stage's config.
pub(super) fn apply(
    build: &mut Build,
    state: &mut StageState,
    ins: &Instruction,
    ins_text: &str,
    line: usize,
) -> Result<()> {
    let _ = build;
    let vars = state.vars();
    let err = |what: &str, e: String| step_error(what, line, e);
    let s = &mut state.settings;
    match ins {
        Instruction::Cmd(x) => {
            s.insert("Cmd".into(), json!(command(&x.arguments, &state.shell)));
        }
        Instruction::Entrypoint(x) => {
            s.insert(
                "Entrypoint".into(),
                json!(command(&x.arguments, &state.shell)),
            );
        }
        Instruction::Env(x) => {
            let pairs = vars::pairs(&x.arguments.value, &vars, true).map_err(|e| err("ENV", e))?;
            let env = list(s, "Env");
            for (key, value) in pairs {
                let prefix = format!("{key}=");
                env.retain(|e| !e.as_str().is_some_and(|v| v.starts_with(&prefix)));
                env.push(json!(format!("{key}={}", value.unwrap_or_default())));
            }
        }
        Instruction::Label(x) => {
            let pairs =
                vars::pairs(&x.arguments.value, &vars, true).map_err(|e| err("LABEL", e))?;
            let labels = object(s, "Labels");
            for (key, value) in pairs {
                labels.insert(key, json!(value.unwrap_or_default()));
            }
        }
        Instruction::Expose(x) => {
            let ports = object(s, "ExposedPorts");
            for port in &x.arguments {
                for p in vars::words(&port.value, &vars).map_err(|e| err("EXPOSE", e))? {
                    let p = if p.contains('/') {
                        p
                    } else {
                        format!("{p}/tcp")
                    };
                    ports.insert(p, json!({}));
                }
            }
        }
        Instruction::Volume(x) => {
            let paths: Vec<String> = match &x.arguments {
                JsonOrStringArray::Json(a) => a.value.iter().map(|v| v.value.to_string()).collect(),
                JsonOrStringArray::String(a) => a.iter().map(|v| v.value.to_string()).collect(),
            };
            let volumes = object(s, "Volumes");
            for p in paths {
                let p = vars::word(&p, &vars).map_err(|e| err("VOLUME", e))?;
                volumes.insert(p, json!({}));
            }
        }
        Instruction::Workdir(x) => {
            let dir = vars::word(&x.arguments.value, &vars).map_err(|e| err("WORKDIR", e))?;
            let current = s.get("WorkingDir").and_then(Value::as_str).unwrap_or("/");
            let dir = absolute(current, &dir);
            s.insert("WorkingDir".into(), json!(dir));
            state.pending_dirs.push(dir);
        }
        Instruction::User(x) => {
            let user = vars::word(&x.arguments.value, &vars).map_err(|e| err("USER", e))?;
            s.insert("User".into(), json!(user));
        }
        Instruction::Stopsignal(x) => {
            let sig = vars::word(&x.arguments.value, &vars).map_err(|e| err("STOPSIGNAL", e))?;
            s.insert("StopSignal".into(), json!(sig));
        }
        Instruction::Shell(x) => {
            state.shell = x.arguments.iter().map(|a| a.value.to_string()).collect();
            // The config keeps it (Docker's `Shell`) for a child build's ONBUILD triggers and
            // later RUNs; an OCI config has no such field (`run_stage` drops it then, as
            // buildah did, with a warning in the log).
            s.insert("Shell".into(), json!(state.shell));
        }
        Instruction::Maintainer(x) => {
            state.author = x.name.value.to_string();
        }
        Instruction::Onbuild(x) => {
            if matches!(
                *x.instruction,
                Instruction::From(_) | Instruction::Onbuild(_) | Instruction::Maintainer(_)
            ) {
                return Err(err(
                    "ONBUILD",
                    "FROM, ONBUILD and MAINTAINER cannot be triggers".into(),
                ));
            }
            let trigger = ins_text
                .split_once(char::is_whitespace)
                .map(|(_, rest)| rest.trim())
                .unwrap_or_default();
            list(s, "OnBuild").push(json!(trigger));
        }
        Instruction::Healthcheck(x) => {
            let mut check = Map::new();
            match &x.arguments {
                HealthcheckArguments::Cmd { arguments, .. } => {
                    let test = match arguments {
                        Command::Exec(a) => {
                            let mut t = vec!["CMD".to_string()];
                            t.extend(a.value.iter().map(|v| v.value.to_string()));
                            t
                        }
                        Command::Shell(text) => vec!["CMD-SHELL".into(), text.value.to_string()],
                        _ => return Err(err("HEALTHCHECK", "unsupported command form".into())),
                    };
                    check.insert("Test".into(), json!(test));
                }
                _ => {
                    check.insert("Test".into(), json!(["NONE"]));
                }
            }
            for flag in &x.options {
                let value = flag
                    .value
                    .as_ref()
                    .map(|v| v.value.to_string())
                    .unwrap_or_default();
                let key = match &*flag.name.value {
                    "interval" => "Interval",
                    "timeout" => "Timeout",
                    "start-period" => "StartPeriod",
                    "start-interval" => "StartInterval",
                    "retries" => {
                        let n: u64 = value
                            .parse()
                            .map_err(|_| err("HEALTHCHECK", format!("bad --retries {value:?}")))?;
                        check.insert("Retries".into(), json!(n));
                        continue;
                    }
                    other => return Err(err("HEALTHCHECK", format!("unknown flag --{other}"))),
                };
                let d = humantime::parse_duration(&value)
                    .map_err(|e| err("HEALTHCHECK", format!("--{}: {e}", flag.name.value)))?;
                check.insert(key.into(), json!(d.as_nanos() as u64));
            }
            s.insert("Healthcheck".into(), Value::Object(check));
        }
        _ => return Err(err("instruction", "not supported".into())),
    }
    state.record(&format!("/bin/sh -c #(nop) {ins_text}"), true);
    Ok(())
}

/// A CMD or ENTRYPOINT as the config keeps it: the exec form as is, the shell form wrapped
/// in the stage's shell.
pub(super) fn command(c: &Command, shell: &[String]) -> Vec<String> {
    match c {
        Command::Exec(a) => a.value.iter().map(|v| v.value.to_string()).collect(),
        Command::Shell(text) => {
            let mut out = shell.to_vec();
            out.push(text.value.to_string());
            out
        }
        _ => Vec::new(),
    }
}

fn list<'a>(s: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let v = s.entry(key).or_insert_with(|| json!([]));
    if !v.is_array() {
        *v = json!([]);
    }
    v.as_array_mut().expect("an array")
}

fn object<'a>(s: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = s.entry(key).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    v.as_object_mut().expect("an object")
}
