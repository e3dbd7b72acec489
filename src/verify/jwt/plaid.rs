//! `checks.plaid`: Plaid's webhook verification, as Plaid's page and its verification
//! example do it (<https://plaid.com/docs/api/webhooks/webhook-verification/>).
//!
//! `Plaid-Verification` holds an ES256 JWT. Its `kid` names a key that Plaid's API gives
//! out one at a time (`POST /webhook_verification_key/get` with the client id, the
//! secret and the key id); a key whose `expired_at` is set is refused. The claims carry
//! `iat`, at most 5 minutes old, and `request_body_sha256`, the lower-case hex SHA-256 of
//! the exact body, compared as a string in constant time.
//!
//! This module is the pure part: the token read, the key request built, Plaid's answer
//! read into a key, and the token verified with it over the body.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::token::{Claims, JoseHeader};
use super::{base64url_decode_into, MAX_TOKEN_BYTES};
use crate::denial::Denial;
use crate::error::{ConfigError, Env};
use crate::json::{self, Json};
use crate::request::RequestHead;
use crate::secret::{self, SecretBytes, SecretSpec};
use crate::verify::encoding::hex_encode;
use crate::verify::jwk::{KeyAlgorithm, KeySet, PublicKey, Selection};
use crate::verify::signature::presets::CLOCK_SKEW_SECONDS;

pub const HEADER: &str = "plaid-verification";
/// Plaid's rule: a token issued more than 5 minutes ago is refused.
pub const MAX_AGE_SECONDS: u64 = 300;
pub const DEFAULT_AUTHORITY: &str = "production.plaid.com";
pub const KEY_PATH: &str = "/webhook_verification_key/get";
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Plaid's answer is a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// Plaid's key ids are UUIDs; a longer `kid`, or one with other characters, is not
/// Plaid's and is never sent to its API.
const MAX_KID_BYTES: usize = 64;

/// Wire form of `checks.plaid`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaidConfig {
    pub client_id: SecretSpec,
    pub secret: SecretSpec,
    pub keys: KeysConfig,
}

/// Wire form of `checks.plaid.keys`: where Plaid's key endpoint is reached.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    pub cluster: String,
    /// `production.plaid.com` (default) or `sandbox.plaid.com`.
    pub authority: Option<String>,
    pub timeout_ms: Option<u64>,
}

/// A compiled `checks.plaid`. The client id and secret are sent to Plaid only, in the
/// body of the key request; `Debug` never prints them.
#[derive(Debug, Clone)]
pub struct PlaidCheck {
    client_id: SecretBytes,
    secret: SecretBytes,
    pub cluster: String,
    pub authority: String,
    pub timeout_ms: u64,
}

/// A token from `Plaid-Verification`, split and its header read; not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub kid: String,
    input: &'a [u8],
    signature: Vec<u8>,
    claims: Vec<u8>,
}

/// One key from Plaid's key endpoint.
#[derive(Debug, Clone)]
pub struct PlaidKey {
    key: PublicKey,
    /// Set once Plaid has rotated the key out.
    pub expired_at: Option<u64>,
}

/// Why an answer of the key endpoint gives no key. Never carries answer text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAnswerError {
    TooLarge,
    NotJson,
    /// No single `key` object, or a member read twice.
    NoKey,
    /// The key's `kid` is not the one asked for.
    OtherKid,
    /// Not an EC P-256 key for ES256, or malformed.
    Unusable,
    /// `expired_at` is neither null nor a whole number of seconds.
    BadExpiry,
}

impl std::fmt::Display for KeyAnswerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyAnswerError::TooLarge => "the answer is over 16 KiB",
            KeyAnswerError::NotJson => "the answer is not JSON",
            KeyAnswerError::NoKey => "the answer holds no single key object",
            KeyAnswerError::OtherKid => "the answer's key has another kid than the one asked for",
            KeyAnswerError::Unusable => "the answer's key is not a well-formed EC P-256 key for ES256",
            KeyAnswerError::BadExpiry => "the answer's expired_at is not null or a number of seconds",
        })
    }
}

impl PlaidCheck {
    pub fn compile(c: &PlaidConfig, path: &str, env: &Env) -> Result<Self, ConfigError> {
        let one = |spec: &SecretSpec, field: &str| -> Result<SecretBytes, ConfigError> {
            let p = format!("{path}.{field}");
            let mut all = secret::resolve_all(std::slice::from_ref(spec), &p, env)
                .map_err(|e| ConfigError::new(e.path.replacen(&format!("{p}[0]"), &p, 1), e.message))?;
            match all.pop() {
                Some(s) if s.not_after.is_none() => Ok(s.key),
                Some(_) => Err(ConfigError::new(format!("{p}.not_after"), "Plaid's credentials have no expiry here")),
                None => Err(ConfigError::new(p, "missing")),
            }
        };
        let client_id = one(&c.client_id, "client_id")?;
        let secret = one(&c.secret, "secret")?;
        let kp = format!("{path}.keys");
        let cluster = &c.keys.cluster;
        if cluster.is_empty() || cluster.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            return Err(ConfigError::new(format!("{kp}.cluster"), "must name an Envoy cluster (no spaces)"));
        }
        let authority = c.keys.authority.clone().unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
        if authority.is_empty()
            || authority.chars().any(|ch| ch.is_whitespace() || ch.is_control() || matches!(ch, '/' | '?' | '#' | '@'))
        {
            return Err(ConfigError::new(
                format!("{kp}.authority"),
                format!("\"{}\" is not a host name (such as production.plaid.com)", authority.escape_debug()),
            ));
        }
        let timeout_ms = c.keys.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if !(100..=60_000).contains(&timeout_ms) {
            return Err(ConfigError::new(format!("{kp}.timeout_ms"), "must be between 100 and 60000"));
        }
        Ok(PlaidCheck { client_id, secret, cluster: cluster.clone(), authority, timeout_ms })
    }

    /// The token of the request: one `Plaid-Verification` header, three segments, a
    /// JOSE header with `alg` exactly `ES256` and a `kid` fit to send to Plaid.
    pub fn read<'a>(&self, head: &'a RequestHead) -> Result<Token<'a>, Denial> {
        let token = head.headers.get_one(HEADER).map_err(|_| Denial::TokenRepeated)?.ok_or(Denial::TokenMissing)?;
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(Denial::TokenMalformed);
        }
        let mut segments = token.split(|&b| b == b'.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
            (segments.next(), segments.next(), segments.next(), segments.next())
        else {
            return Err(Denial::TokenMalformed);
        };
        let decode = |segment: &[u8]| -> Result<Vec<u8>, Denial> {
            let mut out = Vec::new();
            base64url_decode_into(segment, &mut out)?;
            Ok(out)
        };
        let header_json = decode(header_b64)?;
        let header = JoseHeader::read(&header_json)?;
        // Plaid's first step: "Ensure that the value of the alg field is ES256".
        if header.alg != KeyAlgorithm::Es256.name() {
            return Err(Denial::TokenAlgorithmNotAllowed);
        }
        if header.crit {
            return Err(Denial::TokenMalformed);
        }
        let kid = header.kid.ok_or(Denial::TokenKidMissing)?.into_owned();
        if kid.is_empty()
            || kid.len() > MAX_KID_BYTES
            || !kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Denial::TokenMalformed);
        }
        if claims_b64.is_empty() {
            return Err(Denial::TokenMalformed);
        }
        let claims = decode(claims_b64)?;
        let signature = decode(signature_b64)?;
        let input = token.get(..header_b64.len() + 1 + claims_b64.len()).ok_or(Denial::TokenMalformed)?;
        Ok(Token { kid, input, signature, claims })
    }

    /// The client id, for naming the shared record of a key (digested there).
    pub(crate) fn client_id(&self) -> &[u8] {
        self.client_id.expose()
    }

    /// The JSON body of the key request for `kid`. It holds the client id and the
    /// secret: sent to Plaid's endpoint only, never logged.
    pub fn key_request_body(&self, kid: &str) -> Vec<u8> {
        let text = |b: &[u8]| serde_json::to_string(&String::from_utf8_lossy(b)).unwrap_or_default();
        format!(
            "{{\"client_id\":{},\"secret\":{},\"key_id\":{}}}",
            text(self.client_id.expose()),
            text(self.secret.expose()),
            text(kid.as_bytes())
        )
        .into_bytes()
    }

    /// Verify a token read by [`Self::read`] with the key Plaid gave for its `kid`, then
    /// its claims against the body and `now`.
    pub fn verify(&self, t: &Token<'_>, key: &PlaidKey, body: &[u8], now: u64) -> Result<(), Denial> {
        // Plaid's example: "Reject expired keys" (any key with expired_at set).
        if key.expired_at.is_some() {
            return Err(Denial::KeyExpired);
        }
        if !key.key.verify(KeyAlgorithm::Es256, t.input, &t.signature) {
            return Err(Denial::TokenSignatureMismatch);
        }
        // The registered claims as the jwt check reads them (each at most once), then
        // Plaid's own claim, a string written once.
        let iat = Claims::read(&t.claims)?.iat.ok_or(Denial::TokenIatMissing)?;
        let Ok(Json::Object(members)) = json::parse(&t.claims) else { return Err(Denial::TokenMalformed) };
        let mut hashes = members.iter().filter(|(k, _)| k == "request_body_sha256").map(|(_, v)| v);
        let hash = match (hashes.next(), hashes.next()) {
            (Some(Json::String(h)), None) => Some(h.clone()),
            (None, _) => None,
            _ => return Err(Denial::TokenMalformed),
        };
        let now = i128::from(now);
        if iat.floor < now - i128::from(MAX_AGE_SECONDS) {
            return Err(Denial::TokenTooOld);
        }
        if iat.ceil > now + i128::from(CLOCK_SKEW_SECONDS) {
            return Err(Denial::TokenNotYetValid);
        }
        let hash = hash.ok_or(Denial::TokenMalformed)?;
        let ours = hex_encode(&Sha256::digest(body));
        if !bool::from(ours.as_bytes().ct_eq(hash.as_bytes())) {
            return Err(Denial::BodyHashMismatch);
        }
        Ok(())
    }
}

/// Read an answer of `/webhook_verification_key/get` for `kid`: `{"key": {...JWK,
/// "expired_at": null | seconds}, ...}`.
pub fn read_key_answer(bytes: &[u8], kid: &str) -> Result<PlaidKey, KeyAnswerError> {
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(KeyAnswerError::TooLarge);
    }
    let doc = json::parse(bytes).map_err(|_| KeyAnswerError::NotJson)?;
    if doc.has_repeated_member() {
        return Err(KeyAnswerError::NoKey);
    }
    let Json::Object(members) = doc else { return Err(KeyAnswerError::NoKey) };
    let Some((_, ref jwk @ Json::Object(ref fields))) = members.into_iter().find(|(k, _)| k == "key") else {
        return Err(KeyAnswerError::NoKey);
    };
    let expired_at = match fields.iter().find(|(k, _)| k == "expired_at").map(|(_, v)| v) {
        None | Some(Json::Null) => None,
        Some(Json::Number(json::Number::U64(t))) => Some(*t),
        Some(_) => return Err(KeyAnswerError::BadExpiry),
    };
    let set = KeySet::from_keys(std::slice::from_ref(jwk)).map_err(|_| KeyAnswerError::Unusable)?;
    let key = match set.select(Some(kid), KeyAlgorithm::Es256) {
        Selection::Keys(keys) => keys.first().map(|k| (*k).clone()).ok_or(KeyAnswerError::Unusable)?,
        Selection::UnknownKid => return Err(KeyAnswerError::OtherKid),
        _ => return Err(KeyAnswerError::Unusable),
    };
    Ok(PlaidKey { key, expired_at })
}

#[cfg(test)]
mod tests;
