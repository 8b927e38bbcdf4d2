//! nft: see the room's module doc.
