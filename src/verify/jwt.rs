//! `jwt`: a bearer token (JWS compact serialization) signed with a shared secret,
//! HS256, HS384 or HS512.
//!
//! The order of the steps is the security argument:
//! 1. take exactly one token from exactly one header; refuse anything ambiguous;
//! 2. split it into exactly three base64url segments (no padding, canonical bits);
//! 3. read the JOSE header and check `alg` against the configured allow-list, so a
//!    token can never choose `none` or an algorithm the operator did not ask for;
//! 4. compute the HMAC over `<header>.<payload>` with each live secret and compare in
//!    constant time;
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
use crate::request::Headers;
use crate::secret::{self, Secret, SecretSpec};
use crate::verify::mac::{self, KeyedMac};

pub const DEFAULT_HEADER: &str = "authorization";
/// Same default as the common JWT libraries: one minute absorbs ordinary clock skew.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 60;
/// Leeway is for clock skew; an hour or more would hide a broken clock or widen the
/// replay window of a stolen token.
pub const MAX_LEEWAY_SECONDS: u64 = 3600;
/// A webhook sender's HS* token is a few hundred bytes. Anything longer is refused
/// before it is decoded, parsed or MACed, so a huge header costs one linear scan.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Wire form of `checks.jwt`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub secrets: Vec<SecretSpec>,
    /// Default `[HS256]`.
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
}

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

/// A compiled `checks.jwt`.
#[derive(Debug)]
pub struct JwtCheck {
    secrets: Vec<Secret>,
    /// For each allowed algorithm, one prepared MAC per secret (same order as `secrets`).
    keys: Vec<(JwtAlgorithm, Vec<KeyedMac>)>,
    algorithms: Vec<JwtAlgorithm>,
    header: String,
    bearer: BearerScheme,
    issuer: Option<String>,
    audiences: Option<Vec<String>>,
    leeway_seconds: u64,
    require_exp: bool,
    max_age_seconds: Option<u64>,
}

/// The JOSE header members this check acts on; any other member is ignored, and may
/// repeat. A member it acts on is refused when written twice, so
/// `{"alg":"HS256","alg":"none"}` cannot be read two ways.
struct JoseHeader {
    alg: String,
    typ: Option<String>,
    /// Present at all, even as `null`.
    crit: bool,
}

impl JoseHeader {
    fn read(json: &[u8]) -> Result<Self, Denial> {
        let (mut alg, mut typ, mut crit) = (None, None, None);
        for (name, value, _) in read_object(json)? {
            match name.as_str() {
                "alg" => once(&mut alg, string(value)?)?,
                "typ" => once(&mut typ, string(value)?)?,
                "crit" => once(&mut crit, ())?,
                _ => {}
            }
        }
        Ok(JoseHeader { alg: alg.ok_or(Denial::TokenMalformed)?, typ, crit: crit.is_some() })
    }
}

/// The registered claims this check acts on, each refused when written twice. A present
/// claim of the wrong type (e.g. `"exp": "123"` or `"exp": null`) is malformed, not
/// "missing".
struct Claims {
    exp: Option<Date>,
    nbf: Option<Date>,
    iat: Option<Date>,
    iss: Option<String>,
    aud: Option<Audience>,
}

impl Claims {
    fn read(json: &[u8]) -> Result<Self, Denial> {
        let mut c = Claims { exp: None, nbf: None, iat: None, iss: None, aud: None };
        for (name, value, text) in read_object(json)? {
            match name.as_str() {
                "exp" => once(&mut c.exp, Date::read(&value, text)?)?,
                "nbf" => once(&mut c.nbf, Date::read(&value, text)?)?,
                "iat" => once(&mut c.iat, Date::read(&value, text)?)?,
                "iss" => once(&mut c.iss, string(value)?)?,
                "aud" => once(&mut c.aud, Audience::read(value)?)?,
                _ => {}
            }
        }
        Ok(c)
    }
}

/// A member's name, its value, and the text of the value.
type Member<'a> = (String, Json, &'a [u8]);

/// Read a JOSE header or the claims: one JSON object, as serde_json reads it. Each
/// member comes in the order written, repeated names kept, with its value and the text
/// of that value (a date is read from the number as written).
fn read_object(json: &[u8]) -> Result<Vec<Member<'_>>, Denial> {
    let Ok(Json::Object(members)) = json::parse(json) else {
        return Err(Denial::TokenMalformed);
    };
    let texts = member_texts(json);
    if texts.len() != members.len() {
        return Err(Denial::TokenMalformed);
    }
    Ok(members.into_iter().zip(texts).map(|((name, value), text)| (name, value, text)).collect())
}

/// The text of each member's value in `json`, an object serde_json has read (so valid
/// JSON), in document order.
fn member_texts(json: &[u8]) -> Vec<&[u8]> {
    let mut texts = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    // Where the value being read at depth 1 starts, and whether a `:` awaits one.
    let (mut start, mut awaiting) = (None, false);
    for (i, &b) in json.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        if awaiting && !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            start = Some(i);
            awaiting = false;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b':' if depth == 1 => awaiting = true,
            // A value at depth 1 ends at the next `,` there, or at the object's `}`.
            b',' | b'}' | b']' => {
                if b != b',' {
                    depth = depth.saturating_sub(1);
                }
                if (b == b',' && depth == 1) || depth == 0 {
                    if let Some(s) = start.take() {
                        texts.push(json.get(s..i).unwrap_or_default().trim_ascii_end());
                    }
                }
            }
            _ => {}
        }
    }
    texts
}

fn once<T>(slot: &mut Option<T>, value: T) -> Result<(), Denial> {
    match slot.replace(value) {
        Some(_) => Err(Denial::TokenMalformed),
        None => Ok(()),
    }
}

/// A member that must hold a string (`null` is not "absent").
fn string(value: Json) -> Result<String, Denial> {
    match value {
        Json::String(s) => Ok(s),
        _ => Err(Denial::TokenMalformed),
    }
}

/// `aud`: one string or an array of strings (RFC 7519 4.1.3).
struct Audience(Vec<String>);

impl Audience {
    fn read(value: Json) -> Result<Self, Denial> {
        match value {
            Json::String(s) => Ok(Audience(vec![s])),
            Json::Array(items) => items.into_iter().map(string).collect::<Result<_, _>>().map(Audience),
            _ => Err(Denial::TokenMalformed),
        }
    }
}

/// A NumericDate (RFC 7519 2: integer or fractional seconds) as the integers at or
/// below and at or above it. Every rule compares a date with integer seconds, and for
/// an integer `t`, `t > date` exactly when `t > floor` and `t < date` exactly when
/// `t < ceil`: exact for every date, with no floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Date {
    floor: i128,
    ceil: i128,
}

impl Date {
    /// Taken from the number as written (serde_json rounds it to an f64).
    fn read(value: &Json, text: &[u8]) -> Result<Self, Denial> {
        match value {
            Json::Number(_) => std::str::from_utf8(text).ok().and_then(Date::from_number).ok_or(Denial::TokenMalformed),
            _ => Err(Denial::TokenMalformed),
        }
    }

    /// The bounds of a JSON number (`None` for another value, or for a number beyond an
    /// f64, which serde_json refuses when it reads one), clamped to ±10^30.
    fn from_number(text: &str) -> Option<Date> {
        const LIMIT: i128 = 1_000_000_000_000_000_000_000_000_000_000;
        if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            return None;
        }
        let negative = text.starts_with('-');
        let unsigned = text.trim_start_matches('-');
        let (mantissa, exponent) = unsigned.split_once(['e', 'E']).unwrap_or((unsigned, ""));
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let exp_negative = exponent.starts_with('-');
        let exp = exponent
            .trim_start_matches(['+', '-'])
            .bytes()
            .fold(0i64, |e, d| e.saturating_mul(10).saturating_add(i64::from(d.wrapping_sub(b'0'))));
        let exp = if exp_negative { -exp } else { exp };
        // Significant digits without leading zeros, and how many stand before the point.
        let digits: Vec<u8> =
            int.bytes().chain(frac.bytes()).map(|d| d.wrapping_sub(b'0')).skip_while(|&d| d == 0).collect();
        let zeros = int.len() + frac.len() - digits.len();
        let point = (int.len() as i64).saturating_add(exp).saturating_sub(zeros as i64);
        if digits.is_empty() {
            return Some(Date { floor: 0, ceil: 0 });
        }
        if beyond_f64(&digits, point) {
            return None;
        }
        let (whole, fraction) = if point > 30 {
            (LIMIT, false)
        } else {
            let whole_digits = usize::try_from(point).unwrap_or(0);
            let mut whole: i128 = 0;
            for i in 0..whole_digits {
                whole = whole * 10 + i128::from(digits.get(i).copied().unwrap_or(0));
            }
            (whole, digits.iter().skip(whole_digits).any(|&d| d != 0))
        };
        let up = whole + i128::from(fraction);
        Some(if negative { Date { floor: -up, ceil: -whole } } else { Date { floor: whole, ceil: up } })
    }
}

/// Whether the number `0.d₁d₂d₃…` × 10^`point` (`digits`: its significant digits, the
/// first not zero) rounds to infinity as an f64, as `str::parse::<f64>` reads it: at or
/// above 2^1024 - 2^970, halfway between `f64::MAX` and 2^1024 (the tie rounds to the
/// even 2^1024). Decided on the digits, so the plugin carries no float parser.
fn beyond_f64(digits: &[u8], point: i64) -> bool {
    const HALFWAY: &[u8; 309] =
        b"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";
    match point.cmp(&309) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => {
            for (i, &h) in HALFWAY.iter().enumerate() {
                let d = digits.get(i).copied().unwrap_or(0);
                let h = h - b'0';
                if d != h {
                    return d > h;
                }
            }
            true
        }
    }
}

impl JwtCheck {
    pub fn compile(c: &JwtConfig, path: &str, env: &Env) -> Result<Self, ConfigError> {
        let algorithms = compile_algorithms(c.algorithms.as_deref(), &format!("{path}.algorithms"))?;

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
            Some(list) => Some(compile_audiences(list, &format!("{path}.audiences"))?),
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

        let secrets = secret::resolve_all(&c.secrets, &format!("{path}.secrets"), env)?;
        let keys = algorithms
            .iter()
            .map(|a| (*a, secrets.iter().map(|s| KeyedMac::new(a.mac_algorithm(), s.key.expose())).collect()))
            .collect();
        Ok(JwtCheck {
            keys,
            secrets,
            algorithms,
            header,
            bearer,
            issuer: c.issuer.clone(),
            audiences,
            leeway_seconds,
            require_exp: c.require_exp.unwrap_or(true),
            max_age_seconds: c.max_age_seconds,
        })
    }

    pub fn secret_ids(&self) -> impl Iterator<Item = &str> {
        self.secrets.iter().map(|s| s.id.as_str())
    }

    /// `(id, not_after)` of each secret that has a `not_after`.
    pub fn secret_expiries(&self) -> impl Iterator<Item = (&str, u64)> {
        self.secrets.iter().filter_map(|s| s.not_after.map(|t| (s.id.as_str(), t)))
    }

    /// Verify the token. On success, the id of the secret whose HMAC matched.
    pub fn verify(&self, headers: &Headers, now: u64) -> Result<&str, Denial> {
        let token = self.token(headers)?;
        let mut segments = token.split(|&b| b == b'.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (segments.next(), segments.next(), segments.next(), segments.next())
        else {
            return Err(Denial::TokenMalformed);
        };

        let header = JoseHeader::read(&base64url_decode(header_b64)?)?;
        let algorithm = JwtAlgorithm::from_name(&header.alg)
            .filter(|a| self.algorithms.contains(a))
            .ok_or(Denial::TokenAlgorithmNotAllowed)?;
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
        // JWT always carries its claims, so refuse it here rather than MAC it.
        if payload_b64.is_empty() {
            return Err(Denial::TokenMalformed);
        }
        let payload_json = base64url_decode(payload_b64)?;
        let signature = base64url_decode(signature_b64)?;
        // A signature of another length cannot be this algorithm's MAC; lengths are
        // public, so checking first leaks nothing.
        if signature.len() != algorithm.output_len() {
            return Err(Denial::TokenMalformed);
        }
        let signing_input = token.get(..header_b64.len() + 1 + payload_b64.len()).ok_or(Denial::TokenMalformed)?;
        let keys = self.keys.iter().find(|(a, _)| *a == algorithm).map(|(_, k)| k.as_slice()).unwrap_or_default();
        let (secret, _) = self
            .secrets
            .iter()
            .zip(keys)
            .filter(|(s, _)| s.is_live(now))
            .find(|(_, key)| bool::from(key.tag(&[signing_input]).matches(&signature)))
            .ok_or(Denial::TokenSignatureMismatch)?;

        let claims = Claims::read(&payload_json)?;
        self.check_claims(&claims, now)?;
        Ok(&secret.id)
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
        if let Some(max_age) = self.max_age_seconds {
            let iat = c.iat.ok_or(Denial::TokenIatMissing)?;
            if now + leeway < iat.ceil {
                return Err(Denial::TokenNotYetValid);
            }
            if now - i128::from(max_age) - leeway > iat.floor {
                return Err(Denial::TokenTooOld);
            }
        }
        if let Some(issuer) = &self.issuer {
            if c.iss.as_deref() != Some(issuer.as_str()) {
                return Err(Denial::TokenIssuerMismatch);
            }
        }
        self.check_audience(c.aud.as_ref())
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

fn compile_algorithms(names: Option<&[String]>, path: &str) -> Result<Vec<JwtAlgorithm>, ConfigError> {
    let Some(names) = names else {
        return Ok(vec![JwtAlgorithm::Hs256]);
    };
    if names.is_empty() {
        return Err(ConfigError::new(path, "must list at least one of HS256, HS384, HS512"));
    }
    const SUPPORTED: &str = "only HS256, HS384 and HS512 are supported";
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let algorithm = match JwtAlgorithm::from_name(name) {
            Some(a) => a,
            None if name.eq_ignore_ascii_case("none") => {
                return Err(ConfigError::new(
                    p,
                    format!("\"{name}\" is refused: an unsigned token proves nothing; {SUPPORTED}"),
                ))
            }
            None if ["RS", "PS", "ES", "ED"]
                .iter()
                .any(|pre| name.get(..2).is_some_and(|h| h.eq_ignore_ascii_case(pre))) =>
            {
                return Err(ConfigError::new(
                    p,
                    format!("\"{name}\" is refused: {SUPPORTED} (this check holds shared secrets, not public keys)"),
                ))
            }
            None => {
                let hint = match JwtAlgorithm::ALL.into_iter().find(|a| a.name().eq_ignore_ascii_case(name)) {
                    Some(a) => format!(" (algorithm names are case-sensitive: write {})", a.name()),
                    None => String::new(),
                };
                return Err(ConfigError::new(p, format!("\"{name}\" is not supported: {SUPPORTED}{hint}")));
            }
        };
        if out.contains(&algorithm) {
            return Err(ConfigError::new(p, format!("\"{name}\" is listed twice")));
        }
        out.push(algorithm);
    }
    Ok(out)
}

fn compile_audiences(list: &[String], path: &str) -> Result<Vec<String>, ConfigError> {
    if list.is_empty() {
        return Err(ConfigError::new(
            path,
            "must list at least one audience (omit it to accept only tokens without `aud`)",
        ));
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
fn base64url_decode(segment: &[u8]) -> Result<Vec<u8>, Denial> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).map_err(|_| Denial::TokenMalformed)
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
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &str = "jwt-test-secret";
    const NOW: u64 = 1_700_000_000;

    fn env(name: &str) -> Option<String> {
        (name == "JWT_SECRET").then(|| SECRET.to_string())
    }

    fn compile(json: &str) -> Result<JwtCheck, ConfigError> {
        let c: JwtConfig = crate::wire::read_str(json).unwrap();
        JwtCheck::compile(&c, "jwt", &env)
    }

    fn check(json: &str) -> JwtCheck {
        compile(json).unwrap()
    }

    /// The check most tests use: HS256, default leeway (60), exp required.
    fn default_check() -> JwtCheck {
        check(r#"{"secrets":[{"id":"current","env":"JWT_SECRET"}]}"#)
    }

    fn b64u(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token with the given JOSE header and claims, signed with `key` under `alg`.
    fn sign(alg: JwtAlgorithm, header: &str, claims: &str, key: &[u8]) -> String {
        mint(alg, header, claims, key)
    }

    fn hs256(claims: &str) -> String {
        sign(JwtAlgorithm::Hs256, r#"{"alg":"HS256","typ":"JWT"}"#, claims, SECRET.as_bytes())
    }

    fn headers(pairs: &[(&str, &[u8])]) -> Headers {
        Headers::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect())
    }

    fn bearer(token: &str) -> Headers {
        headers(&[("Authorization", format!("Bearer {token}").as_bytes())])
    }

    // RFC 7515 appendix A.1: the published HS256 example. The key is given there as a
    // JWK "k" (base64url of raw bytes that are not UTF-8), so the HMAC itself is
    // checked first, then the whole token with that key put into a compiled check.
    const RFC7515_A1_HEADER: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
    const RFC7515_A1_PAYLOAD: &str =
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const RFC7515_A1_SIGNATURE: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC7515_A1_KEY: &str =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    const RFC7515_A1_EXP: u64 = 1_300_819_380;

    #[test]
    fn rfc7515_a1_hmac_known_answer() {
        let key = base64url_decode(RFC7515_A1_KEY.as_bytes()).unwrap();
        let input = format!("{RFC7515_A1_HEADER}.{RFC7515_A1_PAYLOAD}");
        let expected = base64url_decode(RFC7515_A1_SIGNATURE.as_bytes()).unwrap();
        assert_eq!(mac::compute(JwtAlgorithm::Hs256.mac_algorithm(), &key, &[input.as_bytes()]), expected);
    }

    #[test]
    fn mint_reproduces_rfc7515_a1() {
        let key = base64url_decode(RFC7515_A1_KEY.as_bytes()).unwrap();
        let header = String::from_utf8(base64url_decode(RFC7515_A1_HEADER.as_bytes()).unwrap()).unwrap();
        let claims = String::from_utf8(base64url_decode(RFC7515_A1_PAYLOAD.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            mint(JwtAlgorithm::Hs256, &header, &claims, &key),
            format!("{RFC7515_A1_HEADER}.{RFC7515_A1_PAYLOAD}.{RFC7515_A1_SIGNATURE}")
        );
    }

    #[test]
    fn rfc7515_a1_token_verifies_end_to_end() {
        let mut c = check(r#"{"secrets":[{"id":"rfc","value":"placeholder"}],"issuer":"joe"}"#);
        // The RFC's key is binary (a JWK "k"); configured secrets are text, so the test
        // puts the prepared MAC in place directly.
        let key = base64url_decode(RFC7515_A1_KEY.as_bytes()).unwrap();
        c.keys = vec![(JwtAlgorithm::Hs256, vec![KeyedMac::new(mac::Algorithm::Sha256, &key)])];
        let token = format!("{RFC7515_A1_HEADER}.{RFC7515_A1_PAYLOAD}.{RFC7515_A1_SIGNATURE}");
        let h = bearer(&token);
        assert_eq!(c.verify(&h, RFC7515_A1_EXP - 1000), Ok("rfc"));
        assert_eq!(c.verify(&h, RFC7515_A1_EXP + 60), Ok("rfc"));
        assert_eq!(c.verify(&h, RFC7515_A1_EXP + 61), Err(Denial::TokenExpired));
    }

    // Computed independently with Python's hmac module (secret "jwt-test-secret").
    #[test]
    fn hs384_and_hs512_known_answers() {
        let c = check(
            r#"{"secrets":[{"env":"JWT_SECRET"}],"algorithms":["HS384","HS512"],
                "issuer":"flatfile","audiences":["webhooks"],"max_age_seconds":300}"#,
        );
        let hs384 = "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJmbGF0ZmlsZSIsImF1ZCI6IndlYmhvb2tzIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDAzMDB9.Vjf81_zDKby7noVVnQEdEABXtq2Exp8lywWnIOv3iZeE4UIOjjvNe0IB7VCx7M9Y";
        let hs512 = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJmbGF0ZmlsZSIsImF1ZCI6IndlYmhvb2tzIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDAzMDB9.J2PRlr4dwtF4k3XcMi73HEvpD-8WjH46ueZdHMyiUbN3kICRxZEWj6mShy-sXH2ZZ2hFScNfO5laOCK8Z28cOQ";
        assert_eq!(c.verify(&bearer(hs384), NOW + 10), Ok("0"));
        assert_eq!(c.verify(&bearer(hs512), NOW + 10), Ok("0"));
        // The same tokens when only HS256 is allowed.
        let only256 = default_check();
        assert_eq!(only256.verify(&bearer(hs384), NOW), Err(Denial::TokenAlgorithmNotAllowed));
    }

    #[test]
    fn valid_token_passes_and_names_the_secret() {
        let c = default_check();
        let t = hs256(&format!(r#"{{"exp":{}}}"#, NOW + 300));
        assert_eq!(c.verify(&bearer(&t), NOW), Ok("current"));
        assert_eq!(c.header, "authorization");
        assert_eq!(c.secret_ids().collect::<Vec<_>>(), ["current"]);
    }

    #[test]
    fn tampered_header_payload_signature_are_refused() {
        let c = default_check();
        let good = hs256(&format!(r#"{{"exp":{},"sub":"a"}}"#, NOW + 300));
        let parts: Vec<&str> = good.split('.').collect();
        let (h, p, s) = (parts[0], parts[1], parts[2]);
        assert_eq!(c.verify(&bearer(&good), NOW), Ok("current"));

        let other_header = b64u(br#"{"alg":"HS256","typ":"JWT","kid":"x"}"#);
        assert_eq!(c.verify(&bearer(&format!("{other_header}.{p}.{s}")), NOW), Err(Denial::TokenSignatureMismatch));

        let other_payload = b64u(format!(r#"{{"exp":{},"sub":"b"}}"#, NOW + 300).as_bytes());
        assert_eq!(c.verify(&bearer(&format!("{h}.{other_payload}.{s}")), NOW), Err(Denial::TokenSignatureMismatch));

        // Flip the first character: always a valid base64url spelling of another MAC.
        let flipped = if s.starts_with('A') { s.replacen('A', "B", 1) } else { format!("A{}", &s[1..]) };
        assert_eq!(c.verify(&bearer(&format!("{h}.{p}.{flipped}")), NOW), Err(Denial::TokenSignatureMismatch));

        // Signed with another secret.
        let foreign = sign(JwtAlgorithm::Hs256, r#"{"alg":"HS256"}"#, &format!(r#"{{"exp":{}}}"#, NOW + 300), b"other");
        assert_eq!(c.verify(&bearer(&foreign), NOW), Err(Denial::TokenSignatureMismatch));
    }

    #[test]
    fn alg_none_and_unlisted_algorithms_are_refused_before_the_signature() {
        let c = default_check();
        let claims = b64u(format!(r#"{{"exp":{}}}"#, NOW + 300).as_bytes());
        for header in [r#"{"alg":"none"}"#, r#"{"alg":"None"}"#, r#"{"alg":"NONE","typ":"JWT"}"#] {
            let unsigned = format!("{}.{claims}.", b64u(header.as_bytes()));
            assert_eq!(c.verify(&bearer(&unsigned), NOW), Err(Denial::TokenAlgorithmNotAllowed), "{header}");
        }
        // A genuine HS512 signature with the right secret: still not allowed.
        let hs512 =
            sign(JwtAlgorithm::Hs512, r#"{"alg":"HS512"}"#, &format!(r#"{{"exp":{}}}"#, NOW + 300), SECRET.as_bytes());
        assert_eq!(c.verify(&bearer(&hs512), NOW), Err(Denial::TokenAlgorithmNotAllowed));
        // The header says HS512 over an HS256 MAC.
        let good = hs256(&format!(r#"{{"exp":{}}}"#, NOW + 300));
        let switched = format!("{}.{}", b64u(br#"{"alg":"HS512","typ":"JWT"}"#), good.split_once('.').unwrap().1);
        assert_eq!(c.verify(&bearer(&switched), NOW), Err(Denial::TokenAlgorithmNotAllowed));
        for alg in ["RS256", "ES256", "PS256", "EdDSA", "hs256", ""] {
            let t =
                sign(JwtAlgorithm::Hs256, &format!(r#"{{"alg":"{alg}"}}"#), r#"{"exp":9999999999}"#, SECRET.as_bytes());
            assert_eq!(c.verify(&bearer(&t), NOW), Err(Denial::TokenAlgorithmNotAllowed), "{alg}");
        }
        // When HS512 is allowed, an HS256-length signature under an HS512 header is no MAC.
        let both = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"algorithms":["HS256","HS512"]}"#);
        assert_eq!(both.verify(&bearer(&switched), NOW), Err(Denial::TokenMalformed));
        assert_eq!(both.verify(&bearer(&hs512), NOW), Ok("0"));
    }

    #[test]
    fn exp_rules_at_the_leeway_boundary() {
        let c = default_check();
        let exp = NOW;
        let t = bearer(&hs256(&format!(r#"{{"exp":{exp}}}"#)));
        assert_eq!(c.verify(&t, exp + 60), Ok("current"));
        assert_eq!(c.verify(&t, exp + 61), Err(Denial::TokenExpired));
        // Fractional NumericDate (RFC 7519 2).
        let frac = bearer(&hs256(&format!(r#"{{"exp":{exp}.5}}"#)));
        assert_eq!(c.verify(&frac, exp + 60), Ok("current"));
        assert_eq!(c.verify(&frac, exp + 61), Err(Denial::TokenExpired));
        let missing = bearer(&hs256(r#"{"sub":"x"}"#));
        assert_eq!(c.verify(&missing, NOW), Err(Denial::TokenExpMissing));
        let optional = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"require_exp":false}"#);
        assert_eq!(optional.verify(&missing, NOW), Ok("0"));
        // Not required, but when present it still applies.
        assert_eq!(optional.verify(&t, exp + 61), Err(Denial::TokenExpired));
        let strict = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"leeway_seconds":0}"#);
        assert_eq!(strict.verify(&t, exp), Ok("0"));
        assert_eq!(strict.verify(&t, exp + 1), Err(Denial::TokenExpired));
    }

    #[test]
    fn nbf_rule_at_the_leeway_boundary() {
        let c = default_check();
        let nbf = NOW;
        let t = bearer(&hs256(&format!(r#"{{"exp":{},"nbf":{nbf}}}"#, NOW + 1000)));
        assert_eq!(c.verify(&t, nbf - 60), Ok("current"));
        assert_eq!(c.verify(&t, nbf - 61), Err(Denial::TokenNotYetValid));
        // A fractional nbf is not reached until the next whole second; any spelling of
        // a number is a date.
        let frac = bearer(&hs256(&format!(r#"{{"exp":{},"nbf":{}.25}}"#, NOW + 1000, nbf - 1)));
        assert_eq!(c.verify(&frac, nbf - 60), Ok("current"));
        assert_eq!(c.verify(&frac, nbf - 61), Err(Denial::TokenNotYetValid));
        let exponent = bearer(&hs256(&format!(r#"{{"exp":{}e0,"nbf":{}E-1}}"#, NOW + 1000, nbf * 10)));
        assert_eq!(c.verify(&exponent, nbf - 60), Ok("current"));
        assert_eq!(c.verify(&exponent, nbf - 61), Err(Denial::TokenNotYetValid));
    }

    #[test]
    fn iat_and_max_age_at_the_leeway_boundary() {
        let c = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"max_age_seconds":300,"require_exp":false}"#);
        let iat = NOW;
        let t = bearer(&hs256(&format!(r#"{{"iat":{iat}}}"#)));
        assert_eq!(c.verify(&t, iat + 300 + 60), Ok("0"));
        assert_eq!(c.verify(&t, iat + 300 + 61), Err(Denial::TokenTooOld));
        // Issued in the future beyond the leeway.
        assert_eq!(c.verify(&t, iat - 60), Ok("0"));
        assert_eq!(c.verify(&t, iat - 61), Err(Denial::TokenNotYetValid));
        let frac = bearer(&hs256(&format!(r#"{{"iat":{iat}.999}}"#)));
        assert_eq!(c.verify(&frac, iat + 300 + 60), Ok("0"));
        assert_eq!(c.verify(&frac, iat + 300 + 61), Err(Denial::TokenTooOld));
        assert_eq!(c.verify(&frac, iat - 59), Ok("0"));
        assert_eq!(c.verify(&frac, iat - 60), Err(Denial::TokenNotYetValid));
        let no_iat = bearer(&hs256(&format!(r#"{{"exp":{}}}"#, NOW + 10)));
        assert_eq!(c.verify(&no_iat, NOW), Err(Denial::TokenIatMissing));
        // Without max_age, iat is informational.
        assert_eq!(default_check().verify(&t, iat - 10_000), Err(Denial::TokenExpMissing));
        let d = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"require_exp":false}"#);
        assert_eq!(d.verify(&t, iat + 1_000_000), Ok("0"));
        assert_eq!(d.verify(&t, iat - 1_000), Ok("0"));
    }

    #[test]
    fn issuer_must_equal() {
        let c = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"issuer":"flatfile"}"#);
        let with = |iss: &str| bearer(&hs256(&format!(r#"{{"exp":{},{iss}}}"#, NOW + 10)));
        assert_eq!(c.verify(&with(r#""iss":"flatfile""#), NOW), Ok("0"));
        assert_eq!(c.verify(&with(r#""iss":"Flatfile""#), NOW), Err(Denial::TokenIssuerMismatch));
        assert_eq!(c.verify(&with(r#""sub":"flatfile""#), NOW), Err(Denial::TokenIssuerMismatch));
        assert_eq!(c.verify(&with(r#""iss":["flatfile"]"#), NOW), Err(Denial::TokenMalformed));
        // Not configured: any issuer.
        assert_eq!(default_check().verify(&with(r#""iss":"anyone""#), NOW), Ok("current"));
    }

    #[test]
    fn audience_must_intersect() {
        let c = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"audiences":["webhooks","hooks"]}"#);
        let with = |aud: &str| bearer(&hs256(&format!(r#"{{"exp":{},{aud}}}"#, NOW + 10)));
        assert_eq!(c.verify(&with(r#""aud":"webhooks""#), NOW), Ok("0"));
        assert_eq!(c.verify(&with(r#""aud":["api","hooks"]"#), NOW), Ok("0"));
        assert_eq!(c.verify(&with(r#""aud":"api""#), NOW), Err(Denial::TokenAudienceMismatch));
        assert_eq!(c.verify(&with(r#""aud":["api"]"#), NOW), Err(Denial::TokenAudienceMismatch));
        assert_eq!(c.verify(&with(r#""aud":[]"#), NOW), Err(Denial::TokenAudienceMismatch));
        assert_eq!(c.verify(&with(r#""sub":"webhooks""#), NOW), Err(Denial::TokenAudienceMismatch));
        assert_eq!(c.verify(&with(r#""aud":["webhooks",1]"#), NOW), Err(Denial::TokenMalformed));
        assert_eq!(c.verify(&with(r#""aud":7"#), NOW), Err(Denial::TokenMalformed));
        // No audiences configured: a token addressed to someone is not for us.
        let d = default_check();
        assert_eq!(d.verify(&with(r#""aud":"webhooks""#), NOW), Err(Denial::TokenAudienceMismatch));
        assert_eq!(d.verify(&with(r#""sub":"x""#), NOW), Ok("current"));
    }

    #[test]
    fn bearer_scheme_parsing() {
        let c = default_check();
        let t = hs256(&format!(r#"{{"exp":{}}}"#, NOW + 10));
        for value in [
            format!("Bearer {t}"),
            format!("bearer {t}"),
            format!("BEARER {t}"),
            format!("Bearer    {t}"),
            format!("Bearer\t{t}"),
            format!("  Bearer {t}  "),
        ] {
            assert_eq!(c.verify(&headers(&[("authorization", value.as_bytes())]), NOW), Ok("current"), "{value:?}");
        }
        for value in [
            t.clone(),
            "Bearer".to_string(),
            "Bearer ".to_string(),
            format!("Basic {t}"),
            format!("Bearer{t}"),
            format!("Bearer {t} extra"),
            format!("Bearer {t}."),
            String::new(),
        ] {
            assert_eq!(
                c.verify(&headers(&[("authorization", value.as_bytes())]), NOW),
                Err(Denial::TokenMalformed),
                "{value:?}"
            );
        }
        assert_eq!(c.verify(&headers(&[]), NOW), Err(Denial::TokenMissing));
        assert_eq!(c.verify(&headers(&[("x-token", t.as_bytes())]), NOW), Err(Denial::TokenMissing));
        let two = format!("Bearer {t}");
        assert_eq!(
            c.verify(&headers(&[("Authorization", two.as_bytes()), ("authorization", two.as_bytes())]), NOW),
            Err(Denial::TokenRepeated)
        );
    }

    #[test]
    fn custom_header_takes_the_bare_token_or_bearer() {
        let c = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"header":"X-Webhook-Token"}"#);
        assert_eq!(c.header, "x-webhook-token");
        let t = hs256(&format!(r#"{{"exp":{}}}"#, NOW + 10));
        assert_eq!(c.verify(&headers(&[("X-Webhook-Token", t.as_bytes())]), NOW), Ok("0"));
        let with_scheme = format!("bearer {t}");
        assert_eq!(c.verify(&headers(&[("x-webhook-token", with_scheme.as_bytes())]), NOW), Ok("0"));
        let other_scheme = format!("Token {t}");
        assert_eq!(
            c.verify(&headers(&[("x-webhook-token", other_scheme.as_bytes())]), NOW),
            Err(Denial::TokenMalformed)
        );
        // The Authorization header is not looked at.
        assert_eq!(c.verify(&bearer(&t), NOW), Err(Denial::TokenMissing));
        let proxy = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"header":"proxy-authorization"}"#);
        assert_eq!(proxy.verify(&headers(&[("proxy-authorization", t.as_bytes())]), NOW), Err(Denial::TokenMalformed));
    }

    #[test]
    fn rotation_and_not_after() {
        let c = check(
            r#"{"secrets":[{"id":"current","env":"JWT_SECRET"},
                {"id":"previous","value":"old-secret","not_after":"2027-01-31T00:00:00Z"}]}"#,
        );
        let cutoff = 1_801_353_600;
        let claims = format!(r#"{{"exp":{}}}"#, cutoff + 100);
        let old = bearer(&sign(JwtAlgorithm::Hs256, r#"{"alg":"HS256"}"#, &claims, b"old-secret"));
        let new = bearer(&sign(JwtAlgorithm::Hs256, r#"{"alg":"HS256"}"#, &claims, SECRET.as_bytes()));
        assert_eq!(c.verify(&new, cutoff), Ok("current"));
        assert_eq!(c.verify(&old, cutoff), Ok("previous"));
        assert_eq!(c.verify(&old, cutoff + 1), Err(Denial::TokenSignatureMismatch));
        assert_eq!(c.secret_ids().collect::<Vec<_>>(), ["current", "previous"]);
    }

    #[test]
    fn segments_must_be_strict_base64url() {
        let c = default_check();
        let good = hs256(&format!(r#"{{"exp":{}}}"#, NOW + 10));
        let (h, rest) = good.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        let cases = [
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}.{s}"),
            format!("{h}..{s}"),
            format!(".{p}.{s}"),
            format!("{h}.{p}.{s}="),
            format!("{h}=.{p}.{s}"),
            format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/") + "+/"),
            format!("{h}.{p}.{s}!"),
            format!("{h}.{p}.{}", &s[..s.len() - 1]),
            "..".to_string(),
            ".".to_string(),
        ];
        for t in &cases {
            assert_eq!(c.verify(&bearer(t), NOW), Err(Denial::TokenMalformed), "{t}");
        }
        // Non-zero trailing bits: a second spelling of the same MAC is refused.
        let last = s.chars().last().unwrap();
        let respelled = format!("{h}.{p}.{}{}", &s[..s.len() - 1], (last as u8 + 1) as char);
        assert_eq!(c.verify(&bearer(&respelled), NOW), Err(Denial::TokenMalformed));
    }

    #[test]
    fn jose_header_rules() {
        let c = default_check();
        let claims = format!(r#"{{"exp":{}}}"#, NOW + 10);
        let with = |header: &str| bearer(&sign(JwtAlgorithm::Hs256, header, &claims, SECRET.as_bytes()));
        assert_eq!(c.verify(&with(r#"{"alg":"HS256"}"#), NOW), Ok("current"));
        assert_eq!(c.verify(&with(r#"{"alg":"HS256","typ":"jwt"}"#), NOW), Ok("current"));
        assert_eq!(c.verify(&with(r#"{"alg":"HS256","typ":"application/JWT"}"#), NOW), Ok("current"));
        assert_eq!(c.verify(&with(r#"{"alg":"HS256","kid":"k1","x":[1,{"y":null}]}"#), NOW), Ok("current"));
        for header in [
            r#"{"alg":"HS256","typ":"JWS"}"#,
            r#"{"alg":"HS256","typ":"at+jwt"}"#,
            r#"{"alg":"HS256","typ":null}"#,
            r#"{"alg":"HS256","typ":1}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","crit":null}"#,
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":256}"#,
            r#"{"alg":null}"#,
            r#"["HS256"]"#,
            r#""HS256""#,
            r#"{"alg":"HS256"} x"#,
            r#"{"alg":"HS256""#,
            "",
        ] {
            assert_eq!(c.verify(&with(header), NOW), Err(Denial::TokenMalformed), "{header}");
        }
        // A duplicated alg cannot smuggle `none` past a parser that keeps the first.
        assert_eq!(c.verify(&with(r#"{"alg":"HS256","alg":"none"}"#), NOW), Err(Denial::TokenMalformed));
    }

    #[test]
    fn claims_must_be_an_object_with_numeric_dates() {
        let c = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"max_age_seconds":60}"#);
        for claims in [
            r#"{"exp":"9999999999","iat":1700000000}"#,
            r#"{"exp":null,"iat":1700000000}"#,
            r#"{"exp":true,"iat":1700000000}"#,
            r#"{"exp":9999999999,"iat":"1700000000"}"#,
            r#"{"exp":9999999999,"iat":1700000000,"nbf":{}}"#,
            r#"{"exp":1e400,"iat":1700000000}"#,
            r#"{"exp":9999999999,"exp":1,"iat":1700000000}"#,
            r#"[9999999999,0,1700000000]"#,
            r#"{"exp":9999999999,"iat":1700000000"#,
            "null",
            "",
        ] {
            assert_eq!(c.verify(&bearer(&hs256(claims)), NOW), Err(Denial::TokenMalformed), "{claims}");
        }
        assert_eq!(c.verify(&bearer(&hs256(r#"{"exp":9999999999,"iat":1700000000}"#)), NOW), Ok("0"));
        // Negative and huge dates are numbers: they fail the rules, not the parser.
        assert_eq!(c.verify(&bearer(&hs256(r#"{"exp":-1,"iat":1700000000}"#)), NOW), Err(Denial::TokenExpired));
        assert_eq!(c.verify(&bearer(&hs256(r#"{"exp":1e300,"iat":1e300}"#)), NOW), Err(Denial::TokenNotYetValid));
    }

    #[test]
    fn member_texts_are_the_values_as_written() {
        let texts = |json: &str| -> Vec<String> {
            member_texts(json.as_bytes()).iter().map(|t| String::from_utf8_lossy(t).into_owned()).collect()
        };
        assert_eq!(texts("{}"), Vec::<String>::new());
        assert_eq!(texts(" { } "), Vec::<String>::new());
        assert_eq!(texts(r#"{"exp":1.5e3}"#), ["1.5e3"]);
        assert_eq!(
            texts(
                r#" { "a" : { "b" : [1, {"c":"}"}], "d":"x,y" } , "exp" : 17e-1 , "s":"q\"}:,[" ,"n":null,"e":[] } "#
            ),
            [r#"{ "b" : [1, {"c":"}"}], "d":"x,y" }"#, "17e-1", r#""q\"}:,[""#, "null", "[]"]
        );
        assert_eq!(texts("{\"a\\\\\":1,\"b\":\"\\\\\",\"c\":-0}"), ["1", r#""\\""#, "-0"]);
    }

    /// A number the filter takes for a date is exactly one `str::parse::<f64>` reads as
    /// finite.
    #[test]
    fn dates_beyond_an_f64_are_refused_as_the_float_parser_would() {
        let halfway = "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";
        let below = halfway.replace("7792", "7791");
        let mut texts: Vec<String> = [
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623158079e308",
            "1.797693134862315807937289714053034150799341327100378269361737789804449682927647509466490179775872070963302864166928879109465555478519404026306574886715058206819089020007083836762738548458177115317644757302700698555713669596228429148198608349364752927190741684443655107043427115596995080930428801779041744977920000e308",
            "1.79769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791999e308",
            "1.7976931348623159e308",
            "1e308",
            "9.99e308",
            "1e309",
            "0.1e309",
            "0.1e310",
            "0.0001797693134862315808e312",
            "17976931348623158079e289",
            "-1.7976931348623158079e308",
            "-1e309",
            "1e99999999999999999999",
            "1e-99999999999999999999",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        texts.extend([
            halfway.to_string(),
            below.clone(),
            format!("{below}.99999"),
            format!("{halfway}.0"),
            format!("-{halfway}"),
        ]);
        for e in 300..=312 {
            for m in
                ["1", "1.7976931348623158", "1.7976931348623158079372897140530341507993", "17.9", "0.17976931348623159"]
            {
                texts.push(format!("{m}e{e}"));
            }
        }
        for t in &texts {
            let infinite = t.parse::<f64>().unwrap().is_infinite();
            assert_eq!(Date::from_number(t).is_none(), infinite, "{t}");
        }
    }

    #[test]
    fn numeric_dates_are_read_exactly() {
        let d = |t: &str| Date::from_number(t).map(|d| (d.floor, d.ceil));
        let e30 = 10i128.pow(30);
        let table: &[(&str, (i128, i128))] = &[
            ("0", (0, 0)),
            ("-0", (0, 0)),
            ("0.0e5", (0, 0)),
            ("1700000000", (1_700_000_000, 1_700_000_000)),
            ("1700000000.5", (1_700_000_000, 1_700_000_001)),
            // An f64 holds no such number: it would round to 1700000000.
            ("1700000000.0000000001", (1_700_000_000, 1_700_000_001)),
            ("1.7e9", (1_700_000_000, 1_700_000_000)),
            ("17e-1", (1, 2)),
            ("0.001", (0, 1)),
            ("1e-400", (0, 1)),
            ("-1", (-1, -1)),
            ("-1.5", (-2, -1)),
            ("-0.25", (-1, 0)),
            ("123.000", (123, 123)),
            ("1E+2", (100, 100)),
            ("9007199254740993", (9_007_199_254_740_993, 9_007_199_254_740_993)),
            ("1e30", (e30, e30)),
            ("1e300", (e30, e30)),
            ("-1e300", (-e30, -e30)),
        ];
        for (text, want) in table {
            assert_eq!(d(text), Some(*want), "{text}");
        }
        for not_a_date in ["1e400", "-1e400", "\"1\"", "null", "true", "[]", "{}"] {
            assert_eq!(d(not_a_date), None, "{not_a_date}");
        }
        // Through the token: `nbf` a hair after the end of the leeway is not yet valid.
        let c = default_check();
        let nbf = NOW + DEFAULT_LEEWAY_SECONDS;
        let t = bearer(&hs256(&format!(r#"{{"exp":{},"nbf":{nbf}.0000000001}}"#, NOW + 600)));
        assert_eq!(c.verify(&t, NOW), Err(Denial::TokenNotYetValid));
        let t = bearer(&hs256(&format!(r#"{{"exp":{},"nbf":{nbf}}}"#, NOW + 600)));
        assert_eq!(c.verify(&t, NOW), Ok("current"));
    }

    #[test]
    fn every_token_denial_is_reachable() {
        let c = check(
            r#"{"secrets":[{"env":"JWT_SECRET"}],"issuer":"flatfile","audiences":["webhooks"],"max_age_seconds":300}"#,
        );
        let ok = r#""iss":"flatfile","aud":"webhooks""#;
        let at = |claims: String| bearer(&hs256(&claims));
        let table: Vec<(Headers, Denial)> = vec![
            (headers(&[]), Denial::TokenMissing),
            (headers(&[("authorization", b"Bearer a.b.c"), ("authorization", b"Bearer a.b.c")]), Denial::TokenRepeated),
            (bearer("not-a-token"), Denial::TokenMalformed),
            (bearer(&format!("{}.e30.", b64u(br#"{"alg":"none"}"#))), Denial::TokenAlgorithmNotAllowed),
            (bearer(&sign(JwtAlgorithm::Hs256, r#"{"alg":"HS256"}"#, "{}", b"wrong")), Denial::TokenSignatureMismatch),
            (at(format!(r#"{{"exp":{},"iat":{NOW},{ok}}}"#, NOW - 61)), Denial::TokenExpired),
            (at(format!(r#"{{"iat":{NOW},{ok}}}"#)), Denial::TokenExpMissing),
            (at(format!(r#"{{"exp":{},"nbf":{},"iat":{NOW},{ok}}}"#, NOW + 9, NOW + 61)), Denial::TokenNotYetValid),
            (at(format!(r#"{{"exp":{},"iat":{},{ok}}}"#, NOW + 9, NOW - 361)), Denial::TokenTooOld),
            (at(format!(r#"{{"exp":{},{ok}}}"#, NOW + 9)), Denial::TokenIatMissing),
            (
                at(format!(r#"{{"exp":{},"iat":{NOW},"iss":"x","aud":"webhooks"}}"#, NOW + 9)),
                Denial::TokenIssuerMismatch,
            ),
            (
                at(format!(r#"{{"exp":{},"iat":{NOW},"iss":"flatfile","aud":"x"}}"#, NOW + 9)),
                Denial::TokenAudienceMismatch,
            ),
        ];
        for (h, want) in table {
            assert_eq!(c.verify(&h, NOW), Err(want), "{want:?}");
        }
        assert_eq!(c.verify(&at(format!(r#"{{"exp":{},"iat":{NOW},{ok}}}"#, NOW + 9)), NOW), Ok("0"));
    }

    #[test]
    fn hostile_input_never_panics() {
        let c = default_check();
        let huge = "A".repeat(1024 * 1024);
        let dotted = format!("{huge}.{huge}.{huge}");
        let just_over = format!("{}.e30.AA", "A".repeat(MAX_TOKEN_BYTES));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep_claims = hs256(&format!(r#"{{"x":{}}}"#, "[".repeat(200) + &"]".repeat(200)));
        let deep_header = format!("{}.e30.AA", b64u(deep.as_bytes()));
        let values: Vec<Vec<u8>> = vec![
            format!("Bearer {huge}").into_bytes(),
            format!("Bearer {dotted}").into_bytes(),
            format!("Bearer {just_over}").into_bytes(),
            format!("Bearer {deep_header}").into_bytes(),
            format!("Bearer {deep_claims}").into_bytes(),
            b"Bearer \xff\xfe.\x00\x01.\x80".to_vec(),
            b"\xff\xfe\xfd".to_vec(),
            b"Bearer \xc3\xa9.\xc3\xa9.\xc3\xa9".to_vec(),
            b"Bearer\xa0token".to_vec(),
            b"\t \t".to_vec(),
            b"Bearer ...........".to_vec(),
            // Header JSON holding invalid UTF-8 inside a string.
            format!("Bearer {}.e30.AA", b64u(b"{\"alg\":\"\xff\"}")).into_bytes(),
        ];
        for v in &values {
            let r = c.verify(&headers(&[("authorization", v)]), NOW);
            assert!(r.is_err(), "{:?}", String::from_utf8_lossy(&v[..v.len().min(40)]));
        }
        assert_eq!(
            c.verify(&headers(&[("authorization", format!("Bearer {just_over}").as_bytes())]), NOW),
            Err(Denial::TokenMalformed)
        );
        for now in [0, u64::MAX] {
            let t = bearer(&hs256(r#"{"exp":1e300}"#));
            let _ = c.verify(&t, now);
        }
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let c = default_check();
        let printed = format!("{c:?}");
        assert!(!printed.contains(SECRET), "{printed}");
    }

    #[test]
    fn defaults() {
        let c = default_check();
        assert_eq!(c.algorithms, [JwtAlgorithm::Hs256]);
        assert_eq!(c.header, "authorization");
        assert_eq!(c.bearer, BearerScheme::Required);
        assert_eq!(c.leeway_seconds, DEFAULT_LEEWAY_SECONDS);
        assert!(c.require_exp);
        assert_eq!(c.max_age_seconds, None);
        assert_eq!(c.issuer, None);
        assert_eq!(c.audiences, None);
    }

    #[test]
    fn config_errors_name_the_field() {
        let table = [
            (r#"{"secrets":[]}"#, "jwt.secrets: at least one secret is required"),
            (r#"{"secrets":[{"env":"NOPE"}]}"#, "jwt.secrets[0].env: environment variable NOPE is unset"),
            (r#"{"secrets":[{"value":"k"}],"algorithms":[]}"#, "jwt.algorithms: must list at least one of HS256, HS384, HS512"),
            (
                r#"{"secrets":[{"value":"k"}],"algorithms":["HS256","none"]}"#,
                "jwt.algorithms[1]: \"none\" is refused: an unsigned token proves nothing; only HS256, HS384 and HS512 are supported",
            ),
            (
                r#"{"secrets":[{"value":"k"}],"algorithms":["RS256"]}"#,
                "jwt.algorithms[0]: \"RS256\" is refused: only HS256, HS384 and HS512 are supported",
            ),
            (
                r#"{"secrets":[{"value":"k"}],"algorithms":["ES256"]}"#,
                "jwt.algorithms[0]: \"ES256\" is refused: only HS256, HS384 and HS512 are supported",
            ),
            (
                r#"{"secrets":[{"value":"k"}],"algorithms":["EdDSA"]}"#,
                "jwt.algorithms[0]: \"EdDSA\" is refused: only HS256, HS384 and HS512 are supported",
            ),
            (
                r#"{"secrets":[{"value":"k"}],"algorithms":["hs256"]}"#,
                "jwt.algorithms[0]: \"hs256\" is not supported: only HS256, HS384 and HS512 are supported (algorithm names are case-sensitive: write HS256)",
            ),
            (
                r#"{"secrets":[{"value":"k"}],"algorithms":["HS1"]}"#,
                "jwt.algorithms[0]: \"HS1\" is not supported: only HS256, HS384 and HS512 are supported",
            ),
            (
                r#"{"secrets":[{"value":"k"}],"algorithms":["HS256","HS256"]}"#,
                "jwt.algorithms[1]: \"HS256\" is listed twice",
            ),
            (r#"{"secrets":[{"value":"k"}],"header":"bad header"}"#, "jwt.header: \"bad header\" is not a header name"),
            (r#"{"secrets":[{"value":"k"}],"header":""}"#, "jwt.header: \"\" is not a header name"),
            (r#"{"secrets":[{"value":"k"}],"header":":authority"}"#, "jwt.header: \":authority\" is not a header name"),
            (r#"{"secrets":[{"value":"k"}],"header":"Host"}"#, "jwt.header: \"Host\" cannot carry a token"),
            (r#"{"secrets":[{"value":"k"}],"issuer":""}"#, "jwt.issuer: must not be empty"),
            (r#"{"secrets":[{"value":"k"}],"audiences":[]}"#, "jwt.audiences: must list at least one audience"),
            (r#"{"secrets":[{"value":"k"}],"audiences":["a",""]}"#, "jwt.audiences[1]: must not be empty"),
            (r#"{"secrets":[{"value":"k"}],"audiences":["a","a"]}"#, "jwt.audiences[1]: \"a\" is listed twice"),
            (r#"{"secrets":[{"value":"k"}],"leeway_seconds":3601}"#, "jwt.leeway_seconds: must be at most 3600"),
            (r#"{"secrets":[{"value":"k"}],"max_age_seconds":0}"#, "jwt.max_age_seconds: must be greater than 0"),
        ];
        for (json, want) in table {
            let got = compile(json).unwrap_err().to_string();
            assert!(got.starts_with(want), "{json}\n got {got:?}\nwant {want:?}");
        }
        assert!(compile(r#"{"secrets":[{"value":"k"}],"leeway_seconds":3600}"#).is_ok());
        assert!(crate::wire::read_str::<JwtConfig>(r#"{"secrets":[],"algorithm":"HS256"}"#).is_err());
    }
}
