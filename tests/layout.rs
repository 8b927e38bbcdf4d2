//! The source layout's rules, checked on the files themselves (`cargo test --test layout`):
//!
//! - no source file under `src/` is longer than 600 lines (generated code lives in `OUT_DIR`);
//! - every folder's `mod.rs` starts with a module doc;
//! - no import cycle among the files of `src/`: a file imports another when it names an item
//!   through it (`use crate::engine::error::Result`, `super::record::ContainerRecord`, a path
//!   in an expression); `mod x;` declarations are not imports;
//! - imports run one way between rooms: varlink and start-up → the engine facade → pod →
//!   container → image, runtime, monitor, volume (and the engine's error type) → storage,
//!   registry, network → the leaves
//!   (IDs, tree walks, processes, sys).
//!
//! The parser is deliberately small (comments and string literals removed, then `use` trees and
//! `crate::`/`super::`/`self::` paths read as text): the code base is its only input, and a
//! construct it misreads shows up as a wrong edge in the failure message, not as silence.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

/// Module path (`["engine", "container", "record"]`) → file.
type Files = BTreeMap<Vec<String>, PathBuf>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files() -> Files {
    let mut out = Files::new();
    let mut dirs = vec![src()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.insert(module_of(&path), path);
            }
        }
    }
    out
}

fn module_of(path: &Path) -> Vec<String> {
    let rel = path.strip_prefix(src()).expect("under src");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] {
        // The library's root: `crate::` paths of the library start here. (`main.rs` is the
        // binary's own crate and keeps its name.)
        parts.clear();
    }
    parts
}

fn display(files: &Files, module: &[String]) -> String {
    files[module]
        .strip_prefix(src())
        .expect("under src")
        .display()
        .to_string()
}

#[test]
fn no_source_file_is_longer_than_600_lines() {
    let files = files();
    let long: Vec<String> = files
        .iter()
        .filter_map(|(module, path)| {
            let lines = std::fs::read_to_string(path).expect("read").lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", display(&files, module)))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:#?}");
}

#[test]
fn every_folder_says_what_it_owns() {
    let files = files();
    let mut missing = Vec::new();
    for path in files.values() {
        if path.file_name().is_some_and(|n| n == "mod.rs") {
            let text = std::fs::read_to_string(path).expect("read");
            let doc_lines = text.lines().take_while(|l| l.starts_with("//!")).count();
            if doc_lines < 2 {
                missing.push(path.display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "folders without a module doc: {missing:#?}"
    );
}

/// Source text without comments, string and char literals, and `#[cfg(test)]` modules.
fn code_of(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map(|n| n + 2).unwrap_or(rest.len());
        } else if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            let hashes = rest[1..].chars().take_while(|&c| c == '#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let start = 2 + hashes;
            i += start
                + rest[start..]
                    .find(&close)
                    .map(|n| n + close.len())
                    .unwrap_or(0);
            out.push_str("\"\"");
        } else if bytes[i] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            i = j + 1;
            out.push_str("\"\"");
        } else if bytes[i] == b'\'' && char_literal_len(rest) > 0 {
            i += char_literal_len(rest);
            out.push_str("' '");
        } else {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            i += c.len_utf8();
        }
    }
    without_test_modules(out)
}

/// `code` without its `#[cfg(test)] mod NAME { ... }` blocks: tests may reach anywhere.
fn without_test_modules(mut code: String) -> String {
    let mut from = 0;
    while let Some(at) = code[from..].find("#[cfg(test)]").map(|n| from + n) {
        let after = code[at + "#[cfg(test)]".len()..].trim_start();
        let is_module = after.starts_with("mod ") || after.starts_with("pub mod ");
        let open = code[at..].find('{').map(|n| at + n);
        match open {
            Some(open) if is_module && !code[at..open].contains(';') => {
                let mut depth = 0;
                let mut end = code.len();
                for (i, c) in code[open..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                code.replace_range(at..end, "");
                from = at;
            }
            _ => from = at + 1,
        }
    }
    code
}

/// The length of a char literal at the start of `s` (0: a lifetime, not a literal).
fn char_literal_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.len() >= 4 && b[1] == b'\\' {
        // '\n', '\'', '\\', '\u{..}', '\x7f'
        s[2..].find('\'').map(|n| n + 3).unwrap_or(0)
    } else if let Some(c) = s[1..].chars().next() {
        let after = 1 + c.len_utf8();
        if s[after..].starts_with('\'') {
            after + 1
        } else {
            0
        }
    } else {
        0
    }
}

/// Every path a file names: each leaf of its `use` trees and each `crate::`, `super::` or
/// `self::` path elsewhere.
fn paths_in(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        let after = &rest[at + 3..];
        let end = after.find(';').unwrap_or(after.len());
        expand_use(
            &after[..end].split_whitespace().collect::<String>(),
            &mut paths,
        );
        rest = &after[end..];
    }
    let chars: Vec<char> = code.chars().collect();
    let text: String = chars.iter().collect();
    for root in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = text[from..].find(root) {
            let start = from + at;
            let preceded = text[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            let end = text[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map(|n| start + n)
                .unwrap_or(text.len());
            if !preceded {
                paths.push(text[start..end].trim_end_matches(':').to_string());
            }
            from = end.max(start + root.len());
        }
    }
    paths
}

fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find(word) {
        let start = from + at;
        let before = text[..start].chars().next_back();
        let after = text[start + word.len()..].chars().next();
        let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if boundary(before) && after.is_some_and(char::is_whitespace) {
            return Some(start);
        }
        from = start + word.len();
    }
    None
}

/// Expands `a::{b, c::{d, e}}` (whitespace removed) into `a::b`, `a::c::d`, `a::c::e`.
fn expand_use(tree: &str, out: &mut Vec<String>) {
    let Some(open) = tree.find('{') else {
        out.push(tree.split("as").next().unwrap_or(tree).to_string());
        return;
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut depth = 0;
    let mut part = String::new();
    let mut parts = Vec::new();
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut part));
                continue;
            }
            _ => {}
        }
        part.push(c);
    }
    parts.push(part);
    for p in parts.into_iter().filter(|p| !p.is_empty()) {
        if p == "self" {
            out.push(prefix.to_string());
        } else {
            expand_use(&format!("{prefix}::{p}"), out);
        }
    }
}

/// The file a path leads to: the longest prefix of it that is a module with a file.
fn resolve(files: &Files, from: &[String], path: &str) -> Option<Vec<String>> {
    let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut module: Vec<String> = match segments.peek().copied() {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        Some("super") | Some("self") => from.to_vec(),
        _ => return None,
    };
    while let Some(&s) = segments.peek() {
        match s {
            "super" => {
                module.pop();
            }
            "self" => {}
            _ => break,
        }
        segments.next();
    }
    let mut best = files.contains_key(&module).then(|| module.clone());
    for s in segments {
        module.push(s.to_string());
        if files.contains_key(&module) {
            best = Some(module.clone());
        } else {
            break;
        }
    }
    best
}

type Graph = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

fn graph(files: &Files) -> Graph {
    files
        .iter()
        .map(|(module, path)| {
            let code = code_of(&std::fs::read_to_string(path).expect("read"));
            let targets = paths_in(&code)
                .iter()
                .filter_map(|p| resolve(files, module, p))
                .filter(|t| t != module)
                .collect();
            (module.clone(), targets)
        })
        .collect()
}

/// Strongly connected components of more than one file (Tarjan, iterative).
fn cycles(graph: &Graph) -> Vec<Vec<Vec<String>>> {
    let nodes: Vec<&Vec<String>> = graph.keys().collect();
    let index_of: BTreeMap<&Vec<String>, usize> =
        nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let edges: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            graph[*n]
                .iter()
                .filter_map(|t| index_of.get(t).copied())
                .collect()
        })
        .collect();
    let n = nodes.len();
    let (mut index, mut low, mut on) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
    let (mut stack, mut counter, mut out) = (Vec::new(), 0, Vec::new());
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        while let Some((v, next)) = work.pop() {
            if next == 0 {
                index[v] = counter;
                low[v] = counter;
                counter += 1;
                stack.push(v);
                on[v] = true;
            }
            if let Some(&w) = edges[v].get(next) {
                work.push((v, next + 1));
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                loop {
                    let w = stack.pop().expect("on the stack");
                    on[w] = false;
                    component.push(nodes[w].clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    out.push(component);
                }
            }
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
        }
    }
    out
}

#[test]
fn no_import_cycle_among_source_files() {
    let files = files();
    let graph = graph(&files);
    let found = cycles(&graph);
    let report: Vec<String> = found
        .iter()
        .map(|component| {
            let mut lines = Vec::new();
            for from in component {
                for to in graph[from].iter().filter(|t| component.contains(t)) {
                    lines.push(format!(
                        "  {} -> {}",
                        display(&files, from),
                        display(&files, to)
                    ));
                }
            }
            lines.sort();
            format!("cycle:\n{}", lines.join("\n"))
        })
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// How high a file's room is: a file may import files of its own room or of lower rooms.
fn rank(module: &[String]) -> u32 {
    let m: Vec<&str> = module.iter().map(String::as_str).collect();
    match m.as_slice() {
        // Pods are made of containers: the pod room drives the container room.
        ["engine", "pod", ..] => 4,
        // Builds run containers and compose images: above both, beside pods.
        ["engine", "build", ..] => 4,
        ["engine", "container", ..] => 3,
        ["engine", "image" | "runtime" | "monitor" | "volume", ..] => 2,
        // The engine's error wraps the rooms' own error types (runtime's, storage's), so it
        // sits above storage, which keeps an error type of its own and never names it.
        ["engine", "error"] => 2,
        // The registry client speaks the distribution protocol and keeps an error type of its
        // own, like storage: the image room drives it.
        // The bridge network, likewise, with an error type of its own: containers drive it.
        ["engine", "storage" | "registry" | "network", ..] => 1,
        // The facade: the Engine, what it is opened with, the host facts it reports.
        ["engine", "system" | "options"] | ["engine"] => 5,
        // The leaves (IDs, tree walks, processes, `sys`) and the crate root's constants.
        ["engine", ..] | ["sys", ..] | [] => 0,
        _ => 6,
    }
}

#[test]
fn imports_run_down_the_rooms() {
    let files = files();
    let graph = graph(&files);
    let mut upward = Vec::new();
    for (from, targets) in &graph {
        for to in targets {
            if rank(to) > rank(from) {
                upward.push(format!(
                    "{} -> {}",
                    display(&files, from),
                    display(&files, to)
                ));
            }
        }
    }
    assert!(upward.is_empty(), "imports up the rooms: {upward:#?}");
}

#[test]
fn the_engine_never_names_the_wire_or_the_command_line() {
    let files = files();
    let graph = graph(&files);
    let mut bad = Vec::new();
    for (from, targets) in graph
        .iter()
        .filter(|(m, _)| m.first().is_some_and(|s| s == "engine"))
    {
        for to in targets {
            if to
                .first()
                .is_some_and(|s| s == "varlink" || s == "config" || s == "daemon")
            {
                bad.push(format!(
                    "{} -> {}",
                    display(&files, from),
                    display(&files, to)
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "engine imports outside the engine: {bad:#?}"
    );
}

#[test]
fn the_parser_reads_use_trees_and_paths() {
    let mut paths = Vec::new();
    expand_use(
        "crate::engine::{error::{Error,Result},id::ContainerId,self}",
        &mut paths,
    );
    assert_eq!(
        paths,
        [
            "crate::engine::error::Error",
            "crate::engine::error::Result",
            "crate::engine::id::ContainerId",
            "crate::engine"
        ]
    );
    let code = code_of(
        "let s = \"crate::x::y\"; // super::z\nlet c = '\"'; f(super::w::v);\n\
         #[cfg(test)]\nmod checks {\n    use super::*;\n    fn f() { crate::a::b(); }\n}\n",
    );
    assert_eq!(paths_in(&code), ["super::w::v"]);
}
