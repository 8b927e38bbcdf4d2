//! Typed identities: digests, image IDs and container IDs, parsed once where they come in (the
//! wire, archives and registry documents, records read from disk). A filesystem path is only
//! ever built from one of these, never from a plain string, so a crafted `../../x` has no way
//! to reach a path.
//!
//! This room is at the bottom of the engine: it imports nothing of it.
//!
//! - `digest`: `Digest`, an algorithm and the lowercase hex of its length (`sha256:<64 hex>`);
//! - `image`: `ImageId`, the hex of an image config's SHA-256;
//! - `container`: `ContainerId`, 64 random lowercase hex digits.

pub mod container;
pub mod digest;
pub mod image;

pub use container::ContainerId;
pub use digest::Digest;
pub use image::ImageId;
