//! ipam: see the room's module doc.
