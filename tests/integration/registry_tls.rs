//! Certificates for TLS test registries, made with `openssl`: a fresh CA per registry, a
//! server certificate for `127.0.0.1` and `localhost`, and client certificate pairs laid out
//! as containers' `certs.d` wants them (`ca.crt`, `client.cert`, `client.key`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::registry_http::nonce;
use crate::util::{require_tool, run_ok};

/// `ca.crt` and a client pair signed by the CA of the registry in `registry_dir`, into `dir`.
pub fn write_client_cert(registry_dir: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).expect("client cert dir");
    let tls = registry_dir.join("tls");
    std::fs::copy(tls.join("ca.crt"), dir.join("ca.crt")).expect("copy ca.crt");
    sign(
        &tls,
        "client",
        &dir.join("client.cert"),
        &dir.join("client.key"),
    );
}

/// The registry's own client certs.d directory, made on first use (built aside, then
/// renamed, so a concurrent caller never sees half of it).
pub fn client_cert_dir(registry_dir: &Path) -> PathBuf {
    let dir = registry_dir.join("client-certs");
    if !dir.join("client.key").exists() {
        let building = registry_dir.join(format!("client-certs.{}", nonce()));
        write_client_cert(registry_dir, &building);
        if std::fs::rename(&building, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&building);
        }
    }
    dir
}

/// The openssl configuration: the CA's, the server's and a client's extensions.
const OPENSSL_CNF: &str = "[req]
distinguished_name = dn
prompt = no
[dn]
CN = podlink test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
";

/// A fresh CA and a server certificate for 127.0.0.1 and localhost under `dir/tls`.
pub fn make_ca(dir: &Path) {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).expect("tls dir");
    std::fs::write(tls.join("openssl.cnf"), OPENSSL_CNF).expect("openssl.cnf");
    run_ok(
        Command::new(require_tool("openssl"))
            .current_dir(&tls)
            .args([
                "req",
                "-config",
                "openssl.cnf",
                "-x509",
                "-extensions",
                "ca",
            ])
            .args(EC_KEY)
            .args(["-keyout", "ca.key", "-out", "ca.crt", "-days", "2"])
            .args(["-subj", "/CN=podlink test CA"]),
    );
    sign(
        &tls,
        "server",
        &tls.join("server.crt"),
        &tls.join("server.key"),
    );
}

/// Key options for openssl: P-256 keys are made in milliseconds, RSA ones are not.
const EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

/// A key and a certificate with the `section` extensions, signed by the CA in `tls`.
fn sign(tls: &Path, section: &str, cert: &Path, key: &Path) {
    let openssl = require_tool("openssl");
    let csr = tempfile::NamedTempFile::new_in(tls).expect("csr temp file");
    run_ok(
        Command::new(&openssl)
            .current_dir(tls)
            .args(["req", "-config", "openssl.cnf", "-new"])
            .args(EC_KEY)
            .arg("-keyout")
            .arg(key)
            .arg("-out")
            .arg(csr.path())
            .args(["-subj", &format!("/CN=podlink test {section}")]),
    );
    static SERIAL: AtomicU64 = AtomicU64::new(1);
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed) + u64::from(std::process::id()) * 1000;
    run_ok(
        Command::new(&openssl)
            .current_dir(tls)
            .args([
                "x509", "-req", "-CA", "ca.crt", "-CAkey", "ca.key", "-days", "2",
            ])
            .args(["-extfile", "openssl.cnf", "-extensions", section])
            .args(["-set_serial", &serial.to_string()])
            .arg("-in")
            .arg(csr.path())
            .arg("-out")
            .arg(cert),
    );
}
