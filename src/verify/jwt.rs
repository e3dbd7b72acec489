//! `jwt`: a bearer token (JWS compact serialization) signed with a shared secret
//! (HS256, HS384, HS512) or with a private key whose public half is in a JWKS (RS256/384/
//! 512, PS256/384/512, ES256, ES384, EdDSA; see [`super::jwk`]).
//!
//! The order of the steps is the security argument:
//! 1. take exactly one token from exactly one header; refuse anything ambiguous;
//! 2. split it into exactly three base64url segments (no padding, canonical bits);
//! 3. read the JOSE header and check `alg` against the configured allow-list, so a
//!    token can never choose `none` or an algorithm the operator did not ask for;
//! 4. compute the HMAC over `<header>.<payload>` with each live secret and compare in
//!    constant time; or, on a route with a JWKS, choose the key by `kid` and verify the
//!    signature with it. A route holds secrets or a JWKS, never both, and its algorithms
//!    are of that one family: a public key can never be used as an HMAC secret;
//! 5. only then read the claims and apply the time, issuer and audience rules.
//!
//! Header selection: with `header: authorization` (the default) or
//! `proxy-authorization`, the value is RFC 9110 credentials and must be
//! `Bearer <token>` (scheme case-insensitive, one or more spaces or tabs). With any
//! other header the value is the token itself; a `Bearer ` prefix is tolerated there
//! too, which is unambiguous because a token never contains a space.

use serde::Deserialize;

use crate::denial::Denial;
use crate::error::{ConfigError, Env};
use crate::json::{self, Json};
use crate::remote_list::{EntryKind, RemoteList, RemoteListConfig};
use crate::request::Headers;
use crate::secret::{self, Secret, SecretSpec};
use crate::verify::jwk::{KeyAlgorithm, KeySet, Selection};
use crate::verify::mac::{self, KeyedMac};

pub mod plaid;
mod token;
use token::{Audience, Claims, JoseHeader};

pub const DEFAULT_HEADER: &str = "authorization";
/// Same default as the common JWT libraries: one minute absorbs ordinary clock skew.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 60;
/// Leeway is for clock skew; an hour or more would hide a broken clock or widen the
/// replay window of a stolen token.
pub const MAX_LEEWAY_SECONDS: u64 = 3600;
/// A webhook sender's HS* token is a few hundred bytes. Anything longer is refused
/// before it is decoded, parsed or MACed, so a huge header costs one linear scan.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Google's OIDC tokens (Pub/Sub push, Cloud Tasks, Cloud Scheduler, Eventarc): the
/// issuers Google's own verifier accepts, and where Google publishes its keys.
const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
const GOOGLE_JWKS: (&str, &str) = ("www.googleapis.com", "/oauth2/v3/certs");

/// Wire form of `checks.jwt`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// `google`: Google-signed OIDC tokens (issuer, algorithm, keys' location and the
    /// `email` rules set by the preset).
    pub preset: Option<String>,
    /// Shared secrets (HS*); or `jwks`.
    pub secrets: Option<Vec<SecretSpec>>,
    /// Public keys (RS*, PS*, ES*, EdDSA); or `secrets`.
    pub jwks: Option<JwksConfig>,
    /// Default `[HS256]` with secrets, `[RS256]` with a JWKS.
    pub algorithms: Option<Vec<String>>,
    /// Default `authorization`.
    pub header: Option<String>,
    pub issuer: Option<String>,
    pub audiences: Option<Vec<String>>,
    /// Default [`DEFAULT_LEEWAY_SECONDS`], at most [`MAX_LEEWAY_SECONDS`].
    pub leeway_seconds: Option<u64>,
    /// Default true.
    pub require_exp: Option<bool>,
    pub max_age_seconds: Option<u64>,
    /// The token's `email` must be one of these, with `email_verified: true`.
    pub emails: Option<Vec<String>>,
    /// The token's `sub` must be one of these.
    pub subjects: Option<Vec<String>>,
}

/// Wire form of `checks.jwt.jwks`: the keys written here, or fetched (exactly one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwksConfig {
    /// The `keys` array of a JWKS document.
    pub keys: Option<Vec<Json>>,
    /// Where the JWKS document is fetched from (SPEC 2.3; `pointer` and `field` do not
    /// apply).
    pub remote: Option<RemoteListConfig>,
}

/// A fetched JWKS is read by [`KeySet::from_document`] when it arrives, and stored as
/// its keys in canonical form.
pub const JWKS: EntryKind = EntryKind::Document {
    read: |body| KeySet::from_document(body).map(|set| set.entries()).map_err(|e| e.to_string()),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Hs384,
    Hs512,
}

impl JwtAlgorithm {
    fn mac_algorithm(self) -> mac::Algorithm {
        match self {
            JwtAlgorithm::Hs256 => mac::Algorithm::Sha256,
            JwtAlgorithm::Hs384 => mac::Algorithm::Sha384,
            JwtAlgorithm::Hs512 => mac::Algorithm::Sha512,
        }
    }

    const ALL: [JwtAlgorithm; 3] = [JwtAlgorithm::Hs256, JwtAlgorithm::Hs384, JwtAlgorithm::Hs512];

    /// The registered JWA name; `alg` values are case-sensitive (RFC 7515 4.1.1).
    pub fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::Hs384 => "HS384",
            JwtAlgorithm::Hs512 => "HS512",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    fn output_len(self) -> usize {
        match self {
            JwtAlgorithm::Hs256 => 32,
            JwtAlgorithm::Hs384 => 48,
            JwtAlgorithm::Hs512 => 64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BearerScheme {
    /// `Authorization`-style credentials: `Bearer <token>` and nothing else.
    Required,
    /// A dedicated header: the bare token, or `Bearer <token>`.
    Optional,
}

/// Where a route's keys come from.
#[derive(Debug)]
enum Keys {
    /// HS*: for each allowed algorithm, one prepared MAC per secret (same order as
    /// `secrets`).
    Secrets { secrets: Vec<Secret>, macs: Vec<(JwtAlgorithm, Vec<KeyedMac>)>, algorithms: Vec<JwtAlgorithm> },
    /// RS*, PS*, ES*, EdDSA with the keys of a JWKS.
    Jwks { source: JwksSource, algorithms: Vec<KeyAlgorithm> },
}

#[derive(Debug)]
enum JwksSource {
    Static(KeySet),
    /// The remote list of this name.
    Remote(String),
}

/// A compiled `checks.jwt`.
#[derive(Debug)]
pub struct JwtCheck {
    keys: Keys,
    header: String,
    bearer: BearerScheme,
    /// Empty: any issuer.
    issuers: Vec<String>,
    audiences: Option<Vec<String>>,
    /// Lower-case; `None`: any (or no) `email`.
    emails: Option<Vec<String>>,
    subjects: Option<Vec<String>>,
    /// The preset's verifier refuses a token without `iat`.
    require_iat: bool,
    leeway_seconds: u64,
    require_exp: bool,
    max_age_seconds: Option<u64>,
}

impl JwtCheck {
    /// `route` names the remote JWKS list (`<route>.jwt`), pushed to `lists`.
    pub fn compile(
        c: &JwtConfig,
        path: &str,
        env: &Env,
        route: &str,
        lists: &mut Vec<(RemoteList, EntryKind)>,
    ) -> Result<Self, ConfigError> {
        let google = match c.preset.as_deref() {
            None => false,
            Some("google") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    format!("{path}.preset"),
                    format!("\"{}\" is not a token preset (known: google)", other.escape_debug()),
                ))
            }
        };
        let header_field = format!("{path}.header");
        let header = c.header.as_deref().unwrap_or(DEFAULT_HEADER);
        let header = crate::error::request_header_name(header, &header_field, "a token")?;
        let bearer = if matches!(header.as_str(), "authorization" | "proxy-authorization") {
            BearerScheme::Required
        } else {
            BearerScheme::Optional
        };

        if c.issuer.as_deref() == Some("") {
            return Err(ConfigError::new(format!("{path}.issuer"), "must not be empty (omit it to accept any issuer)"));
        }
        let audiences = match &c.audiences {
            None => None,
            Some(list) => {
                Some(compile_list(list, &format!("{path}.audiences"), "audience", "accept only tokens without `aud`")?)
            }
        };
        let emails = match &c.emails {
            None => None,
            Some(list) => Some(
                compile_list(list, &format!("{path}.emails"), "email", "accept any email")?
                    .into_iter()
                    .map(|e| e.to_ascii_lowercase())
                    .collect(),
            ),
        };
        let subjects = match &c.subjects {
            None => None,
            Some(list) => Some(compile_list(list, &format!("{path}.subjects"), "subject", "accept any subject")?),
        };

        let leeway_seconds = c.leeway_seconds.unwrap_or(DEFAULT_LEEWAY_SECONDS);
        if leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(ConfigError::new(
                format!("{path}.leeway_seconds"),
                format!("must be at most {MAX_LEEWAY_SECONDS} (leeway absorbs clock skew, it is not a token lifetime)"),
            ));
        }
        if c.max_age_seconds == Some(0) {
            return Err(ConfigError::new(format!("{path}.max_age_seconds"), "must be greater than 0"));
        }

        let mut issuers: Vec<String> = c.issuer.iter().cloned().collect();
        if google {
            // What Google's own verifier (google-auth) demands of these tokens.
            let needs = [
                ("issuer", c.issuer.is_some(), "is set by the preset (accounts.google.com, with or without https://)"),
                ("secrets", c.secrets.is_some(), "cannot be used: Google signs with its own keys (set jwks.remote)"),
                (
                    "audiences",
                    c.audiences.is_none(),
                    "is required: the audience the sender was told to put in its tokens",
                ),
                ("emails", c.emails.is_none(), "is required: the service accounts allowed to send"),
                ("jwks", c.jwks.is_none(), "is required: { remote: { cluster: <a cluster to www.googleapis.com> } }"),
                ("require_exp", c.require_exp == Some(false), "cannot be false: Google's tokens always expire"),
            ];
            if let Some((field, _, why)) = needs.iter().find(|(_, bad, _)| *bad) {
                return Err(ConfigError::new(format!("{path}.{field}"), *why));
            }
            issuers = GOOGLE_ISSUERS.iter().map(|s| s.to_string()).collect();
        }

        let keys = match (&c.secrets, &c.jwks) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    format!("{path}.jwks"),
                    "cannot be used with secrets: a route verifies HS* tokens with secrets or public-key tokens with a JWKS, never both",
                ))
            }
            (None, None) => return Err(ConfigError::new(format!("{path}.secrets"), "set secrets (HS*) or jwks (public keys)")),
            (Some(specs), None) => {
                let algorithms = compile_algorithms::<JwtAlgorithm>(c.algorithms.as_deref(), &format!("{path}.algorithms"))?;
                let secrets = secret::resolve_all(specs, &format!("{path}.secrets"), env)?;
                let macs = algorithms
                    .iter()
                    .map(|a| (*a, secrets.iter().map(|s| KeyedMac::new(a.mac_algorithm(), s.key.expose())).collect()))
                    .collect();
                Keys::Secrets { secrets, macs, algorithms }
            }
            (None, Some(jwks)) => {
                let algorithms = compile_algorithms::<KeyAlgorithm>(c.algorithms.as_deref(), &format!("{path}.algorithms"))?;
                let jp = format!("{path}.jwks");
                let source = match (&jwks.keys, &jwks.remote) {
                    (Some(keys), None) => JwksSource::Static(
                        KeySet::from_keys(keys).map_err(|e| ConfigError::new(format!("{jp}.keys"), e.to_string()))?,
                    ),
                    (None, Some(remote)) => {
                        let rp = format!("{jp}.remote");
                        for (field, set) in [("pointer", remote.pointer.is_some()), ("field", remote.field.is_some())] {
                            if set {
                                return Err(ConfigError::new(
                                    format!("{rp}.{field}"),
                                    "does not apply to a JWKS (its keys are read from `keys`)",
                                ));
                            }
                        }
                        let name = format!("{route}.jwt");
                        let known = if google { Some(GOOGLE_JWKS) } else { None };
                        lists.push((RemoteList::compile_for(remote, &rp, env, &name, known)?, JWKS));
                        JwksSource::Remote(name)
                    }
                    _ => return Err(ConfigError::new(jp, "set exactly one of keys (written here) and remote (fetched)")),
                };
                Keys::Jwks { source, algorithms }
            }
        };
        Ok(JwtCheck {
            keys,
            header,
            bearer,
            issuers,
            audiences,
            emails,
            subjects,
            require_iat: google,
            leeway_seconds,
            require_exp: c.require_exp.unwrap_or(true),
            max_age_seconds: c.max_age_seconds,
        })
    }

    fn secrets(&self) -> &[Secret] {
        match &self.keys {
            Keys::Secrets { secrets, .. } => secrets,
            Keys::Jwks { .. } => &[],
        }
    }

    pub fn secret_ids(&self) -> impl Iterator<Item = &str> {
        self.secrets().iter().map(|s| s.id.as_str())
    }

    /// `(id, not_after)` of each secret that has a `not_after`.
    pub fn secret_expiries(&self) -> impl Iterator<Item = (&str, u64)> {
        self.secrets().iter().filter_map(|s| s.not_after.map(|t| (s.id.as_str(), t)))
    }

    /// The remote list holding this route's JWKS, if it is fetched.
    pub fn remote_list(&self) -> Option<&str> {
        match &self.keys {
            Keys::Jwks { source: JwksSource::Remote(name), .. } => Some(name),
            _ => None,
        }
    }

    /// Verify the token. `fetched`: the keys of the remote JWKS, for a route that has
    /// one. On success, the id of the secret whose HMAC matched (`None` with a JWKS).
    pub fn verify(&self, headers: &Headers, now: u64, fetched: Option<&KeySet>) -> Result<Option<&str>, Denial> {
        let token = self.token(headers)?;
        let mut segments = token.split(|&b| b == b'.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (segments.next(), segments.next(), segments.next(), segments.next())
        else {
            return Err(Denial::TokenMalformed);
        };

        // The three segments decoded into one buffer, one after the other. A segment
        // that does not decode is refused where it is needed, as if decoded there: the
        // header first, then the allow-list, then the payload and the signature.
        let mut decoded = Vec::with_capacity(
            base64::decoded_len_estimate(header_b64.len())
                + base64::decoded_len_estimate(payload_b64.len())
                + base64::decoded_len_estimate(signature_b64.len()),
        );
        base64url_decode_into(header_b64, &mut decoded)?;
        let header_end = decoded.len();
        let rest_decoded = base64url_decode_into(payload_b64, &mut decoded)
            .map(|()| decoded.len())
            .and_then(|payload_end| base64url_decode_into(signature_b64, &mut decoded).map(|()| payload_end));
        let (header_json, rest) = decoded.split_at_checked(header_end).ok_or(Denial::TokenMalformed)?;
        let header = JoseHeader::read(header_json)?;
        // The allow-list decides before anything else: `none`, and any algorithm of the
        // other family (HS* on a JWKS route, RS*/ES* on a secrets route), is not in it.
        let allowed = match &self.keys {
            Keys::Secrets { algorithms, .. } => {
                JwtAlgorithm::from_name(&header.alg).is_some_and(|a| algorithms.contains(&a))
            }
            Keys::Jwks { algorithms, .. } => {
                KeyAlgorithm::from_name(&header.alg).is_some_and(|a| algorithms.contains(&a))
            }
        };
        if !allowed {
            return Err(Denial::TokenAlgorithmNotAllowed);
        }
        if header.crit {
            // RFC 7515 4.1.11: a recipient that does not implement every listed
            // extension must reject the token; this check implements none.
            return Err(Denial::TokenMalformed);
        }
        if let Some(typ) = &header.typ {
            // RFC 7515 4.1.9: "application/" may be omitted from a media type.
            let typ = typ.strip_prefix("application/").unwrap_or(typ);
            if !typ.eq_ignore_ascii_case("jwt") {
                return Err(Denial::TokenMalformed);
            }
        }

        // An empty payload is how JWS marks detached content (RFC 7515 appendix F); a
        // JWT always carries its claims, so refuse it here rather than verify it.
        if payload_b64.is_empty() {
            return Err(Denial::TokenMalformed);
        }
        let payload_end = rest_decoded?;
        let (payload_json, signature) =
            rest.split_at_checked(payload_end - header_end).ok_or(Denial::TokenMalformed)?;
        let signing_input = token.get(..header_b64.len() + 1 + payload_b64.len()).ok_or(Denial::TokenMalformed)?;
        let secret_id = match &self.keys {
            Keys::Secrets { secrets, macs, .. } => {
                let algorithm = JwtAlgorithm::from_name(&header.alg).ok_or(Denial::TokenAlgorithmNotAllowed)?;
                // A signature of another length cannot be this algorithm's MAC; lengths
                // are public, so checking first leaks nothing.
                if signature.len() != algorithm.output_len() {
                    return Err(Denial::TokenMalformed);
                }
                let keys = macs.iter().find(|(a, _)| *a == algorithm).map(|(_, k)| k.as_slice()).unwrap_or_default();
                let (secret, _) = secrets
                    .iter()
                    .zip(keys)
                    .filter(|(s, _)| s.is_live(now))
                    .find(|(_, key)| bool::from(key.tag(&[signing_input]).matches(signature)))
                    .ok_or(Denial::TokenSignatureMismatch)?;
                Some(secret.id.as_str())
            }
            Keys::Jwks { source, .. } => {
                let algorithm = KeyAlgorithm::from_name(&header.alg).ok_or(Denial::TokenAlgorithmNotAllowed)?;
                let set = match source {
                    JwksSource::Static(set) => set,
                    JwksSource::Remote(_) => fetched.ok_or(Denial::ListUnavailable)?,
                };
                let candidates = match set.select(header.kid.as_deref(), algorithm) {
                    Selection::Keys(keys) => keys,
                    Selection::UnknownKid => return Err(Denial::TokenKeyUnknown),
                    Selection::AlgorithmMismatch => return Err(Denial::TokenKeyAlgorithmMismatch),
                    Selection::KidRequired => return Err(Denial::TokenKidMissing),
                };
                if !candidates.iter().any(|k| k.verify(algorithm, signing_input, signature)) {
                    return Err(Denial::TokenSignatureMismatch);
                }
                None
            }
        };

        let claims = Claims::read(payload_json)?;
        self.check_claims(&claims, now)?;
        Ok(secret_id)
    }

    fn token<'a>(&self, headers: &'a Headers) -> Result<&'a [u8], Denial> {
        let value = headers.get_one(&self.header).map_err(|_| Denial::TokenRepeated)?.ok_or(Denial::TokenMissing)?;
        let value = trim_ows(value);
        let token = match split_scheme(value) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case(b"bearer") => rest,
            _ if self.bearer == BearerScheme::Optional => value,
            _ => return Err(Denial::TokenMalformed),
        };
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(Denial::TokenMalformed);
        }
        Ok(token)
    }

    /// RFC 7519 4.1: dates are NumericDate (integer or fractional seconds), compared
    /// exactly (see [`Date`]). i128 holds every sum of the u64 inputs, and dates are
    /// clamped to ±10^30, far beyond those sums, so clamping changes no comparison.
    fn check_claims(&self, c: &Claims, now: u64) -> Result<(), Denial> {
        let now = i128::from(now);
        let leeway = i128::from(self.leeway_seconds);
        match c.exp {
            None if self.require_exp => return Err(Denial::TokenExpMissing),
            Some(exp) if now - leeway > exp.floor => return Err(Denial::TokenExpired),
            _ => {}
        }
        if let Some(nbf) = c.nbf {
            if now + leeway < nbf.ceil {
                return Err(Denial::TokenNotYetValid);
            }
        }
        if self.require_iat && c.iat.is_none() {
            return Err(Denial::TokenIatMissing);
        }
        if let Some(iat) = c.iat.filter(|_| self.require_iat) {
            if now + leeway < iat.ceil {
                return Err(Denial::TokenNotYetValid);
            }
        }
        if let Some(max_age) = self.max_age_seconds {
            let iat = c.iat.ok_or(Denial::TokenIatMissing)?;
            if now + leeway < iat.ceil {
                return Err(Denial::TokenNotYetValid);
            }
            if now - i128::from(max_age) - leeway > iat.floor {
                return Err(Denial::TokenTooOld);
            }
        }
        if !self.issuers.is_empty() && !c.iss.as_deref().is_some_and(|iss| self.issuers.iter().any(|i| i == iss)) {
            return Err(Denial::TokenIssuerMismatch);
        }
        self.check_audience(c.aud.as_ref())?;
        if let Some(subjects) = &self.subjects {
            if !c.sub.as_deref().is_some_and(|sub| subjects.iter().any(|s| s == sub)) {
                return Err(Denial::TokenSubjectMismatch);
            }
        }
        if let Some(emails) = &self.emails {
            // Addresses are compared without regard to ASCII case, as the providers that
            // issue these tokens write them in lower case.
            if !c.email.as_ref().is_some_and(|e| emails.contains(&e.to_ascii_lowercase())) {
                return Err(Denial::TokenEmailMismatch);
            }
            // An address the issuer has not verified proves nothing about the sender.
            if c.email_verified != Some(true) {
                return Err(Denial::TokenEmailUnverified);
            }
        }
        Ok(())
    }

    /// RFC 7519 4.1.3: when `aud` is present the recipient must find itself in it, so a
    /// token that names an audience is refused by a check that names none.
    fn check_audience(&self, aud: Option<&Audience>) -> Result<(), Denial> {
        let presented: &[String] = aud.map(|a| a.0.as_slice()).unwrap_or_default();
        match (&self.audiences, aud) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(Denial::TokenAudienceMismatch),
            (Some(accepted), _) => {
                if presented.iter().any(|p| accepted.contains(p)) {
                    Ok(())
                } else {
                    Err(Denial::TokenAudienceMismatch)
                }
            }
        }
    }
}

/// One family of algorithms a route may list: its names, its default, and why a name
/// of the other family is refused.
trait Family: Copy + PartialEq + 'static {
    const ALL: &'static [Self];
    const DEFAULT: Self;
    const SUPPORTED: &'static str;
    fn name(self) -> &'static str;
    /// The refusal of a name of the other family; `None` for any other name.
    fn other_family(name: &str) -> Option<String>;
}

impl Family for JwtAlgorithm {
    const ALL: &'static [Self] = &JwtAlgorithm::ALL;
    const DEFAULT: Self = JwtAlgorithm::Hs256;
    const SUPPORTED: &'static str = "with secrets, only HS256, HS384 and HS512 are supported";
    fn name(self) -> &'static str {
        JwtAlgorithm::name(self)
    }
    fn other_family(name: &str) -> Option<String> {
        KeyAlgorithm::from_name(name).map(|_| {
            format!("\"{name}\" is refused: {} (a public-key algorithm needs jwks, not secrets)", Self::SUPPORTED)
        })
    }
}

impl Family for KeyAlgorithm {
    const ALL: &'static [Self] = &KeyAlgorithm::ALL;
    const DEFAULT: Self = KeyAlgorithm::Rs256;
    const SUPPORTED: &'static str =
        "with a JWKS, only RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 and EdDSA are supported";
    fn name(self) -> &'static str {
        KeyAlgorithm::name(self)
    }
    fn other_family(name: &str) -> Option<String> {
        JwtAlgorithm::from_name(name).map(|_| {
            format!(
                "\"{name}\" is refused: {} (an HMAC algorithm with public keys would let anyone who has them sign)",
                Self::SUPPORTED
            )
        })
    }
}

/// The allow-list of one family of algorithms.
fn compile_algorithms<A: Family>(names: Option<&[String]>, path: &str) -> Result<Vec<A>, ConfigError> {
    let supported = A::SUPPORTED;
    let Some(names) = names else {
        return Ok(vec![A::DEFAULT]);
    };
    if names.is_empty() {
        return Err(ConfigError::new(path, format!("must list at least one algorithm: {supported}")));
    }
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let algorithm = match A::ALL.iter().copied().find(|a| a.name() == name) {
            Some(a) => a,
            None if name.eq_ignore_ascii_case("none") => {
                return Err(ConfigError::new(
                    p,
                    format!("\"{name}\" is refused: an unsigned token proves nothing; {supported}"),
                ))
            }
            None => {
                if let Some(why) = A::other_family(name) {
                    return Err(ConfigError::new(p, why));
                }
                let hint = match A::ALL.iter().find(|a| a.name().eq_ignore_ascii_case(name)) {
                    Some(a) => format!(" (algorithm names are case-sensitive: write {})", a.name()),
                    None => String::new(),
                };
                return Err(ConfigError::new(p, format!("\"{name}\" is not supported: {supported}{hint}")));
            }
        };
        if out.contains(&algorithm) {
            return Err(ConfigError::new(p, format!("\"{name}\" is listed twice")));
        }
        out.push(algorithm);
    }
    Ok(out)
}

/// A non-empty list of distinct, non-empty strings; `omit`: what leaving it out means.
fn compile_list(list: &[String], path: &str, what: &str, omit: &str) -> Result<Vec<String>, ConfigError> {
    if list.is_empty() {
        return Err(ConfigError::new(path, format!("must list at least one {what} (omit it to {omit})")));
    }
    for (i, a) in list.iter().enumerate() {
        if a.is_empty() {
            return Err(ConfigError::new(format!("{path}[{i}]"), "must not be empty"));
        }
        if list.get(..i).is_some_and(|before| before.contains(a)) {
            return Err(ConfigError::new(format!("{path}[{i}]"), format!("\"{a}\" is listed twice")));
        }
    }
    Ok(list.to_vec())
}

/// base64url without padding (RFC 7515 2). The engine also refuses non-zero trailing
/// bits, so each token has one encoding and a signature cannot be re-spelled.
/// Decode one base64url segment (no padding, canonical bits), appended to `out`.
fn base64url_decode_into(segment: &[u8], out: &mut Vec<u8>) -> Result<(), Denial> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode_vec(segment, out).map_err(|_| Denial::TokenMalformed)
}

fn is_ows(b: &u8) -> bool {
    matches!(b, b' ' | b'\t')
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    v.get(start..end).unwrap_or_default()
}

/// `<scheme> 1*(SP/HTAB) <rest>`; `None` when the value holds no whitespace.
fn split_scheme(v: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = v.iter().position(is_ows)?;
    let (scheme, rest) = v.split_at(i);
    Some((scheme, trim_ows(rest)))
}

/// A token signed with `key` under `alg`: `header` and `claims` are the JSON texts of
/// the JOSE header and the claims, encoded as given (so tests can also mint tokens a
/// careful signer never would). The MAC is the one `verify` checks.
pub fn mint(alg: JwtAlgorithm, header: &str, claims: &str, key: &[u8]) -> String {
    use base64::Engine;
    let b64u = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let input = format!("{}.{}", b64u(header.as_bytes()), b64u(claims.as_bytes()));
    let sig = mac::compute(alg.mac_algorithm(), key, &[input.as_bytes()]);
    format!("{input}.{}", b64u(&sig))
}

#[cfg(test)]
mod tests;
