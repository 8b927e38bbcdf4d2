//! Registry call arguments (TLS, certificates, credentials, search limits) as the engine
//! takes them, and search results as the wire's `ImageSearch`.

use std::path::PathBuf;

use crate::engine::Error;
use crate::engine::registry::search::SearchResult;
use crate::engine::registry::{CallOptions, Credentials};
use crate::varlink::generated as wire;

/// A boolean argument the client actually sent (at `path` in the parameters): `None` when it left it out (or sent null),
/// which the generated code cannot tell from `false`. PullImage's `tlsVerify: false` turns
/// verification off, so a client that says nothing (python-podman's `images.pull(name)`)
/// must not get that by default.
pub fn sent_bool(call: &dyn varlink::CallTrait, path: &[&str]) -> Option<bool> {
    let mut value = call.get_request()?.parameters.as_ref()?;
    for field in path {
        value = value.get(field)?;
    }
    match value {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) if s == "true" || s == "false" => Some(s == "true"),
        _ => None,
    }
}

/// The TLS and credential options of a registry call; a malformed `creds` is an error.
pub fn call_options(
    tls_verify: Option<bool>,
    cert_dir: &str,
    creds: &str,
    auth_file: &str,
) -> Result<CallOptions, Error> {
    let credentials = Credentials::parse(creds).map_err(|e| Error::invalid("creds", e))?;
    Ok(CallOptions {
        tls_verify,
        cert_dir: (!cert_dir.is_empty()).then(|| PathBuf::from(cert_dir)),
        credentials,
        auth_file: (!auth_file.is_empty()).then(|| PathBuf::from(auth_file)),
    })
}

/// SearchImage's `limit`: `None` (the engine's default) for 0 or less, as Podman read it.
pub fn search_limit(limit: i64) -> Option<usize> {
    usize::try_from(limit).ok().filter(|l| *l > 0)
}

/// A SearchImage result.
pub fn image_search(found: SearchResult) -> wire::ImageSearch {
    wire::ImageSearch {
        description: found.description,
        is_official: found.is_official,
        is_automated: found.is_automated,
        name: found.name,
        star_count: found.star_count,
    }
}
