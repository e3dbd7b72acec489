//! JSON documents as serde_json reads them, kept as a tree that holds what
//! `serde_json::Value` drops: the members of an object in the order written, and a
//! member written twice. Readers decide what a repeated member means (the configuration
//! refuses it, so do a remote list answer and a JWT); a map type would have silently kept
//! one of the two. serde_json is the one definition of valid JSON: no byte order mark,
//! no unpaired surrogate escape, no raw control character in a string, no number beyond
//! an f64, no nesting past 127 levels, nothing after the document.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    /// Members in document order, repeated names kept.
    Object(Vec<(String, Json)>),
}

/// A number as serde_json read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    U64(u64),
    /// Negative integers.
    I64(i64),
    /// Numbers with a fraction or an exponent, and integers beyond 64 bits.
    F64(f64),
}

/// Parse exactly one JSON document, white space around it allowed. The error says
/// where and why, never what the document says.
pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
    serde_json::from_slice(bytes)
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(Number::U64(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(Number::I64(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(Number::F64(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            members.push((key, map.next_value()?));
        }
        Ok(Json::Object(members))
    }
}

impl Json {
    /// Whether an object anywhere in this value has a member written twice.
    pub fn has_repeated_member(&self) -> bool {
        match self {
            Json::Array(items) => items.iter().any(Json::has_repeated_member),
            Json::Object(members) => {
                // Sorted, so an object with many members costs n log n, not n².
                let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
                crate::sort::sort(&mut keys);
                keys.windows(2).any(|w| w.first() == w.get(1)) || members.iter().any(|(_, v)| v.has_repeated_member())
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(n: Number) -> Json {
        Json::Number(n)
    }

    #[test]
    fn keeps_order_repeated_members_and_number_text() {
        let doc = parse(br#" {"b":1,"a":[true,null,-2,1.5e3,"x\u00e9\ud83d\ude00"],"b":{}} "#).unwrap();
        let Json::Object(members) = &doc else { panic!("{doc:?}") };
        let names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["b", "a", "b"]);
        assert_eq!(
            members.get(1).map(|(_, v)| v),
            Some(&Json::Array(vec![
                Json::Bool(true),
                Json::Null,
                num(Number::I64(-2)),
                num(Number::F64(1500.0)),
                Json::String("x\u{e9}\u{1f600}".into()),
            ]))
        );
        assert!(doc.has_repeated_member());
        assert!(parse(br#"[{"a":[{"x":1,"x":2}]}]"#).unwrap().has_repeated_member());
        assert!(!parse(br#"[{"a":[{"x":1,"y":{"x":2}}]}]"#).unwrap().has_repeated_member());
        assert_eq!(parse(b"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"").unwrap(), Json::String("\"\\/\u{8}\u{c}\n\r\t".into()));
    }

    #[test]
    fn refuses_what_is_not_one_document() {
        for bad in [
            &b""[..],
            b" ",
            b"{",
            b"[1,]",
            b"{\"a\":1,}",
            b"{,}",
            b"{\"a\" 1}",
            b"{1:2}",
            b"[1 2]",
            b"{\"a\":1} x",
            b"[1] ]",
            b"\"\\ud800\"",
            b"\"\\udc00x\"",
            b"\"\\ud800\\u0041\"",
            b"\"\\x\"",
            b"\"\\u12G4\"",
            b"\"a\tb\"",
            b"\"a\x00\"",
            b"\"\xff\"",
            b"\xEF\xBB\xBF1",
            b"01",
            b"1.",
            b".5",
            b"-",
            b"1e",
            b"+1",
            b"tru",
            b"nul",
            b"NaN",
            b"1e400",
            b"-1e400",
            b"1.7976931348623159e308",
            b"17976931348623158e292",
            b"'a'",
            b"[1]\x00",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Written out in full, without an exponent.
        assert!(parse(format!("2{}", "0".repeat(308)).as_bytes()).is_err());
        assert!(parse(format!("9{}", "0".repeat(307)).as_bytes()).is_ok());
        for good in
            [&b"1e-400"[..], b"0e999999999999", b"1.7976931348623157e308", b"-0", b"123456789012345678901234567890"]
        {
            assert!(parse(good).is_ok(), "{:?}", String::from_utf8_lossy(good));
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(nested(127).as_bytes()).is_ok());
        assert!(parse(nested(128).as_bytes()).is_err());
        let objects = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        assert!(parse(objects(127).as_bytes()).is_ok());
        assert!(parse(objects(128).as_bytes()).is_err());
        // Far deeper than the limit: refused, not a stack overflow.
        assert!(parse(nested(100_000).as_bytes()).is_err());
    }

    #[test]
    fn syntax_errors_say_where_and_why() {
        let e = parse(b"{\"a\": 1,\n  \"b\": [1,]}").unwrap_err().to_string();
        assert_eq!(e, "trailing comma at line 2 column 11");
        assert_eq!(parse(b"[1] x").unwrap_err().to_string(), "trailing characters at line 1 column 5");
        assert_eq!(parse(b"").unwrap_err().to_string(), "EOF while parsing a value at line 1 column 0");
        assert_eq!(parse(b"[\"hunter2").unwrap_err().to_string(), "EOF while parsing a string at line 1 column 9");
    }
}
