//! Registry call arguments: TLS, certificates and credentials as the engine takes them.

use std::path::PathBuf;

use crate::engine::Error;
use crate::engine::registry::{CallOptions, Credentials};

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
