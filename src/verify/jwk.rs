//! JSON Web Keys (RFC 7517) for the `jwt` check: a key set read from a JWKS document
//! (fetched, or written in the configuration), each key checked when it is read, and the
//! public-key JWS algorithms (RFC 7518 3.3-3.5, RFC 8037) verified with it.
//!
//! Reading a document is strict about the keys it can use and quiet about the others:
//! - a key of a type this check does not verify with (`oct`, a curve other than P-256,
//!   P-384 and Ed25519), one meant for encryption (`use` other than `sig`, `key_ops`
//!   without `verify`) or one whose `alg` is not a signature algorithm listed here is
//!   skipped, as the common verifiers skip it (a JWKS may hold encryption keys too);
//! - a key of a usable type that is malformed (a member missing or of the wrong type,
//!   base64url that is not canonical, a point off the curve, private members) or weak
//!   (RSA under 2048 bits, an exponent out of range, a small-order Ed25519 point) refuses
//!   the whole document: the last good key set stays, rather than a set silently missing
//!   the key that was broken.
//!
//! A symmetric (`oct`) key is never used: the HS* algorithms take their secrets from the
//! configuration only, so a token cannot make a public key serve as an HMAC secret.

use std::fmt;

use p256::ecdsa::signature::Verifier as _;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::json::{self, Json};
use crate::verify::signature::asymmetric;

/// A JWKS is a few kilobytes (Google's is under 2 KiB; Entra ID's, with certificate
/// chains, about 20 KiB). Larger documents are refused before they are parsed.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// More keys than this refuse the document: no issuer rotates through so many.
pub const MAX_KEYS: usize = 64;
/// RFC 7518 3.3: "A key of size 2048 bits or larger MUST be used".
pub const MIN_RSA_BITS: usize = 2048;

/// A public-key JWS algorithm (RFC 7518 3.3-3.5; EdDSA with Ed25519, RFC 8037).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 9] = [
        KeyAlgorithm::Rs256,
        KeyAlgorithm::Rs384,
        KeyAlgorithm::Rs512,
        KeyAlgorithm::Ps256,
        KeyAlgorithm::Ps384,
        KeyAlgorithm::Ps512,
        KeyAlgorithm::Es256,
        KeyAlgorithm::Es384,
        KeyAlgorithm::EdDsa,
    ];

    /// The registered JWA name (case-sensitive).
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Rs256 => "RS256",
            KeyAlgorithm::Rs384 => "RS384",
            KeyAlgorithm::Rs512 => "RS512",
            KeyAlgorithm::Ps256 => "PS256",
            KeyAlgorithm::Ps384 => "PS384",
            KeyAlgorithm::Ps512 => "PS512",
            KeyAlgorithm::Es256 => "ES256",
            KeyAlgorithm::Es384 => "ES384",
            KeyAlgorithm::EdDsa => "EdDSA",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether a key of this type may verify this algorithm.
    fn fits(self, key: &KeyMaterial) -> bool {
        use KeyAlgorithm::*;
        matches!(
            (self, key),
            (Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512, KeyMaterial::Rsa(_))
                | (Es256, KeyMaterial::P256(_))
                | (Es384, KeyMaterial::P384(_))
                | (EdDsa, KeyMaterial::Ed25519(_))
        )
    }
}

/// The verifying key of one JWK, checked when it was read.
#[derive(Clone)]
enum KeyMaterial {
    Rsa(rsa::RsaPublicKey),
    /// P-256 and Ed25519 keys as the signature schemes hold them.
    P256(asymmetric::PublicKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(asymmetric::PublicKey),
}

/// One usable key of a JWKS.
#[derive(Clone)]
pub struct PublicKey {
    kid: Option<String>,
    /// `alg` of the JWK: when present, the only algorithm the key verifies.
    alg: Option<KeyAlgorithm>,
    material: KeyMaterial,
    /// The key as a canonical JWK (the members that define it, in a fixed order): what
    /// shared data holds, and what tells two keys apart.
    canonical: String,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.material {
            KeyMaterial::Rsa(_) => "RSA",
            KeyMaterial::P256(_) => "EC P-256",
            KeyMaterial::P384(_) => "EC P-384",
            KeyMaterial::Ed25519(_) => "OKP Ed25519",
        };
        f.debug_struct("PublicKey").field("kid", &self.kid).field("kty", &kind).finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Verify a JWS signature (`signature` decoded from base64url) over `input`.
    pub fn verify(&self, alg: KeyAlgorithm, input: &[u8], signature: &[u8]) -> bool {
        use KeyAlgorithm::*;
        if !alg.fits(&self.material) || self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        match (&self.material, alg) {
            (KeyMaterial::Rsa(key), Rs256) => {
                key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(input), signature).is_ok()
            }
            (KeyMaterial::Rsa(key), Rs384) => {
                key.verify(rsa::Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(input), signature).is_ok()
            }
            (KeyMaterial::Rsa(key), Rs512) => {
                key.verify(rsa::Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(input), signature).is_ok()
            }
            // RFC 7518 3.5: the salt is as long as the hash.
            (KeyMaterial::Rsa(key), Ps256) => {
                key.verify(rsa::Pss::new::<Sha256>(), &Sha256::digest(input), signature).is_ok()
            }
            (KeyMaterial::Rsa(key), Ps384) => {
                key.verify(rsa::Pss::new::<Sha384>(), &Sha384::digest(input), signature).is_ok()
            }
            (KeyMaterial::Rsa(key), Ps512) => {
                key.verify(rsa::Pss::new::<Sha512>(), &Sha512::digest(input), signature).is_ok()
            }
            // RFC 7518 3.4: R || S, each as long as the curve's order; never DER.
            (KeyMaterial::P256(key), Es256) => signature.len() == 64 && key.verify(&[input], signature),
            (KeyMaterial::P384(key), Es384) => {
                signature.len() == 96
                    && p384::ecdsa::Signature::from_slice(signature).is_ok_and(|sig| key.verify(input, &sig).is_ok())
            }
            (KeyMaterial::Ed25519(key), EdDsa) => signature.len() == 64 && key.verify(&[input], signature),
            _ => false,
        }
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

/// Why a JWKS (or a key of one) was refused. Never carries document text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    TooLarge {
        bytes: usize,
    },
    NotJson,
    DuplicateMember,
    /// Not an object with a `keys` array.
    NoKeys,
    TooManyKeys {
        count: usize,
    },
    /// No key this check can verify with.
    NoUsableKey,
    InvalidKey {
        index: usize,
        why: &'static str,
    },
    WeakKey {
        index: usize,
        why: &'static str,
    },
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::TooLarge { bytes } => {
                write!(f, "JWKS of {bytes} bytes is over the {MAX_DOCUMENT_BYTES}-byte limit")
            }
            JwksError::NotJson => f.write_str("JWKS is not JSON"),
            JwksError::DuplicateMember => f.write_str("JWKS has an object with a repeated member"),
            JwksError::NoKeys => f.write_str("not a JWKS: no `keys` array"),
            JwksError::TooManyKeys { count } => write!(f, "JWKS holds {count} keys, over the limit of {MAX_KEYS}"),
            JwksError::NoUsableKey => {
                f.write_str("JWKS holds no signature key of a supported type (RSA, EC P-256/P-384, OKP Ed25519)")
            }
            JwksError::InvalidKey { index, why } => write!(f, "key [{index}] is malformed: {why}"),
            JwksError::WeakKey { index, why } => write!(f, "key [{index}] is weak: {why}"),
        }
    }
}

/// The usable keys of a JWKS.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<PublicKey>,
}

impl KeySet {
    /// Read a JWKS document (`{"keys": [...]}`), as fetched.
    pub fn from_document(bytes: &[u8]) -> Result<Self, JwksError> {
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(JwksError::TooLarge { bytes: bytes.len() });
        }
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let doc = json::parse(bytes).map_err(|_| JwksError::NotJson)?;
        if doc.has_repeated_member() {
            return Err(JwksError::DuplicateMember);
        }
        let Json::Object(members) = doc else { return Err(JwksError::NoKeys) };
        match members.into_iter().find(|(k, _)| k == "keys") {
            Some((_, Json::Array(keys))) => Self::from_keys(&keys),
            _ => Err(JwksError::NoKeys),
        }
    }

    /// Read the members of a `keys` array.
    pub fn from_keys(keys: &[Json]) -> Result<Self, JwksError> {
        if keys.len() > MAX_KEYS {
            return Err(JwksError::TooManyKeys { count: keys.len() });
        }
        let mut set = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            if let Some(k) = read_key(key).map_err(|e| e.at(index))? {
                set.push(k);
            }
        }
        if set.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        Ok(KeySet { keys: set })
    }

    /// The keys in canonical form, one entry each (what a remote list stores).
    pub fn entries(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.canonical.clone()).collect()
    }

    /// The keys back from canonical entries; an entry that no longer reads is dropped
    /// (entries were checked when they were fetched).
    pub fn from_entries<'a>(entries: impl Iterator<Item = &'a str>) -> Self {
        let keys = entries
            .filter_map(|e| json::parse(e.as_bytes()).ok())
            .filter_map(|j| read_key(&j).ok().flatten())
            .collect();
        KeySet { keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys a token with this `kid` and `alg` may be verified with (see
    /// [`Selection`]).
    pub fn select(&self, kid: Option<&str>, alg: KeyAlgorithm) -> Selection<'_> {
        let fits = |k: &&PublicKey| alg.fits(&k.material) && k.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) => {
                let named: Vec<&PublicKey> = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).collect();
                if named.is_empty() {
                    return Selection::UnknownKid;
                }
                let usable: Vec<&PublicKey> = named.into_iter().filter(fits).collect();
                if usable.is_empty() {
                    Selection::AlgorithmMismatch
                } else {
                    Selection::Keys(usable)
                }
            }
            None => {
                let usable: Vec<&PublicKey> = self.keys.iter().filter(fits).collect();
                match usable.len() {
                    0 => Selection::AlgorithmMismatch,
                    1 => Selection::Keys(usable),
                    _ => Selection::KidRequired,
                }
            }
        }
    }
}

/// Which keys may verify a token.
#[derive(Debug)]
pub enum Selection<'a> {
    /// Every key with the token's `kid` that fits its `alg` (rotation may publish a kid
    /// twice); without a `kid`, the one key that fits.
    Keys(Vec<&'a PublicKey>),
    /// No key has the token's `kid`: the set may be older than the token's key.
    UnknownKid,
    /// No key of that `kid` (or, without one, no key at all) fits the token's `alg`.
    AlgorithmMismatch,
    /// The token names no `kid` and several keys fit its `alg`: refused rather than tried
    /// in turn, so the key that verified is always the one the signer meant.
    KidRequired,
}

/// A key's fault, before its index is known.
enum KeyFault {
    Invalid(&'static str),
    Weak(&'static str),
}

impl KeyFault {
    fn at(self, index: usize) -> JwksError {
        match self {
            KeyFault::Invalid(why) => JwksError::InvalidKey { index, why },
            KeyFault::Weak(why) => JwksError::WeakKey { index, why },
        }
    }
}

/// One JWK: `Ok(None)` for a key this check does not use (skipped).
fn read_key(jwk: &Json) -> Result<Option<PublicKey>, KeyFault> {
    let Json::Object(members) = jwk else { return Err(KeyFault::Invalid("not an object")) };
    let text = |name: &str| -> Result<Option<&str>, KeyFault> {
        match members.iter().find(|(k, _)| k == name).map(|(_, v)| v) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(KeyFault::Invalid("a member is not a string")),
        }
    };
    let kty = text("kty")?.ok_or(KeyFault::Invalid("no kty"))?;
    if !matches!(kty, "RSA" | "EC" | "OKP") {
        return Ok(None);
    }
    if text("use")?.is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    match members.iter().find(|(k, _)| k == "key_ops").map(|(_, v)| v) {
        None => {}
        Some(Json::Array(ops)) if ops.iter().any(|o| matches!(o, Json::String(s) if s == "verify")) => {}
        Some(Json::Array(_)) => return Ok(None),
        Some(_) => return Err(KeyFault::Invalid("key_ops is not an array")),
    }
    let alg = match text("alg")? {
        None => None,
        Some(name) => match KeyAlgorithm::from_name(name) {
            Some(a) => Some(a),
            None => return Ok(None),
        },
    };
    if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"].iter().any(|m| members.iter().any(|(k, _)| k == m)) {
        return Err(KeyFault::Invalid("holds private key members"));
    }
    let kid = text("kid")?;
    let b64 = |name: &str| -> Result<Vec<u8>, KeyFault> {
        let value = text(name)?.ok_or(KeyFault::Invalid("a key member is missing"))?;
        base64url(value).ok_or(KeyFault::Invalid("a key member is not canonical base64url"))
    };
    let (material, parts): (KeyMaterial, Vec<(&str, &str)>) = match kty {
        "RSA" => {
            let (n, e) = (b64("n")?, b64("e")?);
            (rsa_key(&n, &e)?, vec![("e", text("e")?.unwrap_or_default()), ("n", text("n")?.unwrap_or_default())])
        }
        "EC" => {
            let crv = text("crv")?.ok_or(KeyFault::Invalid("no crv"))?;
            let (x, y) = (b64("x")?, b64("y")?);
            let material = match crv {
                "P-256" => KeyMaterial::P256(
                    ec_point(&x, &y, 32)
                        .and_then(|p| asymmetric::PublicKey::p256(&p).ok())
                        .ok_or(KeyFault::Invalid("not a point on P-256"))?,
                ),
                "P-384" => KeyMaterial::P384(
                    ec_point(&x, &y, 48)
                        .and_then(|p| p384::ecdsa::VerifyingKey::from_sec1_bytes(&p).ok())
                        .ok_or(KeyFault::Invalid("not a point on P-384"))?,
                ),
                _ => return Ok(None),
            };
            (material, vec![("crv", crv), ("x", text("x")?.unwrap_or_default()), ("y", text("y")?.unwrap_or_default())])
        }
        _ => {
            let crv = text("crv")?.ok_or(KeyFault::Invalid("no crv"))?;
            if crv != "Ed25519" {
                return Ok(None);
            }
            let key = asymmetric::PublicKey::ed25519(&b64("x")?).map_err(|why| {
                if why.contains("weak") {
                    KeyFault::Weak("a small-order Ed25519 point")
                } else {
                    KeyFault::Invalid("not an Ed25519 public key")
                }
            })?;
            (KeyMaterial::Ed25519(key), vec![("crv", crv), ("x", text("x")?.unwrap_or_default())])
        }
    };
    if let Some(a) = alg {
        if !a.fits(&material) {
            return Err(KeyFault::Invalid("alg does not fit the key type"));
        }
    }
    let canonical = canonical_jwk(kty, kid, alg, &parts);
    Ok(Some(PublicKey { kid: kid.map(str::to_string), alg, material, canonical }))
}

fn rsa_key(n_bytes: &[u8], e: &[u8]) -> Result<KeyMaterial, KeyFault> {
    let n = rsa::BigUint::from_bytes_be(n_bytes);
    if n.bits() < MIN_RSA_BITS {
        return Err(KeyFault::Weak("an RSA modulus under 2048 bits"));
    }
    // An even modulus is not a product of two odd primes.
    if n_bytes.last().is_none_or(|b| b & 1 == 0) {
        return Err(KeyFault::Invalid("an even RSA modulus"));
    }
    let key = rsa::RsaPublicKey::new(n, rsa::BigUint::from_bytes_be(e))
        .map_err(|_| KeyFault::Weak("an RSA key over 4096 bits or an exponent out of range"))?;
    Ok(KeyMaterial::Rsa(key))
}

/// The uncompressed SEC1 point of `x` and `y`, each exactly `len` bytes (RFC 7518
/// 6.2.1.2: the full coordinate length, leading zeros kept).
fn ec_point(x: &[u8], y: &[u8], len: usize) -> Option<Vec<u8>> {
    (x.len() == len && y.len() == len).then(|| [&[4u8][..], x, y].concat())
}

/// The members that define a key, in a fixed order.
fn canonical_jwk(kty: &str, kid: Option<&str>, alg: Option<KeyAlgorithm>, parts: &[(&str, &str)]) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = format!("{{\"kty\":{}", quote(kty));
    if let Some(kid) = kid {
        out.push_str(&format!(",\"kid\":{}", quote(kid)));
    }
    if let Some(a) = alg {
        out.push_str(&format!(",\"alg\":\"{}\"", a.name()));
    }
    for (name, value) in parts {
        out.push_str(&format!(",\"{name}\":{}", quote(value)));
    }
    out.push('}');
    out
}

/// base64url without padding, canonical trailing bits (RFC 7515 2, RFC 7517 appendix C).
fn base64url(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()
}

#[cfg(test)]
mod tests;
