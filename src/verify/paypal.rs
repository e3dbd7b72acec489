//! `checks.paypal`: PayPal's webhook signature, verified locally as PayPal's page
//! describes it (<https://developer.paypal.com/api/rest/webhooks/rest/>).
//!
//! PayPal signs `<transmission id>|<transmission time>|<webhook id>|<crc32 of the body>`
//! (the CRC as an unsigned decimal) with RSA and SHA-256, and names the certificate of
//! the signing key in `PAYPAL-CERT-URL`. That URL comes from the request, so it is the
//! attacker's to choose: it is fetched only when it is HTTPS on one of PayPal's API
//! hosts, under the certificates path, with no user, port, query or fragment; any other
//! URL is refused before anything is fetched.
//!
//! This module is the pure part: the headers read and checked, the certificate URL
//! judged, the signed string built, the signature verified with a given RSA key.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::denial::Denial;
use crate::error::ConfigError;
use crate::request::RequestHead;
use crate::verify::encoding::base64_decode;
use crate::verify::signature::presets::{Window, CLOCK_SKEW_SECONDS};
use crate::verify::signature::DEFAULT_TOLERANCE_SECONDS;

pub const TRANSMISSION_ID: &str = "paypal-transmission-id";
pub const TRANSMISSION_TIME: &str = "paypal-transmission-time";
pub const TRANSMISSION_SIG: &str = "paypal-transmission-sig";
pub const CERT_URL: &str = "paypal-cert-url";
pub const AUTH_ALGO: &str = "paypal-auth-algo";

/// The only algorithm PayPal names in `PAYPAL-AUTH-ALGO`.
pub const ALGORITHM: &str = "SHA256withRSA";

/// The hosts PayPal serves its signing certificates from: the live and sandbox REST API
/// hosts, old (`api.`) and new (`api-m.`).
pub const CERT_HOSTS: [&str; 4] =
    ["api.paypal.com", "api-m.paypal.com", "api.sandbox.paypal.com", "api-m.sandbox.paypal.com"];

/// Where on those hosts the certificates are (`/v1/notifications/certs/CERT-...`).
pub const CERT_PATH_PREFIX: &str = "/v1/notifications/certs/";

/// PayPal's API limits on the values it sends (the verify-webhook-signature request
/// schema): a header over these is not PayPal's.
const MAX_ID_BYTES: usize = 50;
const MAX_TIME_BYTES: usize = 100;
const MAX_SIG_BYTES: usize = 500;
const MAX_URL_BYTES: usize = 500;
const MAX_WEBHOOK_ID_BYTES: usize = 50;

pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// Wire form of `checks.paypal`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaypalConfig {
    /// The webhook's id, as the developer dashboard shows it (signed in every message).
    pub webhook_id: String,
    /// Where certificates are fetched.
    pub certificates: CertificatesConfig,
    /// How far the transmission time may lie from now, both ways (default 300 s past,
    /// 60 s ahead).
    pub tolerance_seconds: Option<u64>,
}

/// Wire form of `checks.paypal.certificates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificatesConfig {
    /// The Envoy cluster the certificate is fetched through (TLS to PayPal is its job).
    pub cluster: String,
    /// The hosts a certificate URL may name: some of [`CERT_HOSTS`] (default: all).
    pub hosts: Option<Vec<String>>,
    pub timeout_ms: Option<u64>,
}

/// A compiled `checks.paypal`.
#[derive(Debug, Clone)]
pub struct PaypalCheck {
    pub webhook_id: String,
    pub window: Window,
    pub cluster: String,
    pub hosts: Vec<&'static str>,
    pub timeout_ms: u64,
}

/// A certificate URL that passed the host rule: what the fetch asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertUrl {
    /// The URL as sent: the cache key of the certificate.
    pub url: String,
    pub authority: &'static str,
    pub path: String,
}

/// The headers of one PayPal transmission, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmission<'a> {
    pub id: &'a [u8],
    pub time: &'a [u8],
    pub signature: Vec<u8>,
    pub cert: CertUrl,
}

impl PaypalCheck {
    pub fn compile(c: &PaypalConfig, path: &str) -> Result<Self, ConfigError> {
        let w = &c.webhook_id;
        if w.is_empty() || w.len() > MAX_WEBHOOK_ID_BYTES || !w.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConfigError::new(
                format!("{path}.webhook_id"),
                "must be PayPal's webhook id: 1 to 50 letters and digits, as the developer dashboard shows it",
            ));
        }
        let cp = format!("{path}.certificates");
        let cluster = &c.certificates.cluster;
        if cluster.is_empty() || cluster.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            return Err(ConfigError::new(format!("{cp}.cluster"), "must name an Envoy cluster (no spaces)"));
        }
        let hosts = match &c.certificates.hosts {
            None => CERT_HOSTS.to_vec(),
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new(format!("{cp}.hosts"), "at least one host is required"))
            }
            Some(list) => {
                let mut out = Vec::new();
                for (i, h) in list.iter().enumerate() {
                    let Some(known) = CERT_HOSTS.iter().find(|k| **k == h.as_str()) else {
                        return Err(ConfigError::new(
                            format!("{cp}.hosts[{i}]"),
                            format!(
                                "\"{}\" is not one of PayPal's hosts ({})",
                                h.escape_debug(),
                                CERT_HOSTS.join(", ")
                            ),
                        ));
                    };
                    if !out.contains(known) {
                        out.push(*known);
                    }
                }
                out
            }
        };
        let timeout_ms = c.certificates.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if !(100..=60_000).contains(&timeout_ms) {
            return Err(ConfigError::new(format!("{cp}.timeout_ms"), "must be between 100 and 60000"));
        }
        let window = match c.tolerance_seconds {
            Some(t) => Window::both(t),
            None => Window { past: DEFAULT_TOLERANCE_SECONDS, future: CLOCK_SKEW_SECONDS },
        };
        Ok(PaypalCheck { webhook_id: w.clone(), window, cluster: cluster.clone(), hosts, timeout_ms })
    }

    /// The transmission's headers, each present once and in PayPal's form, the time
    /// within the window, and the certificate URL on PayPal's hosts. Nothing is fetched
    /// before this passes.
    pub fn read<'a>(&self, head: &'a RequestHead) -> Result<Transmission<'a>, Denial> {
        let h = &head.headers;
        let one = |name: &str| h.get_one(name).map_err(|_| Denial::SignatureRepeated);
        let signature = one(TRANSMISSION_SIG)?.ok_or(Denial::SignatureMissing)?;
        let algo = one(AUTH_ALGO)?.ok_or(Denial::SignatureMalformed)?;
        let cert = one(CERT_URL)?.ok_or(Denial::SignatureMissing)?;
        let id = one(TRANSMISSION_ID)?.filter(|v| !v.is_empty()).ok_or(Denial::MessageIdMissing)?;
        let time = one(TRANSMISSION_TIME)?.filter(|v| !v.is_empty()).ok_or(Denial::TimestampMissing)?;
        if algo != ALGORITHM.as_bytes() {
            return Err(Denial::SignatureMalformed);
        }
        // The id and time go into the signed string between `|`: a `|` in either would
        // let one string be read two ways.
        if id.len() > MAX_ID_BYTES || !id.iter().all(|b| b.is_ascii_graphic() && *b != b'|') {
            return Err(Denial::SignatureMalformed);
        }
        if time.len() > MAX_TIME_BYTES || time.contains(&b'|') {
            return Err(Denial::TimestampMalformed);
        }
        let at =
            std::str::from_utf8(time).ok().and_then(crate::time::parse_rfc3339).ok_or(Denial::TimestampMalformed)?;
        let limit = if at > head.now { self.window.future } else { self.window.past };
        if head.now.abs_diff(at) > limit {
            return Err(Denial::TimestampOutOfTolerance);
        }
        if signature.len() > MAX_SIG_BYTES {
            return Err(Denial::SignatureMalformed);
        }
        let signature = base64_decode(signature).filter(|s| !s.is_empty()).ok_or(Denial::SignatureMalformed)?;
        let cert = cert_url(cert, &self.hosts)?;
        Ok(Transmission { id, time, signature, cert })
    }

    /// Verify a transmission read by [`Self::read`] with the RSA key of its certificate.
    pub fn verify(&self, t: &Transmission<'_>, body: &[u8], key: &rsa::RsaPublicKey) -> Result<(), Denial> {
        let signed = signed_string(t.id, t.time, &self.webhook_id, body);
        let digest = Sha256::digest(&signed);
        key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, &t.signature).map_err(|_| Denial::SignatureMismatch)
    }
}

/// `<id>|<time>|<webhook id>|<crc32 of the body, unsigned decimal>`.
pub fn signed_string(id: &[u8], time: &[u8], webhook_id: &str, body: &[u8]) -> Vec<u8> {
    let crc = crc32(body).to_string();
    let mut out = Vec::with_capacity(id.len() + time.len() + webhook_id.len() + crc.len() + 3);
    for (i, part) in [id, time, webhook_id.as_bytes(), crc.as_bytes()].into_iter().enumerate() {
        if i > 0 {
            out.push(b'|');
        }
        out.extend_from_slice(part);
    }
    out
}

/// Judge a `PAYPAL-CERT-URL` value: `https://<host><path>` with the host one of `hosts`
/// (exactly, lower case, no port, no user) and the path under [`CERT_PATH_PREFIX`],
/// made of unreserved characters only (no `%`, `..`, query or fragment).
pub fn cert_url(raw: &[u8], hosts: &[&'static str]) -> Result<CertUrl, Denial> {
    let refused = Denial::CertUrlRefused;
    if raw.len() > MAX_URL_BYTES {
        return Err(refused);
    }
    let url = std::str::from_utf8(raw).map_err(|_| refused)?;
    let rest = url.strip_prefix("https://").ok_or(refused)?;
    let slash = rest.find('/').ok_or(refused)?;
    let (host, path) = rest.split_at(slash);
    let authority = hosts.iter().find(|h| **h == host).ok_or(refused)?;
    let name = path.strip_prefix(CERT_PATH_PREFIX).ok_or(refused)?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(refused);
    }
    if name.split('.').any(str::is_empty) {
        return Err(refused);
    }
    Ok(CertUrl { url: url.to_string(), authority, path: path.to_string() })
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as zlib, PHP's `crc32()` and
/// the `buffer-crc32` package PayPal's example uses compute it.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        let i = usize::from((crc as u8) ^ b);
        crc = CRC_TABLE.get(i).copied().unwrap_or_default() ^ (crc >> 8);
    }
    !crc
}

/// The byte-at-a-time table (1 KiB), made by the compiler (`n` < 256: the index holds).
#[allow(clippy::indexing_slicing)]
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

#[cfg(test)]
mod tests;
