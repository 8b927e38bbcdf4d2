//! netns: see the room's module doc.
