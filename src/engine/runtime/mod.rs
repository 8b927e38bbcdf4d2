//! The OCI runtime (runc or crun): which binary, and (as containers land) how to drive it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Error, Result};

/// Runtimes tried, in order, when none is asked for. runc first: crun 1.8 refuses hosts with
/// hybrid cgroups, which runc handles.
const CANDIDATES: [&str; 2] = ["runc", "crun"];

/// A runtime binary that answered `--version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRuntime {
    /// Absolute path of the binary.
    pub path: PathBuf,
    /// `runc` or `crun` (the file name).
    pub name: String,
    /// First line of its `--version` output.
    pub version: String,
}

/// The runtime to use: the one `requested` (a path, or a name looked up in `PATH`), which
/// must work, or else the first candidate that works; `None` when no runtime works here.
pub fn select(requested: Option<&Path>) -> Result<Option<OciRuntime>> {
    if let Some(requested) = requested {
        let path = resolve(requested).ok_or_else(|| {
            Error::InvalidArgument(format!("OCI runtime {} not found", requested.display()))
        })?;
        return probe(&path).map(Some);
    }
    Ok(CANDIDATES
        .iter()
        .filter_map(|name| resolve(Path::new(name)))
        .find_map(|path| probe(&path).ok()))
}

/// An absolute path for `runtime`: as given when it contains a slash, else found in `PATH`.
fn resolve(runtime: &Path) -> Option<PathBuf> {
    if runtime.components().count() > 1 || runtime.is_absolute() {
        return runtime.is_file().then(|| runtime.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(runtime))
        .find(|candidate| candidate.is_file())
}

/// Runs `path --version`; the runtime works if that succeeds.
fn probe(path: &Path) -> Result<OciRuntime> {
    let output = Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| Error::io("run", path, e))?;
    if !output.status.success() {
        return Err(Error::InvalidArgument(format!(
            "OCI runtime {} --version failed with {}: {}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let version = String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(OciRuntime {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.to_path_buf(),
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_requested_runtime_is_an_error() {
        let err = select(Some(Path::new("/nonexistent/runc"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/runc"), "{err}");
        assert!(select(Some(Path::new("no-such-runtime-here"))).is_err());
    }

    #[test]
    fn a_binary_that_fails_version_is_refused() {
        // `false` exists everywhere and exits 1.
        let err = select(Some(Path::new("false"))).unwrap_err();
        assert!(err.to_string().contains("--version failed"), "{err}");
    }

    #[test]
    fn a_working_binary_is_taken_with_its_version_line() {
        // `true --version` prints nothing and succeeds: enough to show the probe's shape.
        let rt = select(Some(Path::new("true"))).unwrap().unwrap();
        assert!(rt.path.is_absolute());
        assert_eq!(rt.name, "true");
    }
}
