//! `webhook-guard thumbprint CERT`: what to pin for a certificate.

use std::path::Path;
use std::process::ExitCode;

use webhook_guard::verify::cert::{pem_to_der, thumbprints};

/// `AB:CD:...`, the spelling of `openssl x509 -fingerprint`.
fn colons(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

pub fn run(path: &Path) -> Result<ExitCode, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // DER starts with a SEQUENCE; anything else is read as PEM.
    let der = if bytes.first() == Some(&0x30) { Some(bytes) } else { pem_to_der(&bytes) };
    let der = der.ok_or_else(|| format!("{}: no certificate (expected PEM or DER)", path.display()))?;
    let [sha1, sha256] = thumbprints(&der);
    println!("sha1    {}", colons(sha1.as_bytes()));
    println!("sha1    {sha1}");
    println!("sha256  {}", colons(sha256.as_bytes()));
    println!("sha256  {sha256}");
    Ok(ExitCode::SUCCESS)
}
