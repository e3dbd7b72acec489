//! A signing certificate fetched by URL (AWS SNS `SigningCertURL`, PayPal
//! `PAYPAL-CERT-URL`): an X.509 certificate in PEM, read for what verification needs
//! and nothing more: its validity dates and its RSA public key (2048 to 4096 bits).
//!
//! No chain is built: the URL's host rule (checked before any fetch) and TLS in the
//! configured cluster are the trust, as in the providers' own verifiers. The DER is
//! walked by hand (a few fixed positions of RFC 5280's `Certificate`), which costs the
//! plugin far less than an X.509 crate; the RSA key is then `rsa`'s, checked as the JWKS
//! keys are.

use crate::verify::jwk::MIN_RSA_BITS;

/// The most a certificate document may weigh: a certificate is 1 to 2 KiB.
pub const MAX_PEM_BYTES: usize = 16 * 1024;

/// `rsaEncryption`, 1.2.840.113549.1.1.1, as DER content.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// What verification needs of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningCert {
    pub key: rsa::RsaPublicKey,
    /// Validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl SigningCert {
    /// Whether `now` (Unix seconds) is within the certificate's validity.
    pub fn is_valid_at(&self, now: u64) -> bool {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        self.not_before <= now && now <= self.not_after
    }
}

/// Read the first certificate of a PEM document. The error says why, in words that quote
/// nothing of the document.
pub fn read_pem(pem: &[u8]) -> Result<SigningCert, &'static str> {
    if pem.len() > MAX_PEM_BYTES {
        return Err("the certificate document is over 16 KiB");
    }
    read_der(&pem_der(pem)?)
}

/// The DER between the first `BEGIN CERTIFICATE` and its `END` line.
fn pem_der(pem: &[u8]) -> Result<Vec<u8>, &'static str> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let start = find(pem, BEGIN).ok_or("no PEM certificate")? + BEGIN.len();
    let rest = pem.get(start..).ok_or("no PEM certificate")?;
    let end = find(rest, END).ok_or("the PEM certificate has no END line")?;
    let b64: Vec<u8> =
        rest.get(..end).unwrap_or_default().iter().copied().filter(|c| !c.is_ascii_whitespace()).collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| "the PEM certificate is not base64")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One DER element: its tag, its content, and what follows it.
fn element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), &'static str> {
    const BAD: &str = "the certificate is not DER";
    let (&tag, rest) = input.split_first().ok_or(BAD)?;
    let (&first, mut rest) = rest.split_first().ok_or(BAD)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        // Definite lengths of at most 4 bytes, minimal (DER).
        if n == 0 || n > 4 {
            return Err(BAD);
        }
        let bytes = rest.get(..n).ok_or(BAD)?;
        if bytes.first() == Some(&0) {
            return Err(BAD);
        }
        rest = rest.get(n..).ok_or(BAD)?;
        let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 {
            return Err(BAD);
        }
        len
    };
    let content = rest.get(..len).ok_or(BAD)?;
    Ok((tag, content, rest.get(len..).unwrap_or_default()))
}

fn expect(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), &'static str> {
    match element(input)? {
        (t, content, rest) if t == tag => Ok((content, rest)),
        _ => Err("the certificate is not an X.509 certificate"),
    }
}

const SEQUENCE: u8 = 0x30;

fn read_der(der: &[u8]) -> Result<SigningCert, &'static str> {
    let (cert, trailing) = expect(der, SEQUENCE)?;
    if !trailing.is_empty() {
        return Err("bytes after the certificate");
    }
    let (tbs, _) = expect(cert, SEQUENCE)?;
    // version [0] EXPLICIT, optional.
    let mut rest = tbs;
    if let Ok((0xa0, _, after)) = element(rest) {
        rest = after;
    }
    let (_serial, rest) = expect(rest, 0x02)?;
    let (_signature_alg, rest) = expect(rest, SEQUENCE)?;
    let (_issuer, rest) = expect(rest, SEQUENCE)?;
    let (validity, rest) = expect(rest, SEQUENCE)?;
    let (_subject, rest) = expect(rest, SEQUENCE)?;
    let (spki, _) = expect(rest, SEQUENCE)?;
    let (not_before, after) = time(validity)?;
    let (not_after, _) = time(after)?;
    Ok(SigningCert { key: rsa_key(spki)?, not_before, not_after })
}

/// A UTCTime or GeneralizedTime, `Z` only (RFC 5280 4.1.2.5), as Unix seconds.
fn time(input: &[u8]) -> Result<(i64, &[u8]), &'static str> {
    const BAD: &str = "the certificate's validity is not a time";
    let (tag, content, rest) = element(input)?;
    let (year, digits) = match (tag, content.len()) {
        (0x17, 13) => {
            let yy = number(content.get(..2).ok_or(BAD)?).ok_or(BAD)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, content.get(2..).ok_or(BAD)?)
        }
        (0x18, 15) => (number(content.get(..4).ok_or(BAD)?).ok_or(BAD)?, content.get(4..).ok_or(BAD)?),
        _ => return Err(BAD),
    };
    let field = |i: usize| digits.get(i..i + 2).and_then(number).ok_or(BAD);
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if digits.get(10) != Some(&b'Z')
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(BAD);
    }
    let days = crate::time::days_from_civil(year, month, day);
    Ok((days * 86_400 + hour * 3600 + minute * 60 + second, rest))
}

fn number(digits: &[u8]) -> Option<i64> {
    digits.iter().try_fold(0i64, |acc, c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
}

/// The RSA key of a SubjectPublicKeyInfo: 2048 to 4096 bits, odd modulus.
fn rsa_key(spki: &[u8]) -> Result<rsa::RsaPublicKey, &'static str> {
    const NOT_RSA: &str = "the certificate's key is not RSA";
    let (algorithm, rest) = expect(spki, SEQUENCE)?;
    let (oid, _) = expect(algorithm, 0x06)?;
    if oid != RSA_ENCRYPTION {
        return Err(NOT_RSA);
    }
    let (bits, _) = expect(rest, 0x03)?;
    let (&unused, key) = bits.split_first().ok_or(NOT_RSA)?;
    if unused != 0 {
        return Err(NOT_RSA);
    }
    let (pair, _) = expect(key, SEQUENCE)?;
    let (n, rest) = expect(pair, 0x02)?;
    let (e, _) = expect(rest, 0x02)?;
    let n = n.strip_prefix(&[0]).unwrap_or(n);
    let modulus = rsa::BigUint::from_bytes_be(n);
    if modulus.bits() < MIN_RSA_BITS {
        return Err("the certificate's key is weak: an RSA modulus under 2048 bits");
    }
    if n.last().is_none_or(|b| b & 1 == 0) {
        return Err("the certificate's key has an even RSA modulus");
    }
    rsa::RsaPublicKey::new(modulus, rsa::BigUint::from_bytes_be(e))
        .map_err(|_| "the certificate's key is over 4096 bits or its exponent is out of range")
}

#[cfg(test)]
pub(crate) mod tests;
