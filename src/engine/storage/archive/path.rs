//! Paths inside a tarball, made relative to the directory they are extracted or read into.

use std::path::{Component, Path, PathBuf};

use super::error::{ArchiveError, Result};

/// A tarball path made relative to the layer root; `..` anywhere is refused.
pub fn clean_path(raw: &str) -> Result<PathBuf> {
    let mut clean = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                return Err(ArchiveError::Unsafe {
                    path: raw.to_string(),
                    why: "a \"..\" component",
                });
            }
        }
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(
            clean_path("./etc/passwd").unwrap(),
            PathBuf::from("etc/passwd")
        );
        assert_eq!(clean_path("/abs/path").unwrap(), PathBuf::from("abs/path"));
        assert_eq!(clean_path("./").unwrap(), PathBuf::new());
        assert!(clean_path("../x").is_err());
        assert!(clean_path("a/../../x").is_err());
    }
}
