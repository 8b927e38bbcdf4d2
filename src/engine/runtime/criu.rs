//! CRIU, which the runtime runs for checkpoint and restore: whether it can work on this
//! host, and CRIU's own words when it cannot.
//!
//! `criu check` runs before every checkpoint and restore, so that on a host where CRIU
//! cannot work the call fails with CRIU's reason before the runtime touches the container
//! (a failed dump would first freeze it).

use std::path::Path;
use std::process::{Command, Stdio};

/// How many of CRIU's error lines an error quotes.
const QUOTED_LINES: usize = 4;

/// Why CRIU cannot checkpoint or restore here, or `None` if `criu check` passes.
pub fn unusable() -> Option<String> {
    let output = match Command::new("criu")
        .arg("check")
        .stdin(Stdio::null())
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some("CRIU is not installed (the `criu` package)".into());
        }
        Err(e) => return Some(format!("cannot run criu check: {e}")),
    };
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    // CRIU 3.17 says "Looks good." and exits 0 even with warnings; errors are "Error (...)".
    let errors = error_lines(&text);
    if output.status.success() && errors.is_empty() {
        return None;
    }
    let why = if errors.is_empty() {
        format!("{}: {}", output.status, text.trim())
    } else {
        errors
    };
    Some(format!("CRIU cannot work on this host (criu check: {why})"))
}

/// CRIU's error lines in `text`, the first few, joined by "; ".
pub fn error_lines(text: &str) -> String {
    text.lines()
        .filter(|l| l.contains("Error"))
        .map(str::trim)
        .take(QUOTED_LINES)
        .collect::<Vec<_>>()
        .join("; ")
}

/// CRIU's error lines in its log at `path` (`dump.log`, `restore.log`), or a note that
/// there are none.
pub fn log_errors(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let errors = error_lines(&String::from_utf8_lossy(&bytes));
            if errors.is_empty() {
                format!("no error in {}", path.display())
            } else {
                format!("{} says: {errors}", path.display())
            }
        }
        Err(e) => format!("no log at {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_criu_errors() {
        let text = "Warn (criu/kerndat.c:1): x\n\
                    Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n\
                    Error (criu/crtools.c:260): Could not initialize kernel features detection.\n";
        assert_eq!(
            error_lines(text),
            "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds; \
             Error (criu/crtools.c:260): Could not initialize kernel features detection."
        );
        assert_eq!(error_lines("Looks good.\n"), "");
    }
}
