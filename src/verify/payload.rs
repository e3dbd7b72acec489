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
mod tests {
    use super::*;
    use crate::verify::encoding::hex_encode;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env(name: &str) -> Option<String> {
        (name == "COPYLEAKS_DEVELOPER_PAYLOAD").then(|| "dp-s3cr3t".to_string())
    }

    fn check(json: &str) -> PayloadCheck {
        let c: PayloadConfig = crate::wire::read_str(json).unwrap();
        PayloadCheck::compile(&c, "dp", &env).unwrap()
    }

    fn compile_err(json: &str) -> String {
        let c: PayloadConfig = crate::wire::read_str(json).unwrap();
        PayloadCheck::compile(&c, "dp", &no_env).unwrap_err().to_string()
    }

    /// A Copyleaks "completed" webhook, shortened; `payload` and `scan_id` are spliced
    /// in as raw JSON so tests can put any token there.
    fn completed(payload: &str, scan_id: &str) -> String {
        format!(
            r#"{{
  "status": 0,
  "developerPayload": {payload},
  "scannedDocument": {{
    "scanId": {scan_id},
    "totalWords": 1203,
    "totalExcluded": 0,
    "credits": 2,
    "expectedCredits": 2,
    "creationTime": "2024-03-01T10:00:00.000000Z",
    "metadata": {{ "filename": "essay.docx" }}
  }},
  "results": {{
    "score": {{ "identicalWords": 12, "minorChangedWords": 0, "relatedMeaningWords": 4, "aggregatedScore": 1.3 }},
    "internet": [ {{ "id": "2a1b402420", "title": "An essay", "matchedWords": 16, "url": "https://example.com/a" }} ],
    "database": [], "batch": [], "repositories": []
  }},
  "notifications": {{ "alerts": [] }}
}}"#
        )
    }

    const PLAIN: &str = r#"{"secrets":[{"id":"current","env":"COPYLEAKS_DEVELOPER_PAYLOAD"},
        {"id":"previous","value":"old-payload","not_after":"2027-01-31T00:00:00Z"}]}"#;
    const BOUND: &str = r#"{"secrets":[{"id":"k1","value":"binding-key"}],"bound_to":"/scannedDocument/scanId"}"#;

    fn bound_payload(key: &[u8], scan_id: &str) -> String {
        hex_encode(&crate::verify::mac::compute(Algorithm::Sha256, key, &[scan_id.as_bytes()]))
    }

    #[test]
    fn copyleaks_completed_webhook_with_secret_payload() {
        let c = check(PLAIN);
        let body = completed(r#""dp-s3cr3t""#, r#""scan-1""#);
        assert_eq!(c.verify(body.as_bytes(), 0), Ok("current"));
        let old = completed(r#""old-payload""#, r#""scan-1""#);
        let t = 1_801_353_600; // 2027-01-31T00:00:00Z
        assert_eq!(c.verify(old.as_bytes(), t), Ok("previous"));
        assert_eq!(c.verify(old.as_bytes(), t + 1), Err(Denial::PayloadMismatch));
        // Escapes are decoded before comparing: this is the same string.
        let escaped = completed(r#""dp-s\u0033cr\u0033t""#, r#""scan-1""#);
        assert_eq!(c.verify(escaped.as_bytes(), 0), Ok("current"));
        assert_eq!(c.secret_ids().collect::<Vec<_>>(), ["current", "previous"]);
    }

    #[test]
    fn mismatch() {
        let c = check(PLAIN);
        for payload in [r#""dp-s3cr3""#, r#""dp-s3cr3t ""#, r#""DP-S3CR3T""#, r#""""#, r#""dp-s3cr3tdp-s3cr3t""#] {
            let body = completed(payload, r#""scan-1""#);
            assert_eq!(c.verify(body.as_bytes(), 0), Err(Denial::PayloadMismatch), "{payload}");
        }
    }

    #[test]
    fn missing_or_not_a_string() {
        let c = check(PLAIN);
        for payload in ["null", "1", "true", "false", "{}", r#"["dp-s3cr3t"]"#, "-0.5e3"] {
            let body = completed(payload, r#""scan-1""#);
            assert_eq!(c.verify(body.as_bytes(), 0), Err(Denial::PayloadMissing), "{payload}");
        }
        for body in [r#"{}"#, r#"{"properties":{"developerPayload":"dp-s3cr3t"}}"#, r#"[]"#, r#""dp-s3cr3t""#, "1"] {
            assert_eq!(c.verify(body.as_bytes(), 0), Err(Denial::PayloadMissing), "{body}");
        }
    }

    #[test]
    fn not_json() {
        let c = check(PLAIN);
        let good = completed(r#""dp-s3cr3t""#, r#""scan-1""#);
        let trailing = format!("{good} x");
        let two_documents = format!("{good}{good}");
        let mut non_utf8 = good.clone().into_bytes();
        non_utf8.push(0xff);
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend_from_slice(good.as_bytes());
        for body in [
            b"".as_slice(),
            b"   ",
            b"developerPayload=dp-s3cr3t",
            trailing.as_bytes(),
            two_documents.as_bytes(),
            &non_utf8,
            &bom,
            &good.as_bytes()[..good.len() - 1],
        ] {
            assert_eq!(c.verify(body, 0), Err(Denial::PayloadNotJson), "{}", String::from_utf8_lossy(body));
        }
        // Invalid UTF-8 inside the payload string itself.
        let mut inside = br#"{"developerPayload":"dp-s3cr3t"#.to_vec();
        inside.extend_from_slice(b"\xc3\x28\"}");
        assert_eq!(c.verify(&inside, 0), Err(Denial::PayloadNotJson));
        // Whitespace around the document is JSON; a trailing newline is common.
        assert_eq!(c.verify(format!("\r\n\t {good}\n").as_bytes(), 0), Ok("current"));
    }

    #[test]
    fn duplicate_keys_on_the_path_are_refused() {
        let c = check(PLAIN);
        let table = [
            // Last wins in serde_json and most parsers, first wins in some.
            r#"{"developerPayload":"dp-s3cr3t","developerPayload":"forged"}"#,
            r#"{"developerPayload":"forged","developerPayload":"dp-s3cr3t"}"#,
            r#"{"developerPayload":"dp-s3cr3t","developerPayload":"dp-s3cr3t"}"#,
            // The same name spelled with escapes.
            r#"{"developerPayload":"dp-s3cr3t","developer\u0050ayload":"forged"}"#,
            r#"{"\u0064eveloperPayload":"dp-s3cr3t","developerPayload":"forged"}"#,
            // A non-string duplicate is as ambiguous.
            r#"{"developerPayload":"dp-s3cr3t","developerPayload":{"x":1}}"#,
            // Case-insensitive binders (Go, .NET) take these for the same member.
            r#"{"developerPayload":"dp-s3cr3t","DeveloperPayload":"forged"}"#,
            r#"{"developerPayload":"dp-s3cr3t","DEVELOPERPAYLOAD":"forged"}"#,
            // Parsers built on C strings stop at NUL.
            r#"{"developerPayload":"dp-s3cr3t","developerPayload\u0000x":"forged"}"#,
        ];
        // Go folds U+017F (long s) to 'S' and U+212A (Kelvin sign) to 'K'.
        let long_s = check(r#"{"pointer":"/s","secrets":[{"value":"v"}]}"#);
        assert_eq!(long_s.verify(r#"{"s":"v","ſ":1}"#.as_bytes(), 0), Err(Denial::PayloadDuplicateKey));
        let kelvin = check(r#"{"pointer":"/k","secrets":[{"value":"v"}]}"#);
        assert_eq!(kelvin.verify("{\"\u{212a}\":1,\"k\":\"v\"}".as_bytes(), 0), Err(Denial::PayloadDuplicateKey));
        for body in table {
            assert_eq!(c.verify(body.as_bytes(), 0), Err(Denial::PayloadDuplicateKey), "{body}");
        }
        // A duplicate after an otherwise complete, valid payload is still found.
        let late = completed(r#""dp-s3cr3t""#, r#""scan-1""#).trim_end().trim_end_matches('}').to_string()
            + r#","developerPayload":"forged"}"#;
        assert_eq!(c.verify(late.as_bytes(), 0), Err(Denial::PayloadDuplicateKey));
    }

    #[test]
    fn duplicate_keys_nested_along_the_path_are_refused() {
        let c = check(r#"{"pointer":"/properties/developerPayload","secrets":[{"value":"v"}]}"#);
        assert_eq!(c.verify(br#"{"properties":{"developerPayload":"v"}}"#, 0), Ok("0"));
        for body in [
            r#"{"properties":{"developerPayload":"v"},"properties":{"developerPayload":"x"}}"#,
            r#"{"properties":{"developerPayload":"v"},"propertie\u0073":{}}"#,
            r#"{"properties":{"developerPayload":"v","developer\u0050ayload":"x"}}"#,
            r#"{"properties":{"developerPayload":"v"},"Properties":{"developerPayload":"x"}}"#,
        ] {
            assert_eq!(c.verify(body.as_bytes(), 0), Err(Denial::PayloadDuplicateKey), "{body}");
        }
        // Through an array.
        let a = check(r#"{"pointer":"/items/1/token","secrets":[{"value":"v"}]}"#);
        assert_eq!(
            a.verify(br#"{"items":[{"token":"x","token":"y"},{"token":"v"}]}"#, 0),
            Ok("0"),
            "element 0 is off the path"
        );
        assert_eq!(a.verify(br#"{"items":[{},{"token":"v","token":"v"}]}"#, 0), Err(Denial::PayloadDuplicateKey));
    }

    #[test]
    fn duplicate_keys_off_the_path_are_fine() {
        let c = check(PLAIN);
        for body in [
            // Nested in a member the pointer does not follow.
            r#"{"results":{"score":1,"score":2},"developerPayload":"dp-s3cr3t"}"#,
            r#"{"a":[{"x":1,"x":1}],"developerPayload":"dp-s3cr3t","b":{"c":{"d":1,"d":2}}}"#,
            // Siblings of the payload: they do not change what the pointer reads.
            r#"{"status":0,"status":1,"developerPayload":"dp-s3cr3t"}"#,
            // Inside the payload's own neighbourhood but not a name the pointer uses.
            r#"{"developerPayloadX":"a","xdeveloperPayload":"b","developerPayload":"dp-s3cr3t"}"#,
        ] {
            assert_eq!(c.verify(body.as_bytes(), 0), Ok("current"), "{body}");
        }
    }

    #[test]
    fn bound_to_known_answer() {
        let c = check(BOUND);
        let mac = bound_payload(b"binding-key", "scan-1");
        let body = completed(&format!("\"{mac}\""), r#""scan-1""#);
        assert_eq!(c.verify(body.as_bytes(), 0), Ok("k1"));
        // Either hex case from the sender.
        let upper = completed(&format!("\"{}\"", mac.to_ascii_uppercase()), r#""scan-1""#);
        assert_eq!(c.verify(upper.as_bytes(), 0), Ok("k1"));
        // The bound value is decoded before it is hashed.
        let escaped = completed(&format!("\"{mac}\""), r#""scan\u002d1""#);
        assert_eq!(c.verify(escaped.as_bytes(), 0), Ok("k1"));
        // The same payload is useless for another scan.
        let other = completed(&format!("\"{mac}\""), r#""scan-2""#);
        assert_eq!(c.verify(other.as_bytes(), 0), Err(Denial::PayloadMismatch));
        // The secret itself is not a valid payload in this mode.
        let raw = completed(r#""binding-key""#, r#""scan-1""#);
        assert_eq!(c.verify(raw.as_bytes(), 0), Err(Denial::PayloadMismatch));
        for bad in [&mac[..62], "", "zz"] {
            let b = completed(&format!("\"{bad}\""), r#""scan-1""#);
            assert_eq!(c.verify(b.as_bytes(), 0), Err(Denial::PayloadMismatch), "{bad}");
        }
        // The binding target must be a non-empty string.
        for scan_id in ["null", "12345", r#""""#, "{}"] {
            let b = completed(&format!("\"{mac}\""), scan_id);
            assert_eq!(c.verify(b.as_bytes(), 0), Err(Denial::PayloadMissing), "{scan_id}");
        }
        let no_doc = format!(r#"{{"developerPayload":"{mac}"}}"#);
        assert_eq!(c.verify(no_doc.as_bytes(), 0), Err(Denial::PayloadMissing));
        // A replayed payload next to a forged scan id, in a duplicate member.
        for forged in [
            format!(
                r#"{{"developerPayload":"{mac}","scannedDocument":{{"scanId":"scan-1"}},"scannedDocument":{{"scanId":"scan-2"}}}}"#
            ),
            format!(r#"{{"developerPayload":"{mac}","scannedDocument":{{"scanId":"scan-1","scanId":"scan-2"}}}}"#),
            format!(r#"{{"developerPayload":"{mac}","scannedDocument":{{"scanId":"scan-1","ScanID":"scan-2"}}}}"#),
            format!(
                r#"{{"developerPayload":"{mac}","scannedDocument":{{"scanId":"scan-1"}},"scanned\u0044ocument":{{}}}}"#
            ),
        ] {
            assert_eq!(c.verify(forged.as_bytes(), 0), Err(Denial::PayloadDuplicateKey), "{forged}");
        }
    }

    #[test]
    fn bound_to_independent_vector() {
        // HMAC-SHA256(key "key", "The quick brown fox jumps over the lazy dog"),
        // the well-known example value.
        let c = check(r#"{"pointer":"/p","secrets":[{"value":"key"}],"bound_to":"/m"}"#);
        let body = br#"{"m":"The quick brown fox jumps over the lazy dog",
            "p":"f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"}"#;
        assert_eq!(c.verify(body, 0), Ok("0"));
        assert_eq!(
            bound_payload(b"key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn pointer_syntax() {
        let body = br#"{"a/b":{"m~n":"v1"},"list":["x",{"k":"v2"}],"":{"":"v3"},"01":"v4","-":"v5"}"#;
        for (pointer, want) in [
            ("/a~1b/m~0n", Ok("0")),
            ("/list/1/k", Ok("0")),
            ("//", Ok("0")),
            ("/01", Ok("0")),
            ("/-", Ok("0")),
            ("/list/01/k", Err(Denial::PayloadMissing)),
            ("/list/-", Err(Denial::PayloadMissing)),
            ("/list/2", Err(Denial::PayloadMissing)),
            ("/list/k", Err(Denial::PayloadMissing)),
            ("/list/99999999999999999999999", Err(Denial::PayloadMissing)),
            ("/a~1b/m~0n/deeper", Err(Denial::PayloadMissing)),
        ] {
            let secret = match pointer {
                "/list/1/k" => "v2",
                "//" => "v3",
                "/01" => "v4",
                "/-" => "v5",
                _ => "v1",
            };
            let c = check(&format!(r#"{{"pointer":"{pointer}","secrets":[{{"value":"{secret}"}}]}}"#));
            assert_eq!(c.verify(body, 0), want, "{pointer}");
        }
        // The empty pointer is the whole document.
        let whole = check(r#"{"pointer":"","secrets":[{"value":"v"}]}"#);
        assert_eq!(whole.verify(br#" "v" "#, 0), Ok("0"));
        assert_eq!(whole.verify(br#"{"v":"v"}"#, 0), Err(Denial::PayloadMissing));
    }

    #[test]
    fn config_errors_name_the_field() {
        let table = [
            (
                r#"{"pointer":"developerPayload","secrets":[{"value":"k"}]}"#,
                "dp.pointer: \"developerPayload\" is not a JSON pointer (RFC 6901): it must be empty or start with '/'",
            ),
            (
                r#"{"pointer":"/a~2","secrets":[{"value":"k"}]}"#,
                "dp.pointer: \"/a~2\" is not a JSON pointer (RFC 6901): '~' must be followed by 0 or 1",
            ),
            (
                r#"{"pointer":"/a~","secrets":[{"value":"k"}]}"#,
                "dp.pointer: \"/a~\" is not a JSON pointer (RFC 6901): '~' must be followed by 0 or 1",
            ),
            (r#"{"secrets":[{"value":"k"}],"bound_to":"scanId"}"#, "dp.bound_to: \"scanId\" is not a JSON pointer"),
            (
                r#"{"secrets":[{"value":"k"}],"bound_to":"/developerPayload"}"#,
                "dp.bound_to: \"/developerPayload\" overlaps `pointer` \"/developerPayload\"",
            ),
            (
                r#"{"secrets":[{"value":"k"}],"bound_to":"/developerPayload/x"}"#,
                "dp.bound_to: \"/developerPayload/x\" overlaps `pointer`",
            ),
            (r#"{"secrets":[{"value":"k"}],"bound_to":""}"#, "dp.bound_to: \"\" overlaps `pointer`"),
            (r#"{"secrets":[]}"#, "dp.secrets: at least one secret is required"),
            (
                r#"{"secrets":[{"env":"COPYLEAKS_DEVELOPER_PAYLOAD"}]}"#,
                "dp.secrets[0].env: environment variable COPYLEAKS_DEVELOPER_PAYLOAD is unset",
            ),
        ];
        for (json, want) in table {
            let got = compile_err(json);
            assert!(got.starts_with(want), "{json}\n got {got:?}\nwant {want:?}");
        }
        let deep = format!(r#"{{"pointer":"{}","secrets":[{{"value":"k"}}]}}"#, "/a".repeat(MAX_DEPTH + 1));
        assert!(compile_err(&deep).contains("deeper than 127 levels"));
        // Unknown fields are refused by the wire type.
        assert!(crate::wire::read_str::<PayloadConfig>(r#"{"secrets":[],"pointr":"/x"}"#).is_err());
        // The default pointer.
        let c = check(r#"{"secrets":[{"value":"k"}]}"#);
        assert_eq!(c.pointer.text, DEFAULT_POINTER);
    }

    #[test]
    fn errors_never_print_secrets() {
        let c = check(PLAIN);
        let printed = format!("{c:?}");
        assert!(!printed.contains("dp-s3cr3t") && !printed.contains("old-payload"), "{printed}");
        let b = check(BOUND);
        assert!(!format!("{b:?}").contains("binding-key"));
    }

    fn nested(depth: usize, inner: &str) -> String {
        let mut s = String::new();
        for _ in 0..depth {
            s.push_str(r#"{"a":"#);
        }
        s.push_str(inner);
        s.push_str(&"}".repeat(depth));
        s
    }

    #[test]
    fn nesting_depth_is_bounded() {
        // The payload inside 127 objects: the string is the 128th level, which holds no
        // container.
        let pointer = "/a".repeat(MAX_DEPTH);
        let c = check(&format!(r#"{{"pointer":"{pointer}","secrets":[{{"value":"v"}}]}}"#));
        assert_eq!(c.verify(nested(MAX_DEPTH, r#""v""#).as_bytes(), 0), Ok("0"));
        assert_eq!(c.verify(nested(MAX_DEPTH + 1, r#""v""#).as_bytes(), 0), Err(Denial::PayloadNotJson));
        // 127 containers are fine, the 128th is refused, wherever it is.
        let top = check(r#"{"pointer":"/p","secrets":[{"value":"v"}]}"#);
        let ok = format!(r#"{{"p":"v","x":{}}}"#, nested(MAX_DEPTH - 2, "[]"));
        assert_eq!(top.verify(ok.as_bytes(), 0), Ok("0"));
        let too_deep = format!(r#"{{"p":"v","x":{}}}"#, nested(MAX_DEPTH - 1, "[]"));
        assert_eq!(top.verify(too_deep.as_bytes(), 0), Err(Denial::PayloadNotJson));
        // A hostile body cannot exhaust the stack.
        let brackets = "[".repeat(500_000);
        assert_eq!(top.verify(brackets.as_bytes(), 0), Err(Denial::PayloadNotJson));
        let balanced = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(top.verify(balanced.as_bytes(), 0), Err(Denial::PayloadNotJson));
    }

    #[test]
    fn one_mebibyte_body() {
        let c = check(BOUND);
        let mac = bound_payload(b"binding-key", "scan-big");
        let mut internet = String::new();
        let mut i = 0;
        while internet.len() < 1024 * 1024 - 600 {
            internet.push_str(&format!(
                r#"{{"id":"{i:08x}","title":"Result \"{i}\" \u00e9\ud83d\ude00","matchedWords":{i},"score":{i}.5e-1,"ok":true,"x":null}},"#
            ));
            i += 1;
        }
        internet.pop();
        let body = format!(
            r#"{{"status":0,"results":{{"internet":[{internet}]}},"scannedDocument":{{"scanId":"scan-big"}},"developerPayload":"{mac}"}}"#
        );
        assert!(body.len() <= 1024 * 1024, "{}", body.len());
        assert!(body.len() > 1024 * 1024 - 1024, "{}", body.len());
        let started = std::time::Instant::now();
        assert_eq!(c.verify(body.as_bytes(), 0), Ok("k1"));
        // Generous even for an unoptimized test build; it guards against a quadratic scan.
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
        // A large object on the path with many members.
        let mut wide = String::from("{");
        for i in 0..60_000 {
            wide.push_str(&format!(r#""k{i}":1,"#));
        }
        wide.push_str(r#""p":"v"}"#);
        let top = check(r#"{"pointer":"/p","secrets":[{"value":"v"}]}"#);
        assert_eq!(top.verify(wide.as_bytes(), 0), Ok("0"));
    }

    #[test]
    fn strict_json_grammar() {
        let c = check(r#"{"pointer":"/p","secrets":[{"value":"v"}]}"#);
        let accepted = [
            r#"{"p":"v"}"#,
            r#"{"p":"v","n":[0,-0,1.5,-1e10,2E+3,3e-2,0.0,123456789012345678901234567890]}"#,
            r#"{"p":"v","s":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00","e":{},"a":[],"l":[true,false,null]}"#,
            "{\"p\":\"v\",\"raw\":\"é😀\u{7f}\"}",
            "{ \"p\" :\t\"v\" \r\n}",
        ];
        for body in accepted {
            assert_eq!(c.verify(body.as_bytes(), 0), Ok("0"), "{body}");
        }
        let refused = [
            r#"{"p":"v","n":01}"#,
            r#"{"p":"v","n":1.}"#,
            r#"{"p":"v","n":.5}"#,
            r#"{"p":"v","n":+1}"#,
            r#"{"p":"v","n":1e}"#,
            r#"{"p":"v","n":-}"#,
            r#"{"p":"v","n":NaN}"#,
            r#"{"p":"v","n":Infinity}"#,
            r#"{"p":"v","n":0x10}"#,
            r#"{"p":"v","s":'x'}"#,
            r#"{'p':"v"}"#,
            r#"{p:"v"}"#,
            r#"{"p":"v",}"#,
            r#"{"p":"v","a":[1,]}"#,
            r#"{"p":"v","a":[,1]}"#,
            r#"{"p":"v" "q":1}"#,
            r#"{"p":"v","q"}"#,
            r#"{"p":"v","q":}"#,
            r#"{"p":"v"]"#,
            r#"{"p":"v","a":[}"#,
            r#"{"p":"v"} // comment"#,
            r#"/* c */ {"p":"v"}"#,
            r#"{"p":"v","t":tru}"#,
            r#"{"p":"v","t":True}"#,
            r#"{"p":"v","t":nulls}"#,
            r#"{"p":"v","s":"\x41"}"#,
            r#"{"p":"v","s":"\u12"}"#,
            r#"{"p":"v","s":"\u12G4"}"#,
            r#"{"p":"v","s":"\uD800"}"#,
            r#"{"p":"v","s":"\uDC00"}"#,
            r#"{"p":"v","s":"\uD800\u0041"}"#,
            r#"{"p":"v","s":"\uD800x"}"#,
            r#"{"p":"v\uDBFF"}"#,
            "{\"p\":\"v\",\"s\":\"a\tb\"}",
            "{\"p\":\"v\",\"s\":\"a\nb\"}",
            "{\"p\":\"v\",\"s\":\"\u{0}\"}",
            "{\"p\":\"v\"}\u{0}",
            "{\"p\":\"v\"}\u{a0}",
            "\u{feff}{\"p\":\"v\"}",
        ];
        for body in refused {
            assert_eq!(c.verify(body.as_bytes(), 0), Err(Denial::PayloadNotJson), "{body}");
        }
    }

    #[test]
    fn no_panic_on_garbage() {
        let plain = check(r#"{"pointer":"/a/0/b","secrets":[{"value":"v"}]}"#);
        let bound = check(BOUND);
        let mut table: Vec<Vec<u8>> = [
            "",
            "{",
            "}",
            "[",
            "]",
            "\"",
            "\\",
            "{\"",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":[",
            "[\"\\",
            "[\"\\u",
            "[\"\\uD83D\\",
            "[\"\\uD83D\\u",
            "[-",
            "[1e+",
            "[1.",
            "nul",
            "t",
            ",",
            ":",
            "{\"a\":[{\"b\":\"v\"}",
            "{\"a\":[{\"b\":\"v\"}]",
            "{\"a\":[{\"b\":\"v\"}]}}",
            "[\"\u{10ffff}\"]",
            "{\"\":\"\"}",
            "0",
            "-0",
            "1e999999999",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        table.extend([
            vec![0xff],
            vec![0xc0, 0x80],
            vec![0xed, 0xa0, 0x80],
            vec![b'"', 0xf4, 0x90, 0x80, 0x80, b'"'],
            b"{\"a\":\"\xe2\x82\"}".to_vec(),
            vec![0; 64],
        ]);
        // Every prefix of a valid body.
        let valid = br#"{"a":[{"b":"v","c":[1.5e-3,true,null,"\u00e9\ud83d\ude00"]}],"z":{}}"#;
        for n in 0..valid.len() {
            table.push(valid[..n].to_vec());
        }
        for body in &table {
            assert!(plain.verify(body, 0).is_err(), "{}", String::from_utf8_lossy(body));
            assert!(bound.verify(body, 0).is_err());
        }
        assert_eq!(plain.verify(valid, 0), Ok("0"));
    }

    /// Whether the walk takes `body` for JSON: anything but `PayloadNotJson` (the
    /// pointer selects nothing the mutations below can spell, so no duplicate either).
    fn walk_accepts(c: &PayloadCheck, body: &[u8]) -> bool {
        c.verify(body, 0) != Err(Denial::PayloadNotJson)
    }

    fn serde_json_accepts(body: &[u8]) -> bool {
        serde_json::from_slice::<serde_json::Value>(body).is_ok()
    }

    /// One definition of JSON: the walk accepts exactly the documents serde_json reads
    /// as a `Value`, on tricky documents and on many random mutations of them.
    #[test]
    fn accepts_exactly_what_serde_json_accepts() {
        let c = check(r#"{"pointer":"/zz/0","secrets":[{"value":"v"}]}"#);
        let deep = |open: &str, close: &str, n: usize| format!("{}{}", open.repeat(n), close.repeat(n));
        let mut docs: Vec<Vec<u8>> = [
            r#"{"a":[1,-0,0.5,-1e10,2E+3,3e-2,1e-400,123456789012345678901234567890,18446744073709551616]}"#,
            r#"{"s":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00\u0000","e":{},"a":[],"l":[true,false,null]}"#,
            "{\"raw\":\"é😀\u{7f}\"}",
            " \t\r\n{ \"a\" :\t[ ] }\n ",
            r#"[1e308,-1.7976931348623157e308,1e309,-1e400,1.8e308]"#,
            r#"["\uD800","\uDC00","\uD800\uDC00","\uDBFF\uDFFF","\uD800\u0041","\ud83d\ude00"]"#,
            r#"["\u12","\u12G4","\x41","\'"]"#,
            "\u{feff}{}",
            "{}\u{0}",
            "{} {}",
            "{}\u{a0}",
            "[01, 1., .5, +1, -, 1e, 0x10, NaN, Infinity]",
            r#"{"a":1,}"#,
            r#"{"a":1,"a":2}"#,
            r#""top-level string""#,
            "123",
            "null",
            "",
            "\"a\tb\"",
            "\"a\u{1f}b\"",
            "[\"\u{10ffff}\"]",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        for n in [126, 127, 128, 129] {
            docs.push(deep("[", "]", n).into_bytes());
            docs.push(nested(n, "1").into_bytes());
        }
        docs.push(b"[\"\xc3\x28\"]".to_vec());
        docs.push(b"[\"\xed\xa0\x80\"]".to_vec());
        docs.push(b"[\"\xf4\x90\x80\x80\"]".to_vec());
        docs.push(b"{\"\xff\":1}".to_vec());
        for doc in &docs {
            assert_eq!(walk_accepts(&c, doc), serde_json_accepts(doc), "{}", String::from_utf8_lossy(doc));
        }
        // Mutations: insert, delete or replace bytes that matter to a JSON reader.
        const BYTES: &[u8] = b"{}[]\",:\\/u0123456789abcdefABCDEF.eE+-truefalsn \t\r\n\x00\x1f\x7f\xc3\xa9\xed\xa0\xff";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut agreed = [0usize; 2];
        for round in 0..20_000 {
            let mut doc = docs[round % docs.len()].clone();
            for _ in 0..1 + next() % 3 {
                let at = if doc.is_empty() { 0 } else { (next() as usize) % (doc.len() + 1) };
                let byte = BYTES[(next() as usize) % BYTES.len()];
                match next() % 3 {
                    0 => doc.insert(at, byte),
                    1 if at < doc.len() => {
                        doc.remove(at);
                    }
                    _ if at < doc.len() => doc[at] = byte,
                    _ => doc.push(byte),
                }
            }
            let want = serde_json_accepts(&doc);
            assert_eq!(walk_accepts(&c, &doc), want, "{:?}", String::from_utf8_lossy(&doc));
            agreed[usize::from(want)] += 1;
        }
        // Both verdicts were exercised.
        assert!(agreed[0] > 1000 && agreed[1] > 1000, "{agreed:?}");
    }
}
