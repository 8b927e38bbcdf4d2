//! The suite's own rules, checked on its source so they do not erode: a test skips only
//! through a gate that fails under `REQUIRE_PRIVILEGED=1`; scenario tests stay under 200
//! lines so one failure does not hide the rest; a sleep either waits inside a polling loop
//! or says why it is not synchronisation. (Leftovers are checked by `TestDaemon`'s drop.)

use std::path::{Path, PathBuf};

/// The longest a test function may be, in lines.
const MAX_TEST_LINES: usize = 200;

/// How far above a sleep its polling loop, or its comment, may be.
const SLEEP_CONTEXT: usize = 12;

/// The integration test sources, with their text.
fn sources() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration");
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .expect("tests/integration")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read test source");
            (p, text)
        })
        .collect();
    files.sort();
    assert!(
        files.len() > 10,
        "test sources not found in {}",
        dir.display()
    );
    files
}

/// Each `#[test]` function of `text`: its name, first line (1-based) and lines.
fn tests_of(text: &str) -> Vec<(String, usize, Vec<&str>)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i] == "#[test]" {
            let Some(start) = (i + 1..lines.len()).find(|&j| lines[j].starts_with("fn ")) else {
                break;
            };
            let end = (start..lines.len())
                .find(|&j| lines[j] == "}")
                .unwrap_or(lines.len() - 1);
            let name = lines[start][3..]
                .split('(')
                .next()
                .unwrap_or_default()
                .to_string();
            out.push((name, start + 1, lines[start..=end].to_vec()));
            i = end;
        }
        i += 1;
    }
    out
}

#[test]
fn a_test_skips_only_through_a_gate() {
    let mut offenders = Vec::new();
    for (path, text) in sources() {
        for (name, first, body) in tests_of(&text) {
            // A `return;` directly inside a top-level `if` of the test: an early exit.
            for (n, line) in body.iter().enumerate() {
                if *line == "        return;" {
                    let condition = body[..n].iter().rev().find(|l| !l.trim().is_empty());
                    let gated = condition.is_some_and(|c| c.contains("privileged("));
                    if !gated {
                        offenders.push(format!("{}:{} {name}", path.display(), first + n));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "tests that return early without the privileged gate:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn scenario_tests_stay_short() {
    let mut long = Vec::new();
    for (path, text) in sources() {
        for (name, first, body) in tests_of(&text) {
            if body.len() >= MAX_TEST_LINES {
                long.push(format!(
                    "{}:{first} {name}: {} lines",
                    path.display(),
                    body.len()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "tests of {MAX_TEST_LINES}+ lines (split them so one failure does not hide the rest):\n{}",
        long.join("\n")
    );
}

#[test]
fn a_sleep_polls_or_says_why() {
    let mut unexplained = Vec::new();
    for (path, text) in sources() {
        if path.ends_with("suite_hygiene.rs") {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if !line.contains("thread::sleep(") {
                continue;
            }
            let above = &lines[n.saturating_sub(SLEEP_CONTEXT)..n];
            let in_a_loop = above
                .iter()
                .any(|l| l.contains("while ") || l.trim_end().ends_with("loop {"));
            let explained = above
                .iter()
                .rev()
                .take(4)
                .any(|l| l.contains("Not synchronisation"));
            if !in_a_loop && !explained {
                unexplained.push(format!("{}:{}", path.display(), n + 1));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "sleeps neither in a polling loop nor marked \"Not synchronisation\" with a reason:\n{}",
        unexplained.join("\n")
    );
}
