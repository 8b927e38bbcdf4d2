//! teardown: see the room's module doc.
