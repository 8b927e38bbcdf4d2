//! link: see the room's module doc.
