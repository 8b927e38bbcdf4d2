//! Validated content digests: `sha256:` and exactly 64 lowercase hex digits.
//!
//! Digests come from strangers (archive manifests, image configs' `rootfs.diff_ids`, OCI
//! indexes) and from records on disk that anyone with access to the store could have edited.
//! The stores build paths from them (`layers/<hex>`, `images/<hex>`, `blobs/sha256/<hex>`), so
//! a string becomes a [`Digest`] before it is used for anything, and the stores' path
//! functions take `&Digest`, never `&str`: `sha256:<hex>/diff/p` or `sha256:../../victim`
//! cannot name a path (a crafted archive once reused another layer's symlink to `/` that
//! way). Only sha256 is accepted: it is what podlink computes, and it is what every image
//! format in use writes. Deserializing goes through the same parser, so a record on disk
//! with a bad digest fails to load rather than being followed.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

const PREFIX: &str = "sha256:";

/// The hash functions a [`Digest`] may use. Only SHA-256 (see the module doc); a new one
/// gets a variant here with its hex length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256: 64 hex digits.
    Sha256,
}

impl Algorithm {
    /// Its name in a digest (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
        }
    }

    /// How many hex digits its digests have.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
        }
    }
}

/// An algorithm and the lowercase hex of the right length for it, checked on construction;
/// kept as its text `algorithm:hex`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

/// A string that is not a valid digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {0:?}: want \"sha256:\" and 64 lowercase hex digits")]
pub struct DigestError(pub String);

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        match s.strip_prefix(PREFIX) {
            Some(hex) if is_hex64(hex) => Ok(Digest(s.to_string())),
            _ => Err(DigestError(s.to_string())),
        }
    }

    /// The digest whose hex part is `hex` (an image ID, a directory name).
    pub fn from_hex(hex: &str) -> Result<Self, DigestError> {
        if is_hex64(hex) {
            Ok(Digest(format!("{PREFIX}{hex}")))
        } else {
            Err(DigestError(hex.to_string()))
        }
    }

    /// The SHA-256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::of_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest a SHA-256 hasher fed with some bytes has reached (for bytes hashed as
    /// they stream).
    pub fn of_hasher(hasher: Sha256) -> Self {
        Digest(format!("{PREFIX}{:x}", hasher.finalize()))
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        // The only one `parse` accepts.
        Algorithm::Sha256
    }

    /// The hex digits: safe as one path component.
    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `s` is exactly 64 lowercase hex digits.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;
    fn try_from(s: String) -> Result<Self, DigestError> {
        Digest::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_sha256_and_64_lowercase_hex() {
        let hex = "0123456789abcdef".repeat(4);
        let good = format!("sha256:{hex}");
        assert_eq!(Digest::parse(&good).unwrap().hex(), hex);
        assert_eq!(Digest::from_hex(&hex).unwrap().as_str(), good);
        for bad in [
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha256:{}", &hex[1..]),
            format!("sha256:{hex}0"),
            format!("sha256:{hex}/diff/p"),
            format!("sha256:{}/x", &hex[2..]),
            "sha256:../../victim".to_string(),
            format!("sha256:/{}", &hex[1..]),
            format!("sha256:{}:", &hex[1..]),
            format!("sha512:{hex}"),
            hex.clone(),
            String::new(),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad} accepted");
        }
        assert!(Digest::from_hex("../x").is_err());
        assert_eq!(Digest::parse(&good).unwrap().algorithm().name(), "sha256");
        assert_eq!(Algorithm::Sha256.hex_len(), hex.len());
        assert!(Digest::from_hex(&good).is_err());
    }

    #[test]
    fn deserializing_validates() {
        let hex = "a".repeat(64);
        let ok: Digest = serde_json::from_str(&format!("\"sha256:{hex}\"")).unwrap();
        assert_eq!(ok.hex(), hex);
        assert!(serde_json::from_str::<Digest>("\"sha256:../../etc\"").is_err());
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            format!("\"sha256:{hex}\"")
        );
    }

    #[test]
    fn of_bytes() {
        assert_eq!(
            Digest::of(b"").hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
