//! Image IDs.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::digest::{Digest, is_hex64};

/// An image ID: the 64 lowercase hex digits of the SHA-256 digest of the image's config.
/// Safe as one path component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageId(String);

/// A string that is not an image ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image ID {0:?}: want 64 lowercase hex digits")]
pub struct InvalidImageId(pub String);

impl ImageId {
    /// Parses 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, InvalidImageId> {
        if is_hex64(s) {
            Ok(ImageId(s.to_string()))
        } else {
            Err(InvalidImageId(s.to_string()))
        }
    }

    /// The ID of the image whose config is `config`.
    pub fn of_config(config: &[u8]) -> Self {
        ImageId(format!("{:x}", Sha256::digest(config)))
    }

    /// The config's digest, `sha256:<id>`.
    pub fn digest(&self) -> Digest {
        Digest::from_hex(&self.0).expect("an image ID is a sha256 hex digest")
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ID reads as the string it is wherever a `&str` is wanted (lookups, messages).
impl Deref for ImageId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ImageId {
    type Error = InvalidImageId;

    fn try_from(s: String) -> Result<Self, InvalidImageId> {
        ImageId::parse(&s)
    }
}

impl From<ImageId> for String {
    fn from(id: ImageId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_are_64_lowercase_hex() {
        let hex = "a".repeat(64);
        assert_eq!(ImageId::parse(&hex).unwrap().as_str(), hex);
        for bad in [
            "".to_string(),
            "A".repeat(64),
            "a".repeat(63),
            "a".repeat(65),
            format!("../{}", "a".repeat(61)),
            format!("sha256:{hex}"),
        ] {
            assert!(ImageId::parse(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(ImageId::of_config(b"{}").digest(), Digest::of(b"{}"));
        let record: Result<ImageId, _> = serde_json::from_str("\"../../x\"");
        assert!(record.is_err());
    }
}
