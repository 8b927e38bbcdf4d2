//! Time stamps as the API shows them. Low in the engine so that every room (images,
//! containers) can stamp its records without importing another room.

/// The current time in RFC 3339 with nanoseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}
