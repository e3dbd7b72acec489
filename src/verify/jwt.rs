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
mod tests;
