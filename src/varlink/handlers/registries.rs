//! The registry methods: PullImage, PushImage and SearchImage.

use std::path::PathBuf;

use serde_json::json;

use crate::engine::Engine;
use crate::engine::image::{PullEvent, PullOptions, PushOptions};
use crate::varlink::convert::registries::{call_options, image_search, search_limit, sent_bool};
use crate::varlink::error;
use crate::varlink::generated::*;

/// io.podman.PullImage: returns the image's ID. With `more`, progress first: replies with
/// `continues: true` whose `id` is empty and whose `logs`, `layer`, `done`, `total` and
/// `present` say what is being fetched.
pub fn pull_image(
    engine: &Engine,
    call: &mut dyn Call_PullImage,
    name: String,
    cert_dir: String,
    creds: String,
    signature_policy: String,
    _tls_verify: bool,
) -> varlink::Result<()> {
    let tls_verify = sent_bool(call, &["tlsVerify"]);
    let options = match call_options(tls_verify, &cert_dir, &creds, "") {
        Ok(call) => PullOptions {
            name,
            call,
            signature_policy: (!signature_policy.is_empty())
                .then(|| PathBuf::from(signature_policy)),
        },
        Err(e) => return error::reply(call, "PullImage", e),
    };
    let more = call.wants_more();
    let mut write_failed = None;
    let result = engine.images().pull(&options, &mut |event| {
        if !more || write_failed.is_some() {
            return;
        }
        let parameters = match event {
            PullEvent::Trying(reference) => json!({
                "id": "",
                "logs": [format!("Trying to pull {reference}")],
            }),
            PullEvent::Layer {
                digest,
                done,
                total,
                present,
            } => json!({
                "id": "",
                "logs": [if present {
                    format!("Copying blob {digest}: already present")
                } else {
                    format!("Copying blob {digest}: {done} of {total} bytes")
                }],
                "layer": digest,
                "done": done,
                "total": total,
                "present": present,
            }),
        };
        call.set_continues(true);
        if let Err(e) = call.reply_struct(varlink::Reply::parameters(Some(parameters))) {
            // The client went away: the pull goes on (another client may want the image).
            write_failed = Some(e);
        }
    });
    call.set_continues(false);
    match result {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "PullImage", e),
    }
}

/// io.podman.PushImage: returns the image's ID, as the contract says (python-podman's
/// `image.push` returns it as the ID).
#[allow(clippy::too_many_arguments)] // the IDL's arguments
pub fn push_image(
    engine: &Engine,
    call: &mut dyn Call_PushImage,
    name: String,
    tag: String,
    _tlsverify: bool,
    signature_policy: String,
    creds: String,
    cert_dir: String,
    compress: bool,
    format: String,
    _remove_signatures: bool,
    sign_by: String,
) -> varlink::Result<()> {
    let tls_verify = sent_bool(call, &["tlsverify"]);
    let options = match call_options(tls_verify, &cert_dir, &creds, "") {
        Ok(call) => PushOptions {
            name,
            destination: tag,
            call,
            signature_policy: (!signature_policy.is_empty())
                .then(|| PathBuf::from(signature_policy)),
            compress,
            format,
            sign_by,
        },
        Err(e) => return error::reply(call, "PushImage", e),
    };
    match engine.images().push(&options) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "PushImage", e),
    }
}

/// io.podman.SearchImage: the repositories matching `name`, at most `limit` per registry (0
/// or less: 25). The call has no TLS or credential arguments: registries are reached as
/// registries.conf, certs.d and the auth files say, as Podman 1.x reached them.
pub fn search_image(
    engine: &Engine,
    call: &mut dyn Call_SearchImage,
    name: String,
    limit: i64,
) -> varlink::Result<()> {
    match engine.images().search(&name, search_limit(limit)) {
        Ok(found) => call.reply(found.into_iter().map(image_search).collect()),
        Err(e) => error::reply(call, "SearchImage", e),
    }
}
