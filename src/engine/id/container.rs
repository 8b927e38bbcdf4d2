//! Container IDs.

use std::fmt;

use super::digest::is_hex64;

/// A container's ID: 64 lowercase hex digits. Only [`ContainerId::parse`] and
/// [`ContainerId::random`] make one, so a path built from it stays in its directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId(String);

/// A string that is not a container ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a container ID (64 lowercase hex digits)")]
pub struct ContainerIdError(pub String);

impl ContainerId {
    /// `s` as a container ID, if it is 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, ContainerIdError> {
        if is_hex64(s) {
            Ok(ContainerId(s.to_string()))
        } else {
            Err(ContainerIdError(s.to_string()))
        }
    }

    /// A new random ID (from the kernel's random source).
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        let read = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
        if let Err(e) = read {
            // Without it every ID would be the same: nothing could be created.
            panic!("cannot read /dev/urandom for a container ID: {e}");
        }
        ContainerId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ContainerId {
    type Err = ContainerIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContainerId::parse(s)
    }
}

/// Reading an ID as a string is always safe (only making one is checked): callers that
/// compare it with a client's prefix, print it or pass it to the runtime use it as a `&str`.
impl std::ops::Deref for ContainerId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ContainerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for ContainerId {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

/// Maps keyed by ID are looked up with a client's string.
impl std::borrow::Borrow<str> for ContainerId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ContainerId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for ContainerId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl serde::Serialize for ContainerId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ContainerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ContainerId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_are_64_lowercase_hex() {
        let good = "0123456789abcdef".repeat(4);
        let id = ContainerId::parse(&good).unwrap();
        assert_eq!(id.as_str(), good);
        assert_eq!(id.to_string(), good);
        for bad in [
            "".to_string(),
            "0123456789ABCDEF".repeat(4),
            "0123456789abcdef".repeat(4) + "0",
            "../".to_string() + &"a".repeat(61),
            "/".to_string() + &"a".repeat(63),
            "g".repeat(64),
        ] {
            assert!(ContainerId::parse(&bad).is_err(), "{bad:?}");
        }
        let random = ContainerId::random();
        assert!(ContainerId::parse(random.as_str()).is_ok());
        assert_ne!(random, ContainerId::random());
    }

    #[test]
    fn container_ids_serialize_as_strings_and_are_checked_when_read() {
        let id = ContainerId::parse(&"ab".repeat(32)).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<ContainerId>(&json).unwrap(), id);
        let err = serde_json::from_str::<ContainerId>("\"../../etc\"").unwrap_err();
        assert!(err.to_string().contains("not a container ID"), "{err}");
    }
}
