//! `developer_payload`: a secret the sender echoes in a JSON field of the body
//! (Copyleaks' `developerPayload`, set at submit time), either compared with the
//! configured secrets or, with `bound_to`, required to be the HMAC-SHA256 of another
//! field of the same body, so that a payload seen once is useless for another message.
//!
//! The body is read by serde_json, but not into a `serde_json::Value`: a `Value` keeps
//! the last of two equal keys silently, while other parsers keep the first, or match keys
//! case-insensitively (Go's `encoding/json`, .NET binders). If the filter and the
//! application could read different values, a body holding both a valid payload and a
//! forged field would pass here and be believed there. So every object on a pointer's
//! path is checked for a second member that any of those parsers could take for the one
//! the pointer selects, and the whole document must be what serde_json accepts as a
//! `Value` (every value is read with `deserialize_any`, so numbers, strings and nesting
//! are held to the same rules). The walk builds no tree: it follows the pointers as
//! serde_json reads the document and copies only the strings they select.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::denial::Denial;
use crate::error::{ConfigError, Env};
use crate::secret::{self, Secret, SecretBytes, SecretSpec};
use crate::verify::encoding::hex_decode;
use crate::verify::mac::{Algorithm, KeyedMac};

pub const DEFAULT_POINTER: &str = "/developerPayload";

/// Containers nested deeper than this are refused as not JSON: serde_json refuses the
/// 128th level, and so do many applications.
pub const MAX_DEPTH: usize = 127;

/// Wire form of `checks.developer_payload`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadConfig {
    /// RFC 6901 pointer to the payload string; default [`DEFAULT_POINTER`].
    pub pointer: Option<String>,
    pub secrets: Vec<SecretSpec>,
    /// Pointer to a string the payload is bound to: the payload must then be
    /// hex(HMAC-SHA256(secret, that string)).
    pub bound_to: Option<String>,
}

/// A compiled `checks.developer_payload`.
#[derive(Debug)]
pub struct PayloadCheck {
    pointer: Pointer,
    mode: Mode,
    secrets: Vec<Secret>,
}

#[derive(Debug)]
enum Mode {
    /// The payload is one of the secrets. SHA-256 of each secret, index for index:
    /// comparing digests keeps the comparison constant-time in the secret's length too.
    Equal { digests: Vec<SecretBytes> },
    /// The payload is hex(HMAC-SHA256(secret, string at this pointer)); one prepared MAC
    /// per secret, index for index.
    Bound(Pointer, Vec<KeyedMac>),
}

impl PayloadCheck {
    pub fn compile(c: &PayloadConfig, path: &str, env: &Env) -> Result<Self, ConfigError> {
        let pointer = Pointer::parse(c.pointer.as_deref().unwrap_or(DEFAULT_POINTER), &format!("{path}.pointer"))?;
        let bound_to = match &c.bound_to {
            None => None,
            Some(text) => {
                let bp = format!("{path}.bound_to");
                let bound = Pointer::parse(text, &bp)?;
                // One pointer inside the other can never both be strings.
                if bound.tokens.starts_with(&pointer.tokens) || pointer.tokens.starts_with(&bound.tokens) {
                    return Err(ConfigError::new(
                        bp,
                        format!(
                            "\"{}\" overlaps `pointer` \"{}\": the payload and the value it is bound to must be two different strings",
                            bound.text, pointer.text
                        ),
                    ));
                }
                Some(bound)
            }
        };
        let secrets = secret::resolve_all(&c.secrets, &format!("{path}.secrets"), env)?;
        let mode = match bound_to {
            Some(b) => {
                Mode::Bound(b, secrets.iter().map(|s| KeyedMac::new(Algorithm::Sha256, s.key.expose())).collect())
            }
            None => Mode::Equal {
                digests: secrets.iter().map(|s| SecretBytes::new(Sha256::digest(s.key.expose()).to_vec())).collect(),
            },
        };
        Ok(PayloadCheck { pointer, mode, secrets })
    }

    pub fn secret_ids(&self) -> impl Iterator<Item = &str> {
        self.secrets.iter().map(|s| s.id.as_str())
    }

    /// `(id, not_after)` of each secret that has a `not_after`.
    pub fn secret_expiries(&self) -> impl Iterator<Item = (&str, u64)> {
        self.secrets.iter().filter_map(|s| s.not_after.map(|t| (s.id.as_str(), t)))
    }

    /// Verify the body. On success, the id of the secret that matched.
    pub fn verify(&self, body: &[u8], now: u64) -> Result<&str, Denial> {
        match &self.mode {
            Mode::Equal { digests } => {
                let [payload] = scan(body, [&self.pointer])?;
                let presented = Sha256::digest(payload.into_text()?.as_bytes());
                self.secrets
                    .iter()
                    .zip(digests)
                    .find(|(s, d)| s.is_live(now) && bool::from(presented.as_slice().ct_eq(d.expose())))
                    .map(|(s, _)| s.id.as_str())
                    .ok_or(Denial::PayloadMismatch)
            }
            Mode::Bound(bound_to, keys) => {
                let [payload, bound] = scan(body, [&self.pointer, bound_to])?;
                let payload = payload.into_text()?;
                let bound = bound.into_text()?;
                // An empty id binds the payload to nothing.
                if bound.is_empty() {
                    return Err(Denial::PayloadMissing);
                }
                // Either hex case; any other length cannot be an HMAC-SHA256.
                let presented =
                    hex_decode(payload.as_bytes()).filter(|m| m.len() == 32).ok_or(Denial::PayloadMismatch)?;
                self.secrets
                    .iter()
                    .zip(keys)
                    .filter(|(s, _)| s.is_live(now))
                    .find(|(_, key)| bool::from(key.tag(&[bound.as_bytes()]).matches(&presented)))
                    .map(|(s, _)| s.id.as_str())
                    .ok_or(Denial::PayloadMismatch)
            }
        }
    }
}

/// A compiled RFC 6901 JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pointer {
    /// As configured, for error messages (a pointer is not a secret).
    text: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    /// The reference token with `~1` and `~0` decoded: an object member name.
    key: String,
    /// The token read as an array index, when it is one (`0` or digits without a
    /// leading zero); `-` and anything else select no array element.
    index: Option<usize>,
}

impl Pointer {
    fn parse(text: &str, path: &str) -> Result<Pointer, ConfigError> {
        let bad = |why: &str| ConfigError::new(path, format!("\"{text}\" is not a JSON pointer (RFC 6901): {why}"));
        let mut tokens = Vec::new();
        if !text.is_empty() {
            let rest = text
                .strip_prefix('/')
                .ok_or_else(|| bad("it must be empty or start with '/', e.g. \"/developerPayload\""))?;
            for raw in rest.split('/') {
                let mut key = String::with_capacity(raw.len());
                let mut chars = raw.chars();
                while let Some(c) = chars.next() {
                    match (c, c == '~') {
                        (_, false) => key.push(c),
                        (_, true) => match chars.next() {
                            Some('0') => key.push('~'),
                            Some('1') => key.push('/'),
                            _ => return Err(bad("'~' must be followed by 0 or 1")),
                        },
                    }
                }
                let index = match key.as_bytes() {
                    [b'0'] => Some(0),
                    [b'1'..=b'9', rest @ ..] if rest.iter().all(u8::is_ascii_digit) => key.parse().ok(),
                    _ => None,
                };
                tokens.push(Token { key, index });
            }
        }
        if tokens.len() > MAX_DEPTH {
            return Err(bad(&format!("it is deeper than {MAX_DEPTH} levels, which no accepted body can be")));
        }
        Ok(Pointer { text: text.to_string(), tokens })
    }
}

/// What the scan found where a pointer points.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    Absent,
    Text(String),
    /// A number, literal, object or array: never a payload.
    NotText,
}

impl Found {
    fn into_text(self) -> Result<String, Denial> {
        match self {
            Found::Text(t) => Ok(t),
            Found::Absent | Found::NotText => Err(Denial::PayloadMissing),
        }
    }
}

/// Whether a parser could take member name `a` for `b`: equal, or equal once folded
/// the way case-insensitive binders fold (Go's `encoding/json` maps each character to
/// upper(lower(c)), which also folds `ſ` to `S` and the Kelvin sign to `K`), or equal
/// up to a NUL, where parsers built on C strings stop reading a name.
fn could_be_taken_for(a: &str, b: &str) -> bool {
    fn folded(s: &str) -> impl Iterator<Item = char> + '_ {
        s.chars().take_while(|&c| c != '\0').flat_map(char::to_lowercase).flat_map(char::to_uppercase)
    }
    a == b || folded(a).eq(folded(b))
}

fn bit(t: usize) -> u32 {
    1 << t
}

/// Read the whole document with serde_json and return what each pointer selects.
/// Refuses (`PayloadNotJson`) what serde_json refuses as a `Value`: anything RFC 8259
/// does not allow, trailing bytes, a byte order mark, unpaired surrogate escapes (parsers
/// disagree on them: some replace them, which can make two different names equal), a
/// number beyond an f64, nesting beyond [`MAX_DEPTH`]; refuses (`PayloadDuplicateKey`) a
/// second member that could be taken for a token in an object on a pointer's path.
/// Duplicates elsewhere are not the payload's business.
fn scan<const N: usize>(body: &[u8], pointers: [&Pointer; N]) -> Result<[Found; N], Denial> {
    const { assert!(N <= 32) };
    let found = walk(body, &pointers)?;
    // `walk` returns one `Found` a pointer.
    Ok(found.try_into().unwrap_or_else(|_| std::array::from_fn(|_| Found::Absent)))
}

/// The scan for any number of pointers (at most 32): built once, whatever `N` the
/// caller has.
fn walk(body: &[u8], pointers: &[&Pointer]) -> Result<Vec<Found>, Denial> {
    let n = pointers.len();
    let mut found: Vec<Found> = (0..n).map(|_| Found::Absent).collect();
    let duplicate = Cell::new(false);
    let mut json = serde_json::Deserializer::from_slice(body);
    // The root is on every pointer's path.
    let on_path = (0..n).fold(0, |m, t| m | bit(t));
    let walk = Walk { pointers, depth: 0, on_path, found: &mut found, duplicate: &duplicate };
    match walk.deserialize(&mut json).and_then(|()| json.end()) {
        Ok(()) => Ok(found),
        Err(_) if duplicate.get() => Err(Denial::PayloadDuplicateKey),
        Err(_) => Err(Denial::PayloadNotJson),
    }
}

/// One value, `depth` containers deep, on the paths of the pointers in `on_path`.
struct Walk<'a> {
    pointers: &'a [&'a Pointer],
    depth: usize,
    on_path: u32,
    found: &'a mut [Found],
    /// Set when the walk stops at a duplicate (serde_json's error says only "stopped").
    duplicate: &'a Cell<bool>,
}

impl Walk<'_> {
    /// The pointers that select this value.
    fn ends_here(&self) -> u32 {
        (0..self.pointers.len())
            .filter(|&t| {
                self.on_path & bit(t) != 0 && self.pointers.get(t).is_some_and(|p| p.tokens.len() == self.depth)
            })
            .fold(0, |m, t| m | bit(t))
    }

    fn record(self, make: impl Fn() -> Found) {
        let ends = self.ends_here();
        for (t, f) in self.found.iter_mut().enumerate() {
            if ends & bit(t) != 0 {
                *f = make();
            }
        }
    }

    fn child(&mut self, on_path: u32) -> Walk<'_> {
        Walk {
            pointers: self.pointers,
            depth: self.depth + 1,
            on_path,
            found: &mut *self.found,
            duplicate: self.duplicate,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.ends_here() != 0 {
            let text = v.to_string();
            self.record(|| Found::Text(text.clone()));
        }
        Ok(())
    }

    // Numbers and literals are never a payload.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.record(|| Found::NotText);
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.record(|| Found::NotText);
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.record(|| Found::NotText);
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.record(|| Found::NotText);
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.record(|| Found::NotText);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let ends = self.ends_here();
        for (t, f) in self.found.iter_mut().enumerate() {
            if ends & bit(t) != 0 {
                *f = Found::NotText;
            }
        }
        // The paths that go deeper than this array.
        let deeper = self.on_path & !ends;
        let mut index = 0;
        loop {
            let child = (0..self.pointers.len())
                .filter(|&t| deeper & bit(t) != 0)
                .filter(|&t| {
                    self.pointers.get(t).and_then(|p| p.tokens.get(self.depth)).and_then(|k| k.index) == Some(index)
                })
                .fold(0, |m, t| m | bit(t));
            if seq.next_element_seed(self.child(child))?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let ends = self.ends_here();
        for (t, f) in self.found.iter_mut().enumerate() {
            if ends & bit(t) != 0 {
                *f = Found::NotText;
            }
        }
        let deeper = self.on_path & !ends;
        // Bit t: a member that could be taken for pointer t's next token was seen.
        let mut seen = 0;
        while let Some(child) = map.next_key_seed(Name {
            pointers: self.pointers,
            depth: self.depth,
            on_path: deeper,
            seen: &mut seen,
            duplicate: self.duplicate,
        })? {
            map.next_value_seed(self.child(child))?;
        }
        Ok(())
    }
}

/// A member name in an object at `depth` on the paths in `on_path`: the paths its value
/// is on.
struct Name<'a> {
    pointers: &'a [&'a Pointer],
    depth: usize,
    on_path: u32,
    seen: &'a mut u32,
    duplicate: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Name<'_> {
    type Value = u32;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Name<'_> {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<u32, E> {
        let mut child = 0;
        for (t, p) in self.pointers.iter().enumerate() {
            let Some(token) = p.tokens.get(self.depth) else {
                continue;
            };
            if self.on_path & bit(t) == 0 || !could_be_taken_for(name, &token.key) {
                continue;
            }
            if *self.seen & bit(t) != 0 {
                self.duplicate.set(true);
                return Err(E::custom("duplicate member on the pointer's path"));
            }
            *self.seen |= bit(t);
            if name == token.key {
                child |= bit(t);
            }
        }
        Ok(child)
    }
}

#[cfg(test)]
mod tests;
