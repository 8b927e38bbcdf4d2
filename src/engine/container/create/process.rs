//! What the container runs: command and entrypoint, environment, labels, stop signal.

use std::collections::HashMap;

use serde_json::Value;

use super::options::{CreateOptions, invalid, invalid_as};
use crate::engine::error::Result;
use crate::engine::image::document::string_map;
use crate::engine::runtime::seccomp::json_strings;

/// PATH when neither the image nor the client sets one.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// StopContainer's timeout when none is set.
pub(super) const DEFAULT_STOP_TIMEOUT: u64 = 10;

/// The labels of an image config's `config` section.
pub(super) fn image_labels(image: &Value) -> HashMap<String, String> {
    string_map(&image["Labels"])
}

/// The entrypoint (the image's, or the given one; `[""]` clears it) and the command (the
/// given one or the image's CMD).
pub(super) fn command(
    image: &Value,
    options: &CreateOptions,
) -> Result<(Vec<String>, Vec<String>)> {
    let entrypoint = match &options.entrypoint {
        Some(e) if e.len() == 1 && e[0].is_empty() => Vec::new(),
        Some(e) if !e.is_empty() => e.clone(),
        _ => json_strings(&image["Entrypoint"]),
    };
    let cmd = if options.command.is_empty() {
        json_strings(&image["Cmd"])
    } else {
        options.command.clone()
    };
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(invalid(
            "create.command",
            "the image has no ENTRYPOINT or CMD and none was given",
        ));
    }
    Ok((entrypoint, cmd))
}

/// The most environment entries the image or the client may give a container (each): a
/// program's environment that large is already beyond what exec accepts, and a bound keeps
/// a hostile image config or client from holding a thread.
pub const MAX_ENV_ENTRIES: usize = 32_768;

/// Podman's base environment, then the image's, then the client's. A key set again moves
/// to the end with its new value, as it did in Podman; a map from key to position keeps
/// this linear (it was a scan of the whole list per entry, so 40,000 entries took 16 s).
pub(super) fn environment(image: &Value, options: &CreateOptions) -> Result<Vec<String>> {
    let image_env = json_strings(&image["Env"]);
    for (field, label, count) in [
        ("create.env", "env", options.env.len()),
        // The image is the client's choice; its Env is not a field of theirs.
        ("create.image", "the image's Env", image_env.len()),
    ] {
        if count > MAX_ENV_ENTRIES {
            return Err(invalid_as(
                field,
                label,
                format!("{count} entries, more than the limit of {MAX_ENV_ENTRIES}"),
            ));
        }
    }
    let defaults = [
        DEFAULT_PATH.to_string(),
        "TERM=xterm".into(),
        // Programs look at `container` to learn they run in one; Podman sets it so.
        "container=podman".into(),
    ];
    let client = options
        .env
        .iter()
        .map(|(key, value)| format!("{key}={value}"));
    let mut slots: Vec<Option<String>> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    for entry in defaults.into_iter().chain(image_env).chain(client) {
        let key = entry.split('=').next().unwrap_or_default().to_string();
        if let Some(old) = position.insert(key, slots.len()) {
            slots[old] = None;
        }
        slots.push(Some(entry));
    }
    Ok(slots.into_iter().flatten().collect())
}

/// Whether `n` is a signal number Linux has (1 to 64, the real-time ones included).
pub fn is_signal(n: i64) -> bool {
    (1..=64).contains(&n)
}

/// A signal name (`SIGTERM`, `TERM`) or number as a number.
pub fn signal_number(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse::<i32>() {
        return Some(n);
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}

/// Resolves `uid[:gid]` or user and group names against the image's /etc/passwd and
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn command_follows_podman() {
        let config = json!({"Entrypoint": ["/ep"], "Cmd": ["a", "b"]});
        let opts = |command: Vec<&str>, entrypoint: Option<Vec<&str>>| CreateOptions {
            command: command.into_iter().map(String::from).collect(),
            entrypoint: entrypoint.map(|e| e.into_iter().map(String::from).collect()),
            ..Default::default()
        };
        let full = |c: &Value, o: &CreateOptions| {
            let (e, c) = command(c, o).unwrap();
            e.into_iter().chain(c).collect::<Vec<_>>()
        };
        assert_eq!(full(&config, &opts(vec![], None)), ["/ep", "a", "b"]);
        assert_eq!(full(&config, &opts(vec!["x"], None)), ["/ep", "x"]);
        assert_eq!(full(&config, &opts(vec!["x"], Some(vec![""]))), ["x"]);
        assert_eq!(
            full(&config, &opts(vec![], Some(vec!["/other"]))),
            ["/other", "a", "b"]
        );
        assert!(command(&json!({}), &opts(vec![], None)).is_err());
    }

    #[test]
    fn environment_layers_client_over_image_over_defaults() {
        let config = json!({"Env": ["A=1", "PATH=/bin"]});
        let mut o = CreateOptions::default();
        o.env.insert("A".into(), "2".into());
        o.env.insert("B".into(), "3".into());
        assert_eq!(
            environment(&config, &o).unwrap(),
            ["TERM=xterm", "container=podman", "PATH=/bin", "A=2", "B=3"]
        );
        assert!(
            environment(&json!({}), &CreateOptions::default()).unwrap()[0].starts_with("PATH=")
        );
        // A key the image sets twice keeps its last value, at its last place; an entry
        // without `=` is a key of its own.
        let config = json!({"Env": ["X=1", "TERM=dumb", "NOVALUE", "X=3"]});
        assert_eq!(
            environment(&config, &CreateOptions::default()).unwrap(),
            [
                DEFAULT_PATH,
                "container=podman",
                "TERM=dumb",
                "NOVALUE",
                "X=3"
            ]
        );
    }

    #[test]
    fn environment_is_linear_and_bounded() {
        let mut o = CreateOptions::default();
        let image: Vec<String> = (0..MAX_ENV_ENTRIES)
            .map(|i| format!("K{i}=image"))
            .collect();
        o.env = (0..MAX_ENV_ENTRIES)
            .map(|i| (format!("K{i}"), "client".to_string()))
            .collect();
        let started = std::time::Instant::now();
        let env = environment(&json!({ "Env": image }), &o).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(env.len(), 3 + MAX_ENV_ENTRIES);
        assert!(env[3..].iter().all(|e| e.ends_with("=client")));
        o.env.insert("ONE_TOO_MANY".into(), String::new());
        let err = environment(&json!({}), &o).unwrap_err().to_string();
        assert!(err.contains("env") && err.contains("32768"), "{err}");
        let image: Vec<String> = (0..=MAX_ENV_ENTRIES).map(|i| format!("K{i}=")).collect();
        let err = environment(&json!({ "Env": image }), &CreateOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("the image's Env"), "{err}");
    }

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(signal_number("SIGINT"), Some(2));
        assert_eq!(signal_number("term"), Some(15));
        assert_eq!(signal_number("9"), Some(9));
        assert_eq!(signal_number("SIGBOGUS"), None);
    }
}
