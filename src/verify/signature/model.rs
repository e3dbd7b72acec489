//! The scheme model: where a provider puts its signature, timestamp and message id,
//! which bytes it signs, with which key and algorithm, and how the result is encoded.
//! Every preset is one value of [`Scheme`]; `generic` builds one from its fields.

use std::borrow::Cow;

use super::asymmetric::PublicKey;
pub use super::items::Items;
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
    /// A plain hash of the signed bytes, which hold the secret itself where the template
    /// says `{secret}` (HubSpot's v1 and v2 signatures). Weaker than an HMAC (the message
    /// may be extended after the secret), which is why only the senders that use it do.
    Digest(Mac),
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
            Algorithm::Hmac(m) | Algorithm::Digest(m) => Some(m.output_len()),
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
    /// DocuSign send one header per key); at least one must be present. With `per_key`,
    /// the n-th configured key verifies only the n-th header (Box's primary and
    /// secondary keys), else any key any header. With `repeats`, every value of a header
    /// sent more than once is a signature (Mollie sends one per secret while a secret is
    /// rotated), else a repeated header is refused. With `prefix_optional`, a value
    /// without `prefix` is read whole (Mollie's verifiers strip `sha256=` when present).
    Headers { names: Vec<String>, prefix: String, per_key: bool, repeats: bool, prefix_optional: bool },
    /// A list in one header: items split by `separator`, each `key<pair>value`; the
    /// values of the `labels` keys are signatures checked with the label's algorithm
    /// (several allowed); the other keys as `rules` say.
    List { name: String, separator: String, pair: u8, labels: Vec<(String, Algorithm)>, rules: ListRules },
    /// A string in the JSON body (Mailgun).
    Body(Pointer),
    /// A signature in each item of a list in the JSON body, each over fields of its item
    /// (Adyen); every item must verify. The template is not used.
    Items(Box<Items>),
}

/// How strictly a signature list is read: each provider's verifier reads its own way,
/// and a preset reads as its provider's does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRules {
    /// Spaces around an item are dropped (else ` v1=..` is the key ` v1`, unknown).
    pub trim: bool,
    /// An item with a key that is neither a label nor the timestamp member: ignored, or
    /// the whole list refused (and then so is a value holding `pair`).
    pub unknown: Unknown,
    /// An item without `pair` (an empty one too).
    pub pairless: Unknown,
    /// A non-signature key (the timestamp) given twice.
    pub repeated: Repeated,
    /// Exactly two items: the timestamp member, then one signature (WorkOS).
    pub fixed: bool,
}

impl ListRules {
    /// Lenient on what cannot matter, strict on what is ambiguous.
    pub const DEFAULT: ListRules = ListRules {
        trim: true,
        unknown: Unknown::Ignore,
        pairless: Unknown::Refuse,
        repeated: Repeated::Refuse,
        fixed: false,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    Ignore,
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeated {
    First,
    Last,
    Refuse,
}

/// The case a hex signature must be written in: a verifier that compares its own
/// lower-case hex string with the header refuses upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexCase {
    Any,
    Lower,
}

/// What the provider's verifier requires of the body beyond its signature: one that
/// decodes the body as UTF-8 refuses other bytes, one that parses it as JSON refuses
/// what is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRule {
    Bytes,
    Text,
    NonEmptyText,
    Json,
}

impl BodyRule {
    pub fn admits(self, body: &[u8]) -> bool {
        match self {
            BodyRule::Bytes => true,
            BodyRule::Text => std::str::from_utf8(body).is_ok(),
            BodyRule::NonEmptyText => !body.is_empty() && std::str::from_utf8(body).is_ok(),
            BodyRule::Json => crate::json::parse(body).is_ok(),
        }
    }
}

/// A header that declares the scheme's version or algorithm: what the provider's
/// verifier requires of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declared {
    /// Present, and exactly this value (Box's `box-signature-version: 1`).
    Equal(String),
    /// Absent: its presence names a variant the preset does not verify.
    Absent,
    /// Present and not empty, whatever its value (Shopify's library refuses a request
    /// without its topic, shop domain or API version); `webhook-guard sign` writes the
    /// example value given here.
    Present(String),
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
    pub hex_case: HexCase,
    /// ECDSA signatures in DER only: 64 bytes `r || s` refused (SendGrid's verifier reads DER).
    pub ecdsa_der_only: bool,
    pub body: BodyRule,
    /// Headers declaring the version or algorithm, or required beside the signature,
    /// each with what it must be.
    pub declared: Vec<(String, Declared)>,
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
            SignatureAt::Body(_) | SignatureAt::Items(_) => Vec::new(),
        }
    }

    /// Whether a header the scheme reads is refused when sent twice (all but a signature
    /// header whose every value is a signature).
    pub fn refuses_repeated_headers(&self) -> bool {
        let signature = match &self.signature {
            SignatureAt::Headers { repeats, .. } => !repeats,
            SignatureAt::List { .. } => true,
            SignatureAt::Body(_) | SignatureAt::Items(_) => false,
        };
        signature
            || matches!(&self.timestamp, Some(Timestamp { at: Field::Header(_), .. }))
            || matches!(self.id, Some(Field::Header(_)))
            || !self.declared.is_empty()
    }

    pub fn uses_body_fields(&self) -> bool {
        matches!(self.signature, SignatureAt::Body(_) | SignatureAt::Items(_))
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
    Digest(DigestKey),
    /// SHA-256 of the token: compared in constant time whatever the presented length.
    Token([u8; 32]),
    Public(PublicKey),
}

impl Key {
    pub fn fits(&self, a: Algorithm) -> bool {
        matches!(
            (self, a),
            (Key::Mac(_), Algorithm::Hmac(_))
                | (Key::Digest(_), Algorithm::Digest(_))
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

/// A secret that is hashed with the message (`Algorithm::Digest`), and where in the
/// signed parts it goes. Holds key material: `Debug` is redacted.
#[derive(Clone)]
pub struct DigestKey {
    algorithm: Mac,
    secret: Vec<u8>,
    /// The index of `{secret}` in the template, hence in the signed parts.
    at: usize,
}

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestKey([redacted])")
    }
}

impl DigestKey {
    /// `None` when the template has no `{secret}` (configuration refuses that first).
    pub fn new(m: Mac, secret: &[u8], template: &[Part]) -> Option<DigestKey> {
        let at = template.iter().position(|p| *p == Part::Secret)?;
        Some(DigestKey { algorithm: m, secret: secret.to_vec(), at })
    }

    /// The digest of `parts` with the secret in its place.
    pub fn tag(&self, parts: &[&[u8]]) -> mac::Tag {
        let with_secret: Vec<&[u8]> =
            parts.iter().enumerate().map(|(i, p)| if i == self.at { self.secret.as_slice() } else { *p }).collect();
        mac::digest(self.algorithm, &with_secret)
    }
}

pub fn digest_key(m: Mac, secret: &[u8], template: &[Part]) -> Option<Key> {
    DigestKey::new(m, secret, template).map(Key::Digest)
}

/// A presented signature: its algorithm, its bytes, and for `per_key` headers the index
/// of the header (and so of the one key that may have made it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub algorithm: Algorithm,
    pub bytes: Vec<u8>,
    pub slot: Option<usize>,
}

/// What a request presents, before any key is tried.
pub struct Presented<'a> {
    pub signatures: Vec<Candidate>,
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
        for (name, want) in &self.declared {
            let v = h.get_one(name).map_err(|_| Denial::SignatureRepeated)?;
            let fits = match want {
                Declared::Equal(value) => v == Some(value.as_bytes()),
                Declared::Absent => v.is_none(),
                Declared::Present(_) => v.is_some_and(|v| !v.is_empty()),
            };
            if !fits {
                return Err(Denial::SignatureMalformed);
            }
        }
        let doc = if self.uses_body_fields() { Some(parse_body(r.body)?) } else { None };
        let mut members: Vec<(&'a [u8], &'a [u8])> = Vec::new();
        let mut signatures = Vec::new();
        // Undecodable items of a list are candidates that cannot match, as in a verifier
        // that compares strings; the list is malformed only when no candidate decodes.
        let mut undecodable = false;
        match &self.signature {
            SignatureAt::Headers { names, prefix, per_key, repeats, prefix_optional } => {
                for (i, name) in names.iter().enumerate() {
                    let values: Vec<&[u8]> = if *repeats {
                        h.get_all(name).collect()
                    } else {
                        h.get_one(name).map_err(|_| Denial::SignatureRepeated)?.into_iter().collect()
                    };
                    for v in values {
                        let encoded = match v.strip_prefix(prefix.as_bytes()) {
                            Some(rest) => rest,
                            None if *prefix_optional => v,
                            None => return Err(Denial::SignatureMalformed),
                        };
                        let bytes = self.decode(encoded, self.algorithm)?;
                        signatures.push(Candidate { algorithm: self.algorithm, bytes, slot: per_key.then_some(i) });
                    }
                }
            }
            SignatureAt::List { name, separator, pair, labels, rules } => {
                let Some(v) = h.get_one(name).map_err(|_| Denial::SignatureRepeated)? else {
                    return Err(Denial::SignatureMissing);
                };
                let items = split_list(v, separator.as_bytes());
                if rules.fixed && items.len() != 2 {
                    return Err(Denial::SignatureMalformed);
                }
                for (n, item) in items.into_iter().enumerate() {
                    let item = if rules.trim { item.trim_ascii() } else { item };
                    // Runs of spaces separate a space-separated list (Standard Webhooks);
                    // an empty item anywhere else (`t=1,,v1=..`, a trailing `,`) is not
                    // what the sender wrote, unless unknown items are ignored anyway.
                    if item.is_empty() && separator == " " {
                        continue;
                    }
                    let Some(i) = item.iter().position(|c| c == pair) else {
                        match rules.pairless {
                            Unknown::Ignore => continue,
                            Unknown::Refuse => return Err(Denial::SignatureMalformed),
                        }
                    };
                    let (key, value) = (item.get(..i).unwrap_or_default(), item.get(i + 1..).unwrap_or_default());
                    // A strict reader splits an item at every `pair` and refuses more than two parts.
                    if rules.unknown == Unknown::Refuse && value.contains(pair) {
                        return Err(Denial::SignatureMalformed);
                    }
                    let label = labels.iter().find(|(l, _)| l.as_bytes() == key);
                    let is_member = |f: &Option<Timestamp>| matches!(f, Some(Timestamp { at: Field::Member(k), .. }) if k.as_bytes() == key);
                    if rules.fixed && (n == 0) != is_member(&self.timestamp) {
                        return Err(Denial::SignatureMalformed);
                    }
                    match label {
                        // A label whose algorithm has no key configured (Standard
                        // Webhooks' `v1a` on a route with secrets only) is skipped.
                        Some((_, a)) if active.contains(a) => match self.decode(value, *a) {
                            Ok(bytes) => signatures.push(Candidate { algorithm: *a, bytes, slot: None }),
                            Err(_) => undecodable = true,
                        },
                        Some(_) => {}
                        None if !is_member(&self.timestamp) && rules.unknown == Unknown::Refuse => {
                            return Err(Denial::SignatureMalformed)
                        }
                        // A member twice: which one was signed? As the provider reads it.
                        None => match members.iter().position(|(k, _)| *k == key) {
                            None => members.push((key, value)),
                            Some(at) => match rules.repeated {
                                Repeated::First => {}
                                Repeated::Last => {
                                    if let Some(m) = members.get_mut(at) {
                                        *m = (key, value);
                                    }
                                }
                                Repeated::Refuse => return Err(Denial::SignatureMalformed),
                            },
                        },
                    }
                }
            }
            SignatureAt::Body(pointer) => {
                if let Some(v) = doc.as_ref().map(|d| body_text(d, pointer)).transpose()?.flatten() {
                    let bytes = self.decode(v.as_bytes(), self.algorithm)?;
                    signatures.push(Candidate { algorithm: self.algorithm, bytes, slot: None });
                }
            }
            // Each item is verified on its own (`SignatureCheck::verify_items`).
            SignatureAt::Items(_) => return Err(Denial::SignatureMalformed),
        }
        if signatures.is_empty() && undecodable {
            return Err(Denial::SignatureMalformed);
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
    pub fn decode(&self, s: &[u8], a: Algorithm) -> Result<Vec<u8>, Denial> {
        let encoding = if a == Algorithm::Token { Encoding::Raw } else { self.encoding };
        if encoding == Encoding::Hex && self.hex_case == HexCase::Lower && s.iter().any(u8::is_ascii_uppercase) {
            return Err(Denial::SignatureMalformed);
        }
        let bytes = encoding.decode(s).ok_or(Denial::SignatureMalformed)?;
        if a == Algorithm::EcdsaP256 && self.ecdsa_der_only && bytes.len() == 64 {
            return Err(Denial::SignatureMalformed);
        }
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
                    if self.hex_case == HexCase::Lower && hash.iter().any(u8::is_ascii_uppercase) {
                        return Err(Denial::SignatureMismatch);
                    }
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
                Part::Method => Cow::Borrowed(r.head.method().as_bytes()),
                Part::Path => Cow::Borrowed(r.head.raw_path().as_bytes()),
                Part::Query => Cow::Borrowed(template::query(r.head)),
                Part::Url => {
                    let u = template::url(r.head, r.public_url);
                    if self.url_decode.is_empty() {
                        u
                    } else {
                        Cow::Owned(template::decode_some(&u, &self.url_decode))
                    }
                }
                // The key puts the secret here (`DigestKey::tag`): never part of a request.
                Part::Secret => Cow::Borrowed(&b""[..]),
                Part::Form if digest_in_query => Cow::Borrowed(&b""[..]),
                Part::Form => Cow::Owned(template::sorted_form(r.body).ok_or(Denial::SignatureMismatch)?),
            });
        }
        Ok(out)
    }
}

/// Whether `key` verifies any presented signature over `parts`. Every MAC signature is
/// compared without an early exit (lengths are public: they follow from the algorithm).
/// `slot` is the key's place in the configuration: a candidate bound to a slot
/// (`per_key` headers) is tried only with the key in that slot.
pub fn verifies(key: &Key, slot: usize, presented: &[Candidate], parts: &[&[u8]]) -> bool {
    let mut hit = subtle::Choice::from(0);
    let mut tag: Option<mac::Tag> = None;
    let mine = presented.iter().filter(|c| key.fits(c.algorithm) && c.slot.is_none_or(|s| s == slot));
    for sig in mine.map(|c| &c.bytes) {
        match key {
            Key::Mac(k) => {
                let t = tag.get_or_insert_with(|| k.tag(parts));
                hit |= t.matches(sig);
            }
            Key::Digest(k) => {
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

/// `v` split at every `separator` (a non-empty byte string).
fn split_list<'a>(v: &'a [u8], separator: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(i) = rest.windows(separator.len().max(1)).position(|w| w == separator) {
        out.push(rest.get(..i).unwrap_or_default());
        rest = rest.get(i + separator.len()..).unwrap_or_default();
    }
    out.push(rest);
    out
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

/// The node at `p` under `doc`; `None` when absent. A member named twice on the way is
/// ambiguous: refused.
pub fn find<'a>(doc: &'a Json, p: &Pointer) -> Result<Option<&'a Json>, Denial> {
    let mut at = doc;
    for token in &p.0 {
        at = match at {
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
    Ok(Some(at))
}

/// The string (or number, as written) at `p`; `None` when absent. A member name repeated
/// on the way is ambiguous: refused.
pub fn body_text(doc: &Json, p: &Pointer) -> Result<Option<String>, Denial> {
    let Some(node) = find(doc, p)? else { return Ok(None) };
    Ok(match node {
        Json::String(s) => Some(s.clone()),
        // Integers as written; a fraction or an exponent is no timestamp or id.
        Json::Number(crate::json::Number::U64(n)) => Some(n.to_string()),
        Json::Number(crate::json::Number::I64(n)) => Some(n.to_string()),
        _ => None,
    })
}
