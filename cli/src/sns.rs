//! `webhook-guard sign --sns-cert-url URL --private-key KEY.pem --body MESSAGE.json`: an
//! Amazon SNS message signed as SNS signs it (SignatureVersion 1 or 2 over the string
//! the plugin's own check verifies), with the headers SNS sends. The certificate of
//! the key must be served at the URL (through the route's `certificates.cluster`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use base64::Engine;
use sha2::Digest;
use webhook_guard::verify::sns::{cert_url, string_to_sign, TYPE_HEADER};

/// Sign `body` (an SNS message without its signature members) for `url` with the RSA
/// key at `key`, and print the headers, a blank line and the message to send.
pub fn run(key: &Path, url: &str, version: u8, body: &[u8], out: &mut dyn Write) -> Result<ExitCode, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    if cert_url(url).is_none() {
        return Err(format!(
            "{url} is not an SNS certificate URL (https://sns.<region>.amazonaws.com/<name>.pem): the filter \
             refuses it without fetching it"
        ));
    }
    let text = std::fs::read_to_string(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(&text)
        .ok()
        .or_else(|| rsa::RsaPrivateKey::from_pkcs1_pem(&text).ok())
        .ok_or_else(|| format!("{}: not an RSA private key (PKCS#8 or PKCS#1 PEM)", key.display()))?;
    let mut message: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| format!("the body is not a JSON object: {e}"))?;
    for name in ["Signature", "SignatureVersion", "SigningCertURL"] {
        message.remove(name);
    }
    message.insert("SignatureVersion".into(), version.to_string().into());
    let unsigned = serde_json::to_vec(&message).map_err(|e| e.to_string())?;
    let canonical =
        string_to_sign(&unsigned).map_err(|d| format!("not an SNS message to sign ({})", d.explanation()))?;
    let signature = match version {
        1 => private.sign(rsa::Pkcs1v15Sign::new::<sha1::Sha1>(), &sha1::Sha1::digest(canonical.as_bytes())),
        _ => private.sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &sha2::Sha256::digest(canonical.as_bytes())),
    }
    .map_err(|e| format!("signing failed: {e}"))?;
    message.insert("Signature".into(), base64::engine::general_purpose::STANDARD.encode(signature).into());
    message.insert("SigningCertURL".into(), url.into());
    let kind = message.get("Type").and_then(|t| t.as_str()).unwrap_or_default().to_string();
    let json = serde_json::to_string(&message).map_err(|e| e.to_string())?;
    let text = format!("{TYPE_HEADER}: {kind}\ncontent-type: text/plain; charset=UTF-8\n\n{json}\n");
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}
