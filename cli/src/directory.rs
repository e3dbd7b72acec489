//! `webhook-guard sign --scheme paypal|plaid`: the headers PayPal and Plaid send, signed
//! with a PEM private key as those senders sign (the plugin verifies them with the key
//! of the certificate or key endpoint the test serves).

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use webhook_guard::verify::jwk::KeyAlgorithm;
use webhook_guard::verify::paypal::{self, ALGORITHM};

use crate::jwt::{load_key, sign};

/// The senders signed here rather than by the scheme model.
pub const SENDERS: [&str; 2] = ["paypal", "plaid"];

/// What a sender's headers are made from.
pub struct Fields<'a> {
    pub body: &'a [u8],
    pub now: u64,
    /// `--timestamp`: PayPal's transmission time as sent (RFC 3339), or Unix seconds;
    /// Plaid's `iat` (Unix seconds).
    pub timestamp: Option<&'a str>,
    /// `--id`: PayPal's transmission id.
    pub id: Option<&'a str>,
    /// `--webhook-id`: PayPal's webhook id.
    pub webhook_id: Option<&'a str>,
    /// `--cert-url`: PayPal's certificate URL.
    pub cert_url: Option<&'a str>,
    /// `--kid`: Plaid's key id.
    pub kid: Option<&'a str>,
}

/// The headers `sender` sends for the body, signed with the key in `key`.
pub fn headers(sender: &str, key: &std::path::Path, f: &Fields<'_>) -> Result<Vec<(String, String)>, String> {
    match sender {
        "paypal" => paypal_headers(key, f),
        "plaid" => plaid_headers(key, f),
        other => Err(format!("unknown sender \"{other}\"")),
    }
}

fn paypal_headers(key: &std::path::Path, f: &Fields<'_>) -> Result<Vec<(String, String)>, String> {
    let webhook_id = f.webhook_id.ok_or("paypal signs the webhook id: give --webhook-id")?;
    let cert_url = f.cert_url.ok_or("paypal names its certificate: give --cert-url")?;
    let time = match f.timestamp {
        Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => {
            webhook_guard::time::format_rfc3339(t.parse().map_err(|_| "--timestamp: not a number of seconds")?)
        }
        Some(t) => t.to_string(),
        None => webhook_guard::time::format_rfc3339(f.now),
    };
    let id = match f.id {
        Some(i) => i.to_string(),
        None => {
            // A UUID-shaped id made from the body and the time, as PayPal's ids look.
            let h = Sha256::digest([f.body, time.as_bytes()].concat());
            let mut x = String::new();
            for (i, b) in h.iter().take(16).enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    x.push('-');
                }
                x.push_str(&format!("{b:02x}"));
            }
            x
        }
    };
    let private = load_key(key, KeyAlgorithm::Rs256)?;
    let signed = paypal::signed_string(id.as_bytes(), time.as_bytes(), webhook_id, f.body);
    let sig = sign(&private, KeyAlgorithm::Rs256, &signed)?;
    Ok(vec![
        ("PAYPAL-TRANSMISSION-ID".into(), id),
        ("PAYPAL-TRANSMISSION-TIME".into(), time),
        ("PAYPAL-TRANSMISSION-SIG".into(), base64::engine::general_purpose::STANDARD.encode(sig)),
        ("PAYPAL-CERT-URL".into(), cert_url.into()),
        ("PAYPAL-AUTH-ALGO".into(), ALGORITHM.into()),
    ])
}

fn plaid_headers(key: &std::path::Path, f: &Fields<'_>) -> Result<Vec<(String, String)>, String> {
    let kid = f.kid.ok_or("plaid names its key: give --kid")?;
    let iat = match f.timestamp {
        Some(t) => t.parse::<u64>().map_err(|_| "--timestamp: plaid's iat is a number of seconds")?,
        None => f.now,
    };
    let private = load_key(key, KeyAlgorithm::Es256)?;
    let header = serde_json::json!({ "alg": "ES256", "kid": kid, "typ": "JWT" }).to_string();
    let hash: String = Sha256::digest(f.body).iter().map(|b| format!("{b:02x}")).collect();
    let claims = serde_json::json!({ "iat": iat, "request_body_sha256": hash }).to_string();
    let b64u = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let input = format!("{}.{}", b64u(header.as_bytes()), b64u(claims.as_bytes()));
    let sig = sign(&private, KeyAlgorithm::Es256, input.as_bytes())?;
    Ok(vec![("Plaid-Verification".into(), format!("{input}.{}", b64u(&sig)))])
}
