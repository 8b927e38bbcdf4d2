//! The previous CPU sample of each container, kept by the service for `GetContainerStats`'s
//! `cpu` figure (in its own file so the service holds it without importing the stats code
//! that reads it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The previous CPU sample (CPU nanoseconds, when) of each container, by ID.
#[derive(Debug, Default)]
pub struct CpuSamples(pub(super) Mutex<HashMap<String, (u64, Instant)>>);
