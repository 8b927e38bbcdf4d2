//! A stage's state as its instructions change it, and small helpers its instructions share.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::vars::Vars;
use crate::engine::image::index::Image;
use crate::engine::time::now_rfc3339;

/// The working container of a stage (see `work.rs`).
pub(super) struct Work {
    /// Its ID.
    pub(super) id: String,
    /// Its mounted root filesystem.
    pub(super) root: std::path::PathBuf,
}

/// A stage as it is being built.
pub(super) struct StageState {
    /// The stage's base image; `None`: `scratch`.
    pub(super) image: Option<Arc<Image>>,
    /// The working container, once the stage changed a file.
    pub(super) work: Option<Work>,
    pub(super) settings: Map<String, Value>,
    pub(super) history: Vec<Value>,
    pub(super) author: String,
    /// Declared ARGs and their values.
    pub(super) args: Vars,
    /// ENV, in order of the config's `Env`.
    pub(super) shell: Vec<String>,
    /// Directories WORKDIR named, created with the next layer.
    pub(super) pending_dirs: Vec<String>,
    /// How many history entries the base image had.
    pub(super) base_history: usize,
}

impl StageState {
    /// Variables in scope: ENV over ARG.
    pub(super) fn vars(&self) -> Vars {
        let mut out = self.args.clone();
        out.extend(self.env());
        out
    }

    /// The config's `Env` as pairs.
    pub(super) fn env(&self) -> Vec<(String, String)> {
        self.settings
            .get("Env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|e| e.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Adds a history entry.
    pub(super) fn record(&mut self, created_by: &str, empty_layer: bool) {
        let mut entry = json!({ "created": now_rfc3339(), "created_by": created_by });
        if empty_layer {
            entry["empty_layer"] = json!(true);
        }
        self.history.push(entry);
    }
}

/// The line of byte offset `pos` in `text`.
pub(super) fn line_of(text: &str, pos: usize) -> usize {
    text[..pos.min(text.len())].matches('\n').count() + 1
}

/// `dir` made absolute against `current`.
pub(super) fn absolute(current: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("{}/{dir}", current.trim_end_matches('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn workdirs_resolve_against_the_current_one() {
        assert_eq!(super::absolute("/", "app"), "/app");
        assert_eq!(super::absolute("/app", "sub/../x"), "/app/x");
        assert_eq!(super::absolute("/app", "/abs/"), "/abs");
        assert_eq!(super::absolute("/", "../.."), "/");
    }
}
