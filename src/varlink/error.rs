//! The one mapping from engine errors to io.podman error replies.
//!
//! Every failure is logged here, once, with the method it answered. Errors with a dedicated
//! io.podman error keep it; the not-found errors also carry `reason`, which later revisions
//! of the interface added beside `name` and older clients ignore. Everything else becomes
//! `ErrorOccurred` with the whole source chain joined by ": ".

use serde_json::json;
use varlink::Reply;

use super::generated::VarlinkCallError;
use crate::engine::error::Error;

/// Replies to `call` with the io.podman error for `err`.
pub fn reply<C: VarlinkCallError + ?Sized>(
    call: &mut C,
    method: &str,
    err: Error,
) -> varlink::Result<()> {
    let (name, parameters) = to_wire(&err);
    log::warn!("{method}: {}", clipped(&chain(&err)));
    call.reply_struct(Reply::error(name, parameters))
}

/// The most of an error's text the log takes: a client's name comes back in its not-found
/// error, and a client may send a name as long as a message (16 MiB by default).
const LOGGED_TEXT_MAX: usize = 1024;

/// `text`, cut to [`LOGGED_TEXT_MAX`] bytes (on a character boundary) with a note of its size.
fn clipped(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= LOGGED_TEXT_MAX {
        return text.into();
    }
    let end = (0..=LOGGED_TEXT_MAX)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}… ({} bytes in all)", &text[..end], text.len()).into()
}

/// The wire error name and parameters for `err`.
fn to_wire(err: &Error) -> (&'static str, Option<serde_json::Value>) {
    match err {
        Error::ContainerNotFound { name, reason } => (
            "io.podman.ContainerNotFound",
            Some(json!({ "name": name, "reason": reason })),
        ),
        Error::ImageNotFound { name, reason } => (
            "io.podman.ImageNotFound",
            Some(json!({ "name": name, "reason": reason })),
        ),
        Error::PodNotFound { name, reason } => (
            "io.podman.PodNotFound",
            Some(json!({ "name": name, "reason": reason })),
        ),
        Error::NoContainerRunning { .. } => ("io.podman.NoContainerRunning", None),
        Error::NoContainersInPod { name } => {
            ("io.podman.NoContainersInPod", Some(json!({ "name": name })))
        }
        Error::PodContainer { pod, errors } => (
            "io.podman.PodContainerError",
            Some(json!({
                "podname": pod,
                "errors": errors
                    .iter()
                    .map(|(id, reason)| json!({ "containerid": id, "reason": reason }))
                    .collect::<Vec<_>>(),
            })),
        ),
        Error::Runtime(e) => (
            "io.podman.RuntimeError",
            Some(json!({ "reason": chain(e) })),
        ),
        // A container's monitor fails where the runtime would: clients read it as one.
        e @ Error::Monitor { .. } => (
            "io.podman.RuntimeError",
            Some(json!({ "reason": chain(e) })),
        ),
        // Listed rather than caught by `_`, so a new variant is a decision made here and not
        // an ErrorOccurred by accident.
        Error::InvalidState { .. }
        | Error::Criu(_)
        | Error::Invalid { .. }
        | Error::NoRuntime
        | Error::Internal { .. }
        | Error::Timeout { .. }
        | Error::Network { .. }
        | Error::Registry(_)
        | Error::Bridge(_)
        | Error::NotImplemented(_)
        | Error::Storage(_)
        | Error::Io { .. } => (
            "io.podman.ErrorOccurred",
            Some(json!({ "reason": chain(err) })),
        ),
    }
}

/// `err` and its sources joined by ": ".
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        // thiserror messages often embed their source already; don't say it twice.
        if !text.ends_with(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_error_text_is_clipped_for_the_log() {
        assert_eq!(clipped("short"), "short");
        let long = "é".repeat(LOGGED_TEXT_MAX);
        let cut = clipped(&long);
        assert!(cut.len() < LOGGED_TEXT_MAX + 64, "{}", cut.len());
        assert!(cut.ends_with(&format!("… ({} bytes in all)", long.len())));
    }

    #[test]
    fn not_found_errors_keep_their_name_and_add_reason() {
        let (name, params) = to_wire(&Error::ImageNotFound {
            name: "alp".into(),
            reason: "ambiguous: alpine, alpaca".into(),
        });
        assert_eq!(name, "io.podman.ImageNotFound");
        assert_eq!(
            params.unwrap(),
            json!({"name": "alp", "reason": "ambiguous: alpine, alpaca"})
        );
    }

    #[test]
    fn pod_errors_list_each_container() {
        let (name, params) = to_wire(&Error::PodContainer {
            pod: "p".into(),
            errors: vec![("c1".into(), "boom".into())],
        });
        assert_eq!(name, "io.podman.PodContainerError");
        assert_eq!(
            params.unwrap(),
            json!({"podname": "p", "errors": [{"containerid": "c1", "reason": "boom"}]})
        );
    }

    #[test]
    fn everything_else_is_error_occurred_with_the_chain() {
        let err = Error::io(
            "read",
            "/x",
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        );
        let (name, params) = to_wire(&err);
        assert_eq!(name, "io.podman.ErrorOccurred");
        assert_eq!(params.unwrap(), json!({"reason": "read /x: gone"}));
        let (_, params) = to_wire(&Error::NotImplemented("PullImage"));
        assert_eq!(
            params.unwrap(),
            json!({"reason": "PullImage is not implemented by podlink yet"})
        );
        assert_eq!(
            to_wire(&Error::NoContainerRunning { id: "x".into() }),
            ("io.podman.NoContainerRunning", None)
        );
    }

    /// The variants of the layout step's error vocabulary answer `ErrorOccurred`, with their
    /// message as the reason, exactly as the catch-all `InvalidArgument(String)` they replaced
    /// did.
    #[test]
    fn new_variants_are_error_occurred_with_their_message() {
        let cases = [
            (
                Error::invalid("create.memory", "memory: must be at least 6 MiB"),
                "memory: must be at least 6 MiB",
            ),
            (
                Error::NoRuntime,
                "no working OCI runtime (runc or crun) on this host",
            ),
            (
                Error::internal("write OCI spec", "out of memory"),
                "write OCI spec: out of memory",
            ),
            (
                Error::Timeout {
                    what: "container abc did not exit 30s after SIGKILL".into(),
                    after: std::time::Duration::from_secs(30),
                },
                "container abc did not exit 30s after SIGKILL",
            ),
            (
                Error::Network {
                    what: "fetch",
                    url: "http://x/y.tar".into(),
                    reason: "connection refused".into(),
                },
                "fetch http://x/y.tar: connection refused",
            ),
        ];
        for (err, reason) in cases {
            let (name, params) = to_wire(&err);
            assert_eq!(name, "io.podman.ErrorOccurred", "{err:?}");
            assert_eq!(params.unwrap(), json!({ "reason": reason }), "{err:?}");
        }
    }

    /// A monitor fails where the runtime it watches would have, and clients read it as such.
    #[test]
    fn a_monitor_failure_is_a_runtime_error() {
        let err = Error::Monitor {
            id: "abc".into(),
            reason: "exited before reporting".into(),
        };
        assert_eq!(
            to_wire(&err),
            (
                "io.podman.RuntimeError",
                Some(json!({ "reason": "monitor of container abc: exited before reporting" }))
            )
        );
    }

    #[test]
    fn with_cleanup_keeps_the_first_error_on_the_wire() {
        let err = Error::internal("write record", "disk full").with_cleanup("remove", "busy");
        assert_eq!(
            to_wire(&err),
            (
                "io.podman.ErrorOccurred",
                Some(json!({ "reason": "write record: disk full" }))
            )
        );
    }
}
