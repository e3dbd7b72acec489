//! Signatures over the request: HMAC, Ed25519 or ECDSA, for every provider preset and
//! a configurable generic scheme, all described by one model (`model`).
//!
//! Every scheme reduces to the same steps: take the signatures (and, where the scheme
//! has them, the timestamp and message id) from where the scheme puts them, refuse
//! anything ambiguous, check the timestamp against the tolerance, then verify the
//! signed parts with each live key. The body is fed to the MAC in place: it is never
//! copied to build the signed payload.

pub(crate) mod asymmetric;
pub mod handshake;
pub mod items;
pub mod model;
pub mod presets;
// The signer is test tooling for the native command: it never reaches the plugin.
#[cfg(not(target_arch = "wasm32"))]
pub mod sign;
#[cfg(test)]
mod strictness;
pub mod template;
#[cfg(test)]
mod vectors;

use self::handshake::{Handshake, Reply, Request as HandshakeRequest};
use self::model::{
    Algorithm as SigAlgorithm, BodyRule, Declared, Encoding, Field, HexCase, Key, KeyFormat, ListRules, Pointer,
    Repeated, Scheme, SignatureAt, TimeFormat, Timestamp, Unknown,
};
use serde::Deserialize;

use crate::denial::Denial;
use crate::error::{ConfigError, Env};
use crate::request::RequestHead;
use crate::secret::{self, Secret, SecretSpec};
pub use crate::verify::mac::{compute, Algorithm};

use crate::verify::mac::Algorithm as Mac;

pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

/// Declares the wire form of `checks.signature` from two field lists, the fields every
/// scheme takes and those only `generic` takes, so that a `generic` field is named once:
/// the struct, [`GENERIC_FIELDS`] and the refusal of a `generic` field on a preset all
/// come from this one list.
macro_rules! signature_config {
    (
        $(#[$sm:meta])*
        every { $( $(#[$cm:meta])* $c:ident: $ct:ty, )* }
        generic { $( $(#[$gm:meta])* $g:ident: $gt:ty, )* }
    ) => {
        $(#[$sm])*
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct SignatureConfig {
            $( $(#[$cm])* pub $c: $ct, )*
            $( $(#[$gm])* pub $g: Option<$gt>, )*
        }

        /// The fields only `scheme: generic` takes, in declaration order.
        pub const GENERIC_FIELDS: &[&str] = &[$( stringify!($g) ),*];

        impl SignatureConfig {
            /// The first `generic`-only field that is set.
            fn generic_field_set(&self) -> Option<&'static str> {
                [$( (stringify!($g), self.$g.is_some()) ),*].into_iter().find(|(_, set)| *set).map(|(f, _)| f)
            }
        }
    };
}

signature_config! {
    /// Wire form of `checks.signature`.
    every {
        scheme: String,
        /// Shared secrets (MAC schemes, tokens).
        secrets: Option<Vec<SecretSpec>>,
        /// Public keys (Ed25519 and ECDSA schemes).
        public_keys: Option<Vec<SecretSpec>>,
        tolerance_seconds: Option<u64>,
        /// Replay protection; compiled by the route (it needs the route's name).
        dedupe: Option<crate::dedupe::DedupeConfig>,
        /// The URL the provider calls, for schemes that sign it, when proxies in front
        /// rewrite the host or the path.
        public_url: Option<String>,
        /// The token Meta's `hub.challenge` handshake must present.
        verify_token: Option<SecretSpec>,
    }
    generic {
        header: String,
        algorithm: String,
        encoding: String,
        prefix: String,
        list: ListConfig,
        signature_field: String,
        timestamp_header: String,
        timestamp_field: String,
        timestamp_unit: String,
        id_header: String,
        id_field: String,
        signed_payload: String,
        key_encoding: String,
        key_prefix: String,
        hex_case: String,
        ecdsa_format: String,
        body_format: String,
        declared: Vec<DeclaredConfig>,
    }
}

/// `generic`'s `declared`: a header that declares the scheme's version or algorithm.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredConfig {
    pub header: String,
    /// The value it must have; without it, the header must be absent.
    pub equals: Option<String>,
}

/// `generic`'s `list`: the signature header is a list of `key<pair>value` items.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListConfig {
    pub separator: Option<String>,
    pub pair: Option<String>,
    pub signature_key: Option<String>,
    pub timestamp_key: Option<String>,
    pub trim: Option<bool>,
    pub unknown: Option<String>,
    pub pairless: Option<String>,
    pub repeated: Option<String>,
    pub fixed: Option<bool>,
}

/// A configured key, compiled.
#[derive(Debug)]
struct KeyEntry {
    id: String,
    not_after: Option<u64>,
    key: Key,
}

impl KeyEntry {
    fn is_live(&self, now: u64) -> bool {
        self.not_after.is_none_or(|t| now <= t)
    }
}

/// A compiled `checks.signature`.
#[derive(Debug)]
pub struct SignatureCheck {
    /// Spellings of the scheme; the one whose signature header is present applies.
    schemes: Vec<Scheme>,
    keys: Vec<KeyEntry>,
    window: presets::Window,
    handshake: Option<Handshake>,
    verify_token: Option<Secret>,
    delivery_id: Option<String>,
    public_url: Option<String>,
}

impl SignatureCheck {
    pub fn compile(c: &SignatureConfig, path: &str, env: &Env) -> Result<Self, ConfigError> {
        let (schemes, tolerance, handshake, delivery_id) = if c.scheme == "generic" {
            (vec![compile_generic(c, path)?], presets::Window::both(DEFAULT_TOLERANCE_SECONDS), None, None)
        } else {
            let Some(p) = presets::preset(&c.scheme) else {
                return Err(ConfigError::new(
                    format!("{path}.scheme"),
                    format!(
                        "unknown scheme \"{}\" (expected one of {}, generic)",
                        c.scheme,
                        presets::names().join(", ")
                    ),
                ));
            };
            if let Some(field) = c.generic_field_set() {
                return Err(ConfigError::new(
                    format!("{path}.{field}"),
                    format!("only the generic scheme takes `{field}`; scheme \"{}\" defines its own", c.scheme),
                ));
            }
            (p.schemes, p.window, p.handshake, p.delivery_id.map(str::to_string))
        };
        // `tolerance_seconds` on a scheme without a timestamp (github, shopify) has
        // nothing to apply to; it is accepted so one policy template fits every scheme.
        let window = c.tolerance_seconds.map_or(tolerance, presets::Window::both);
        let first = schemes.first().ok_or_else(|| ConfigError::new(path, "a scheme needs a signature"))?;
        let algorithms = first.algorithms();
        let macs: Vec<SigAlgorithm> = algorithms.iter().copied().filter(|a| !a.is_public_key()).collect();
        let publics: Vec<SigAlgorithm> = algorithms.iter().copied().filter(|a| a.is_public_key()).collect();
        let label = if c.scheme == "standard" { "standard-webhooks" } else { c.scheme.as_str() };
        let mut keys = Vec::new();
        match (&c.secrets, macs.first()) {
            (Some(_), None) => {
                return Err(ConfigError::new(
                    format!("{path}.secrets"),
                    format!("scheme \"{}\" verifies with public keys: list them in `public_keys`", c.scheme),
                ))
            }
            (None, Some(_)) if c.public_keys.is_none() || publics.is_empty() => {
                return Err(ConfigError::new(format!("{path}.secrets"), "missing field `secrets`"))
            }
            (Some(specs), Some(algorithm)) => {
                let sp = format!("{path}.secrets");
                for (i, s) in secret::resolve_all(specs, &sp, env)?.into_iter().enumerate() {
                    let bytes = first
                        .secret_format
                        .apply(s.key.expose())
                        .ok_or_else(|| key_error(&format!("{sp}[{i}]"), label, "secret", &first.secret_format))?;
                    let key = match algorithm {
                        SigAlgorithm::Hmac(m) => model::mac_key(*m, &bytes),
                        SigAlgorithm::Digest(m) => model::digest_key(*m, &bytes, &first.template)
                            .ok_or_else(|| ConfigError::new(path, "a digest scheme's template needs {secret}"))?,
                        _ => model::token_key(&bytes),
                    };
                    keys.push(KeyEntry { id: s.id, not_after: s.not_after, key });
                }
            }
            (None, _) => {}
        }
        match (&c.public_keys, publics.first()) {
            (Some(_), None) => {
                return Err(ConfigError::new(
                    format!("{path}.public_keys"),
                    format!("scheme \"{}\" verifies with shared secrets: list them in `secrets`", c.scheme),
                ))
            }
            (None, Some(_)) if macs.is_empty() => {
                return Err(ConfigError::new(format!("{path}.public_keys"), "missing field `public_keys`"))
            }
            (Some(specs), Some(algorithm)) => {
                let kp = format!("{path}.public_keys");
                for (i, s) in secret::resolve_all(specs, &kp, env)?.into_iter().enumerate() {
                    let p = format!("{kp}[{i}]");
                    let bytes = first
                        .public_key_format
                        .apply(s.key.expose())
                        .ok_or_else(|| key_error(&p, label, "public key", &first.public_key_format))?;
                    let parsed = match algorithm {
                        SigAlgorithm::Ed25519 => asymmetric::PublicKey::ed25519(&bytes),
                        _ => asymmetric::PublicKey::p256(&bytes),
                    };
                    let key = parsed.map_err(|why| ConfigError::new(&p, why))?;
                    if keys.iter().any(|k| k.id == s.id) {
                        return Err(ConfigError::new(format!("{p}.id"), format!("duplicate key id \"{}\"", s.id)));
                    }
                    keys.push(KeyEntry { id: s.id, not_after: s.not_after, key: Key::Public(key) });
                }
            }
            (None, _) => {}
        }
        if let Some(SignatureAt::Headers { names, per_key: true, .. }) = schemes.first().map(|s| &s.signature) {
            let secrets = c.secrets.as_ref().map_or(0, Vec::len);
            if secrets > names.len() {
                return Err(ConfigError::new(
                    format!("{path}.secrets"),
                    format!(
                        "scheme \"{}\" binds each secret to one header, in order ({}): at most {} secrets",
                        c.scheme,
                        names.join(", "),
                        names.len()
                    ),
                ));
            }
        }
        let verify_token = match &c.verify_token {
            Some(_) if handshake != Some(Handshake::MetaVerifyToken) => {
                return Err(ConfigError::new(
                    format!("{path}.verify_token"),
                    format!("scheme \"{}\" has no hub.challenge handshake", c.scheme),
                ))
            }
            Some(spec) => {
                let vp = format!("{path}.verify_token");
                secret::resolve_all(std::slice::from_ref(spec), &vp, env)
                    .map_err(|e| ConfigError::new(e.path.replacen(&format!("{vp}[0]"), &vp, 1), e.message))?
                    .pop()
            }
            None => None,
        };
        let public_url = match &c.public_url {
            Some(u) => Some(check_public_url(u, &format!("{path}.public_url"))?),
            None => None,
        };
        Ok(SignatureCheck { schemes, keys, window, handshake, verify_token, delivery_id, public_url })
    }

    /// The ids of the keys (secrets and public keys), for the `secret.<id>.matched` counters.
    pub fn secret_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    pub fn has_handshake(&self) -> bool {
        self.handshake.is_some()
    }

    /// The method the scheme's handshake arrives with besides POST (GET, HEAD).
    pub fn handshake_method(&self) -> Option<&'static str> {
        self.handshake.and_then(Handshake::method)
    }

    /// The spelling of the scheme this request uses: the one whose signature header is
    /// present (two at once is ambiguous), else the first.
    fn scheme_for(&self, head: &RequestHead) -> Result<&Scheme, Denial> {
        let mut present =
            self.schemes.iter().filter(|s| s.signature_headers().iter().any(|h| head.headers.contains(h)));
        match (present.next(), present.next(), self.schemes.first()) {
            (Some(_), Some(_), _) => Err(Denial::SignatureRepeated),
            (Some(s), None, _) | (None, _, Some(s)) => Ok(s),
            (None, _, None) => Err(Denial::SignatureMissing),
        }
    }

    /// `(id, not_after)` of each key that has a `not_after`.
    pub fn secret_expiries(&self) -> impl Iterator<Item = (&str, u64)> {
        self.keys.iter().filter_map(|k| k.not_after.map(|t| (k.id.as_str(), t)))
    }

    /// Verify the request. On success, the id of the key that matched.
    pub fn verify(&self, head: &RequestHead, body: &[u8]) -> Result<&str, Denial> {
        self.verify_message(head, body).map(|(key, _)| key)
    }

    /// Verify the request. On success, the id of the key that matched and, for a scheme
    /// that signs a message id carried in the JSON body (Mailgun's `signature.token`), that
    /// id as the verifier read it; ids in headers are read by `message_id`.
    pub fn verify_message(&self, head: &RequestHead, body: &[u8]) -> Result<(&str, Option<Vec<u8>>), Denial> {
        let scheme = self.scheme_for(head)?;
        if let SignatureAt::Items(items) = &scheme.signature {
            return self.verify_items(scheme, items, head.now, body).map(|key| (key, None));
        }
        let r = model::Request { head, body, public_url: self.public_url.as_deref() };
        let active: Vec<SigAlgorithm> =
            scheme.algorithms().into_iter().filter(|a| self.keys.iter().any(|k| k.key.fits(*a))).collect();
        let presented = scheme.presented(&r, &active)?;
        if !scheme.body.admits(body) {
            return Err(if scheme.body == BodyRule::Json {
                Denial::PayloadNotJson
            } else {
                Denial::SignatureMalformed
            });
        }
        if let Some(ts) = presented.timestamp.as_deref() {
            let ms = scheme.timestamp_ms(ts)?;
            let limit = if ms > head.now_ms { self.window.future } else { self.window.past };
            if head.now_ms.abs_diff(ms) > limit.saturating_mul(1000) {
                return Err(Denial::TimestampOutOfTolerance);
            }
        }
        let parts = scheme.signed_parts(&presented, &r)?;
        let slices: Vec<&[u8]> = parts.iter().map(|p| p.as_ref()).collect();
        let key = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.is_live(head.now))
            .find(|(slot, k)| model::verifies(&k.key, *slot, &presented.signatures, &slices))
            .map(|(_, k)| k)
            .ok_or(Denial::SignatureMismatch)?;
        let body_id = match (&scheme.id, presented.id) {
            (Some(Field::Body(_)), Some(id)) => Some(id.into_owned()),
            _ => None,
        };
        Ok((key.id.as_str(), body_id))
    }

    /// A signature in each item of the body (Adyen): every item verifies, all with the
    /// same key, or the request is refused.
    fn verify_items(&self, scheme: &Scheme, items: &model::Items, now: u64, body: &[u8]) -> Result<&str, Denial> {
        let doc = model::parse_body(body)?;
        let read = items.read(&doc)?;
        let mut presented = Vec::with_capacity(read.len());
        for item in &read {
            let sig = item.signature.as_deref().filter(|s| !s.is_empty()).ok_or(Denial::SignatureMissing)?;
            let bytes = scheme.decode(sig.as_bytes(), scheme.algorithm)?;
            presented.push([model::Candidate { algorithm: scheme.algorithm, bytes, slot: None }]);
        }
        let key = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.is_live(now))
            .find(|(slot, k)| {
                // Every item is checked, whatever the first gave: no early exit tells
                // which item failed.
                let mut all = true;
                for (item, candidate) in read.iter().zip(&presented) {
                    all &= model::verifies(&k.key, *slot, candidate, &[&item.signed]);
                }
                all
            })
            .map(|(_, k)| k)
            .ok_or(Denial::SignatureMismatch)?;
        Ok(key.id.as_str())
    }

    /// A provider handshake (SPEC 2.1), answered here: `None` when the request is not
    /// one; else the reply and the key that verified it, or why it is refused.
    pub fn handshake(&self, head: &RequestHead, body: &[u8]) -> Option<Result<(Reply, Option<&str>), Denial>> {
        let h = self.handshake?;
        let req = match h.recognise(head, body)? {
            Ok(r) => r,
            Err(d) => return Some(Err(d)),
        };
        let mac_of = |id: &str, token: &str| -> Option<Vec<u8>> {
            match self.keys.iter().find(|k| k.id == id).map(|k| &k.key) {
                Some(Key::Mac(m)) => Some(m.tag(&[token.as_bytes()]).as_slice().to_vec()),
                _ => None,
            }
        };
        Some(match &req {
            HandshakeRequest::SignedMacOf { token } => self.verify(head, body).and_then(|id| {
                let mac = mac_of(id, token).ok_or(Denial::SignatureMismatch)?;
                Ok((h.reply(&req, Some(&mac)), Some(id)))
            }),
            HandshakeRequest::SignedEcho { .. } => self.verify(head, body).map(|id| (h.reply(&req, None), Some(id))),
            HandshakeRequest::MacOf { token } => {
                match self.keys.iter().find(|k| k.is_live(head.now) && matches!(k.key, Key::Mac(_))) {
                    Some(k) => match mac_of(&k.id, token) {
                        Some(mac) => Ok((h.reply(&req, Some(&mac)), Some(k.id.as_str()))),
                        None => Err(Denial::SignatureMismatch),
                    },
                    None => Err(Denial::SignatureMismatch),
                }
            }
            HandshakeRequest::TokenEcho { token, .. } => match &self.verify_token {
                Some(v) if v.is_live(head.now) && same_secret(token, v.key.expose()) => {
                    Ok((h.reply(&req, None), Some(v.id.as_str())))
                }
                _ => Err(Denial::SignatureMismatch),
            },
            HandshakeRequest::Echo { .. } => Ok((h.reply(&req, None), None)),
        })
    }

    /// The message id for replay protection: the scheme's signed id where it is a
    /// header, else the provider's delivery header, else the signature header itself.
    pub fn message_id<'a>(&self, head: &'a RequestHead) -> Option<&'a [u8]> {
        let scheme = self.scheme_for(head).ok()?;
        let one = |name: &str| head.headers.get_one(name).ok().flatten();
        if let Some(Field::Header(name)) = &scheme.id {
            return one(name);
        }
        if let Some(v) = self.delivery_id.as_deref().and_then(one) {
            return Some(v);
        }
        scheme.signature_headers().into_iter().find_map(one)
    }
}

/// Constant-time equality of two secrets of any length (compared as SHA-256 digests).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    bool::from(Sha256::digest(a).ct_eq(&Sha256::digest(b)))
}

fn key_error(path: &str, scheme: &str, what: &str, f: &KeyFormat) -> ConfigError {
    let decode = match f.decode {
        Encoding::Hex => "hex",
        Encoding::Base64 => "base64",
        Encoding::Base64Url => "base64url",
        Encoding::Raw => "set",
    };
    let after =
        if f.prefix.is_empty() { String::new() } else { format!(" (optionally after a `{}` prefix)", f.prefix) };
    ConfigError::new(path, format!("a {scheme} {what} must be {decode}{after}"))
}

fn check_public_url(u: &str, path: &str) -> Result<String, ConfigError> {
    let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !u.bytes().any(|c| c <= b' ' || c == 0x7f) => {
            Ok(u.to_string())
        }
        _ => Err(ConfigError::new(path, format!("\"{u}\" is not an http:// or https:// URL"))),
    }
}

fn compile_generic(c: &SignatureConfig, path: &str) -> Result<Scheme, ConfigError> {
    let field = |f: &str| format!("{path}.{f}");
    let header_name = |v: &str, f: &str| crate::error::request_header_name(v, &field(f), "a signature");
    let pointer = |v: &str, f: &str| {
        Pointer::parse(v).ok_or_else(|| {
            ConfigError::new(field(f), format!("\"{v}\" is not a JSON pointer (RFC 6901), e.g. \"/signature\""))
        })
    };
    let algorithm = match c.algorithm.as_deref().unwrap_or("sha256") {
        "sha1" => SigAlgorithm::Hmac(Mac::Sha1),
        "sha256" => SigAlgorithm::Hmac(Mac::Sha256),
        "sha384" => SigAlgorithm::Hmac(Mac::Sha384),
        "sha512" => SigAlgorithm::Hmac(Mac::Sha512),
        "digest_sha1" => SigAlgorithm::Digest(Mac::Sha1),
        "digest_sha256" => SigAlgorithm::Digest(Mac::Sha256),
        "digest_sha512" => SigAlgorithm::Digest(Mac::Sha512),
        "ed25519" => SigAlgorithm::Ed25519,
        "ecdsa_p256" => SigAlgorithm::EcdsaP256,
        other => {
            return Err(ConfigError::new(
                field("algorithm"),
                format!(
                    "\"{other}\" is not one of sha1, sha256, sha384, sha512, digest_sha1, digest_sha256, \
                     digest_sha512, ed25519, ecdsa_p256"
                ),
            ))
        }
    };
    let encoding = match c.encoding.as_deref().unwrap_or("hex") {
        "hex" => Encoding::Hex,
        "base64" => Encoding::Base64,
        "base64url" => Encoding::Base64Url,
        other => {
            return Err(ConfigError::new(
                field("encoding"),
                format!("\"{other}\" is not one of hex, base64, base64url"),
            ))
        }
    };
    let choice = |v: &Option<String>, f: &str, options: &[&str]| -> Result<Option<usize>, ConfigError> {
        match v.as_deref() {
            None => Ok(None),
            Some(s) => options
                .iter()
                .position(|o| *o == s)
                .map(Some)
                .ok_or_else(|| ConfigError::new(field(f), format!("\"{s}\" is not one of {}", options.join(", ")))),
        }
    };
    let one_byte = |v: &Option<String>, default: u8, f: &str| -> Result<u8, ConfigError> {
        match v.as_deref() {
            None => Ok(default),
            Some(s) => match s.as_bytes() {
                &[b] if b.is_ascii_graphic() || b == b' ' => Ok(b),
                _ => Err(ConfigError::new(field(f), format!("\"{s}\" must be one printable character"))),
            },
        }
    };
    let (signature, member_ts) = match (&c.list, &c.signature_field) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(field("list"), "set either `list` or `signature_field`, not both"))
        }
        (Some(_), _) | (_, Some(_)) if c.prefix.is_some() => {
            return Err(ConfigError::new(field("prefix"), "`prefix` applies to a signature alone in its header"))
        }
        (_, Some(_)) if c.header.is_some() => {
            return Err(ConfigError::new(field("header"), "set either `header` or `signature_field`, not both"))
        }
        (None, Some(p)) => (SignatureAt::Body(pointer(p, "signature_field")?), None),
        (Some(l), None) => {
            let name = header_name(c.header.as_deref().unwrap_or("X-Webhook-Signature"), "header")?;
            let separator = match l.separator.as_deref() {
                None => ",".to_string(),
                Some(s) if !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') => {
                    s.to_string()
                }
                Some(s) => {
                    return Err(ConfigError::new(
                        field("list.separator"),
                        format!("\"{s}\" must be one to four printable characters"),
                    ))
                }
            };
            let pair = one_byte(&l.pair, b'=', "list.pair")?;
            if separator.as_bytes().contains(&pair) {
                return Err(ConfigError::new(field("list.pair"), "must differ from `separator`"));
            }
            let key = l.signature_key.clone().unwrap_or_else(|| "v1".to_string());
            if key.is_empty() || Some(&key) == l.timestamp_key.as_ref() {
                return Err(ConfigError::new(
                    field("list.signature_key"),
                    "must be set and differ from `timestamp_key`",
                ));
            }
            let d = ListRules::DEFAULT;
            let rules = ListRules {
                trim: l.trim.unwrap_or(d.trim),
                unknown: match choice(&l.unknown, "list.unknown", &["ignore", "refuse"])? {
                    Some(1) => Unknown::Refuse,
                    Some(_) => Unknown::Ignore,
                    None => d.unknown,
                },
                pairless: match choice(&l.pairless, "list.pairless", &["ignore", "refuse"])? {
                    Some(0) => Unknown::Ignore,
                    Some(_) => Unknown::Refuse,
                    None => d.pairless,
                },
                repeated: match choice(&l.repeated, "list.repeated", &["refuse", "first", "last"])? {
                    Some(1) => Repeated::First,
                    Some(2) => Repeated::Last,
                    Some(_) => Repeated::Refuse,
                    None => d.repeated,
                },
                fixed: l.fixed.unwrap_or(d.fixed),
            };
            if rules.fixed && l.timestamp_key.is_none() {
                return Err(ConfigError::new(field("list.fixed"), "a fixed list starts with `timestamp_key`"));
            }
            let labels = vec![(key, algorithm)];
            (SignatureAt::List { name, separator, pair, labels, rules }, l.timestamp_key.clone())
        }
        (None, None) => {
            let name = header_name(c.header.as_deref().unwrap_or("X-Webhook-Signature"), "header")?;
            let prefix = c.prefix.clone().unwrap_or_default();
            (
                SignatureAt::Headers {
                    names: vec![name],
                    prefix,
                    per_key: false,
                    repeats: false,
                    prefix_optional: false,
                },
                None,
            )
        }
    };
    let format = match c.timestamp_unit.as_deref().unwrap_or("seconds") {
        "seconds" => TimeFormat::Seconds,
        "milliseconds" => TimeFormat::Milliseconds,
        "rfc3339" => TimeFormat::Rfc3339,
        other => {
            return Err(ConfigError::new(
                field("timestamp_unit"),
                format!("\"{other}\" is not one of seconds, milliseconds, rfc3339"),
            ))
        }
    };
    let ts_at = match (&c.timestamp_header, &c.timestamp_field, member_ts) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            return Err(ConfigError::new(
                field("timestamp_header"),
                "the timestamp is in one place: `timestamp_header`, `timestamp_field` or `list.timestamp_key`",
            ))
        }
        (Some(h), None, None) => Some(Field::Header(header_name(h, "timestamp_header")?)),
        (None, Some(p), None) => Some(Field::Body(pointer(p, "timestamp_field")?)),
        (None, None, Some(k)) => Some(Field::Member(k)),
        (None, None, None) => None,
    };
    if ts_at.is_none() && c.timestamp_unit.is_some() {
        return Err(ConfigError::new(field("timestamp_unit"), "there is no timestamp to read"));
    }
    let id = match (&c.id_header, &c.id_field) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(field("id_header"), "set either `id_header` or `id_field`, not both"))
        }
        (Some(h), None) => Some(Field::Header(header_name(h, "id_header")?)),
        (None, Some(p)) => Some(Field::Body(pointer(p, "id_field")?)),
        (None, None) => None,
    };
    let tp = field("signed_payload");
    let template = template::parse(c.signed_payload.as_deref().unwrap_or("{body}"), &tp)?;
    let covers_body = template.iter().filter(|p| matches!(p, template::Part::Body | template::Part::Form)).count();
    if matches!(signature, SignatureAt::Body(_)) {
        // The body holds the signature, so it cannot be signed: the sender signs other
        // fields (Mailgun signs a timestamp and a token), and the rest is not covered.
        if covers_body != 0 {
            return Err(ConfigError::new(
                &tp,
                "with `signature_field` the body holds the signature and cannot be signed",
            ));
        }
    } else if covers_body != 1 {
        return Err(ConfigError::new(&tp, "the template must contain {body} exactly once"));
    }
    let secrets = template.iter().filter(|p| **p == template::Part::Secret).count();
    match (algorithm, secrets) {
        (SigAlgorithm::Digest(_), 1) => {}
        (SigAlgorithm::Digest(_), _) => {
            return Err(ConfigError::new(
                &tp,
                "a digest algorithm hashes the secret: the template must contain {secret} exactly once",
            ))
        }
        (_, 0) => {}
        _ => return Err(ConfigError::new(&tp, "{secret} belongs to a digest algorithm (digest_sha256, ...) only")),
    }
    if template.contains(&template::Part::Timestamp) && ts_at.is_none() {
        return Err(ConfigError::new(&tp, "{timestamp} needs `timestamp_header`"));
    }
    if template.contains(&template::Part::Id) && id.is_none() {
        return Err(ConfigError::new(&tp, "{id} needs `id_header`"));
    }
    let decode = match c.key_encoding.as_deref() {
        None => None,
        Some("raw") => Some(Encoding::Raw),
        Some("base64") => Some(Encoding::Base64),
        Some("hex") => Some(Encoding::Hex),
        Some(other) => {
            return Err(ConfigError::new(field("key_encoding"), format!("\"{other}\" is not one of raw, base64, hex")))
        }
    };
    // Public keys are bytes; a raw string cannot be one, so they default to hex.
    let key_format =
        |default: Encoding| KeyFormat::new(c.key_prefix.as_deref().unwrap_or(""), decode.unwrap_or(default));
    Ok(Scheme {
        signature,
        algorithm,
        encoding,
        timestamp: ts_at.map(|at| Timestamp { at, format }),
        id,
        template,
        secret_format: key_format(Encoding::Raw),
        public_key_format: key_format(Encoding::Hex),
        body_sha256_query: None,
        url_decode: Vec::new(),
        hex_case: match choice(&c.hex_case, "hex_case", &["any", "lower"])? {
            Some(1) => HexCase::Lower,
            _ => HexCase::Any,
        },
        ecdsa_der_only: choice(&c.ecdsa_format, "ecdsa_format", &["any", "der"])? == Some(1),
        body: match choice(&c.body_format, "body_format", &["bytes", "text", "non_empty_text", "json"])? {
            Some(1) => BodyRule::Text,
            Some(2) => BodyRule::NonEmptyText,
            Some(3) => BodyRule::Json,
            _ => BodyRule::Bytes,
        },
        declared: match &c.declared {
            None => Vec::new(),
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let name = header_name(&d.header, &format!("declared[{i}].header"))?;
                    Ok((name, d.equals.clone().map_or(Declared::Absent, Declared::Equal)))
                })
                .collect::<Result<_, ConfigError>>()?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Headers;
    use crate::verify::encoding::hex_encode;
    use crate::verify::mac::compute;
    use base64::Engine;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn check(json: &str) -> SignatureCheck {
        let c: SignatureConfig = crate::wire::read_str(json).unwrap();
        SignatureCheck::compile(&c, "sig", &no_env).unwrap()
    }

    fn compile_err(json: &str) -> String {
        let c: SignatureConfig = crate::wire::read_str(json).unwrap();
        SignatureCheck::compile(&c, "sig", &no_env).unwrap_err().to_string()
    }

    fn head(now: u64, pairs: &[(&str, &str)]) -> RequestHead {
        let mut all = vec![(":method".to_string(), b"POST".to_vec()), (":path".to_string(), b"/hook?a=1".to_vec())];
        all.extend(pairs.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())));
        RequestHead::from_headers(Headers::new(all), None, now)
    }

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    // GitHub's documentation example ("Validating webhook deliveries"):
    // secret "It's a Secret to Everybody", payload "Hello, World!".
    #[test]
    fn github_published_vector() {
        let c = check(r#"{"scheme":"github","secrets":[{"value":"It's a Secret to Everybody"}]}"#);
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(c.verify(&head(0, &[("X-Hub-Signature-256", sig)]), b"Hello, World!"), Ok("0"));
        assert_eq!(
            c.verify(&head(0, &[("X-Hub-Signature-256", sig)]), b"Hello, World?"),
            Err(Denial::SignatureMismatch)
        );
        // GitHub compares its lower-case hex digest as a string: upper case is not a
        // signature it would accept.
        let upper = sig.to_ascii_uppercase().replacen("SHA256=", "sha256=", 1);
        assert_eq!(
            c.verify(&head(0, &[("x-hub-signature-256", &upper)]), b"Hello, World!"),
            Err(Denial::SignatureMalformed)
        );
    }

    #[test]
    fn github_refuses_missing_repeated_malformed() {
        let c = check(r#"{"scheme":"github","secrets":[{"value":"k"}]}"#);
        assert_eq!(c.verify(&head(0, &[]), b"x"), Err(Denial::SignatureMissing));
        let good = format!("sha256={}", hex_encode(&compute(Algorithm::Sha256, b"k", &[b"x"])));
        assert_eq!(c.verify(&head(0, &[("x-hub-signature-256", &good)]), b"x"), Ok("0"));
        assert_eq!(
            c.verify(&head(0, &[("x-hub-signature-256", &good), ("x-hub-signature-256", &good)]), b"x"),
            Err(Denial::SignatureRepeated)
        );
        for bad in ["sha1=abcd", "sha256=zz", "sha256=", &good[..good.len() - 2], "757107ea"] {
            assert_eq!(
                c.verify(&head(0, &[("x-hub-signature-256", bad)]), b"x"),
                Err(Denial::SignatureMalformed),
                "{bad}"
            );
        }
    }

    // Slack's documentation example ("Verifying requests from Slack").
    #[test]
    fn slack_published_vector() {
        let c = check(r#"{"scheme":"slack","secrets":[{"id":"current","value":"8f742231b10e8888abcd99yyyzzz85a5"}]}"#);
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let ts = "1531420618";
        let h = head(1_531_420_618, &[("X-Slack-Signature", sig), ("X-Slack-Request-Timestamp", ts)]);
        assert_eq!(c.verify(&h, body), Ok("current"));
        let mut tampered = body.to_vec();
        tampered[0] = b'T';
        assert_eq!(c.verify(&h, &tampered), Err(Denial::SignatureMismatch));
        // Five minutes and one second late or early: outside the default tolerance.
        let late = head(1_531_420_618 + 301, &[("X-Slack-Signature", sig), ("X-Slack-Request-Timestamp", ts)]);
        assert_eq!(c.verify(&late, body), Err(Denial::TimestampOutOfTolerance));
        let early = head(1_531_420_618 - 301, &[("X-Slack-Signature", sig), ("X-Slack-Request-Timestamp", ts)]);
        assert_eq!(c.verify(&early, body), Err(Denial::TimestampOutOfTolerance));
        let edge = head(1_531_420_618 + 300, &[("X-Slack-Signature", sig), ("X-Slack-Request-Timestamp", ts)]);
        assert_eq!(c.verify(&edge, body), Ok("current"));
        assert_eq!(c.verify(&head(0, &[("X-Slack-Signature", sig)]), body), Err(Denial::TimestampMissing));
        let bad_ts = head(0, &[("X-Slack-Signature", sig), ("X-Slack-Request-Timestamp", "-5")]);
        assert_eq!(c.verify(&bad_ts, body), Err(Denial::TimestampMalformed));
    }

    // Standard Webhooks reference test vector (the libraries' shared test).
    #[test]
    fn standard_published_vector() {
        let c = check(r#"{"scheme":"standard","secrets":[{"value":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]}"#);
        let body = br#"{"test": 2432232314}"#;
        let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let pairs = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", sig),
        ];
        assert_eq!(c.verify(&head(1_614_265_330, &pairs), body), Ok("0"));
        // The svix-* header family carries the same scheme: both presets read either.
        let svix =
            [("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"), ("svix-timestamp", "1614265330"), ("svix-signature", sig)];
        assert_eq!(c.verify(&head(1_614_265_330, &svix), body), Ok("0"));
        let s = check(r#"{"scheme":"svix","secrets":[{"value":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]}"#);
        assert_eq!(s.verify(&head(1_614_265_330, &svix), body), Ok("0"));
        assert_eq!(s.verify(&head(1_614_265_330, &pairs), body), Ok("0"));
        // Several signatures, space separated; unknown versions skipped.
        let multi = format!("v1a,abcd v1,{} {sig}", b64(&[0u8; 32]));
        let pairs2 = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", &multi),
        ];
        assert_eq!(c.verify(&head(1_614_265_330, &pairs2), body), Ok("0"));
        // Another id is another message.
        let other = [("webhook-id", "msg_other"), ("webhook-timestamp", "1614265330"), ("webhook-signature", sig)];
        assert_eq!(c.verify(&head(1_614_265_330, &other), body), Err(Denial::SignatureMismatch));
        let no_id = [("webhook-timestamp", "1614265330"), ("webhook-signature", sig)];
        assert_eq!(c.verify(&head(1_614_265_330, &no_id), body), Err(Denial::MessageIdMissing));
        // Both families at once is ambiguous.
        let both = [pairs[0], pairs[1], pairs[2], svix[2]];
        assert_eq!(s.verify(&head(1_614_265_330, &both), body), Err(Denial::SignatureRepeated));
    }

    #[test]
    fn stripe_computed_vector() {
        let secret = "whsec_test_secret";
        let c = check(&format!(r#"{{"scheme":"stripe","secrets":[{{"value":"{secret}"}}],"tolerance_seconds":60}}"#));
        let body = br#"{"id":"evt_1","object":"event"}"#;
        let mac = hex_encode(&compute(Algorithm::Sha256, secret.as_bytes(), &[b"1700000000.", body]));
        // Known answer, computed independently with Python's hmac module.
        assert_eq!(mac, "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd");
        let hdr = format!("t=1700000000,v1={},v1={mac},v0=deadbeef", hex_encode(&[7u8; 32]));
        assert_eq!(c.verify(&head(1_700_000_030, &[("Stripe-Signature", &hdr)]), body), Ok("0"));
        assert_eq!(
            c.verify(&head(1_700_000_061, &[("Stripe-Signature", &hdr)]), body),
            Err(Denial::TimestampOutOfTolerance)
        );
        // Stripe's library takes the first `t`.
        let two_t = format!("t=1700000000,t=1700000001,v1={mac}");
        assert_eq!(c.verify(&head(1_700_000_000, &[("Stripe-Signature", &two_t)]), body), Ok("0"));
        let two_t = format!("t=1700000001,t=1700000000,v1={mac}");
        assert_eq!(
            c.verify(&head(1_700_000_000, &[("Stripe-Signature", &two_t)]), body),
            Err(Denial::SignatureMismatch)
        );
        let no_v1 = "t=1700000000,v0=abcd";
        assert_eq!(c.verify(&head(1_700_000_000, &[("Stripe-Signature", no_v1)]), body), Err(Denial::SignatureMissing));
        let wrong_t = format!("t=1700000001,v1={mac}");
        assert_eq!(
            c.verify(&head(1_700_000_000, &[("Stripe-Signature", &wrong_t)]), body),
            Err(Denial::SignatureMismatch)
        );
    }

    #[test]
    fn shopify_base64() {
        let c = check(r#"{"scheme":"shopify","secrets":[{"value":"shpss_x"}]}"#);
        let body = br#"{"id":1}"#;
        let sig = b64(&compute(Algorithm::Sha256, b"shpss_x", &[body]));
        let with = |sig: &str| {
            let required = [("X-Shopify-Topic", "orders/create"), ("X-Shopify-Shop-Domain", "s.myshopify.com")];
            let more = [("X-Shopify-API-Version", "2025-10"), ("X-Shopify-Webhook-Id", "w1")];
            head(0, &[[("X-Shopify-Hmac-Sha256", sig)].as_slice(), &required, &more].concat())
        };
        assert_eq!(c.verify(&with(&sig), body), Ok("0"));
        assert_eq!(c.verify(&with(&sig), b"{}"), Err(Denial::SignatureMismatch));
        assert_eq!(c.verify(&with("%%%"), body), Err(Denial::SignatureMalformed));
    }

    #[test]
    fn generic_template_and_options() {
        let c = check(
            r#"{"scheme":"generic","secrets":[{"value":"g"}],"header":"X-Sig","algorithm":"sha512","encoding":"base64",
               "prefix":"sha512=","timestamp_header":"X-Ts","id_header":"X-Id","signed_payload":"{method} {path}|{id}|{timestamp}.{body}"}"#,
        );
        let body = b"payload";
        let mac = compute(Algorithm::Sha512, b"g", &[b"POST /hook?a=1|m1|1000.", body]);
        let sig = format!("sha512={}", b64(&mac));
        let h = head(1000, &[("x-sig", &sig), ("x-ts", "1000"), ("x-id", "m1")]);
        assert_eq!(c.verify(&h, body), Ok("0"));
        assert_eq!(c.message_id(&h), Some(&b"m1"[..]));
        let wrong_id = head(1000, &[("x-sig", &sig), ("x-ts", "1000"), ("x-id", "m2")]);
        assert_eq!(c.verify(&wrong_id, body), Err(Denial::SignatureMismatch));
        let no_prefix = head(1000, &[("x-sig", &b64(&mac)), ("x-ts", "1000"), ("x-id", "m1")]);
        assert_eq!(c.verify(&no_prefix, body), Err(Denial::SignatureMalformed));
        let no_ts = head(1000, &[("x-sig", &sig), ("x-id", "m1")]);
        assert_eq!(c.verify(&no_ts, body), Err(Denial::TimestampMissing));
        // Defaults: X-Webhook-Signature, sha256, hex, body only.
        let d = check(r#"{"scheme":"generic","secrets":[{"value":"g"}]}"#);
        let sig = hex_encode(&compute(Algorithm::Sha256, b"g", &[body]));
        assert_eq!(d.verify(&head(0, &[("X-Webhook-Signature", &sig)]), body), Ok("0"));
        let sha1 = check(r#"{"scheme":"generic","secrets":[{"value":"g"}],"algorithm":"sha1","prefix":"sha1="}"#);
        let sig = format!("sha1={}", hex_encode(&compute(Algorithm::Sha1, b"g", &[body])));
        assert_eq!(sha1.verify(&head(0, &[("X-Webhook-Signature", &sig)]), body), Ok("0"));
    }

    #[test]
    fn rotation_and_not_after() {
        let c = check(
            r#"{"scheme":"github","secrets":[{"id":"current","value":"new"},
                {"id":"previous","value":"old","not_after":"2027-01-31T00:00:00Z"}]}"#,
        );
        let sig = |k: &[u8]| format!("sha256={}", hex_encode(&compute(Algorithm::Sha256, k, &[b"b"])));
        let before = 1_801_353_600;
        assert_eq!(c.verify(&head(before, &[("x-hub-signature-256", &sig(b"new"))]), b"b"), Ok("current"));
        assert_eq!(c.verify(&head(before, &[("x-hub-signature-256", &sig(b"old"))]), b"b"), Ok("previous"));
        assert_eq!(
            c.verify(&head(before + 1, &[("x-hub-signature-256", &sig(b"old"))]), b"b"),
            Err(Denial::SignatureMismatch)
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let table = [
            (r#"{"scheme":"gitlub","secrets":[{"value":"k"}]}"#, "sig.scheme: unknown scheme \"gitlub\""),
            (r#"{"scheme":"github","secrets":[]}"#, "sig.secrets: at least one secret is required"),
            (
                r#"{"scheme":"github","secrets":[{"env":"NOPE"}]}"#,
                "sig.secrets[0].env: environment variable NOPE is unset",
            ),
            (r#"{"scheme":"github","secrets":[{"value":"k"}],"header":"x"}"#, "sig.header: only the generic scheme"),
            (
                r#"{"scheme":"standard","secrets":[{"value":"whsec_%%%"}]}"#,
                "sig.secrets[0]: a standard-webhooks secret must be base64",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"algorithm":"md5"}"#,
                "sig.algorithm: \"md5\" is not one of",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"encoding":"b32"}"#,
                "sig.encoding: \"b32\" is not one of",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"header":"bad header"}"#,
                "sig.header: \"bad header\" is not a header name",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"header":"Content-Length"}"#,
                "sig.header: \"Content-Length\" cannot carry a signature",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"signed_payload":"{timestamp}"}"#,
                "sig.signed_payload: the template must contain {body} exactly once",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"signed_payload":"{timestamp}.{body}"}"#,
                "sig.signed_payload: {timestamp} needs `timestamp_header`",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"signed_payload":"{nope}{body}"}"#,
                "sig.signed_payload: unknown placeholder {nope}",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"signed_payload":"{body"}"#,
                "sig.signed_payload: unclosed '{'",
            ),
        ];
        for (json, want) in table {
            let got = compile_err(json);
            assert!(got.starts_with(want), "{json}\n got {got:?}\nwant {want:?}");
        }
    }

    #[test]
    fn no_panic_on_hostile_header_bytes() {
        let c = check(r#"{"scheme":"stripe","secrets":[{"value":"k"}]}"#);
        for v in ["", ",", "=", "t=", "v1=", "t=1,v1=", "t=99999999999999999999,v1=00", "\u{ff}\u{0}"] {
            let r = c.verify(&head(0, &[("stripe-signature", v)]), b"");
            assert!(r.is_err(), "{v:?}");
        }
    }
}
