//! `client_cert`: the TLS client certificate must be one whose thumbprint is pinned.
//!
//! Copyleaks publishes the thumbprints of the certificates its webhook senders present,
//! and self-signed ones are allowed, so the pin is the trust: Envoy may accept an
//! untrusted chain, and this check hashes the leaf itself (SHA-1 and SHA-256 of the
//! DER, each only when a pin of that kind exists) and looks it up. Thumbprints are
//! public: they may be printed in errors and logs.
//!
//! The certificate reaches the filter as PEM (the `connection.peer_certificate`
//! attribute) or inside `x-forwarded-client-cert`, which Envoy (`SANITIZE_SET`) rebuilds
//! from the connection. Parts of that header (the subject and SANs) are chosen by the
//! client and are not escaped in every Envoy version, so anything ambiguous in it is
//! refused, and the `Hash=` Envoy computed must agree with the certificate taken from
//! `Cert=`.

use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::denial::Denial;
use crate::error::{ConfigError, Env};
use crate::remote_list::{EntryKind, RemoteList, RemoteListConfig};
use crate::verify::encoding::{base64_decode, hex_decode, hex_encode};

/// Wire form of `checks.client_cert`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertConfig {
    /// SHA-1 (40 hex digits) or SHA-256 (64 hex digits) of the certificate's DER; case
    /// and the separators ':', ' ' and '-' are ignored.
    pub thumbprints: Option<Vec<String>>,
    /// The remote thumbprint list.
    pub remote_list: Option<RemoteListConfig>,
    /// Where the presented certificate is read: `connection` (default: the TLS
    /// connection Envoy terminated) or `xfcc` (the `x-forwarded-client-cert` header,
    /// only safe where Envoy is set to `SANITIZE_SET` it, so a client cannot write it).
    pub source: Option<String>,
}

/// Where the client certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertSource {
    Connection,
    Xfcc,
}

/// A certificate thumbprint: the hash of its DER encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Thumbprint {
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

impl Thumbprint {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Thumbprint::Sha1(b) => b,
            Thumbprint::Sha256(b) => b,
        }
    }
}

/// Lower-case hex, no separators.
impl std::fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex_encode(self.as_bytes()))
    }
}

/// Read a thumbprint as people and tools write it: hex of either case, with ':' (openssl),
/// ' ' (the Windows certificate dialog) or '-' between the digits. 40 digits are SHA-1,
/// 64 are SHA-256; anything else is `None`.
pub fn normalize_thumbprint(s: &str) -> Option<Thumbprint> {
    let mut digits = Vec::with_capacity(64);
    for c in s.bytes() {
        match c {
            b':' | b' ' | b'-' => {}
            c if c.is_ascii_hexdigit() && digits.len() < 64 => digits.push(c),
            _ => return None,
        }
    }
    let bytes = hex_decode(&digits)?;
    match bytes.len() {
        20 => bytes.try_into().ok().map(Thumbprint::Sha1),
        32 => bytes.try_into().ok().map(Thumbprint::Sha256),
        _ => None,
    }
}

/// A set of pinned thumbprints of both kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThumbprintSet {
    // Sorted and without duplicates, for binary search.
    sha1: Vec<[u8; 20]>,
    sha256: Vec<[u8; 32]>,
}

impl ThumbprintSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a thumbprint; `false` if it was already there.
    pub fn insert(&mut self, t: Thumbprint) -> bool {
        fn put<T: Ord>(v: &mut Vec<T>, x: T) -> bool {
            match v.binary_search(&x) {
                Ok(_) => false,
                Err(at) => {
                    v.insert(at, x);
                    true
                }
            }
        }
        match t {
            Thumbprint::Sha1(b) => put(&mut self.sha1, b),
            Thumbprint::Sha256(b) => put(&mut self.sha256, b),
        }
    }

    #[cfg(test)]
    pub fn contains(&self, t: &Thumbprint) -> bool {
        match t {
            Thumbprint::Sha1(b) => self.sha1.binary_search(b).is_ok(),
            Thumbprint::Sha256(b) => self.sha256.binary_search(b).is_ok(),
        }
    }

    pub fn len(&self) -> usize {
        self.sha1.len() + self.sha256.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = Thumbprint> + '_ {
        let sha1 = self.sha1.iter().copied().map(Thumbprint::Sha1);
        sha1.chain(self.sha256.iter().copied().map(Thumbprint::Sha256))
    }

    #[cfg(test)]
    /// Whether the certificate with this DER encoding is pinned.
    pub fn matches(&self, der: &[u8]) -> bool {
        self.matches_digests(&mut CertDigests::new(der))
    }

    fn matches_digests(&self, d: &mut CertDigests) -> bool {
        (!self.sha256.is_empty() && self.sha256.binary_search(&d.sha256()).is_ok())
            || (!self.sha1.is_empty() && self.sha1.binary_search(&d.sha1()).is_ok())
    }
}

impl FromIterator<Thumbprint> for ThumbprintSet {
    fn from_iter<I: IntoIterator<Item = Thumbprint>>(iter: I) -> Self {
        let mut set = ThumbprintSet::new();
        set.extend(iter);
        set
    }
}

impl Extend<Thumbprint> for ThumbprintSet {
    fn extend<I: IntoIterator<Item = Thumbprint>>(&mut self, iter: I) {
        for t in iter {
            match t {
                Thumbprint::Sha1(b) => self.sha1.push(b),
                Thumbprint::Sha256(b) => self.sha256.push(b),
            }
        }
        crate::sort::sort(&mut self.sha1);
        self.sha1.dedup();
        crate::sort::sort(&mut self.sha256);
        self.sha256.dedup();
    }
}

/// The hashes of one certificate, each computed on first use and then shared by every
/// set it is looked up in.
struct CertDigests<'a> {
    der: &'a [u8],
    sha1: Option<[u8; 20]>,
    sha256: Option<[u8; 32]>,
}

impl<'a> CertDigests<'a> {
    fn new(der: &'a [u8]) -> Self {
        CertDigests { der, sha1: None, sha256: None }
    }

    fn sha1(&mut self) -> [u8; 20] {
        *self.sha1.get_or_insert_with(|| Sha1::digest(self.der).into())
    }

    fn sha256(&mut self) -> [u8; 32] {
        *self.sha256.get_or_insert_with(|| Sha256::digest(self.der).into())
    }
}

/// The SHA-1 and SHA-256 thumbprints of a certificate's DER: the values a pin is
/// compared with.
pub fn thumbprints(der: &[u8]) -> [Thumbprint; 2] {
    let mut d = CertDigests::new(der);
    [Thumbprint::Sha1(d.sha1()), Thumbprint::Sha256(d.sha256())]
}

/// Entries of a remote thumbprint list, compared in one canonical spelling.
pub const THUMBPRINTS: EntryKind = EntryKind::Values {
    looks_like: |s| normalize_thumbprint(s).is_some(),
    canonical: |s| normalize_thumbprint(s).map(|t| t.to_string()).unwrap_or_default(),
};

/// A compiled `checks.client_cert`.
#[derive(Debug)]
pub struct ClientCertCheck {
    pinned: ThumbprintSet,
    /// Name of the remote list that extends `pinned`.
    list: Option<String>,
    pub source: CertSource,
}

impl ClientCertCheck {
    /// Compile `checks.client_cert` of route `route`; its remote list, if any, is added
    /// to `lists` under the name `<route>.client_cert`.
    pub fn compile(
        c: &ClientCertConfig,
        path: &str,
        env: &Env,
        route: &str,
        lists: &mut Vec<(RemoteList, EntryKind)>,
    ) -> Result<Self, ConfigError> {
        let tp = format!("{path}.thumbprints");
        let listed = c.thumbprints.as_deref().unwrap_or_default();
        if listed.is_empty() && c.remote_list.is_none() {
            return Err(ConfigError::new(tp, "at least one thumbprint is required unless `remote_list` is set"));
        }
        let mut pinned = ThumbprintSet::new();
        for (i, text) in listed.iter().enumerate() {
            let t = normalize_thumbprint(text).ok_or_else(|| {
                ConfigError::new(
                    format!("{tp}[{i}]"),
                    format!(
                        "\"{text}\" is not a certificate thumbprint: expected 40 (SHA-1) or 64 (SHA-256) hex digits, optionally separated by ':', ' ' or '-'; {}",
                        why_not_a_thumbprint(text)
                    ),
                )
            })?;
            pinned.insert(t);
        }
        let source = match c.source.as_deref() {
            None | Some("connection") => CertSource::Connection,
            Some("xfcc") => CertSource::Xfcc,
            Some(other) => {
                return Err(ConfigError::new(
                    format!("{path}.source"),
                    format!("\"{other}\" is not one of connection, xfcc"),
                ))
            }
        };
        let list = match &c.remote_list {
            Some(rc) => {
                let name = format!("{route}.client_cert");
                let lp = format!("{path}.remote_list");
                lists.push((RemoteList::compile(rc, &lp, env, &name)?, THUMBPRINTS));
                Some(name)
            }
            None => None,
        };
        Ok(ClientCertCheck { pinned, list, source })
    }

    /// The thumbprints from the configuration.
    pub fn pinned(&self) -> &ThumbprintSet {
        &self.pinned
    }

    /// The name of the remote list (whose set the caller passes to `verify_der` as
    /// `extra`, and whose absence or staleness the caller judges).
    pub fn remote_list(&self) -> Option<&str> {
        self.list.as_deref()
    }

    /// Check the presented leaf certificate (DER) against the pinned thumbprints and,
    /// when given, the remote list's set.
    pub fn verify_der(&self, der: Option<&[u8]>, extra: Option<&ThumbprintSet>) -> Result<(), Denial> {
        let der = match der {
            Some(d) if !d.is_empty() => d,
            _ => return Err(Denial::CertMissing),
        };
        if !is_der_sequence(der) {
            return Err(Denial::CertMalformed);
        }
        let mut digests = CertDigests::new(der);
        if self.pinned.matches_digests(&mut digests) || extra.is_some_and(|set| set.matches_digests(&mut digests)) {
            Ok(())
        } else {
            Err(Denial::CertNotPinned)
        }
    }
}

/// A hint for the operator on why `text` is not a thumbprint.
fn why_not_a_thumbprint(text: &str) -> String {
    if let Some(c) = text.chars().find(|c| !c.is_ascii()) {
        return format!(
            "it holds the non-ASCII character U+{:04X} (a thumbprint copied from the Windows certificate dialog often starts with an invisible U+200E)",
            u32::from(c)
        );
    }
    if let Some(c) = text.chars().find(|c| !c.is_ascii_hexdigit() && !matches!(c, ':' | ' ' | '-')) {
        return format!("{c:?} is not a hex digit");
    }
    let n = text.chars().filter(char::is_ascii_hexdigit).count();
    format!("it has {n} hex digits")
}

const PEM_BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const PEM_END: &[u8] = b"-----END CERTIFICATE-----";

/// The DER of the first certificate in a PEM text. Whitespace (also CRLF) inside the
/// base64 and any text around the block are tolerated; `None` if there is no complete
/// `CERTIFICATE` block, its base64 is invalid, or it does not decode to one DER
/// SEQUENCE.
pub fn pem_to_der(pem: &[u8]) -> Option<Vec<u8>> {
    let start = find(pem, PEM_BEGIN)?.checked_add(PEM_BEGIN.len())?;
    let rest = pem.get(start..)?;
    let end = find(rest, PEM_END)?;
    let base64: Vec<u8> = rest.get(..end)?.iter().copied().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64_decode(&base64)?;
    is_der_sequence(&der).then_some(der)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether `der` has an X.509 certificate's outer shape: exactly one DER SEQUENCE that
/// starts with another (the tbsCertificate). Enough to tell a certificate that is not
/// pinned from bytes that are no certificate; the pin does the rest.
fn is_der_sequence(der: &[u8]) -> bool {
    let (header, len) = match der {
        [0x30, n, ..] if *n < 0x80 => (2, usize::from(*n)),
        [0x30, 0x81, a, ..] if *a >= 0x80 => (3, usize::from(*a)),
        [0x30, 0x82, a, b, ..] if *a != 0 => (4, usize::from(*a) << 8 | usize::from(*b)),
        [0x30, 0x83, a, b, c, ..] if *a != 0 => (5, usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c)),
        _ => return false,
    };
    header + len == der.len() && der.get(header) == Some(&0x30)
}

/// The certificate in an `x-forwarded-client-cert` header that Envoy set with
/// `forward_client_cert_details: SANITIZE_SET` and `set_current_client_cert_details:
/// { cert: true }`: one element of `;`-separated `Key=Value` pairs.
///
/// `Ok(None)`: no certificate (empty header, or no `Cert=`). `Err(CertMalformed)`:
/// more than one element (a client-supplied header was not replaced, or a client-chosen
/// value split the element), a repeated `Cert` or `Hash`, broken quoting or
/// percent-encoding, a `Cert` that is no PEM certificate, or a `Cert` without the
/// `Hash` Envoy adds or that disagrees with it.
pub fn xfcc_cert(header: &[u8]) -> Result<Option<Vec<u8>>, Denial> {
    let header = header.trim_ascii();
    if header.is_empty() {
        return Ok(None);
    }
    let elements = split_unquoted(header, b',')?;
    let [element] = elements.as_slice() else {
        return Err(Denial::CertMalformed);
    };
    let mut cert = None;
    let mut hash = None;
    for pair in split_unquoted(element, b';')? {
        let pair = pair.trim_ascii();
        if pair.is_empty() {
            continue;
        }
        let eq = pair.iter().position(|&c| c == b'=').ok_or(Denial::CertMalformed)?;
        let (key, value) = pair.split_at(eq);
        let value = value.get(1..).unwrap_or_default();
        // Every value is unquoted, so broken quoting anywhere is refused.
        let value = unquote(value)?;
        let slot = match key.trim_ascii() {
            k if k.eq_ignore_ascii_case(b"cert") => &mut cert,
            k if k.eq_ignore_ascii_case(b"hash") => &mut hash,
            _ => continue,
        };
        if slot.is_some() {
            return Err(Denial::CertMalformed);
        }
        *slot = Some(value);
    }
    let Some(cert) = cert.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let der = pem_to_der(&percent_decode(&cert)?).ok_or(Denial::CertMalformed)?;
    // Envoy writes Hash= (SHA-256 of the DER) before any client-chosen value; requiring
    // it to agree means no injected Cert= can stand in for the real one.
    let hash = hash.and_then(|h| hex_decode(&h)).ok_or(Denial::CertMalformed)?;
    if hash.as_slice() != Sha256::digest(&der).as_slice() {
        return Err(Denial::CertMalformed);
    }
    Ok(Some(der))
}

/// Split at `sep` outside double quotes (a backslash inside quotes escapes the next
/// byte). An unterminated quote is malformed.
fn split_unquoted(s: &[u8], sep: u8) -> Result<Vec<&[u8]>, Denial> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, &c) in s.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && c == b'\\' {
            escaped = true;
        } else if c == b'"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(s.get(start..i).unwrap_or_default());
            start = i + 1;
        }
    }
    if quoted {
        return Err(Denial::CertMalformed);
    }
    parts.push(s.get(start..).unwrap_or_default());
    Ok(parts)
}

/// A value as written, or the inside of `"..."` with backslash escapes removed.
fn unquote(v: &[u8]) -> Result<Vec<u8>, Denial> {
    let v = v.trim_ascii();
    let inner = match v {
        [b'"', inner @ .., b'"'] => inner,
        _ if v.contains(&b'"') => return Err(Denial::CertMalformed),
        _ => return Ok(v.to_vec()),
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&c) = bytes.next() {
        match c {
            b'\\' => out.push(*bytes.next().ok_or(Denial::CertMalformed)?),
            b'"' => return Err(Denial::CertMalformed),
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// `%XX` (either case) to the byte; everything else as is (`+` stays `+`: this is not
/// form encoding, and base64 uses `+`).
fn percent_decode(v: &[u8]) -> Result<Vec<u8>, Denial> {
    let mut out = Vec::with_capacity(v.len());
    let mut bytes = v.iter();
    while let Some(&c) = bytes.next() {
        if c == b'%' {
            let hex = [*bytes.next().ok_or(Denial::CertMalformed)?, *bytes.next().ok_or(Denial::CertMalformed)?];
            let byte = hex_decode(&hex).and_then(|b| b.first().copied()).ok_or(Denial::CertMalformed)?;
            out.push(byte);
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway self-signed certificate (its key was discarded at creation):
    //   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    //     -keyout /dev/null -subj "/CN=webhook-guard test client" -days 36500 -out cert.pem
    //   openssl x509 -in cert.pem -noout -fingerprint -sha1
    //   openssl x509 -in cert.pem -noout -fingerprint -sha256
    // (OpenSSL 3.0.19; the DER is 419 bytes.)
    const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBnzCCAUWgAwIBAgIUdgDa1YGPh6qhX668F/+a/1fi5lcwCgYIKoZIzj0EAwIw
JDEiMCAGA1UEAwwZd2ViaG9vay1ndWFyZCB0ZXN0IGNsaWVudDAgFw0yNjExMjIx
NjQ1MzJaGA8yMTI2MTAyOTE2NDUzMlowJDEiMCAGA1UEAwwZd2ViaG9vay1ndWFy
ZCB0ZXN0IGNsaWVudDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABEZhm9q4M04E
7FRl9B8dZrTUwJrIZT8vS8z5WxzYXHmVlqS0KSkJ/TsxuWmB01n59qNwhOp9yvo2
8p+REeAbXH2jUzBRMB0GA1UdDgQWBBQd1cb1q8ZZzFWAn/rfXKQfqL5HZDAfBgNV
HSMEGDAWgBQd1cb1q8ZZzFWAn/rfXKQfqL5HZDAPBgNVHRMBAf8EBTADAQH/MAoG
CCqGSM49BAMCA0gAMEUCIF5sPUaSSRvJAgHNm4quwHoIERChlp/XtOhaF+AMPN2V
AiEA40+1Axmq95sH5BMhbcgff6HNI/40gF+gG+iHg1IzNvg=
-----END CERTIFICATE-----
";
    const CERT_SHA1: &str = "71:39:DC:4F:13:B4:53:A8:5B:DC:21:85:48:78:18:44:DD:FB:31:44";
    const CERT_SHA256: &str =
        "DF:37:CD:C4:BE:B9:46:B4:3C:D6:31:93:8D:FF:95:57:51:F6:00:05:10:32:39:2E:2B:0B:29:04:6A:72:DD:8F";

    // Another one, made the same way with -subj "/CN=someone else".
    const OTHER_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIUctnWo5hbyMntqyhfakT/JOTLpJAwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMc29tZW9uZSBlbHNlMCAXDTI2MTEyMjE2NDUzNFoYDzIxMjYx
MDI5MTY0NTM0WjAXMRUwEwYDVQQDDAxzb21lb25lIGVsc2UwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAQVpPkOIJ/Hqp7ee63ufjL4IojpmQ4Cc9RSIQIsG/q/3dag
e7iUadSfDnlq4wTWr/+vHnottDHxYpDwsEvuf3DYo1MwUTAdBgNVHQ4EFgQUzona
lIdvS/6jN0/Yc86zpsX5gWwwHwYDVR0jBBgwFoAUzonalIdvS/6jN0/Yc86zpsX5
gWwwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA92peE5RHvmA+
VnHkOyZk4HZqCQ8CsaS7g2Dz5+UbanECID5s4+BPHKDhWwD2ZUevgvcMBRl1lA0d
RnZH+LGVawLF
-----END CERTIFICATE-----
";
    const OTHER_SHA256: &str =
        "4B:E5:E2:A6:C0:C9:7C:39:14:56:E4:08:2E:A2:FD:4C:6C:48:91:AB:1F:F6:B4:19:EE:59:A4:7A:4D:79:FC:9F";

    fn der() -> Vec<u8> {
        pem_to_der(CERT_PEM.as_bytes()).unwrap()
    }

    fn tp(s: &str) -> Thumbprint {
        normalize_thumbprint(s).unwrap()
    }

    fn check(json: &str) -> ClientCertCheck {
        let c: ClientCertConfig = crate::wire::read_str(json).unwrap();
        ClientCertCheck::compile(&c, "cc", &|_| None, "r", &mut Vec::new()).unwrap()
    }

    fn compile_err(json: &str) -> String {
        let c: ClientCertConfig = crate::wire::read_str(json).unwrap();
        ClientCertCheck::compile(&c, "cc", &|_| None, "r", &mut Vec::new()).unwrap_err().to_string()
    }

    /// The header Envoy writes under SANITIZE_SET: its percent-encoding of the PEM
    /// (newline, space, '+', '/', '=') and its Hash (lower-case hex SHA-256 of the DER).
    fn envoy_xfcc(pem: &str, subject: &str) -> String {
        let cert =
            pem.replace('\n', "%0A").replace(' ', "%20").replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
        let der = pem_to_der(pem.as_bytes()).unwrap();
        let hash = hex_encode(&Sha256::digest(&der));
        format!("By=spiffe://cluster.local/ns/web/sa/hooks;Hash={hash};Subject=\"{subject}\";Cert=\"{cert}\";URI=")
    }

    #[test]
    fn known_fingerprints_match_our_hashes() {
        let der = der();
        assert_eq!(der.len(), 419);
        assert_eq!(Thumbprint::Sha1(Sha1::digest(&der).into()), tp(CERT_SHA1));
        assert_eq!(Thumbprint::Sha256(Sha256::digest(&der).into()), tp(CERT_SHA256));
        assert_eq!(tp(CERT_SHA256).to_string(), "df37cdc4beb946b43cd631938dff955751f600051032392e2b0b29046a72dd8f");
        for pin in [CERT_SHA1, CERT_SHA256] {
            let set: ThumbprintSet = [tp(pin)].into_iter().collect();
            assert!(set.matches(&der), "{pin}");
            assert!(!set.matches(&pem_to_der(OTHER_PEM.as_bytes()).unwrap()));
        }
        assert!(!ThumbprintSet::new().matches(&der));
    }

    #[test]
    fn normalization() {
        let sha1 = "7139dc4f13b453a85bdc218548781844ddfb3144";
        let sha256 = "df37cdc4beb946b43cd631938dff955751f600051032392e2b0b29046a72dd8f";
        for s in [
            CERT_SHA1,
            sha1,
            &sha1.to_ascii_uppercase(),
            "71 39 dc 4f 13 b4 53 a8 5b dc 21 85 48 78 18 44 dd fb 31 44",
            "7139DC4F-13B453A8-5BDC2185-48781844-DDFB3144",
            " 7139dc4f13b453a85bdc218548781844ddfb3144 ",
        ] {
            assert_eq!(normalize_thumbprint(s).map(|t| t.to_string()).as_deref(), Some(sha1), "{s:?}");
            assert!(matches!(normalize_thumbprint(s), Some(Thumbprint::Sha1(_))));
        }
        for s in [CERT_SHA256, sha256, &sha256.to_ascii_uppercase()] {
            assert_eq!(normalize_thumbprint(s).map(|t| t.to_string()).as_deref(), Some(sha256), "{s:?}");
            assert!(matches!(normalize_thumbprint(s), Some(Thumbprint::Sha256(_))));
        }
        for bad in [
            "",
            ":::",
            &sha1[..38],
            &format!("{sha1}00"),
            &sha1[..39],
            &sha256[..62],
            &format!("{sha256}00"),
            &format!("{sha256}{sha256}"),
            &sha1.replacen('7', "g", 1),
            &format!("0x{}", &sha1[2..]),
            &format!("\u{200e}{sha1}"),
            &format!("{sha1}\n"),
            &format!("\t{sha1}"),
            "sha256:df37cdc4beb946b43cd631938dff955751f600051032392e2b0b29046a72dd8f",
        ] {
            assert_eq!(normalize_thumbprint(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn set_operations() {
        let mut set = ThumbprintSet::new();
        assert!(set.is_empty());
        assert!(set.insert(tp(CERT_SHA1)));
        assert!(!set.insert(tp(&CERT_SHA1.to_lowercase())));
        assert!(set.insert(tp(CERT_SHA256)));
        assert_eq!(set.len(), 2);
        assert!(set.contains(&tp(CERT_SHA256)));
        assert!(!set.contains(&tp(OTHER_SHA256)));
        let collected: ThumbprintSet = [tp(CERT_SHA256), tp(CERT_SHA1), tp(CERT_SHA256)].into_iter().collect();
        assert_eq!(collected, set);
        assert_eq!(collected.iter().count(), 2);
        let mut extended = ThumbprintSet::new();
        extended.extend([tp(OTHER_SHA256)]);
        extended.extend(set.iter());
        assert_eq!(extended.len(), 3);
        assert!(extended.matches(&der()));
    }

    #[test]
    fn pem_to_der_tolerates_layout() {
        let want = der();
        let crlf = CERT_PEM.replace('\n', "\r\n");
        let one_line = CERT_PEM.replace("-----\n", "-----").replace('\n', "");
        let surrounded =
            format!("subject=CN = webhook-guard test client\n\n  {}\n{OTHER_PEM}", CERT_PEM.replace('\n', "\n   "));
        for pem in [CERT_PEM, &crlf, &one_line, &surrounded, CERT_PEM.trim_end()] {
            assert_eq!(pem_to_der(pem.as_bytes()).as_deref(), Some(want.as_slice()), "{pem}");
        }
    }

    #[test]
    fn pem_to_der_refuses_garbage() {
        let body_start = CERT_PEM.find('\n').unwrap() + 1;
        let truncated_base64 = CERT_PEM.replacen("AiEA40+1Axmq95sH5BMhbcgff6HNI/40gF+gG+iHg1IzNvg=\n", "", 1);
        let corrupt = CERT_PEM.replacen("MIIB", "MI*B", 1);
        let extra = CERT_PEM.replacen("Nvg=", "Nvg=AAAA", 1);
        let key = CERT_PEM.replace("CERTIFICATE", "PRIVATE KEY");
        let table: Vec<&[u8]> = vec![
            b"",
            b"-----BEGIN CERTIFICATE-----",
            b"-----BEGIN CERTIFICATE----------END CERTIFICATE-----",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            // An empty SEQUENCE.
            b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----".as_slice(),
            &CERT_PEM.as_bytes()[..CERT_PEM.len() - 10],
            &CERT_PEM.as_bytes()[body_start..],
            truncated_base64.as_bytes(),
            corrupt.as_bytes(),
            extra.as_bytes(),
            key.as_bytes(),
            b"\xff\xfe-----BEGIN CERTIFICATE-----\n\xff\n-----END CERTIFICATE-----",
            b"-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----",
        ];
        for pem in table {
            assert_eq!(pem_to_der(pem), None, "{}", String::from_utf8_lossy(pem));
        }
    }

    #[test]
    fn der_shape() {
        assert!(is_der_sequence(&[0x30, 0x02, 0x30, 0x00]));
        assert!(!is_der_sequence(&[0x30, 0x00]));
        assert!(!is_der_sequence(&[0x30, 0x01, 0x05]));
        assert!(!is_der_sequence(&[0x30, 0x03, 0x30, 0x00]));
        assert!(!is_der_sequence(&[0x31, 0x02, 0x30, 0x00]));
        assert!(!is_der_sequence(&[0x30]));
        assert!(!is_der_sequence(&[]));
        // Long form must be minimal.
        assert!(!is_der_sequence(&[0x30, 0x81, 0x02, 0x30, 0x00]));
        let mut long = vec![0x30, 0x81, 0x80, 0x30, 0x7e];
        long.extend([0; 0x7e]);
        assert!(is_der_sequence(&long));
        assert!(!is_der_sequence(&[0x30, 0x84, 0, 0, 0, 0]));
        assert!(is_der_sequence(&der()));
    }

    #[test]
    fn xfcc_from_envoy() {
        let header = envoy_xfcc(CERT_PEM, "CN=webhook-guard test client");
        assert_eq!(xfcc_cert(header.as_bytes()), Ok(Some(der())));
        // Lower-case percent escapes, and a subject with quoted separators and an
        // escaped quote, are still one element.
        let lower = envoy_xfcc(CERT_PEM, r#"CN=a\, b;O=x=y\"z,C=US"#).replace("%2F", "%2f").replace("%0A", "%0a");
        assert_eq!(xfcc_cert(lower.as_bytes()), Ok(Some(der())));
        // Key case and spacing around pairs.
        let spaced = header.replace(";Cert=", " ; cert=");
        assert_eq!(xfcc_cert(spaced.as_bytes()), Ok(Some(der())));
    }

    #[test]
    fn xfcc_without_a_certificate() {
        let hash = hex_encode(&Sha256::digest(der()));
        for h in [
            "".to_string(),
            "  ".to_string(),
            format!("Hash={hash};Subject=\"CN=x\""),
            format!("Hash={hash};Cert=\"\""),
            "By=spiffe://a;URI=spiffe://b".to_string(),
        ] {
            assert_eq!(xfcc_cert(h.as_bytes()), Ok(None), "{h}");
        }
    }

    #[test]
    fn xfcc_ambiguous_or_broken_is_malformed() {
        let good = envoy_xfcc(CERT_PEM, "CN=webhook-guard test client");
        let other = envoy_xfcc(OTHER_PEM, "CN=someone else");
        let hash = hex_encode(&Sha256::digest(der()));
        let pinned_cert = good.split("Cert=").nth(1).unwrap().split(';').next().unwrap().to_string();
        let table = [
            // Several elements: a client-supplied header was appended to, not replaced.
            format!("{other},{good}"),
            format!("{good},{other}"),
            format!("{good},"),
            // A client-chosen value that leaves the quotes and adds a pinned Cert=.
            other.replacen("Subject=\"CN=someone else\"", &format!("Subject=\"CN=x\";Cert={pinned_cert}"), 1),
            other.replacen(";URI=", &format!(";URI=x;Cert={pinned_cert}"), 1),
            // ... or a second Hash.
            format!("{other};Hash={hash}"),
            // The pinned Cert with the Hash of the certificate actually presented.
            other.replacen(
                &other.split("Cert=").nth(1).unwrap().split(';').next().unwrap().to_string(),
                &pinned_cert,
                1,
            ),
            // A Cert without Envoy's Hash, or with a broken one.
            good.replacen(&format!("Hash={hash};"), "", 1),
            good.replacen(&format!("Hash={hash}"), "Hash=zz", 1),
            good.replacen(&format!("Hash={hash}"), &format!("Hash={}", &hash[..62]), 1),
            // Quoting and encoding.
            good.replacen("Subject=\"", "Subject=\"\"\"", 1),
            good.replacen("Subject=\"CN=webhook-guard test client\"", "Subject=\"CN=unterminated", 1),
            good.replacen("Cert=\"", "Cert=x\"", 1),
            good.replacen("%0A", "%0", 1),
            good.replacen("%0A", "%G0", 1),
            good.replacen("Cert=\"-----BEGIN", "Cert=\"-----BEGAN", 1),
            good.replacen(";Cert=", ";Cert", 1),
            format!("Hash={hash};Cert=\"not a pem\""),
        ];
        for h in &table {
            assert_eq!(xfcc_cert(h.as_bytes()), Err(Denial::CertMalformed), "{h}");
        }
    }

    #[test]
    fn xfcc_no_panic_on_garbage() {
        for h in [
            &b"\""[..],
            b"\\",
            b"\"\\",
            b"=",
            b";;;,",
            b"Cert=",
            b"Cert=%",
            b"Cert=%%%",
            b"Cert=\"\\",
            b"\xff\xfe;Cert=\xff",
            b"Hash=;Cert=\"-----BEGIN CERTIFICATE-----\"",
        ] {
            let _ = xfcc_cert(h);
        }
    }

    #[test]
    fn verify_der_denials() {
        let c = check(&format!(r#"{{"thumbprints":["{CERT_SHA256}"]}}"#));
        let der = der();
        let other = pem_to_der(OTHER_PEM.as_bytes()).unwrap();
        assert_eq!(c.verify_der(Some(&der), None), Ok(()));
        assert_eq!(c.verify_der(None, None), Err(Denial::CertMissing));
        assert_eq!(c.verify_der(Some(&[]), None), Err(Denial::CertMissing));
        assert_eq!(c.verify_der(Some(&other), None), Err(Denial::CertNotPinned));
        assert_eq!(c.verify_der(Some(b"not der"), None), Err(Denial::CertMalformed));
        assert_eq!(c.verify_der(Some(&der[..der.len() - 1]), None), Err(Denial::CertMalformed));
        // The remote list's set widens the pinned one.
        let remote: ThumbprintSet = [tp(OTHER_SHA256)].into_iter().collect();
        assert_eq!(c.verify_der(Some(&other), Some(&remote)), Ok(()));
        assert_eq!(c.verify_der(Some(&der), Some(&ThumbprintSet::new())), Ok(()));
        // SHA-1 pins work alone.
        let sha1 = check(&format!(r#"{{"thumbprints":["{CERT_SHA1}"]}}"#));
        assert_eq!(sha1.verify_der(Some(&der), None), Ok(()));
        assert_eq!(sha1.verify_der(Some(&other), None), Err(Denial::CertNotPinned));
        // Remote list only: nothing is pinned until the caller passes the list.
        let remote_only = check(
            r#"{"remote_list":{"cluster":"copyleaks_api","authority":"api.copyleaks.com","path":"/v2/security/client-certificates"}}"#,
        );
        assert_eq!(remote_only.remote_list(), Some("r.client_cert"));
        assert!(remote_only.pinned().is_empty());
        assert_eq!(remote_only.verify_der(Some(&der), None), Err(Denial::CertNotPinned));
        let listed: ThumbprintSet = [tp(CERT_SHA1)].into_iter().collect();
        assert_eq!(remote_only.verify_der(Some(&der), Some(&listed)), Ok(()));
    }

    #[test]
    fn pem_and_xfcc_end_to_end() {
        let c = check(&format!(r#"{{"thumbprints":["{}"]}}"#, CERT_SHA1.to_lowercase()));
        let pem = |p: &str| pem_to_der(p.as_bytes());
        assert_eq!(c.verify_der(pem(CERT_PEM).as_deref(), None), Ok(()));
        assert_eq!(c.verify_der(pem(OTHER_PEM).as_deref(), None), Err(Denial::CertNotPinned));
        assert_eq!(pem("garbage"), None);
        let header = envoy_xfcc(CERT_PEM, "CN=webhook-guard test client");
        let der = xfcc_cert(header.as_bytes()).unwrap();
        assert_eq!(c.verify_der(der.as_deref(), None), Ok(()));
    }

    #[test]
    fn config_errors_name_the_field() {
        let table = [
            (r#"{}"#, "cc.thumbprints: at least one thumbprint is required unless `remote_list` is set"),
            (r#"{"thumbprints":[]}"#, "cc.thumbprints: at least one thumbprint is required"),
            (r#"{"thumbprints":[],"remote_list":null}"#, "cc.thumbprints: at least one thumbprint is required"),
            (
                &format!(r#"{{"thumbprints":["{CERT_SHA1}","3F:2A"]}}"#),
                "cc.thumbprints[1]: \"3F:2A\" is not a certificate thumbprint: expected 40 (SHA-1) or 64 (SHA-256) hex digits, optionally separated by ':', ' ' or '-'; it has 4 hex digits",
            ),
            (
                r#"{"thumbprints":["sha256:abcd"]}"#,
                "cc.thumbprints[0]: \"sha256:abcd\" is not a certificate thumbprint: expected 40 (SHA-1) or 64 (SHA-256) hex digits, optionally separated by ':', ' ' or '-'; 's' is not a hex digit",
            ),
            (
                &format!("{{\"thumbprints\":[\"\u{200e}{CERT_SHA1}\"]}}"),
                "cc.thumbprints[0]: \"\u{200e}71:39:DC:4F:13:B4:53:A8:5B:DC:21:85:48:78:18:44:DD:FB:31:44\" is not a certificate thumbprint: expected 40 (SHA-1) or 64 (SHA-256) hex digits, optionally separated by ':', ' ' or '-'; it holds the non-ASCII character U+200E",
            ),
        ];
        for (json, want) in table {
            let got = compile_err(json);
            assert!(got.starts_with(want), "{json}\n got {got:?}\nwant {want:?}");
        }
        assert!(crate::wire::read_str::<ClientCertConfig>(r#"{"thumbprint":["x"]}"#).is_err());
        let c =
            check(&format!(r#"{{"thumbprints":["{CERT_SHA1}","{CERT_SHA256}","{}"]}}"#, CERT_SHA256.to_lowercase()));
        assert_eq!(c.pinned().len(), 2);
        assert_eq!(c.remote_list(), None);
    }
}
