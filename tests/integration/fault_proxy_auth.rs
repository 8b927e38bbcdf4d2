//! The fault proxy's token service: `BearerAuth` challenges every `/v2/` request without a
//! token granting its repository's scope, and `GET /token` hands tokens out to the right basic
//! credentials, as Docker Hub's token server does.

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::Mutex;

use crate::fault_proxy::{Shared, lock};
use crate::fault_proxy_http::{Request, respond};
use crate::registry_http::{base64, nonce};

/// A `Bearer` token service in front of every `/v2/` request (see `FaultProxy::bearer`).
pub struct BearerAuth {
    /// The one user `GET /token` accepts, and its password.
    pub(crate) user: String,
    pub(crate) password: String,
    /// Token → the scopes it was issued for.
    tokens: Mutex<HashMap<String, Vec<String>>>,
}

/// The repository a `/v2/NAME/(manifests|blobs|tags)/...` path names.
fn repository(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|marker| rest.rfind(marker).map(|at| &rest[..at]))
        .min_by_key(|name| name.len())
}

/// The scope a request needs: `pull`, or `pull,push` to write.
fn actions(method: &str) -> &'static str {
    match method {
        "GET" | "HEAD" => "pull",
        _ => "pull,push",
    }
}

/// The `WWW-Authenticate` value for `request`: the realm, the service and the scope it needs.
pub(crate) fn bearer_challenge(shared: &Shared, request: &Request) -> String {
    let mut challenge = format!(
        "Bearer realm=\"http://{}/token\",service=\"test\"",
        shared.host
    );
    if let Some(repo) = repository(request.path()) {
        challenge += &format!(",scope=\"repository:{repo}:{}\"", actions(&request.method));
    }
    challenge
}

impl BearerAuth {
    /// A token service for `user` with `password`, no tokens issued yet.
    pub(crate) fn new(user: &str, password: &str) -> Self {
        BearerAuth {
            user: user.to_string(),
            password: password.to_string(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the request's bearer token grants what it asks (any token for `/v2/` itself
    /// and the catalog).
    pub(crate) fn allows(&self, request: &Request) -> bool {
        let Some(token) = request
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
        else {
            return false;
        };
        let tokens = lock(&self.tokens);
        let Some(scopes) = tokens.get(token.trim()) else {
            return false;
        };
        let Some(repo) = repository(request.path()) else {
            return true;
        };
        let need = if actions(&request.method) == "pull" {
            "pull"
        } else {
            "push"
        };
        scopes.iter().any(|scope| {
            let mut parts = scope.rsplitn(2, ':');
            let granted = parts.next().unwrap_or_default();
            parts.next() == Some(&format!("repository:{repo}"))
                && granted.split(',').any(|a| a == need || a == "*")
        })
    }
}

/// `GET /token?service=..&scope=..`: a token for the requested scopes to the right basic
/// credentials, 401 otherwise.
pub(crate) fn token_reply(
    bearer: &BearerAuth,
    request: &Request,
    out: &mut TcpStream,
) -> std::io::Result<u16> {
    let expected = format!(
        "Basic {}",
        base64(format!("{}:{}", bearer.user, bearer.password).as_bytes())
    );
    let json = [("Content-Type", "application/json")];
    if request.header("authorization") != Some(expected.as_str()) {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
        respond(out, request, 401, &json, body)?;
        return Ok(401);
    }
    let token = format!("token-{}", nonce());
    let scopes = query_values(&request.target, "scope")
        .iter()
        .flat_map(|s| s.split(' ').map(String::from).collect::<Vec<_>>())
        .collect();
    lock(&bearer.tokens).insert(token.clone(), scopes);
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": 300,
        "issued_at": "2024-01-01T00:00:00Z",
    });
    respond(out, request, 200, &json, body.to_string().as_bytes())?;
    Ok(200)
}

/// Every value of query parameter `key` in `target`, percent-decoded (`+` is a space).
pub fn query_values(target: &str, key: &str) -> Vec<String> {
    let Some((_, query)) = target.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .filter(|(k, _)| percent_decode(k) == key)
        .map(|(_, v)| percent_decode(v))
        .collect()
}

/// Decodes `%XX` escapes and `+`.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
