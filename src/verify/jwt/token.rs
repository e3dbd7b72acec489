//! Reading a token's JOSE header and claims: exactly the members the check acts on,
//! each at most once, with dates read exactly (no float parser in the plugin). One pass
//! of serde_json over the decoded bytes: names and string values are borrowed from them
//! (copied only when written with escapes), so a usual token allocates nothing here.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::*;

/// The JOSE header members this check acts on; any other member is ignored, and may
/// repeat. A member it acts on is refused when written twice, so
/// `{"alg":"HS256","alg":"none"}` cannot be read two ways.
pub(super) struct JoseHeader<'a> {
    pub(super) alg: Cow<'a, str>,
    pub(super) kid: Option<Cow<'a, str>>,
    pub(super) typ: Option<Cow<'a, str>>,
    /// Present at all, even as `null`.
    pub(super) crit: bool,
}

impl<'a> JoseHeader<'a> {
    pub(super) fn read(json: &'a [u8]) -> Result<Self, Denial> {
        read_object(json, HeaderVisitor)
    }
}

/// The registered claims this check acts on, each refused when written twice. A present
/// claim of the wrong type (e.g. `"exp": "123"` or `"exp": null`) is malformed, not
/// "missing".
pub(super) struct Claims<'a> {
    pub(super) exp: Option<Date>,
    pub(super) nbf: Option<Date>,
    pub(super) iat: Option<Date>,
    pub(super) iss: Option<Cow<'a, str>>,
    pub(super) aud: Option<Audience>,
    pub(super) sub: Option<Cow<'a, str>>,
    pub(super) email: Option<Cow<'a, str>>,
    pub(super) email_verified: Option<bool>,
}

impl<'a> Claims<'a> {
    pub(super) fn read(json: &'a [u8]) -> Result<Self, Denial> {
        read_object(json, ClaimsVisitor)
    }
}

/// Read a JOSE header or the claims: one JSON object, exactly as serde_json reads a
/// document (nothing after it but white space). Every member the visitor ignores is
/// still read whole as a [`Json`] tree, so it must be valid by the same rules as the
/// rest of the filter's JSON (no number beyond an f64, ...). Any failure is
/// `TokenMalformed`.
fn read_object<'a, V: Visitor<'a>>(json: &'a [u8], visitor: V) -> Result<V::Value, Denial> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = de.deserialize_map(visitor).map_err(|_| Denial::TokenMalformed)?;
    de.end().map_err(|_| Denial::TokenMalformed)?;
    Ok(value)
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = JoseHeader<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut alg, mut kid, mut typ, mut crit) = (None, None, None, None);
        while let Some(Text(name)) = map.next_key()? {
            match &*name {
                "alg" => once(&mut alg, map.next_value::<Text<'de>>()?.0)?,
                "kid" => once(&mut kid, map.next_value::<Text<'de>>()?.0)?,
                "typ" => once(&mut typ, map.next_value::<Text<'de>>()?.0)?,
                "crit" => {
                    map.next_value::<Json>()?;
                    once(&mut crit, ())?;
                }
                _ => {
                    map.next_value::<Json>()?;
                }
            }
        }
        let alg = alg.ok_or_else(|| de::Error::custom("no alg"))?;
        Ok(JoseHeader { alg, kid, typ, crit: crit.is_some() })
    }
}

struct ClaimsVisitor;

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = Claims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JWT claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
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
        let text = |map: &mut A| map.next_value::<Text<'de>>().map(|t| t.0);
        while let Some(Text(name)) = map.next_key()? {
            match &*name {
                "exp" => once(&mut c.exp, date(&mut map)?)?,
                "nbf" => once(&mut c.nbf, date(&mut map)?)?,
                "iat" => once(&mut c.iat, date(&mut map)?)?,
                "iss" => once(&mut c.iss, text(&mut map)?)?,
                "aud" => once(
                    &mut c.aud,
                    Audience::read(map.next_value()?).map_err(|_| de::Error::custom("not an audience"))?,
                )?,
                "sub" => once(&mut c.sub, text(&mut map)?)?,
                "email" => once(&mut c.email, text(&mut map)?)?,
                // OIDC Core 5.1: a JSON boolean; the string "true" is not one.
                "email_verified" => once(&mut c.email_verified, map.next_value::<bool>()?)?,
                _ => {
                    map.next_value::<Json>()?;
                }
            }
        }
        Ok(c)
    }
}

/// A date member: its value read as a [`Json`] tree (a number by serde_json's rules),
/// and from the text as written ([`Date::read`]).
fn date<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Date, A::Error> {
    let raw: &'de RawValue = map.next_value()?;
    let value = json::parse(raw.get().as_bytes()).map_err(de::Error::custom)?;
    Date::read(&value, raw.get().as_bytes()).map_err(|_| de::Error::custom("not a date"))
}

/// A member name, or a member that must hold a string (`null` is not "absent"):
/// borrowed from the document unless written with escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

/// A member the check acts on, written a second time: the token reads two ways.
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    match slot.replace(value) {
        Some(_) => Err(E::custom("repeated member")),
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
        let digits = int.bytes().chain(frac.bytes()).map(|d| d.wrapping_sub(b'0')).skip_while(|&d| d == 0);
        let zeros = int.len() + frac.len() - digits.clone().count();
        let point = (int.len() as i64).saturating_add(exp).saturating_sub(zeros as i64);
        if digits.clone().next().is_none() {
            return Some(Date { floor: 0, ceil: 0 });
        }
        if beyond_f64(digits.clone(), point) {
            return None;
        }
        let (whole, fraction) = if point > 30 {
            (LIMIT, false)
        } else {
            let whole_digits = usize::try_from(point).unwrap_or(0);
            let mut whole: i128 = 0;
            for d in digits.clone().chain(std::iter::repeat(0)).take(whole_digits) {
                whole = whole * 10 + i128::from(d);
            }
            (whole, digits.skip(whole_digits).any(|d| d != 0))
        };
        let up = whole + i128::from(fraction);
        Some(if negative { Date { floor: -up, ceil: -whole } } else { Date { floor: whole, ceil: up } })
    }
}

/// Whether the number `0.d₁d₂d₃…` × 10^`point` (`digits`: its significant digits, the
/// first not zero) rounds to infinity as an f64, as `str::parse::<f64>` reads it: at or
/// above 2^1024 - 2^970, halfway between `f64::MAX` and 2^1024 (the tie rounds to the
/// even 2^1024). Decided on the digits, so the plugin carries no float parser.
pub(super) fn beyond_f64(digits: impl Iterator<Item = u8>, point: i64) -> bool {
    const HALFWAY: &[u8; 309] =
        b"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";
    match point.cmp(&309) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => {
            for (&h, d) in HALFWAY.iter().zip(digits.chain(std::iter::repeat(0))) {
                let h = h - b'0';
                if d != h {
                    return d > h;
                }
            }
            true
        }
    }
}
