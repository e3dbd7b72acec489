//! `client_cert`: the TLS client certificate must be one whose thumbprint is pinned.
//!
//! Copyleaks publishes the thumbprints of the certificates its webhook senders present,
//! and self-signed ones are allowed, so the pin is the trust: Envoy may accept an
//! untrusted chain, and this check hashes the leaf itself (SHA-1 and SHA-256 of the
//! DER, each only when a pin of that kind exists) and looks it up. Thumbprints are
//! public: they may be printed in errors and logs.
//!
//! What the host offers about the certificate differs by Envoy version (`read_presented`):
//! Envoy 1.38 and newer give the certificate itself (`connection.peer_certificate`), 1.36
//! and 1.37 only its SHA-256 digest (`connection.sha256_peer_certificate_digest`). With
//! only the digest, the certificate is taken from `x-forwarded-client-cert` when Envoy
//! (`SANITIZE_SET` with `cert: true`) wrote it there and it hashes to that digest;
//! otherwise SHA-256 pins are compared with the digest, and a route that also pins SHA-1
//! thumbprints is refused by name (`cert_pin_unverifiable`), never as a missing
//! certificate.
//!
//! With `source: xfcc` the header is the only source (an Envoy behind another TLS
//! terminator). Parts of that header (the subject and SANs) are chosen by the client and
//! are not escaped in every Envoy version, so anything ambiguous in it is refused, and the
//! `Hash=` Envoy computed must agree with the certificate taken from `Cert=`.

use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::denial::Denial;
use crate::error::{ConfigError, Env};
use crate::remote_list::{EntryKind, RemoteList, RemoteListConfig};
use crate::request::Headers;
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

/// A form in which a host may give the leaf certificate of the TLS connection, asked
/// for in this order. A shell answers with the attribute's bytes, or `None` when its
/// host has no such attribute or the connection presented no certificate (Envoy does
/// not tell the two apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerCertForm {
    /// The certificate as PEM: Envoy's `connection.peer_certificate` (1.38 and newer;
    /// plain PEM on every release checked, though Envoy documents it URL-encoded, so
    /// both are read).
    Pem,
    /// Hex SHA-256 of the certificate's DER: Envoy's
    /// `connection.sha256_peer_certificate_digest` (every supported release).
    Sha256Digest,
}

/// What is known of the leaf certificate the client presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// The certificate itself (DER): pins of both kinds can be checked.
    Der(Vec<u8>),
    /// Only its SHA-256: SHA-1 pins cannot be checked.
    Sha256([u8; 32]),
}

/// Where the presented certificate was read: said once per Envoy in the log, so an
/// operator knows which pins this Envoy can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertOrigin {
    /// `connection.peer_certificate`.
    ConnectionPem,
    /// `Cert=` of `x-forwarded-client-cert`, hashing to the connection's SHA-256 digest.
    XfccMatchingConnection,
    /// `connection.sha256_peer_certificate_digest` alone.
    ConnectionDigest,
    /// `source: xfcc`: `Cert=` (with the `Hash=` that agrees with it).
    XfccCert,
    /// `source: xfcc`: `Hash=` alone.
    XfccHash,
}

impl CertOrigin {
    /// A name for the once-per-Envoy notice.
    pub fn name(self) -> &'static str {
        match self {
            CertOrigin::ConnectionPem => "connection_pem",
            CertOrigin::XfccMatchingConnection => "xfcc_matching_connection",
            CertOrigin::ConnectionDigest => "connection_digest",
            CertOrigin::XfccCert => "xfcc_cert",
            CertOrigin::XfccHash => "xfcc_hash",
        }
    }

    /// The notice: where client certificates come from, and what that allows.
    pub fn notice(self) -> &'static str {
        match self {
            CertOrigin::ConnectionPem => {
                "client certificates are read from connection.peer_certificate: SHA-1 and SHA-256 pins are checked"
            }
            CertOrigin::XfccMatchingConnection => {
                "this Envoy gives only the SHA-256 digest of client certificates \
                 (connection.sha256_peer_certificate_digest); the certificate is taken from the Cert= of \
                 x-forwarded-client-cert that matches it: SHA-1 and SHA-256 pins are checked"
            }
            CertOrigin::ConnectionDigest => {
                "this Envoy gives only the SHA-256 digest of client certificates \
                 (connection.sha256_peer_certificate_digest, no connection.peer_certificate before Envoy 1.38) \
                 and x-forwarded-client-cert carries no Cert= that matches it: SHA-256 pins are checked, routes \
                 that pin SHA-1 thumbprints refuse what they cannot check (cert_pin_unverifiable)"
            }
            CertOrigin::XfccCert => {
                "client certificates are read from the Cert= of x-forwarded-client-cert (source: xfcc): SHA-1 \
                 and SHA-256 pins are checked"
            }
            CertOrigin::XfccHash => {
                "x-forwarded-client-cert carries only the Hash= of client certificates (source: xfcc, no \
                 set_current_client_cert_details cert: true): SHA-256 pins are checked, routes that pin SHA-1 \
                 thumbprints refuse what they cannot check (cert_pin_unverifiable)"
            }
        }
    }
}

/// What to do about `cert_pin_unverifiable` on `route`: logged once per Envoy and route.
pub fn pin_unverifiable_advice(route: &str) -> String {
    format!(
        "route {route} pins SHA-1 thumbprints, but this Envoy gives the filter only the SHA-256 of client \
         certificates, so a certificate that matches no SHA-256 pin is refused (cert_pin_unverifiable). Pin \
         the certificates' SHA-256 thumbprints (webhook-guard thumbprint), or have the connection manager \
         write the certificate: forward_client_cert_details: SANITIZE_SET with \
         set_current_client_cert_details: {{ cert: true }}, or run Envoy 1.38 or newer"
    )
}

/// The presented certificate, read as `source` says from what the host offers:
/// `peer` answers for the connection's attributes, `headers` holds the request's.
///
/// `Ok(None)`: no certificate. `Err(CertMalformed)`: the host's value cannot be read,
/// or (`source: xfcc`) the header is ambiguous or broken.
pub fn read_presented(
    source: CertSource,
    peer: &dyn Fn(PeerCertForm) -> Option<Vec<u8>>,
    headers: &Headers,
) -> Result<Option<(Presented, CertOrigin)>, Denial> {
    let xfcc = headers.get_one("x-forwarded-client-cert");
    if source == CertSource::Xfcc {
        let header = match xfcc {
            Err(_) => return Err(Denial::CertMalformed),
            Ok(None) => return Ok(None),
            Ok(Some(v)) => v,
        };
        let element = xfcc_element(header)?;
        return Ok(match (element.cert, element.hash) {
            (Some(der), _) => Some((Presented::Der(der), CertOrigin::XfccCert)),
            (None, Some(hash)) => Some((Presented::Sha256(hash), CertOrigin::XfccHash)),
            (None, None) => None,
        });
    }
    if let Some(pem) = peer(PeerCertForm::Pem).filter(|p| !p.is_empty()) {
        let der = pem_to_der(&pem)
            .or_else(|| percent_decode(&pem).ok().and_then(|p| pem_to_der(&p)))
            .ok_or(Denial::CertMalformed)?;
        return Ok(Some((Presented::Der(der), CertOrigin::ConnectionPem)));
    }
    let Some(digest) = peer(PeerCertForm::Sha256Digest).filter(|d| !d.is_empty()) else {
        // No certificate on the connection. A header alone is no evidence of one: any
        // client can write it where the connection manager does not replace it.
        return Ok(None);
    };
    let digest: [u8; 32] =
        hex_decode(digest.trim_ascii()).and_then(|d| d.try_into().ok()).ok_or(Denial::CertMalformed)?;
    // The header is trusted only for a certificate that hashes to the connection's own
    // digest: then it is the certificate the client proved it holds, whoever wrote the
    // header. Anything else in it is ignored.
    let from_header = match xfcc {
        Ok(Some(v)) => xfcc_element(v).ok().and_then(|e| e.cert),
        _ => None,
    };
    Ok(Some(match from_header {
        Some(der) if Sha256::digest(&der).as_slice() == digest.as_slice() => {
            (Presented::Der(der), CertOrigin::XfccMatchingConnection)
        }
        _ => (Presented::Sha256(digest), CertOrigin::ConnectionDigest),
    }))
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

    fn has_sha256(&self, digest: &[u8; 32]) -> bool {
        self.sha256.binary_search(digest).is_ok()
    }

    /// Whether any SHA-1 thumbprint is pinned (those need the whole certificate).
    pub fn has_sha1_pins(&self) -> bool {
        !self.sha1.is_empty()
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
        match der {
            Some(d) if !d.is_empty() => self.verify(Some(&Presented::Der(d.to_vec())), extra),
            _ => Err(Denial::CertMissing),
        }
    }

    /// Check what is known of the presented certificate against the pinned thumbprints
    /// and, when given, the remote list's set. Knowing only its SHA-256, a certificate
    /// that matches no SHA-256 pin might still be one a SHA-1 pin names: where SHA-1
    /// thumbprints are pinned that is `CertPinUnverifiable`, not `CertNotPinned`.
    pub fn verify(&self, presented: Option<&Presented>, extra: Option<&ThumbprintSet>) -> Result<(), Denial> {
        match presented {
            None => Err(Denial::CertMissing),
            Some(Presented::Der(der)) => {
                if der.is_empty() {
                    return Err(Denial::CertMissing);
                }
                if !is_der_sequence(der) {
                    return Err(Denial::CertMalformed);
                }
                let mut digests = CertDigests::new(der);
                if self.pinned.matches_digests(&mut digests)
                    || extra.is_some_and(|set| set.matches_digests(&mut digests))
                {
                    Ok(())
                } else {
                    Err(Denial::CertNotPinned)
                }
            }
            Some(Presented::Sha256(digest)) => {
                let sets = || std::iter::once(&self.pinned).chain(extra);
                if sets().any(|s| s.has_sha256(digest)) {
                    Ok(())
                } else if sets().any(ThumbprintSet::has_sha1_pins) {
                    Err(Denial::CertPinUnverifiable)
                } else {
                    Err(Denial::CertNotPinned)
                }
            }
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
    Ok(xfcc_element(header)?.cert)
}

/// The certificate and hash of the one element of an `x-forwarded-client-cert` header.
#[derive(Debug, Default)]
struct XfccElement {
    /// `Cert=` as DER; only ever set when `Hash=` agrees with it.
    cert: Option<Vec<u8>>,
    /// `Hash=`: Envoy's SHA-256 of the certificate's DER.
    hash: Option<[u8; 32]>,
}

/// Read the one element of the header; see `xfcc_cert` for what is refused.
fn xfcc_element(header: &[u8]) -> Result<XfccElement, Denial> {
    let header = header.trim_ascii();
    if header.is_empty() {
        return Ok(XfccElement::default());
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
    let hash: Option<[u8; 32]> = match hash {
        None => None,
        Some(h) => Some(hex_decode(&h).and_then(|h| h.try_into().ok()).ok_or(Denial::CertMalformed)?),
    };
    let Some(cert) = cert.filter(|c| !c.is_empty()) else {
        return Ok(XfccElement { cert: None, hash });
    };
    let der = pem_to_der(&percent_decode(&cert)?).ok_or(Denial::CertMalformed)?;
    // Envoy writes Hash= (SHA-256 of the DER) before any client-chosen value; requiring
    // it to agree means no injected Cert= can stand in for the real one.
    let hash = hash.ok_or(Denial::CertMalformed)?;
    if hash.as_slice() != Sha256::digest(&der).as_slice() {
        return Err(Denial::CertMalformed);
    }
    Ok(XfccElement { cert: Some(der), hash: Some(hash) })
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

    /// What a host offers about the connection, as plain data.
    struct Offered {
        pem: Option<String>,
        digest: Option<String>,
    }

    impl Offered {
        /// Envoy 1.38 and newer.
        fn pem(pem: &str) -> Self {
            let der = pem_to_der(pem.as_bytes()).unwrap();
            Offered { pem: Some(pem.into()), digest: Some(hex_encode(&Sha256::digest(der))) }
        }
        /// Envoy 1.36 and 1.37.
        fn digest_of(pem: &str) -> Self {
            Offered { pem: None, digest: Self::pem(pem).digest }
        }
        fn nothing() -> Self {
            Offered { pem: None, digest: None }
        }
        fn read(&self, source: CertSource, xfcc: Option<&str>) -> Result<Option<(Presented, CertOrigin)>, Denial> {
            let headers = Headers::new(
                xfcc.map(|v| ("x-forwarded-client-cert".to_string(), v.as_bytes().to_vec())).into_iter().collect(),
            );
            let peer = |form: PeerCertForm| {
                match form {
                    PeerCertForm::Pem => self.pem.clone(),
                    PeerCertForm::Sha256Digest => self.digest.clone(),
                }
                .map(String::into_bytes)
            };
            read_presented(source, &peer, &headers)
        }
    }

    fn sha256_of(pem: &str) -> [u8; 32] {
        Sha256::digest(pem_to_der(pem.as_bytes()).unwrap()).into()
    }

    #[test]
    fn the_certificate_from_the_pem_attribute_first() {
        let xfcc_of_other = envoy_xfcc(OTHER_PEM, "CN=someone else");
        for xfcc in [None, Some(xfcc_of_other.as_str())] {
            let got = Offered::pem(CERT_PEM).read(CertSource::Connection, xfcc);
            assert_eq!(got, Ok(Some((Presented::Der(der()), CertOrigin::ConnectionPem))));
        }
        // Envoy documents the attribute URL-encoded, as in XFCC: read that too.
        let encoded =
            envoy_xfcc(CERT_PEM, "x").split("Cert=\"").nth(1).unwrap().trim_end_matches("\";URI=").to_string();
        let offered = Offered { pem: Some(encoded), digest: None };
        assert_eq!(
            offered.read(CertSource::Connection, None),
            Ok(Some((Presented::Der(der()), CertOrigin::ConnectionPem)))
        );
        let broken =
            Offered { pem: Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".into()), digest: None };
        assert_eq!(broken.read(CertSource::Connection, None), Err(Denial::CertMalformed));
    }

    #[test]
    fn only_the_digest_gives_sha256_alone() {
        let got = Offered::digest_of(CERT_PEM).read(CertSource::Connection, None);
        assert_eq!(got, Ok(Some((Presented::Sha256(sha256_of(CERT_PEM)), CertOrigin::ConnectionDigest))));
        // Envoy writes lower-case hex; upper case and surrounding space are read alike.
        let upper =
            Offered { pem: None, digest: Some(format!(" {} ", hex_encode(&sha256_of(CERT_PEM)).to_uppercase())) };
        assert_eq!(upper.read(CertSource::Connection, None), got);
        for bad in ["xyz", "abcd", &"a".repeat(63), &"a".repeat(66)] {
            let offered = Offered { pem: None, digest: Some(bad.to_string()) };
            assert_eq!(offered.read(CertSource::Connection, None), Err(Denial::CertMalformed), "{bad}");
        }
    }

    #[test]
    fn with_only_the_digest_the_xfcc_certificate_that_matches_it_is_taken() {
        let mine = envoy_xfcc(CERT_PEM, "CN=webhook-guard test client");
        let got = Offered::digest_of(CERT_PEM).read(CertSource::Connection, Some(&mine));
        assert_eq!(got, Ok(Some((Presented::Der(der()), CertOrigin::XfccMatchingConnection))));
    }

    #[test]
    fn with_only_the_digest_any_other_header_is_ignored() {
        // A client that writes the header (no SANITIZE_SET) with a pinned certificate
        // it does not hold: the connection's digest decides, the header is not believed.
        let forged = envoy_xfcc(CERT_PEM, "CN=webhook-guard test client");
        let digest_only = (Presented::Sha256(sha256_of(OTHER_PEM)), CertOrigin::ConnectionDigest);
        let other_xfcc = envoy_xfcc(OTHER_PEM, "CN=someone else");
        let hash_only = other_xfcc.split(";Subject").next().unwrap().to_string();
        for header in [forged.as_str(), "garbage\"", &format!("{forged},{forged}"), &hash_only, ""] {
            let got = Offered::digest_of(OTHER_PEM).read(CertSource::Connection, Some(header));
            assert_eq!(got, Ok(Some(digest_only.clone())), "{header}");
        }
    }

    #[test]
    fn no_attribute_is_no_certificate_whatever_the_header_says() {
        let header = envoy_xfcc(CERT_PEM, "CN=webhook-guard test client");
        for xfcc in [None, Some(header.as_str())] {
            assert_eq!(Offered::nothing().read(CertSource::Connection, xfcc), Ok(None));
        }
        let empty = Offered { pem: Some(String::new()), digest: Some(String::new()) };
        assert_eq!(empty.read(CertSource::Connection, None), Ok(None));
    }

    #[test]
    fn source_xfcc_reads_the_header_alone() {
        let header = envoy_xfcc(CERT_PEM, "CN=webhook-guard test client");
        // The connection (another proxy's) is not looked at.
        for offered in [Offered::nothing(), Offered::pem(OTHER_PEM)] {
            let got = offered.read(CertSource::Xfcc, Some(&header));
            assert_eq!(got, Ok(Some((Presented::Der(der()), CertOrigin::XfccCert))));
            assert_eq!(offered.read(CertSource::Xfcc, None), Ok(None));
        }
        // set_current_client_cert_details without cert: true gives only Hash=.
        let hash_only = header.split(";Subject").next().unwrap();
        let got = Offered::nothing().read(CertSource::Xfcc, Some(hash_only));
        assert_eq!(got, Ok(Some((Presented::Sha256(sha256_of(CERT_PEM)), CertOrigin::XfccHash))));
        let bad_hash = "Hash=zz;Subject=\"CN=x\"";
        assert_eq!(Offered::nothing().read(CertSource::Xfcc, Some(bad_hash)), Err(Denial::CertMalformed));
        let twice = format!("{header},{header}");
        assert_eq!(Offered::nothing().read(CertSource::Xfcc, Some(&twice)), Err(Denial::CertMalformed));
    }

    #[test]
    fn sha256_alone_checks_sha256_pins_and_names_what_it_cannot_check() {
        let mine = Presented::Sha256(sha256_of(CERT_PEM));
        let other = Presented::Sha256(sha256_of(OTHER_PEM));
        let sha256 = check(&format!(r#"{{"thumbprints":["{CERT_SHA256}"]}}"#));
        assert_eq!(sha256.verify(Some(&mine), None), Ok(()));
        assert_eq!(sha256.verify(Some(&other), None), Err(Denial::CertNotPinned));
        // A SHA-1 pin might name the certificate: that cannot be told from its SHA-256.
        let sha1 = check(&format!(r#"{{"thumbprints":["{CERT_SHA1}"]}}"#));
        assert_eq!(sha1.verify(Some(&mine), None), Err(Denial::CertPinUnverifiable));
        assert_eq!(sha1.verify(Some(&other), None), Err(Denial::CertPinUnverifiable));
        // The whole certificate checks the SHA-1 pin.
        assert_eq!(sha1.verify(Some(&Presented::Der(der())), None), Ok(()));
        // Both kinds pinned: a SHA-256 match is enough.
        let both = check(&format!(r#"{{"thumbprints":["{CERT_SHA256}","{CERT_SHA1}"]}}"#));
        assert_eq!(both.verify(Some(&mine), None), Ok(()));
        assert_eq!(both.verify(Some(&other), None), Err(Denial::CertPinUnverifiable));
        // SHA-1 thumbprints in the remote list count the same.
        let sha1_list: ThumbprintSet = [tp(CERT_SHA1)].into_iter().collect();
        let sha256_list: ThumbprintSet = [tp(OTHER_SHA256)].into_iter().collect();
        assert_eq!(sha256.verify(Some(&other), Some(&sha1_list)), Err(Denial::CertPinUnverifiable));
        assert_eq!(sha256.verify(Some(&other), Some(&sha256_list)), Ok(()));
        assert_eq!(sha1.verify(None, None), Err(Denial::CertMissing));
    }

    #[test]
    fn the_notices_name_the_source_and_the_fix() {
        assert!(CertOrigin::ConnectionPem.notice().contains("connection.peer_certificate"));
        assert!(CertOrigin::ConnectionDigest.notice().contains("cert_pin_unverifiable"));
        let advice = pin_unverifiable_advice("copyleaks");
        for needed in ["route copyleaks", "SHA-256", "SANITIZE_SET", "cert: true", "1.38"] {
            assert!(advice.contains(needed), "{needed}: {advice}");
        }
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
