//! TLS for one registry: the system's roots plus the CAs of its certificate directory, the
//! client certificate found there, or no verification at all for an insecure registry.
//!
//! The directory is the call's `certDir`, else `certs.d/HOST:PORT/` (by default
//! `/etc/containers/certs.d`), laid out as containers' tools read it: `*.crt` are CAs,
//! `NAME.cert` with `NAME.key` a client certificate and its key.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::RegistrySettings;

/// The TLS configuration for `registry`.
pub fn config(
    settings: &RegistrySettings,
    registry: &str,
    cert_dir: Option<&Path>,
    insecure: bool,
) -> Result<TlsConfig, String> {
    let dir = match cert_dir {
        Some(dir) => Some(dir.to_path_buf()),
        None => Some(settings.certs_d.join(registry)).filter(|d| d.is_dir()),
    };
    let mut roots = match &settings.system_roots {
        Some(system) => system_roots(system),
        None => Vec::new(),
    };
    let mut client = None;
    if let Some(dir) = &dir {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("read certificate directory {}: {e}", dir.display()))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default();
            match ext {
                "crt" => roots.extend(certificates(&read(&path)?, &path)?),
                "cert" => {
                    let key = path.with_extension("key");
                    if !key.exists() {
                        return Err(format!(
                            "client certificate {} has no key {}",
                            path.display(),
                            key.display()
                        ));
                    }
                    let chain = certificates(&read(&path)?, &path)?;
                    let key_pem = read(&key)?;
                    let key = PrivateKey::from_pem(&key_pem)
                        .map_err(|e| format!("{}: {e}", key.display()))?;
                    client = Some(ClientCert::new_with_certs(&chain, key));
                }
                "key" if !path.with_extension("cert").exists() => {
                    return Err(format!(
                        "key {} has no client certificate {}",
                        path.display(),
                        path.with_extension("cert").display()
                    ));
                }
                _ => {}
            }
        }
    }
    let roots = if roots.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::new_with_certs(&roots)
    };
    Ok(TlsConfig::builder()
        .root_certs(roots)
        .client_cert(client)
        .disable_verification(insecure)
        .build())
}

/// The system's CA bundle, parsed once per bundle path: it holds some 140 certificates, and
/// parsing them took milliseconds of every pull.
fn system_roots(path: &Path) -> Vec<Certificate<'static>> {
    static CACHE: Mutex<Vec<(PathBuf, Vec<Certificate<'static>>)>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, certs)) = cache.iter().find(|(p, _)| p == path) {
        return certs.clone();
    }
    let certs = match std::fs::read(path) {
        Ok(pem) => certificates(&pem, path).unwrap_or_else(|e| {
            log::warn!("ignoring the system CA bundle: {e}");
            Vec::new()
        }),
        Err(e) => {
            log::debug!("no system roots at {}: {e}", path.display());
            Vec::new()
        }
    };
    cache.push((path.to_path_buf(), certs.clone()));
    certs
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))
}

/// The certificates of a PEM file (other items are skipped).
fn certificates(pem: &[u8], path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item.map_err(|e| format!("{}: {e}", path.display()))? {
            PemItem::Certificate(c) => certs.push(c),
            _ => continue,
        }
    }
    Ok(certs)
}
