//! The scheme model: where a provider puts its signature, timestamp and message id,
//! which bytes it signs, with which key and algorithm, and how the result is encoded.
//! Every preset is one value of [`Scheme`]; `generic` builds one from its fields.

use std::borrow::Cow;

use super::asymmetric::PublicKey;
use super::template::{self, Part};
use crate::denial::Denial;
use crate::json::Json;
use crate::request::RequestHead;
use crate::verify::encoding::{base64_decode, hex_decode};
use crate::verify::mac::{self, KeyedMac};

pub use crate::verify::mac::Algorithm as Mac;

/// How a presented signature is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Hmac(Mac),
    Ed25519,
    /// ECDSA over P-256 with SHA-256.
    EcdsaP256,
    /// No signature: the header carries the secret itself (GitLab's `X-Gitlab-Token`).
    Token,
}

impl Algorithm {
    /// Whether the keys are public keys (`public_keys`) rather than shared secrets.
    pub fn is_public_key(self) -> bool {
        matches!(self, Algorithm::Ed25519 | Algorithm::EcdsaP256)
    }

    /// The decoded length every valid signature has, where it is fixed.
    fn signature_len(self) -> Option<usize> {
        match self {
            Algorithm::Hmac(m) => Some(m.output_len()),
            Algorithm::Ed25519 => Some(64),
            Algorithm::EcdsaP256 | Algorithm::Token => None,
        }
    }
}

/// How a presented signature is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    /// Standard alphabet, padded.
    Base64,
    /// URL-safe alphabet, padding optional.
    Base64Url,
    /// As sent (tokens).
    Raw,
}

impl Encoding {
    pub fn decode(self, s: &[u8]) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => hex_decode(s),
            Encoding::Base64 => base64_decode(s),
            Encoding::Base64Url => base64url_decode(s),
            Encoding::Raw => Some(s.to_vec()),
        }
    }
}

fn base64url_decode(s: &[u8]) -> Option<Vec<u8>> {
    use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};
    use base64::Engine;
    const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    URL_SAFE_ANY_PADDING.decode(s).ok()
}

/// Where a single value (a timestamp, a message id, a signature) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Header(String),
    /// A member of the signature header's `k=v` list (`t` in `t=..,v1=..`).
    Member(String),
    /// A string or number in the JSON body.
    Body(Pointer),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    Seconds,
    Milliseconds,
    /// RFC 3339 (Twitch, Box).
    Rfc3339,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    pub at: Field,
    pub format: TimeFormat,
}

/// Where the signatures are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureAt {
    /// Each of these headers that is present holds one signature after `prefix` (Box and
    /// DocuSign send one header per key); at least one must be present.
    Headers { names: Vec<String>, prefix: String },
    /// A list in one header: items split by `separator`, each `key<pair>value`; the
    /// values of the `labels` keys are signatures checked with the label's algorithm
    /// (several allowed), other keys are ignored unless they are the timestamp member.
    List { name: String, separator: u8, pair: u8, labels: Vec<(String, Algorithm)> },
    /// A string in the JSON body (Mailgun).
    Body(Pointer),
}

/// How a configured key becomes key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFormat {
    /// Removed when present (`whsec_`, `whpk_`).
    pub prefix: String,
    pub decode: Encoding,
}

impl KeyFormat {
    pub const RAW: KeyFormat = KeyFormat { prefix: String::new(), decode: Encoding::Raw };

    pub fn new(prefix: &str, decode: Encoding) -> Self {
        KeyFormat { prefix: prefix.to_string(), decode }
    }

    pub fn apply(&self, raw: &[u8]) -> Option<Vec<u8>> {
        let s = raw.strip_prefix(self.prefix.as_bytes()).unwrap_or(raw);
        self.decode.decode(s).filter(|k| !k.is_empty())
    }
}

/// A provider's signature format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheme {
    pub signature: SignatureAt,
    /// For `Headers` and `Body`; a `List` names an algorithm per label.
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    pub timestamp: Option<Timestamp>,
    pub id: Option<Field>,
    pub template: Vec<Part>,
    /// Shared secrets (`secrets`).
    pub secret_format: KeyFormat,
    /// Public keys (`public_keys`).
    pub public_key_format: KeyFormat,
    /// A query parameter that, when present, carries the hex SHA-256 of the body, which
    /// must match; `{form}` is then empty (Twilio's JSON webhooks, `bodySHA256`).
    pub body_sha256_query: Option<String>,
    /// Percent escapes of these characters are decoded in `{url}` (HubSpot v3).
    pub url_decode: Vec<u8>,
}

impl Scheme {
    /// Every algorithm a presented signature may use.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        let mut all = match &self.signature {
            SignatureAt::List { labels, .. } => labels.iter().map(|(_, a)| *a).collect(),
            _ => vec![self.algorithm],
        };
        all.dedup();
        all
    }

    /// The header that tells this spelling of a scheme from another (Standard Webhooks'
    /// `webhook-*` and `svix-*`), when the signature is in a header.
    pub fn signature_headers(&self) -> Vec<&str> {
        match &self.signature {
            SignatureAt::Headers { names, .. } => names.iter().map(String::as_str).collect(),
            SignatureAt::List { name, .. } => vec![name.as_str()],
            SignatureAt::Body(_) => Vec::new(),
        }
    }

    pub fn uses_body_fields(&self) -> bool {
        matches!(self.signature, SignatureAt::Body(_))
            || matches!(&self.timestamp, Some(Timestamp { at: Field::Body(_), .. }))
            || matches!(self.id, Some(Field::Body(_)))
    }
}

/// A key as compiled from the configuration. A route has a handful, made once: the
/// prepared HMAC state stays inline (no indirection on the request path).
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Key {
    Mac(KeyedMac),
    /// SHA-256 of the token: compared in constant time whatever the presented length.
    Token([u8; 32]),
    Public(PublicKey),
}

impl Key {
    pub fn fits(&self, a: Algorithm) -> bool {
        matches!(
            (self, a),
            (Key::Mac(_), Algorithm::Hmac(_))
                | (Key::Token(_), Algorithm::Token)
                | (Key::Public(PublicKey::Ed25519(_)), Algorithm::Ed25519)
                | (Key::Public(PublicKey::P256(_)), Algorithm::EcdsaP256)
        )
    }
}

pub fn token_key(secret: &[u8]) -> Key {
    use sha2::{Digest, Sha256};
    Key::Token(Sha256::digest(secret).into())
}

pub fn mac_key(m: Mac, secret: &[u8]) -> Key {
    Key::Mac(KeyedMac::new(m, secret))
}

/// What a request presents, before any key is tried.
pub struct Presented<'a> {
    pub signatures: Vec<(Algorithm, Vec<u8>)>,
    pub timestamp: Option<Cow<'a, [u8]>>,
    pub id: Option<Cow<'a, [u8]>>,
}

/// The parts of the request the scheme needs, read once.
pub struct Request<'a> {
    pub head: &'a RequestHead,
    pub body: &'a [u8],
    pub public_url: Option<&'a str>,
}

impl Scheme {
    /// Signatures, timestamp and id, each read from where the scheme says; anything
    /// repeated or undecodable is refused.
    pub fn presented<'a>(&self, r: &Request<'a>, active: &[Algorithm]) -> Result<Presented<'a>, Denial> {
        let h = &r.head.headers;
        let doc = if self.uses_body_fields() { Some(parse_body(r.body)?) } else { None };
        let mut members: Vec<(&'a [u8], &'a [u8])> = Vec::new();
        let mut signatures = Vec::new();
        match &self.signature {
            SignatureAt::Headers { names, prefix } => {
                for name in names {
                    let Some(v) = h.get_one(name).map_err(|_| Denial::SignatureRepeated)? else { continue };
                    let encoded = v.strip_prefix(prefix.as_bytes()).ok_or(Denial::SignatureMalformed)?;
                    signatures.push((self.algorithm, self.decode(encoded, self.algorithm)?));
                }
            }
            SignatureAt::List { name, separator, pair, labels } => {
                let Some(v) = h.get_one(name).map_err(|_| Denial::SignatureRepeated)? else {
                    return Err(Denial::SignatureMissing);
                };
                for item in v.split(|c| c == separator) {
                    let item = item.trim_ascii();
                    // Runs of spaces separate a space-separated list (Standard Webhooks);
                    // an empty item anywhere else (`t=1,,v1=..`, a trailing `,`) is not
                    // what the sender wrote.
                    if item.is_empty() && *separator == b' ' {
                        continue;
                    }
                    let mut halves = item.splitn(2, |c| c == pair);
                    let (Some(key), Some(value)) = (halves.next(), halves.next()) else {
                        return Err(Denial::SignatureMalformed);
                    };
                    // A label whose algorithm has no key configured (Standard Webhooks'
                    // `v1a` on a route with secrets only) is skipped like an unknown one.
                    match labels.iter().find(|(l, a)| l.as_bytes() == key && active.contains(a)) {
                        Some((_, a)) => signatures.push((*a, self.decode(value, *a)?)),
                        // Other versions (Stripe's v0, Standard's future ones) are not
                        // ours to judge; a member twice is: which one was signed?
                        None if members.iter().any(|(k, _)| *k == key) => return Err(Denial::SignatureMalformed),
                        None => members.push((key, value)),
                    }
                }
            }
            SignatureAt::Body(pointer) => {
                if let Some(v) = doc.as_ref().map(|d| body_text(d, pointer)).transpose()?.flatten() {
                    signatures.push((self.algorithm, self.decode(v.as_bytes(), self.algorithm)?));
                }
            }
        }
        if signatures.is_empty() {
            return Err(Denial::SignatureMissing);
        }
        let read = |f: &Field, missing: Denial| -> Result<Cow<'a, [u8]>, Denial> {
            let v: Option<Cow<'a, [u8]>> = match f {
                Field::Header(name) => h.get_one(name).map_err(|_| Denial::SignatureRepeated)?.map(Cow::Borrowed),
                Field::Member(key) => {
                    members.iter().find(|(k, _)| *k == key.as_bytes()).map(|(_, v)| Cow::Borrowed(*v))
                }
                Field::Body(p) => match &doc {
                    Some(d) => body_text(d, p)?.map(|s| Cow::Owned(s.into_bytes())),
                    None => None,
                },
            };
            v.filter(|v| !v.is_empty()).ok_or(missing)
        };
        let timestamp = self.timestamp.as_ref().map(|t| read(&t.at, Denial::TimestampMissing)).transpose()?;
        let id = self.id.as_ref().map(|f| read(f, Denial::MessageIdMissing)).transpose()?;
        Ok(Presented { signatures, timestamp, id })
    }

    /// Decode a presented signature; a signature of the wrong length for its algorithm
    /// is malformed, so a truncated one can never "match" a prefix.
    fn decode(&self, s: &[u8], a: Algorithm) -> Result<Vec<u8>, Denial> {
        let encoding = if a == Algorithm::Token { Encoding::Raw } else { self.encoding };
        let bytes = encoding.decode(s).ok_or(Denial::SignatureMalformed)?;
        match a.signature_len() {
            Some(len) if bytes.len() != len => Err(Denial::SignatureMalformed),
            _ if bytes.is_empty() => Err(Denial::SignatureMalformed),
            _ => Ok(bytes),
        }
    }

    /// The timestamp, in unix milliseconds.
    pub fn timestamp_ms(&self, raw: &[u8]) -> Result<u64, Denial> {
        let Some(t) = &self.timestamp else { return Err(Denial::TimestampMalformed) };
        let digits = |v: &[u8], max: usize| -> Option<u64> {
            if v.is_empty() || v.len() > max || !v.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(v).ok()?.parse().ok()
        };
        match t.format {
            TimeFormat::Seconds => digits(raw, 12).map(|s| s.saturating_mul(1000)),
            TimeFormat::Milliseconds => digits(raw, 15),
            TimeFormat::Rfc3339 => {
                std::str::from_utf8(raw).ok().and_then(crate::time::parse_rfc3339).map(|s| s.saturating_mul(1000))
            }
        }
        .ok_or(Denial::TimestampMalformed)
    }

    /// The signed bytes, in pieces: literal text and request parts borrowed where they
    /// can be (the body is never copied for a MAC).
    pub fn signed_parts<'a>(&'a self, p: &'a Presented<'a>, r: &Request<'a>) -> Result<Vec<Cow<'a, [u8]>>, Denial> {
        let digest_in_query = match &self.body_sha256_query {
            Some(name) => match template::query_param(r.head, name).map_err(|_| Denial::SignatureMalformed)? {
                Some(hash) => {
                    use sha2::{Digest, Sha256};
                    use subtle::ConstantTimeEq;
                    let presented = hex_decode(&hash).ok_or(Denial::SignatureMalformed)?;
                    if !bool::from(Sha256::digest(r.body).as_slice().ct_eq(&presented)) {
                        return Err(Denial::SignatureMismatch);
                    }
                    true
                }
                None => false,
            },
            None => false,
        };
        let mut out = Vec::with_capacity(self.template.len());
        for part in &self.template {
            out.push(match part {
                Part::Literal(l) => Cow::Borrowed(l.as_slice()),
                Part::Body => Cow::Borrowed(r.body),
                Part::Timestamp => Cow::Borrowed(p.timestamp.as_deref().unwrap_or_default()),
                Part::Id => Cow::Borrowed(p.id.as_deref().unwrap_or_default()),
                Part::Method => Cow::Borrowed(r.head.method.as_bytes()),
                Part::Path => Cow::Borrowed(r.head.raw_path.as_bytes()),
                Part::Query => Cow::Borrowed(template::query(r.head)),
                Part::Url => {
                    let u = template::url(r.head, r.public_url);
                    if self.url_decode.is_empty() {
                        u
                    } else {
                        Cow::Owned(template::decode_some(&u, &self.url_decode))
                    }
                }
                Part::Form if digest_in_query => Cow::Borrowed(&b""[..]),
                Part::Form => Cow::Owned(template::sorted_form(r.body).ok_or(Denial::SignatureMismatch)?),
            });
        }
        Ok(out)
    }
}

/// Whether `key` verifies any presented signature over `parts`. Every MAC signature is
/// compared without an early exit (lengths are public: they follow from the algorithm).
pub fn verifies(key: &Key, presented: &[(Algorithm, Vec<u8>)], parts: &[&[u8]]) -> bool {
    let mut hit = subtle::Choice::from(0);
    let mut tag: Option<mac::Tag> = None;
    for (a, sig) in presented.iter().filter(|(a, _)| key.fits(*a)) {
        match key {
            Key::Mac(k) => {
                let _ = a;
                let t = tag.get_or_insert_with(|| k.tag(parts));
                hit |= t.matches(sig);
            }
            Key::Token(digest) => {
                use sha2::{Digest, Sha256};
                use subtle::ConstantTimeEq;
                hit |= Sha256::digest(sig).as_slice().ct_eq(digest);
            }
            Key::Public(pk) => {
                if pk.verify(parts, sig) {
                    hit |= subtle::Choice::from(1);
                }
            }
        }
    }
    bool::from(hit)
}

/// A compiled RFC 6901 pointer into the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer(pub Vec<String>);

impl Pointer {
    pub fn parse(text: &str) -> Option<Pointer> {
        let rest = text.strip_prefix('/')?;
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut t = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    t.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => t.push('~'),
                    Some('1') => t.push('/'),
                    _ => return None,
                }
            }
            tokens.push(t);
        }
        Some(Pointer(tokens))
    }
}

pub fn parse_body(body: &[u8]) -> Result<Json, Denial> {
    crate::json::parse(body).map_err(|_| Denial::PayloadNotJson)
}

/// The string (or number, as written) at `p`; `None` when absent. A member name repeated
/// on the way is ambiguous: refused.
pub fn body_text(doc: &Json, p: &Pointer) -> Result<Option<String>, Denial> {
    let mut node = doc;
    for token in &p.0 {
        node = match node {
            Json::Object(members) => {
                let mut found = members.iter().filter(|(k, _)| k == token).map(|(_, v)| v);
                match (found.next(), found.next()) {
                    (None, _) => return Ok(None),
                    (Some(v), None) => v,
                    _ => return Err(Denial::PayloadDuplicateKey),
                }
            }
            Json::Array(items) => match token.parse::<usize>().ok().and_then(|i| items.get(i)) {
                Some(v) => v,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
    }
    Ok(match node {
        Json::String(s) => Some(s.clone()),
        // Integers as written; a fraction or an exponent is no timestamp or id.
        Json::Number(crate::json::Number::U64(n)) => Some(n.to_string()),
        Json::Number(crate::json::Number::I64(n)) => Some(n.to_string()),
        _ => None,
    })
}
