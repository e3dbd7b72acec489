//! Reading a token's JOSE header and claims: exactly the members the check acts on,
//! each at most once, with dates read exactly (no float parser in the plugin).

use super::*;

/// The JOSE header members this check acts on; any other member is ignored, and may
/// repeat. A member it acts on is refused when written twice, so
/// `{"alg":"HS256","alg":"none"}` cannot be read two ways.
pub(super) struct JoseHeader {
    pub(super) alg: String,
    pub(super) kid: Option<String>,
    pub(super) typ: Option<String>,
    /// Present at all, even as `null`.
    pub(super) crit: bool,
}

impl JoseHeader {
    pub(super) fn read(json: &[u8]) -> Result<Self, Denial> {
        let (mut alg, mut kid, mut typ, mut crit) = (None, None, None, None);
        for (name, value, _) in read_object(json)? {
            match name.as_str() {
                "alg" => once(&mut alg, string(value)?)?,
                "kid" => once(&mut kid, string(value)?)?,
                "typ" => once(&mut typ, string(value)?)?,
                "crit" => once(&mut crit, ())?,
                _ => {}
            }
        }
        Ok(JoseHeader { alg: alg.ok_or(Denial::TokenMalformed)?, kid, typ, crit: crit.is_some() })
    }
}

/// The registered claims this check acts on, each refused when written twice. A present
/// claim of the wrong type (e.g. `"exp": "123"` or `"exp": null`) is malformed, not
/// "missing".
pub(super) struct Claims {
    pub(super) exp: Option<Date>,
    pub(super) nbf: Option<Date>,
    pub(super) iat: Option<Date>,
    pub(super) iss: Option<String>,
    pub(super) aud: Option<Audience>,
    pub(super) sub: Option<String>,
    pub(super) email: Option<String>,
    pub(super) email_verified: Option<bool>,
}

impl Claims {
    pub(super) fn read(json: &[u8]) -> Result<Self, Denial> {
        let mut c = Claims {
            exp: None,
            nbf: None,
            iat: None,
            iss: None,
            aud: None,
            sub: None,
            email: None,
            email_verified: None,
        };
        for (name, value, text) in read_object(json)? {
            match name.as_str() {
                "exp" => once(&mut c.exp, Date::read(&value, text)?)?,
                "nbf" => once(&mut c.nbf, Date::read(&value, text)?)?,
                "iat" => once(&mut c.iat, Date::read(&value, text)?)?,
                "iss" => once(&mut c.iss, string(value)?)?,
                "aud" => once(&mut c.aud, Audience::read(value)?)?,
                "sub" => once(&mut c.sub, string(value)?)?,
                "email" => once(&mut c.email, string(value)?)?,
                // OIDC Core 5.1: a JSON boolean; the string "true" is not one.
                "email_verified" => match value {
                    Json::Bool(b) => once(&mut c.email_verified, b)?,
                    _ => return Err(Denial::TokenMalformed),
                },
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
pub(super) fn read_object(json: &[u8]) -> Result<Vec<Member<'_>>, Denial> {
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
pub(super) fn member_texts(json: &[u8]) -> Vec<&[u8]> {
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

pub(super) fn once<T>(slot: &mut Option<T>, value: T) -> Result<(), Denial> {
    match slot.replace(value) {
        Some(_) => Err(Denial::TokenMalformed),
        None => Ok(()),
    }
}

/// A member that must hold a string (`null` is not "absent").
pub(super) fn string(value: Json) -> Result<String, Denial> {
    match value {
        Json::String(s) => Ok(s),
        _ => Err(Denial::TokenMalformed),
    }
}

/// `aud`: one string or an array of strings (RFC 7519 4.1.3).
pub(super) struct Audience(pub(super) Vec<String>);

impl Audience {
    pub(super) fn read(value: Json) -> Result<Self, Denial> {
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
pub(super) struct Date {
    pub(super) floor: i128,
    pub(super) ceil: i128,
}

impl Date {
    /// Taken from the number as written (serde_json rounds it to an f64).
    pub(super) fn read(value: &Json, text: &[u8]) -> Result<Self, Denial> {
        match value {
            Json::Number(_) => std::str::from_utf8(text).ok().and_then(Date::from_number).ok_or(Denial::TokenMalformed),
            _ => Err(Denial::TokenMalformed),
        }
    }

    /// The bounds of a JSON number (`None` for another value, or for a number beyond an
    /// f64, which serde_json refuses when it reads one), clamped to ±10^30.
    pub(super) fn from_number(text: &str) -> Option<Date> {
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
pub(super) fn beyond_f64(digits: &[u8], point: i64) -> bool {
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
