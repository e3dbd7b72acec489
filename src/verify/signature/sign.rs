//! Signing: the headers (and, for schemes that carry fields in the body, the body) a
//! provider sends, made from the same scheme model the verifier reads. The signed bytes
//! come from [`Scheme::signed_parts`], the verifier's own template code, and every
//! signed request is read back with [`Scheme::presented`] and verified before it is
//! handed out: what the signer writes is, by construction, what the verifier accepts.
//!
//! Native builds only (test tooling; the plugin never signs). Private keys stay out of
//! the core: an asymmetric signature comes from a [`PrivateKey`] the caller implements.

use std::borrow::Cow;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::asymmetric::PublicKey;
use super::model::{self, Algorithm, Encoding, Field, Key, Presented, Request, Scheme, SignatureAt, TimeFormat};
use super::template::Part;
use super::{key_error, presets, SignatureCheck, SignatureConfig};
use crate::error::{ConfigError, Env};
use crate::json::{self, Json, Number};
use crate::request::{Headers, RequestHead};
use crate::verify::encoding::hex_encode;
use crate::verify::mac::KeyedMac;

/// A private key the caller holds (Ed25519 or ECDSA P-256).
pub trait PrivateKey {
    /// [`Algorithm::Ed25519`] or [`Algorithm::EcdsaP256`].
    fn algorithm(&self) -> Algorithm;
    /// 32 bytes (Ed25519) or an uncompressed SEC1 point (P-256).
    fn public_key(&self) -> Vec<u8>;
    /// The signature of `message`: 64 bytes (Ed25519), or DER (ECDSA over SHA-256).
    fn sign(&self, message: &[u8]) -> Vec<u8>;
}

/// What signs.
pub enum SigningKey<'a> {
    /// A shared secret (or GitLab's token) written as the configuration takes it
    /// (`whsec_...` for Standard Webhooks, base64 for Microsoft Teams).
    Secret(&'a [u8]),
    Private(&'a dyn PrivateKey),
}

/// The request to sign, before the scheme's fields are added.
pub struct Message<'a> {
    pub method: &'a str,
    /// The URL the provider calls: `http(s)://authority/path?query`.
    pub url: &'a str,
    pub body: &'a [u8],
    /// Unix seconds, or the value exactly as the scheme writes it (RFC 3339, or 13
    /// digits and more for milliseconds); `None`: `now`, or the body's own value.
    pub timestamp: Option<&'a str>,
    /// The message id; `None`: the body's own value, else one derived from `now` and
    /// the body.
    pub id: Option<&'a str>,
    /// Unix seconds.
    pub now: u64,
}

/// A signed request, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The URL to send it to (Twilio's `bodySHA256` may have been added to the query).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body differs from the one given: the scheme's fields were set in it.
    pub body_changed: bool,
}

/// Why a request cannot be signed; never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignError(pub String);

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SignError {}

fn fail<T>(message: impl Into<String>) -> Result<T, SignError> {
    Err(SignError(message.into()))
}

/// Signs for one scheme: a preset, or a configured route's (generic included).
#[derive(Debug, Clone)]
pub struct Signer {
    name: String,
    /// The spelling the provider sends.
    scheme: Scheme,
    /// The route's `public_url`: the verifier signs it in place of the request URL.
    public_url: Option<String>,
}

impl SignatureCheck {
    /// A signer for this configured check; `name` is its scheme, for messages.
    pub fn signer(&self, name: &str) -> Option<Signer> {
        Some(Signer {
            name: name.to_string(),
            scheme: self.schemes.first()?.clone(),
            public_url: self.public_url.clone(),
        })
    }
}

impl SignatureConfig {
    /// The first shared secret live at `now`, as written (before the scheme decodes it),
    /// resolved as the plugin resolves it; `path` is this config's path, for errors.
    pub fn live_secret(&self, path: &str, env: &Env, now: u64) -> Result<Option<Vec<u8>>, ConfigError> {
        let Some(specs) = &self.secrets else { return Ok(None) };
        let all = crate::secret::resolve_all(specs, &format!("{path}.secrets"), env)?;
        Ok(all.into_iter().find(|s| s.is_live(now)).map(|s| s.key.expose().to_vec()))
    }
}

/// The key a prepared signer uses.
enum Prepared<'a> {
    Mac(Box<KeyedMac>),
    Digest(Box<model::DigestKey>),
    Token(Vec<u8>),
    Private(&'a dyn PrivateKey),
}

impl Signer {
    /// The signer of preset `name`.
    pub fn preset(name: &str) -> Option<Signer> {
        let p = presets::preset(name)?;
        let scheme = p.schemes.into_iter().nth(p.sends)?;
        Some(Signer { name: name.to_string(), scheme, public_url: None })
    }

    /// Every algorithm the scheme verifies.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        self.scheme.algorithms()
    }

    /// Whether only a private key signs for this scheme.
    pub fn needs_private_key(&self) -> bool {
        self.algorithms().iter().all(|a| a.is_public_key())
    }

    /// Whether the signed bytes hold the URL (or its path or query).
    pub fn signs_url(&self) -> bool {
        self.scheme.template.iter().any(|p| matches!(p, Part::Url | Part::Path | Part::Query))
    }

    /// The public key of `key` written the way `public_keys` takes it for this scheme.
    pub fn public_key_text(&self, key: &dyn PrivateKey) -> String {
        let raw = key.public_key();
        let bytes = match key.algorithm() {
            // SendGrid shows a DER SubjectPublicKeyInfo; the verifier reads it or the point.
            Algorithm::EcdsaP256 if raw.len() == 65 => [&super::asymmetric::P256_SPKI_PREFIX[..], &raw].concat(),
            _ => raw,
        };
        let f = &self.scheme.public_key_format;
        format!("{}{}", f.prefix, encode(f.decode, &bytes))
    }

    /// One line on where the scheme puts its signature and what it signs.
    pub fn summary(&self) -> String {
        let s = &self.scheme;
        let algorithms: Vec<&str> = s.algorithms().into_iter().map(algorithm_name).collect();
        let encoding = match s.encoding {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
            Encoding::Base64Url => "base64url",
            Encoding::Raw => "raw",
        };
        let at = match &s.signature {
            SignatureAt::Headers { names, prefix, .. } => {
                let first = names.first().map(String::as_str).unwrap_or_default();
                match names.as_slice() {
                    [] | [_] => format!("{first}: {prefix}<sig>"),
                    [_, second] => format!("{first} (or {second}): {prefix}<sig>"),
                    all => format!("{first} (one of {}): {prefix}<sig>", all.len()),
                }
            }
            SignatureAt::List { name, separator, pair, labels, .. } => {
                let mut items = Vec::new();
                if let Some(model::Timestamp { at: Field::Member(k), .. }) = &s.timestamp {
                    items.push(format!("{k}{}<ts>", *pair as char));
                }
                items.extend(labels.iter().map(|(l, _)| format!("{l}{}<sig>", *pair as char)));
                format!("{name}: {}", items.join(separator))
            }
            SignatureAt::Body(p) => format!("body /{}", p.0.join("/")),
            SignatureAt::Items(items) => {
                let fields: Vec<String> = items.fields.iter().map(|f| f.at.0.join("/")).collect();
                let sig = format!(
                    "each /{}/*/{}/{}",
                    items.list.0.join("/"),
                    items.item.0.join("/"),
                    items.signature.0.join("/")
                );
                let joined = fields.join(&char::from(items.separator).to_string());
                return format!("{sig}  ({} {encoding} of the item's {joined})", algorithms.join(" or "));
            }
        };
        let sig = if s.algorithm == Algorithm::Token {
            "the secret itself".to_string()
        } else {
            format!("{} {encoding} of {}", algorithms.join(" or "), template_text(&s.template))
        };
        format!("{at}  ({sig})")
    }

    /// Sign `m` with `key`.
    pub fn sign(&self, key: SigningKey, m: &Message) -> Result<Signed, SignError> {
        let s = &self.scheme;
        let (algorithm, prepared) = self.prepare(key)?;
        let (url_scheme, authority, mut raw_path) = split_url(m.url)?;
        if let SignatureAt::Items(items) = &s.signature {
            let (body, body_changed) = self.sign_items(items, &prepared, m.body)?;
            let headers = vec![("content-type".to_string(), "application/json".to_string())];
            return Ok(Signed { url: format!("{url_scheme}://{authority}{raw_path}"), headers, body, body_changed });
        }

        // The body, as JSON, when the scheme reads fields from it.
        let mut doc = if s.uses_body_fields() {
            let text = if m.body.iter().all(u8::is_ascii_whitespace) { &b"{}"[..] } else { m.body };
            match json::parse(text) {
                Ok(d @ Json::Object(_)) => Some(d),
                _ => {
                    return fail(format!(
                        "scheme \"{}\" reads fields from a JSON object body: the body is not one",
                        self.name
                    ))
                }
            }
        } else {
            None
        };
        let mut body_changed = false;
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut members: Vec<String> = Vec::new();
        let pair = match &s.signature {
            SignatureAt::List { pair, .. } => *pair as char,
            _ => '=',
        };

        let timestamp = match &s.timestamp {
            None => None,
            Some(t) => {
                let in_body = match (&t.at, &doc) {
                    (Field::Body(p), Some(d)) => model::body_text(d, p).map_err(|_| self.repeated(p))?,
                    _ => None,
                };
                let text = match (m.timestamp, &in_body) {
                    (Some(given), _) => self.timestamp_text(given, t.format)?,
                    (None, Some(v)) => v.clone(),
                    (None, None) => format_time(m.now, t.format),
                };
                match &t.at {
                    Field::Header(name) => headers.push((name.clone(), text.clone())),
                    Field::Member(k) => members.push(format!("{k}{pair}{text}")),
                    // The body's own value stays as written (a string or a number).
                    Field::Body(_) if in_body.as_deref() == Some(text.as_str()) => {}
                    Field::Body(p) => {
                        let value = match t.format {
                            TimeFormat::Rfc3339 => Json::String(text.clone()),
                            _ => text
                                .parse()
                                .map_or_else(|_| Json::String(text.clone()), |n| Json::Number(Number::U64(n))),
                        };
                        body_changed |= set(doc.as_mut(), p, value)?;
                    }
                }
                Some(text)
            }
        };

        let id = match &s.id {
            None => None,
            Some(f) => {
                let in_body = match (f, &doc) {
                    (Field::Body(p), Some(d)) => model::body_text(d, p).map_err(|_| self.repeated(p))?,
                    _ => None,
                };
                let text = match (m.id, &in_body) {
                    (Some(""), _) => return fail("the message id is empty"),
                    // It goes into a header line: no line break can ride along.
                    (Some(given), _) if given.bytes().any(|c| c < b' ' || c == 0x7f) => {
                        return fail("the message id holds a control character")
                    }
                    (Some(given), _) => given.to_string(),
                    (None, Some(v)) if !v.is_empty() => v.clone(),
                    (None, _) => made_up_id(m.now, m.body),
                };
                match f {
                    Field::Header(name) => headers.push((name.clone(), text.clone())),
                    Field::Member(k) => members.push(format!("{k}{pair}{text}")),
                    Field::Body(_) if in_body.as_deref() == Some(text.as_str()) => {}
                    Field::Body(p) => body_changed |= set(doc.as_mut(), p, Json::String(text.clone()))?,
                }
                Some(text)
            }
        };

        let mut body = match (&doc, body_changed) {
            (Some(d), true) => to_text(d).into_bytes(),
            _ => m.body.to_vec(),
        };
        // Twilio signs a JSON body by its SHA-256 in the query (`bodySHA256`).
        if let Some(name) = &s.body_sha256_query {
            let (_, query) = raw_path.split_once('?').unwrap_or((&raw_path, ""));
            let present = query.split('&').any(|p| p.split('=').next() == Some(name.as_str()));
            if !present && json::parse(&body).is_ok() {
                let sep = if raw_path.contains('?') { '&' } else { '?' };
                raw_path = format!("{raw_path}{sep}{name}={}", hex_encode(&Sha256::digest(&body)));
            }
        }

        let pseudo = |extra: &[(String, String)]| {
            let mut all = vec![
                (":method".to_string(), m.method.as_bytes().to_vec()),
                (":path".to_string(), raw_path.as_bytes().to_vec()),
                (":scheme".to_string(), url_scheme.as_bytes().to_vec()),
                (":authority".to_string(), authority.as_bytes().to_vec()),
            ];
            all.extend(extra.iter().map(|(n, v)| (n.clone(), v.as_bytes().to_vec())));
            RequestHead::from_headers(Headers::new(all), None, m.now)
        };

        let head = pseudo(&headers);
        let request = Request { head: &head, body: &body, public_url: self.public_url.as_deref() };
        let presented = Presented {
            signatures: Vec::new(),
            timestamp: timestamp.as_deref().map(|t| Cow::Borrowed(t.as_bytes())),
            id: id.as_deref().map(|t| Cow::Borrowed(t.as_bytes())),
        };
        let parts = s.signed_parts(&presented, &request).map_err(|d| match d.reason() {
            "signature_mismatch" => {
                SignError(format!("scheme \"{}\" signs the form parameters: the body is not form-encoded", self.name))
            }
            _ => SignError("the URL's query cannot be read (a repeated or undecodable parameter)".into()),
        })?;
        let slices: Vec<&[u8]> = parts.iter().map(|p| p.as_ref()).collect();
        let signature = match &prepared {
            Prepared::Mac(k) => k.tag(&slices).as_slice().to_vec(),
            Prepared::Digest(k) => k.tag(&slices).as_slice().to_vec(),
            Prepared::Token(t) => t.clone(),
            Prepared::Private(k) => k.sign(&slices.concat()),
        };
        drop(parts);
        let encoded = if algorithm == Algorithm::Token {
            String::from_utf8(signature).map_err(|_| SignError("the token is not text".into()))?
        } else {
            encode(s.encoding, &signature)
        };
        match &s.signature {
            SignatureAt::Headers { names, prefix, .. } => {
                let name = names.first().ok_or_else(|| SignError("the scheme names no signature header".into()))?;
                headers.push((name.clone(), format!("{prefix}{encoded}")));
            }
            SignatureAt::List { name, separator, pair, labels, .. } => {
                let label = labels.iter().find(|(_, a)| *a == algorithm).map(|(l, _)| l.as_str()).unwrap_or("v1");
                members.push(format!("{label}{}{encoded}", *pair as char));
                headers.push((name.clone(), members.join(separator)));
            }
            SignatureAt::Items(_) => return fail("the items are signed in place"),
            SignatureAt::Body(p) => {
                set(doc.as_mut(), p, Json::String(encoded))?;
                body_changed = true;
                body = doc.as_ref().map(to_text).unwrap_or_default().into_bytes();
            }
        }
        for (name, d) in &s.declared {
            if let model::Declared::Equal(value) | model::Declared::Present(value) = d {
                headers.push((name.clone(), value.clone()));
            }
        }
        if json::parse(&body).is_ok() {
            headers.insert(0, ("content-type".into(), "application/json".into()));
        } else if s.template.contains(&Part::Form) {
            headers.insert(0, ("content-type".into(), "application/x-www-form-urlencoded".into()));
        }

        self.read_back(&prepared, algorithm, &pseudo(&headers), &body)?;
        Ok(Signed { url: format!("{url_scheme}://{authority}{raw_path}"), headers, body, body_changed })
    }

    /// A body whose every item is signed in place (Adyen), read back as the verifier
    /// reads it; `true` when a signature changed.
    fn sign_items(&self, items: &model::Items, key: &Prepared, body: &[u8]) -> Result<(Vec<u8>, bool), SignError> {
        let Prepared::Mac(mac) = key else { return fail("this scheme signs with a shared secret") };
        let mut doc = match json::parse(body) {
            Ok(d @ Json::Object(_)) => d,
            _ => {
                return fail(format!(
                    "scheme \"{}\" signs the items of a JSON object body: the body is not one",
                    self.name
                ))
            }
        };
        let why = |d: crate::denial::Denial| {
            SignError(format!("the body's items cannot be signed: {} ({})", d.explanation(), d.reason()))
        };
        let read = items.read(&doc).map_err(why)?;
        let mut signatures = read.iter().map(|i| encode(self.scheme.encoding, mac.tag(&[&i.signed]).as_slice()));
        let mut inner = items.item.clone();
        inner.0.extend(items.signature.0.iter().cloned());
        let mut changed = false;
        let mut list = Some(&mut doc);
        for token in &items.list.0 {
            list = match list {
                Some(Json::Object(members)) => members.iter_mut().find(|(k, _)| k == token).map(|(_, v)| v),
                _ => None,
            };
        }
        let Some(Json::Array(elements)) = list else { return fail("the body has no list of items") };
        for element in elements.iter_mut() {
            let Some(sig) = signatures.next() else { return fail("the body's items changed while signed") };
            changed |= set(Some(element), &inner, Json::String(sig))?;
        }
        let body = to_text(&doc).into_bytes();
        // Read back: every item verifies with this key.
        let fault =
            |what: &str| SignError(format!("the signed body does not verify ({what}): a fault of webhook-guard"));
        let doc = json::parse(&body).map_err(|_| fault("payload_not_json"))?;
        let key = Key::Mac((**mac).clone());
        for item in items.read(&doc).map_err(|d| fault(d.reason()))? {
            let sig = item.signature.as_deref().ok_or_else(|| fault("signature_missing"))?;
            let bytes = self.scheme.decode(sig.as_bytes(), self.scheme.algorithm).map_err(|d| fault(d.reason()))?;
            let candidate = model::Candidate { algorithm: self.scheme.algorithm, bytes, slot: None };
            if !model::verifies(&key, 0, &[candidate], &[&item.signed]) {
                return Err(fault("signature_mismatch"));
            }
        }
        Ok((body, changed))
    }

    /// The verifier's reading of the signed request: it must verify with the same key.
    fn read_back(
        &self,
        key: &Prepared,
        algorithm: Algorithm,
        head: &RequestHead,
        body: &[u8],
    ) -> Result<(), SignError> {
        let s = &self.scheme;
        let r = Request { head, body, public_url: self.public_url.as_deref() };
        let fault =
            |what: &str| SignError(format!("the signed request does not verify ({what}): a fault of webhook-guard"));
        let presented = s.presented(&r, &[algorithm]).map_err(|d| fault(d.reason()))?;
        if let Some(t) = presented.timestamp.as_deref() {
            s.timestamp_ms(t).map_err(|d| fault(d.reason()))?;
        }
        let parts = s.signed_parts(&presented, &r).map_err(|d| fault(d.reason()))?;
        let slices: Vec<&[u8]> = parts.iter().map(|p| p.as_ref()).collect();
        let key = match key {
            Prepared::Mac(k) => Key::Mac((**k).clone()),
            Prepared::Digest(k) => Key::Digest((**k).clone()),
            Prepared::Token(t) => model::token_key(t),
            Prepared::Private(k) => {
                let parsed = match k.algorithm() {
                    Algorithm::Ed25519 => PublicKey::ed25519(&k.public_key()),
                    _ => PublicKey::p256(&k.public_key()),
                };
                Key::Public(parsed.map_err(fault)?)
            }
        };
        if model::verifies(&key, 0, &presented.signatures, &slices) {
            Ok(())
        } else {
            Err(fault("signature_mismatch"))
        }
    }

    fn prepare<'k>(&self, key: SigningKey<'k>) -> Result<(Algorithm, Prepared<'k>), SignError> {
        let algorithms = self.algorithms();
        let names = || algorithms.iter().copied().map(algorithm_name).collect::<Vec<_>>().join(" or ");
        match key {
            SigningKey::Secret(raw) => {
                let Some(a) = algorithms.iter().copied().find(|a| !a.is_public_key()) else {
                    return fail(format!(
                        "scheme \"{}\" signs with a private key ({}), not a shared secret",
                        self.name,
                        names()
                    ));
                };
                let label = if self.name == "standard" { "standard-webhooks" } else { self.name.as_str() };
                let f = &self.scheme.secret_format;
                let bytes = f.apply(raw).ok_or_else(|| SignError(key_error("", label, "secret", f).message))?;
                Ok(match a {
                    Algorithm::Hmac(mac) => (a, Prepared::Mac(Box::new(KeyedMac::new(mac, &bytes)))),
                    Algorithm::Digest(mac) => {
                        let k = model::DigestKey::new(mac, &bytes, &self.scheme.template)
                            .ok_or_else(|| SignError("the scheme's template has no {secret}".into()))?;
                        (a, Prepared::Digest(Box::new(k)))
                    }
                    _ => (a, Prepared::Token(bytes)),
                })
            }
            SigningKey::Private(k) => {
                let a = k.algorithm();
                if !a.is_public_key() || !algorithms.contains(&a) {
                    return fail(format!(
                        "scheme \"{}\" does not sign with {} (it verifies {})",
                        self.name,
                        algorithm_name(a),
                        names()
                    ));
                }
                Ok((a, Prepared::Private(k)))
            }
        }
    }

    /// `--timestamp` in the scheme's format.
    fn timestamp_text(&self, given: &str, format: TimeFormat) -> Result<String, SignError> {
        let digits = !given.is_empty() && given.bytes().all(|c| c.is_ascii_digit());
        let text = match format {
            TimeFormat::Milliseconds if digits && given.len() >= 13 => given.to_string(),
            _ if digits => {
                format_time(given.parse().map_err(|_| SignError("the timestamp is too large".into()))?, format)
            }
            _ => given.to_string(),
        };
        if self.scheme.timestamp_ms(text.as_bytes()).is_err() {
            let want = match format {
                TimeFormat::Rfc3339 => "unix seconds or RFC 3339",
                TimeFormat::Milliseconds => "unix seconds or milliseconds",
                TimeFormat::Seconds => "unix seconds",
            };
            return fail(format!("the timestamp \"{given}\" is not {want}"));
        }
        Ok(text)
    }

    fn repeated(&self, p: &model::Pointer) -> SignError {
        SignError(format!("the body holds a member on the way to /{} twice", p.0.join("/")))
    }
}

pub fn algorithm_name(a: Algorithm) -> &'static str {
    use crate::verify::mac::Algorithm as Mac;
    match a {
        Algorithm::Hmac(Mac::Sha1) => "HMAC-SHA1",
        Algorithm::Hmac(Mac::Sha256) => "HMAC-SHA256",
        Algorithm::Hmac(Mac::Sha384) => "HMAC-SHA384",
        Algorithm::Hmac(Mac::Sha512) => "HMAC-SHA512",
        Algorithm::Digest(Mac::Sha1) => "SHA-1 digest",
        Algorithm::Digest(Mac::Sha256) => "SHA-256 digest",
        Algorithm::Digest(Mac::Sha384) => "SHA-384 digest",
        Algorithm::Digest(Mac::Sha512) => "SHA-512 digest",
        Algorithm::Ed25519 => "Ed25519",
        Algorithm::EcdsaP256 => "ECDSA P-256",
        Algorithm::Token => "token",
    }
}

fn encode(e: Encoding, bytes: &[u8]) -> String {
    match e {
        Encoding::Hex => hex_encode(bytes),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
        Encoding::Base64Url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        Encoding::Raw => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn template_text(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Literal(l) => String::from_utf8_lossy(l).escape_debug().to_string(),
            Part::Body => "{body}".into(),
            Part::Timestamp => "{timestamp}".into(),
            Part::Id => "{id}".into(),
            Part::Method => "{method}".into(),
            Part::Path => "{path}".into(),
            Part::Query => "{query}".into(),
            Part::Url => "{url}".into(),
            Part::Form => "{form}".into(),
            Part::Secret => "{secret}".into(),
        })
        .collect()
}

/// `(scheme, authority, path with query)` of an http(s) URL.
fn split_url(url: &str) -> Result<(&str, &str, String), SignError> {
    let Some((scheme, rest)) = url.split_once("://").filter(|(s, _)| *s == "http" || *s == "https") else {
        return fail(format!("\"{url}\" is not an http:// or https:// URL"));
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || url.bytes().any(|c| c <= b' ' || c == 0x7f || c == b'#') {
        return fail(format!("\"{url}\" is not an http:// or https:// URL (with a host, and no fragment)"));
    }
    let path = match path.as_bytes().first() {
        None => "/".to_string(),
        Some(b'?') => format!("/{path}"),
        _ => path.to_string(),
    };
    Ok((scheme, authority, path))
}

/// Unix seconds in the scheme's format.
fn format_time(secs: u64, format: TimeFormat) -> String {
    match format {
        TimeFormat::Seconds => secs.to_string(),
        TimeFormat::Milliseconds => secs.saturating_mul(1000).to_string(),
        TimeFormat::Rfc3339 => crate::time::format_rfc3339(secs),
    }
}

/// An id for a message that has none: the same message at the same second gets the
/// same id, as a retried delivery does.
fn made_up_id(now: u64, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(now.to_be_bytes());
    h.update(body);
    format!("msg_{}", &hex_encode(&h.finalize())[..24])
}

/// Set the value at `p`, making the objects on the way. `Ok(true)`: the body changed.
fn set(doc: Option<&mut Json>, p: &model::Pointer, value: Json) -> Result<bool, SignError> {
    let Some(mut node) = doc else { return fail("the scheme reads a field from a body that is not JSON") };
    let Some((last, path)) = p.0.split_last() else { return fail("the scheme's field is the whole body") };
    for token in path {
        let Json::Object(members) = node else {
            return fail(format!("the body's /{} is not an object", p.0.join("/")));
        };
        let i = match members.iter().position(|(k, _)| k == token) {
            Some(i) => i,
            None => {
                members.push((token.clone(), Json::Object(Vec::new())));
                members.len() - 1
            }
        };
        let Some((_, next)) = members.get_mut(i) else {
            return fail(format!("the body's /{} could not be made", p.0.join("/")));
        };
        node = next;
    }
    let Json::Object(members) = node else { return fail(format!("the body's /{} is not in an object", p.0.join("/"))) };
    match members.iter_mut().find(|(k, _)| k == last) {
        Some((_, v)) if *v == value => Ok(false),
        Some((_, v)) => {
            *v = value;
            Ok(true)
        }
        None => {
            members.push((last.clone(), value));
            Ok(true)
        }
    }
}

/// Compact JSON, members in the order read.
fn to_text(doc: &Json) -> String {
    let mut out = String::new();
    write_json(doc, &mut out);
    out
}

fn write_json(v: &Json, out: &mut String) {
    let string = |s: &str, out: &mut String| out.push_str(&serde_json::to_string(s).unwrap_or_default());
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(Number::U64(n)) => out.push_str(&n.to_string()),
        Json::Number(Number::I64(n)) => out.push_str(&n.to_string()),
        Json::Number(Number::F64(n)) => out.push_str(&serde_json::to_string(n).unwrap_or_else(|_| "null".into())),
        Json::String(s) => string(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Object(members) => {
            out.push('{');
            for (i, (k, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(k, out);
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::vectors::{check, req, tamper, tamper_body, NOW, VECTORS};
    use super::*;

    struct Ed(ed25519_dalek::SigningKey);

    impl PrivateKey for Ed {
        fn algorithm(&self) -> Algorithm {
            Algorithm::Ed25519
        }
        fn public_key(&self) -> Vec<u8> {
            self.0.verifying_key().to_bytes().to_vec()
        }
        fn sign(&self, message: &[u8]) -> Vec<u8> {
            use ed25519_dalek::Signer as _;
            self.0.sign(message).to_bytes().to_vec()
        }
    }

    struct P256(p256::ecdsa::SigningKey);

    impl PrivateKey for P256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::EcdsaP256
        }
        fn public_key(&self) -> Vec<u8> {
            self.0.verifying_key().to_encoded_point(false).as_bytes().to_vec()
        }
        fn sign(&self, message: &[u8]) -> Vec<u8> {
            use p256::ecdsa::signature::Signer as _;
            let s: p256::ecdsa::Signature = self.0.sign(message);
            s.to_der().as_bytes().to_vec()
        }
    }

    fn seed() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    /// The request as the verifier sees it when `s` is sent.
    fn head_of(s: &Signed, now: u64) -> RequestHead {
        let (scheme, authority, path) = split_url(&s.url).unwrap();
        let pseudo = [(":method", "POST"), (":path", path.as_str()), (":scheme", scheme), (":authority", authority)];
        let mut all: Vec<(String, Vec<u8>)> =
            pseudo.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect();
        all.extend(s.headers.iter().map(|(n, v)| (n.clone(), v.as_bytes().to_vec())));
        RequestHead::from_headers(Headers::new(all), None, now)
    }

    const BODY: &str = r#"{"id":"evt_1","amount":4200,"note":"h\u00e9llo"}"#;
    const SECRET: &str = "c2lnbmluZyBrZXkgMDEyMzQ1Njc4OQ==";
    const HEX_SECRET: &str = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
    /// An Adyen notification of two items, unsigned; its first letter is signed.
    const ADYEN_BODY: &str = r#"{"notificationItems":[{"NotificationRequestItem":{"amount":{"currency":"EUR","value":1130},"eventCode":"AUTHORISATION","pspReference":"p1","success":"true"}},{"NotificationRequestItem":{"additionalData":{"authCode":"1"},"amount":{"currency":"USD","value":5},"eventCode":"REFUND","originalReference":"p1","pspReference":"p2","success":"true"}}],"live":"false"}"#;

    fn message<'a>(url: &'a str, body: &'a [u8]) -> Message<'a> {
        Message { method: "POST", url, body, timestamp: None, id: None, now: NOW }
    }

    #[test]
    fn every_preset_signs_what_its_verifier_accepts_and_no_changed_byte() {
        let ed = Ed(ed25519_dalek::SigningKey::from_bytes(&seed()));
        let ec = P256(p256::ecdsa::SigningKey::from_slice(&seed()).unwrap());
        for name in &presets::names() {
            let signer = Signer::preset(name).unwrap();
            let (keys, key): (String, SigningKey) = match *name {
                "discord" | "telnyx" => (
                    format!(r#""public_keys":[{{"value":"{}"}}]"#, signer.public_key_text(&ed)),
                    SigningKey::Private(&ed),
                ),
                "sendgrid" => (
                    format!(r#""public_keys":[{{"value":"{}"}}]"#, signer.public_key_text(&ec)),
                    SigningKey::Private(&ec),
                ),
                "adyen" => {
                    (format!(r#""secrets":[{{"value":"{HEX_SECRET}"}}]"#), SigningKey::Secret(HEX_SECRET.as_bytes()))
                }
                _ => (format!(r#""secrets":[{{"value":"{SECRET}"}}]"#), SigningKey::Secret(SECRET.as_bytes())),
            };
            let c = check(&format!(r#"{{"scheme":"{name}",{keys}}}"#));
            // Adyen signs fields of the items of a notification.
            let body = if *name == "adyen" { ADYEN_BODY } else { BODY };
            let signed = signer.sign(key, &message("https://hooks.example.com/hook?x=1", body.as_bytes())).unwrap();
            let h = head_of(&signed, NOW);
            assert_eq!(c.verify(&h, &signed.body), Ok("0"), "{name}: {signed:?}");
            // Mailgun's signature, Linear's timestamp and Figma's passcode are in the body.
            assert_eq!(signed.body_changed, ["mailgun", "linear", "figma", "adyen"].contains(name), "{name}");
            if !["gitlab", "mailgun", "okta", "figma"].contains(name) {
                let body = std::str::from_utf8(&signed.body).unwrap();
                assert!(c.verify(&h, &tamper_body(body)).is_err(), "{name}: changed body accepted");
            }
            // Headers the verifier requires but does not sign (Shopify's topic, shop
            // domain, API version and webhook id) take any value.
            let scheme = &presets::preset(name).unwrap().schemes[0];
            let unsigned = |n: &str| {
                scheme.declared.iter().any(|(d, w)| d == n && matches!(w, model::Declared::Present(_)))
                    || (scheme.id == Some(Field::Header(n.into())) && !scheme.template.contains(&Part::Id))
            };
            for (i, (n, v)) in signed.headers.iter().enumerate() {
                if n == "content-type" || unsigned(n) {
                    assert!(!v.is_empty(), "{name}: {n} is empty");
                    continue;
                }
                let mut changed = signed.clone();
                changed.headers[i].1 = tamper(v);
                assert!(c.verify(&head_of(&changed, NOW), &signed.body).is_err(), "{name}: changed {n} accepted");
            }
        }
    }

    #[test]
    fn signs_every_known_answer_vector() {
        for v in VECTORS {
            let preset = presets::preset(v.scheme).unwrap();
            if matches!(preset.schemes[0].signature, SignatureAt::Items(_)) {
                // Signed again in place, the body is the vector's byte for byte.
                let url = format!("https://hooks.example.com{}", v.path);
                let signer = Signer::preset(v.scheme).unwrap();
                let signed =
                    signer.sign(SigningKey::Secret(v.secret.as_bytes()), &message(&url, v.body.as_bytes())).unwrap();
                assert_eq!((signed.body.as_slice(), signed.body_changed), (v.body.as_bytes(), false), "{}", v.scheme);
                continue;
            }
            let h = req(NOW, v.method, v.path, v.headers);
            let scheme = preset
                .schemes
                .iter()
                .find(|s| s.signature_headers().iter().any(|n| h.headers.contains(n)))
                .unwrap_or(&preset.schemes[0]);
            let want = scheme
                .presented(&Request { head: &h, body: v.body.as_bytes(), public_url: None }, &scheme.algorithms())
                .unwrap();
            let text = |b: Option<&[u8]>| b.map(|t| String::from_utf8(t.to_vec()).unwrap());
            let (ts, id) = (text(want.timestamp.as_deref()), text(want.id.as_deref()));
            let url = format!("https://hooks.example.com{}", v.path);
            let m = Message {
                method: v.method,
                url: &url,
                body: v.body.as_bytes(),
                timestamp: ts.as_deref(),
                id: id.as_deref(),
                now: NOW,
            };
            let signer = Signer { scheme: scheme.clone(), ..Signer::preset(v.scheme).unwrap() };
            let signed = signer.sign(SigningKey::Secret(v.secret.as_bytes()), &m).unwrap();
            let got_head = head_of(&signed, NOW);
            let got = scheme
                .presented(&Request { head: &got_head, body: &signed.body, public_url: None }, &scheme.algorithms())
                .unwrap();
            assert!(want.signatures.contains(&got.signatures[0]), "{} {}: {signed:?}", v.scheme, v.path);
            assert_eq!(signed.url, url, "{}", v.scheme);
        }
    }

    // The same keys and messages as the PyNaCl vectors in vectors.rs: Ed25519 is
    // deterministic, so the signatures are byte for byte the same.
    #[test]
    fn ed25519_signatures_equal_the_libsodium_vectors() {
        let ed = Ed(ed25519_dalek::SigningKey::from_bytes(&seed()));
        let body = br#"{"type":1,"id":"ping"}"#;
        let m = Message {
            method: "POST",
            url: "https://hooks.example.com/i",
            body,
            timestamp: Some("1700000000"),
            id: None,
            now: NOW,
        };
        let discord = Signer::preset("discord").unwrap();
        let signed = discord.sign(SigningKey::Private(&ed), &m).unwrap();
        assert_eq!(discord.public_key_text(&ed), "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8");
        assert!(signed.headers.contains(&(
            "x-signature-ed25519".into(),
            "e35e62cc07905d3b001167f2c17c78195b90ac37154a91d2915f2b5d047aca699a7d85ee9dd4a4e5efe3f99edc37f499826333159c0b8ab6b4cfd5806bbd7400".into()
        )));
        assert!(signed.headers.contains(&("x-signature-timestamp".into(), "1700000000".into())));
        let standard = Signer::preset("standard").unwrap();
        let m = Message { id: Some("msg_1"), ..m };
        let signed = standard.sign(SigningKey::Private(&ed), &m).unwrap();
        assert_eq!(standard.public_key_text(&ed), "whpk_A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=");
        assert!(signed.headers.contains(&(
            "webhook-signature".into(),
            "v1a,6p81NWZKrRh3GPo5MBtIaA/0NfVNny3+VLRKGl/lCpumTgAOd513cPeuzLtJu1ZF4GIrgqL3L9yQwP1aCKYhBw==".into()
        )));
        assert_eq!(
            signed.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["content-type", "webhook-timestamp", "webhook-id", "webhook-signature"]
        );
    }

    #[test]
    fn a_configured_route_signs_with_its_own_fields() {
        let c = check(
            r#"{"scheme":"generic","secrets":[{"value":"6b6579"}],"key_encoding":"hex","algorithm":"sha384",
                "encoding":"base64url","header":"X-Sig","list":{"separator":";","pair":":","signature_key":"h1",
                "timestamp_key":"ts"},"timestamp_unit":"milliseconds","id_header":"X-Id",
                "signed_payload":"{method}\n{url}\n{id}\n{timestamp}\n{body}"}"#,
        );
        let signer = c.signer("generic").unwrap();
        let m = Message { id: Some("evt-9"), ..message("http://127.0.0.1:10000/g?a=1", BODY.as_bytes()) };
        // The secret as configured: hex, as `key_encoding` says.
        let signed = signer.sign(SigningKey::Secret(b"6b6579"), &m).unwrap();
        let h = head_of(&signed, NOW);
        assert_eq!(c.verify(&h, BODY.as_bytes()), Ok("0"));
        let sig = signed.headers.iter().find(|(n, _)| n == "x-sig").unwrap();
        assert!(sig.1.starts_with("ts:1700000000000;h1:"), "{sig:?}");
        // The route's public_url is what the verifier signs, so the signer signs it too.
        let twilio =
            check(r#"{"scheme":"twilio","secrets":[{"value":"k"}],"public_url":"https://public.example.com/t"}"#);
        let form = b"b=2&a=1";
        let signed = twilio
            .signer("twilio")
            .unwrap()
            .sign(SigningKey::Secret(b"k"), &message("http://10.0.0.1/internal", form))
            .unwrap();
        assert_eq!(twilio.verify(&head_of(&signed, NOW), form), Ok("0"));
        assert_eq!(signed.headers[0], ("content-type".into(), "application/x-www-form-urlencoded".into()));
    }

    #[test]
    fn twilio_json_bodies_carry_their_hash_in_the_query() {
        let signer = Signer::preset("twilio").unwrap();
        let signed =
            signer.sign(SigningKey::Secret(b"k"), &message("https://h.example.com/t?x=1", BODY.as_bytes())).unwrap();
        let digest = hex_encode(&Sha256::digest(BODY.as_bytes()));
        assert_eq!(signed.url, format!("https://h.example.com/t?x=1&bodySHA256={digest}"));
    }

    #[test]
    fn mailgun_fields_are_set_in_the_body() {
        let signer = Signer::preset("mailgun").unwrap();
        let m = Message {
            id: Some("tok"),
            ..message("https://h.example.com/m", br#"{"event-data":{"event":"delivered"}}"#)
        };
        let signed = signer.sign(SigningKey::Secret(b"k"), &m).unwrap();
        let body = String::from_utf8(signed.body).unwrap();
        let sig =
            hex_encode(&crate::verify::mac::compute(crate::verify::mac::Algorithm::Sha256, b"k", &[b"1700000000tok"]));
        assert_eq!(
            body,
            format!(
                r#"{{"event-data":{{"event":"delivered"}},"signature":{{"timestamp":1700000000,"token":"tok","signature":"{sig}"}}}}"#
            )
        );
        assert!(signed.body_changed);
    }

    #[test]
    fn timestamps_in_the_scheme_format() {
        let at = |name: &str, ts: Option<&str>| {
            let s = Signer::preset(name).unwrap();
            let m = Message { timestamp: ts, ..message("https://h.example.com/", b"{}") };
            s.sign(SigningKey::Secret(SECRET.as_bytes()), &m).map(|s| s.headers)
        };
        let header = |h: Vec<(String, String)>, n: &str| h.into_iter().find(|(k, _)| k == n).map(|(_, v)| v).unwrap();
        assert_eq!(header(at("box", None).unwrap(), "box-delivery-timestamp"), "2023-11-14T22:13:20Z");
        assert_eq!(header(at("box", Some("1700000001")).unwrap(), "box-delivery-timestamp"), "2023-11-14T22:13:21Z");
        assert_eq!(
            header(at("twitch", Some("2023-11-14T22:13:20.5Z")).unwrap(), "twitch-eventsub-message-timestamp"),
            "2023-11-14T22:13:20.5Z"
        );
        assert_eq!(header(at("hubspot", None).unwrap(), "x-hubspot-request-timestamp"), "1700000000000");
        assert_eq!(
            header(at("hubspot", Some("1700000000123")).unwrap(), "x-hubspot-request-timestamp"),
            "1700000000123"
        );
        assert!(header(at("stripe", Some("1600000000")).unwrap(), "stripe-signature").starts_with("t=1600000000,v1="));
        assert_eq!(at("slack", Some("yesterday")).unwrap_err().0, "the timestamp \"yesterday\" is not unix seconds");
        assert_eq!(at("box", Some("soon")).unwrap_err().0, "the timestamp \"soon\" is not unix seconds or RFC 3339");
    }

    #[test]
    fn wrong_keys_and_inputs_are_refused_with_a_reason() {
        let ed = Ed(ed25519_dalek::SigningKey::from_bytes(&seed()));
        let m = message("https://h.example.com/", b"{}");
        let err = |name: &str, key: SigningKey, m: &Message| Signer::preset(name).unwrap().sign(key, m).unwrap_err().0;
        assert_eq!(
            err("discord", SigningKey::Secret(b"k"), &m),
            "scheme \"discord\" signs with a private key (Ed25519), not a shared secret"
        );
        assert_eq!(
            err("github", SigningKey::Private(&ed), &m),
            "scheme \"github\" does not sign with Ed25519 (it verifies HMAC-SHA256)"
        );
        assert_eq!(
            err("sendgrid", SigningKey::Private(&ed), &m),
            "scheme \"sendgrid\" does not sign with Ed25519 (it verifies ECDSA P-256)"
        );
        assert_eq!(
            err("standard", SigningKey::Secret(b"whsec_not base64!"), &m),
            "a standard-webhooks secret must be base64 (optionally after a `whsec_` prefix)"
        );
        let not_json = message("https://h.example.com/", b"a=1");
        assert_eq!(
            err("mailgun", SigningKey::Secret(b"k"), &not_json),
            "scheme \"mailgun\" reads fields from a JSON object body: the body is not one"
        );
        let injected = Message { id: Some("msg_1\r\nx-evil: 1"), ..message("https://h.example.com/", b"{}") };
        assert_eq!(err("standard", SigningKey::Private(&ed), &injected), "the message id holds a control character");
        assert_eq!(
            err("github", SigningKey::Secret(b"k"), &message("ftp://h/", b"")),
            "\"ftp://h/\" is not an http:// or https:// URL"
        );
        // Standard Webhooks takes both: a secret signs v1, an Ed25519 key v1a.
        assert!(Signer::preset("standard").unwrap().sign(SigningKey::Private(&ed), &m).is_ok());
        assert!(!Signer::preset("standard").unwrap().needs_private_key());
        assert!(Signer::preset("discord").unwrap().needs_private_key());
    }

    #[test]
    fn summaries_say_where_and_what() {
        let s = |n: &str| Signer::preset(n).unwrap().summary();
        assert_eq!(s("github"), "x-hub-signature-256: sha256=<sig>  (HMAC-SHA256 hex of {body})");
        assert_eq!(s("stripe"), "stripe-signature: t=<ts>,v1=<sig>  (HMAC-SHA256 hex of {timestamp}.{body})");
        assert_eq!(
            s("svix"),
            "svix-signature: v1,<sig> v1a,<sig>  (HMAC-SHA256 or Ed25519 base64 of {id}.{timestamp}.{body})"
        );
        assert_eq!(s("gitlab"), "x-gitlab-token: <sig>  (the secret itself)");
        assert_eq!(s("mailgun"), "body /signature/signature  (HMAC-SHA256 hex of {timestamp}{id})");
        assert_eq!(s("docusign"), "x-docusign-signature-1 (one of 100): <sig>  (HMAC-SHA256 base64 of {body})");
    }
}
