//! Dockerfile instructions applied to an image config, as `podman import --change` and
//! `podman commit --change` do: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL,
//! USER, VOLUME, WORKDIR.
//!
//! Two forms, told apart by what follows the instruction's name:
//! - `KEY VALUE` is a Dockerfile line and means what it means in a Dockerfile: `CMD echo hi`
//!   is the shell form (`["/bin/sh", "-c", "echo hi"]`), `ENV A=1 B=2` sets two variables,
//!   `VOLUME /a /b` declares two volumes.
//! - `KEY=VALUE` is Podman 1.x's own form, which its clients send (python-podman, `podman
//!   commit --change CMD=...`): the value is taken whole. `CMD=/usr/bin/zsh` is
//!   `["/usr/bin/zsh"]` and `ENTRYPOINT=/bin/sh date` is `["/bin/sh date"]` (no shell
//!   wrapping, no splitting), `ENV=A=b c` sets A to `b c`, `LABEL=k=v w` sets k to `v w`,
//!   `VOLUME=/a b` is the one path `/a b`. A JSON array value (`CMD=["sh", "-c", "x"]`)
//!   is that array in both forms.

use serde_json::{Map, Value, json};

/// A change that cannot be applied; the message names the change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ChangeError(String);

type Result<T> = std::result::Result<T, ChangeError>;

/// Applies each change to the `config` object of an image config.
pub fn apply(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    for change in changes {
        apply_one(config, change.trim())?;
    }
    Ok(())
}

fn apply_one(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    if change.is_empty() {
        return Ok(());
    }
    let split = change
        .find(|c: char| c.is_whitespace() || c == '=')
        .ok_or_else(|| ChangeError(format!("change {change:?}: missing a value")))?;
    let instruction = change[..split].to_ascii_uppercase();
    let value = change[split + 1..].trim();
    let form = if change[split..].starts_with('=') {
        Form::Podman
    } else {
        Form::Dockerfile
    };
    match instruction.as_str() {
        "CMD" => {
            config.insert("Cmd".into(), json!(command(value, form)?));
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), json!(command(value, form)?));
        }
        "ENV" => {
            let pairs = match form {
                Form::Podman => vec![whole_key_value(value, true)?],
                Form::Dockerfile => key_values(value, true)?,
            };
            let env = list(config, "Env");
            for (key, val) in pairs {
                let prefix = format!("{key}=");
                env.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&prefix)));
                env.push(json!(format!("{key}={val}")));
            }
        }
        "LABEL" => {
            let pairs = match form {
                Form::Podman => vec![whole_key_value(value, false)?],
                Form::Dockerfile => key_values(value, false)?,
            };
            let labels = object(config, "Labels");
            for (key, val) in pairs {
                labels.insert(key, json!(val));
            }
        }
        "EXPOSE" => {
            let ports = object(config, "ExposedPorts");
            let list = match form {
                Form::Podman => vec![value.to_string()],
                Form::Dockerfile => words(value)?,
            };
            for port in list {
                let port = if port.contains('/') {
                    port
                } else {
                    format!("{port}/tcp")
                };
                let number = port.split('/').next().unwrap_or_default();
                if number.parse::<u16>().is_err() && !number.contains('-') {
                    return Err(ChangeError(format!("EXPOSE {port}: not a port")));
                }
                ports.insert(port, json!({}));
            }
        }
        "VOLUME" => {
            let volumes = object(config, "Volumes");
            let paths = if value.starts_with('[') {
                json_array(value)?
            } else if form == Form::Podman {
                vec![value.to_string()]
            } else {
                words(value)?
            };
            for path in paths {
                volumes.insert(path, json!({}));
            }
        }
        "ONBUILD" => list(config, "OnBuild").push(json!(value)),
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), json!(value));
        }
        "USER" => {
            config.insert("User".into(), json!(value));
        }
        "WORKDIR" => {
            if !value.starts_with('/') {
                return Err(ChangeError(format!(
                    "WORKDIR {value}: must be an absolute path"
                )));
            }
            config.insert("WorkingDir".into(), json!(value));
        }
        other => {
            return Err(ChangeError(format!(
                "change {change:?}: {other} is not a supported instruction"
            )));
        }
    }
    Ok(())
}

/// How a change was written (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `KEY VALUE`, a Dockerfile line.
    Dockerfile,
    /// `KEY=VALUE`, Podman 1.x's form: the value taken whole.
    Podman,
}

/// The JSON (exec) form `["a", "b"]`; otherwise, as a Dockerfile line, the shell form wrapped
/// in `/bin/sh -c`, and in Podman's form the value as the one element.
fn command(value: &str, form: Form) -> Result<Vec<String>> {
    if value.starts_with('[') {
        json_array(value)
    } else if form == Form::Podman {
        Ok(vec![value.into()])
    } else {
        Ok(vec!["/bin/sh".into(), "-c".into(), value.into()])
    }
}

/// `KEY=VALUE` taken whole (the value may hold spaces and `=`). With `allow_bare`, a lone
/// `KEY` has an empty value.
fn whole_key_value(value: &str, allow_bare: bool) -> Result<(String, String)> {
    match value.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        None if allow_bare && !value.is_empty() => Ok((value.to_string(), String::new())),
        _ => Err(ChangeError(format!("{value}: expected KEY=VALUE"))),
    }
}

fn json_array(value: &str) -> Result<Vec<String>> {
    serde_json::from_str(value)
        .map_err(|e| ChangeError(format!("{value}: not a JSON array of strings: {e}")))
}

/// Words separated by spaces, honouring double quotes.
fn words(value: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => word.extend(chars.next()),
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if quoted {
        return Err(ChangeError(format!("{value}: unterminated quote")));
    }
    if !word.is_empty() {
        out.push(word);
    }
    Ok(out)
}

/// `k=v k2="v 2"`, or (when `allow_space_form`) the old `KEY value with spaces` form.
fn key_values(value: &str, allow_space_form: bool) -> Result<Vec<(String, String)>> {
    let first = value.split_whitespace().next().unwrap_or_default();
    if allow_space_form && !first.contains('=') {
        let rest = value[first.len()..].trim();
        return Ok(vec![(first.to_string(), rest.to_string())]);
    }
    words(value)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(ChangeError(format!("{w}: expected KEY=VALUE"))),
        })
        .collect()
}

fn list<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let entry = config.entry(key).or_insert_with(|| json!([]));
    if !entry.is_array() {
        *entry = json!([]);
    }
    entry.as_array_mut().expect("just made an array")
}

fn object<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = config.entry(key).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("just made an object")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Value {
        let mut config = Map::new();
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply(&mut config, &changes).unwrap();
        Value::Object(config)
    }

    #[test]
    fn every_instruction() {
        let c = applied(&[
            r#"CMD ["/bin/sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /bin/app --flag",
            "ENV A=1 B=\"two words\"",
            "ENV C three four",
            "ENV A=replaced",
            "EXPOSE 80 53/udp",
            "LABEL version=1.0 \"maintainer\"=me",
            "ONBUILD RUN echo",
            "STOPSIGNAL SIGINT",
            "USER 1000:1000",
            "VOLUME /data /cache",
            "WORKDIR=/srv",
        ]);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/bin/app --flag"]));
        assert_eq!(
            c["Env"],
            json!(["B=two words", "C=three four", "A=replaced"])
        );
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"version": "1.0", "maintainer": "me"}));
        assert_eq!(c["OnBuild"], json!(["RUN echo"]));
        assert_eq!(c["StopSignal"], "SIGINT");
        assert_eq!(c["User"], "1000:1000");
        assert_eq!(c["Volumes"], json!({"/data": {}, "/cache": {}}));
        assert_eq!(c["WorkingDir"], "/srv");
    }

    #[test]
    fn podman_form_takes_the_value_whole() {
        let c = applied(&["CMD=/usr/bin/zsh", "ENTRYPOINT=/bin/sh date"]);
        assert_eq!(c["Cmd"], json!(["/usr/bin/zsh"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh date"]));
        let c = applied(&[
            r#"CMD=["/bin/sh", "-c", "echo hi"]"#,
            r#"ENTRYPOINT=["/bin/app"]"#,
            "ENV=A=b c",
            "ENV=EMPTY",
            "LABEL=k=v w",
            "EXPOSE=8080",
            "VOLUME=/a b",
            r#"VOLUME=["/c", "/d"]"#,
            "USER=1000",
            "WORKDIR=/srv",
            "STOPSIGNAL=SIGTERM",
        ]);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/app"]));
        assert_eq!(c["Env"], json!(["A=b c", "EMPTY="]));
        assert_eq!(c["Labels"], json!({"k": "v w"}));
        assert_eq!(c["ExposedPorts"], json!({"8080/tcp": {}}));
        assert_eq!(c["Volumes"], json!({"/a b": {}, "/c": {}, "/d": {}}));
        assert_eq!(c["User"], "1000");
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(c["StopSignal"], "SIGTERM");
        // The Dockerfile form keeps its meaning.
        let c = applied(&["CMD /usr/bin/zsh", "ENTRYPOINT /bin/sh date"]);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "/usr/bin/zsh"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/bin/sh date"]));
    }

    #[test]
    fn bad_changes_are_errors() {
        let mut config = Map::new();
        for bad in [
            "FROM busybox",
            "RUN ls",
            "CMD [broken",
            "WORKDIR relative",
            "EXPOSE http",
            "LABEL novalue",
            "LABEL==v",
            "EXPOSE=http",
            "WORKDIR=relative",
        ] {
            assert!(
                apply(&mut config, &[bad.to_string()]).is_err(),
                "{bad} should fail"
            );
        }
    }
}
