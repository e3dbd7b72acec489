//! The RSA public key of a PEM X.509 certificate a sender names by URL (PayPal's
//! `PAYPAL-CERT-URL`), read with a small DER walker: the certificate's structure to its
//! `subjectPublicKeyInfo` and validity, nothing more. No chain is built: the URL's host
//! rule and TLS to that host (the cluster's) are the trust, as in the senders' own
//! examples; an expired or not yet valid certificate is refused all the same.

use crate::verify::encoding::base64_decode;

/// A certificate (or chain) document is a few kilobytes.
pub const MAX_PEM_BYTES: usize = 16 * 1024;
pub const MIN_RSA_BITS: usize = 2048;
pub const MAX_RSA_BITS: usize = 4096;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";
/// 1.2.840.113549.1.1.1, rsaEncryption.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The leaf's key and validity.
#[derive(Debug, Clone)]
pub struct RsaCertificate {
    pub key: rsa::RsaPublicKey,
    /// Unix seconds.
    pub not_before: u64,
    pub not_after: u64,
}

/// Why a certificate document is refused. Never holds document bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertError {
    TooLarge,
    NotPem,
    NotDer,
    NotRsa,
    Weak,
    Expired,
    NotYetValid,
}

impl std::fmt::Display for CertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertError::TooLarge => "the certificate document is over 16 KiB",
            CertError::NotPem => "not a PEM certificate",
            CertError::NotDer => "the certificate's DER cannot be read",
            CertError::NotRsa => "the certificate's key is not RSA",
            CertError::Weak => "the certificate's RSA key is under 2048 or over 4096 bits",
            CertError::Expired => "the certificate has expired",
            CertError::NotYetValid => "the certificate is not valid yet",
        })
    }
}

/// The first certificate of a PEM document (the leaf of a chain): its RSA key, refused
/// outside 2048 to 4096 bits, and refused when `now` is outside its validity.
pub fn rsa_from_pem(pem: &[u8], now: u64) -> Result<RsaCertificate, CertError> {
    if pem.len() > MAX_PEM_BYTES {
        return Err(CertError::TooLarge);
    }
    let text = std::str::from_utf8(pem).map_err(|_| CertError::NotPem)?;
    let start = text.find(BEGIN).ok_or(CertError::NotPem)? + BEGIN.len();
    let rest = text.get(start..).ok_or(CertError::NotPem)?;
    let body = rest.get(..rest.find(END).ok_or(CertError::NotPem)?).ok_or(CertError::NotPem)?;
    let b64: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let der = base64_decode(&b64).ok_or(CertError::NotPem)?;
    let cert = read_der(&der)?;
    if now < cert.not_before {
        return Err(CertError::NotYetValid);
    }
    if now > cert.not_after {
        return Err(CertError::Expired);
    }
    Ok(cert)
}

/// One DER element: its tag, its content, and what follows it.
fn tlv(b: &[u8]) -> Result<(u8, &[u8], &[u8]), CertError> {
    let (&tag, rest) = b.split_first().ok_or(CertError::NotDer)?;
    let (&first, rest) = rest.split_first().ok_or(CertError::NotDer)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 {
            return Err(CertError::NotDer);
        }
        let (digits, rest) = (rest.get(..n).ok_or(CertError::NotDer)?, rest.get(n..).ok_or(CertError::NotDer)?);
        (digits.iter().fold(0usize, |acc, d| (acc << 8) | usize::from(*d)), rest)
    };
    let content = rest.get(..len).ok_or(CertError::NotDer)?;
    Ok((tag, content, rest.get(len..).ok_or(CertError::NotDer)?))
}

/// The element of `tag` at the start of `b`.
fn expect(b: &[u8], tag: u8) -> Result<(&[u8], &[u8]), CertError> {
    match tlv(b)? {
        (t, content, rest) if t == tag => Ok((content, rest)),
        _ => Err(CertError::NotDer),
    }
}

const SEQUENCE: u8 = 0x30;

fn read_der(der: &[u8]) -> Result<RsaCertificate, CertError> {
    let (cert, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    // version [0] EXPLICIT, optional
    let tbs = match tlv(tbs)? {
        (0xa0, _, rest) => rest,
        _ => tbs,
    };
    let (_, tbs) = expect(tbs, 0x02)?; // serialNumber
    let (_, tbs) = expect(tbs, SEQUENCE)?; // signature
    let (_, tbs) = expect(tbs, SEQUENCE)?; // issuer
    let (validity, tbs) = expect(tbs, SEQUENCE)?;
    let (_, tbs) = expect(tbs, SEQUENCE)?; // subject
    let (spki, _) = expect(tbs, SEQUENCE)?;
    let (not_before, validity) = time(validity)?;
    let (not_after, _) = time(validity)?;
    let (algorithm, spki) = expect(spki, SEQUENCE)?;
    let (oid, _) = expect(algorithm, 0x06)?;
    if oid != RSA_ENCRYPTION {
        return Err(CertError::NotRsa);
    }
    let (bits, _) = expect(spki, 0x03)?;
    let key = bits.strip_prefix(&[0u8]).ok_or(CertError::NotDer)?;
    let (key, _) = expect(key, SEQUENCE)?;
    let (n, key) = expect(key, 0x02)?;
    let (e, _) = expect(key, 0x02)?;
    let n = rsa::BigUint::from_bytes_be(n);
    if n.bits() < MIN_RSA_BITS || n.bits() > MAX_RSA_BITS {
        return Err(CertError::Weak);
    }
    let key = rsa::RsaPublicKey::new(n, rsa::BigUint::from_bytes_be(e)).map_err(|_| CertError::Weak)?;
    Ok(RsaCertificate { key, not_before, not_after })
}

/// A UTCTime (`YYMMDDHHMMSSZ`, 1950 to 2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), as
/// RFC 5280 4.1.2.5 writes them, in Unix seconds.
fn time(b: &[u8]) -> Result<(u64, &[u8]), CertError> {
    let (tag, text, rest) = tlv(b)?;
    let text = std::str::from_utf8(text).map_err(|_| CertError::NotDer)?;
    let full = match (tag, text.len()) {
        (0x17, 13) => {
            let yy: u32 = text.get(..2).and_then(|y| y.parse().ok()).ok_or(CertError::NotDer)?;
            format!("{}{text}", if yy >= 50 { "19" } else { "20" })
        }
        (0x18, 15) => text.to_string(),
        _ => return Err(CertError::NotDer),
    };
    if !full.ends_with('Z') || !full.get(..14).is_some_and(|d| d.bytes().all(|c| c.is_ascii_digit())) {
        return Err(CertError::NotDer);
    }
    let part = |a: usize, b: usize| full.get(a..b).unwrap_or_default();
    let rfc =
        format!("{}-{}-{}T{}:{}:{}Z", part(0, 4), part(4, 6), part(6, 8), part(8, 10), part(10, 12), part(12, 14));
    let secs = crate::time::parse_rfc3339(&rfc).ok_or(CertError::NotDer)?;
    Ok((secs, rest))
}

#[cfg(test)]
mod tests;
