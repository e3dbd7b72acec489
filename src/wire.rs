//! Reading the wire form of the configuration: serde's derived `Deserialize` over the
//! document serde_json parsed, with errors that name the path of the field
//! (`routes[0].checks.signature.tolerance_seconds`) and never quote a value.
//!
//! serde_json's own messages quote what they found (`invalid type: string "hunter2",
//! expected u64`), and a secret written in the wrong field would reach Envoy's log. So
//! serde_json only parses (into a [`Json`] tree, which keeps a repeated member for the
//! derived visitor to refuse), and the wire types are read from the tree by [`Node`],
//! whose [`Error`] names the kind of value found, never the value. `Node` also refuses
//! an array where a struct is expected (a derived struct would read `[10, 60]` by
//! position). Going through a tree costs an allocation per value, once per
//! configuration; reading serde_json's token stream directly would instantiate its
//! parser once per wire type, about 70 KiB more plugin.

use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, Expected, MapAccess, SeqAccess, Unexpected, Visitor,
};

use crate::error::ConfigError;
use crate::json::{self, Json, Number};

/// Parse one JSON document and read a `T` from it. A syntax error has no path: it says
/// where in the text it is.
pub fn read<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConfigError> {
    let doc = json::parse(bytes).map_err(|e| ConfigError::new("", e.to_string()))?;
    read_tree(&doc, "")
}

/// Read a `T` from a tree at `path`.
pub fn read_tree<T: DeserializeOwned>(doc: &Json, path: &str) -> Result<T, ConfigError> {
    let root = if path.is_empty() { Path::Root } else { Path::Field(&Path::Root, path) };
    T::deserialize(Node { value: doc, path: &root }).map_err(|e| e.into_config(&root))
}

/// Tests read wire structs from JSON text.
#[cfg(test)]
pub fn read_str<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    read(text.as_bytes())
}

/// Where a value is: `routes[0].checks`.
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Field(Path::Root, key) => f.write_str(key),
            Path::Field(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// A wire error on its way out: the path is filled in by the innermost value that
/// knows it. Boxed: every derived visitor passes it up through each level, and one
/// pointer moves in less code than the whole error.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    path: Option<String>,
    /// The member of the object at `path` the message is about (missing, repeated).
    field: Option<&'static str>,
    message: String,
}

impl Error {
    fn new(field: Option<&'static str>, message: String) -> Self {
        Error(Box::new(Inner { path: None, field, message }))
    }

    fn at(mut self, path: &Path<'_>) -> Self {
        let e = &mut *self.0;
        if e.path.is_none() {
            let mut p = path.to_string();
            if let Some(field) = e.field.take() {
                if !p.is_empty() {
                    p.push('.');
                }
                p.push_str(field);
            }
            e.path = Some(p);
        }
        self
    }

    fn into_config(self, root: &Path<'_>) -> ConfigError {
        let e = *self.at(root).0;
        ConfigError::new(e.path.unwrap_or_default(), e.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(None, msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Self::custom(format_args!("expected {}, found {}", expected(exp), found(&unexp)))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Self::invalid_type(unexp, exp)
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        Self::custom(format_args!("expected {}, found {len} items", expected(exp)))
    }

    // The variant written may be a misplaced secret: only the choices are named.
    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        Self::custom(format_args!("expected one of {}", quoted(expected)))
    }

    // A member name is not a value: naming it is what helps to find a typo.
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let list = match expected {
            [] => "there are no fields".to_string(),
            [one] => format!("expected `{one}`"),
            [a, b] => format!("expected `{a}` or `{b}`"),
            all => format!("expected one of {}", quoted(all)),
        };
        Self::custom(format_args!("unknown field `{field}`, {list}"))
    }

    fn missing_field(field: &'static str) -> Self {
        Error::new(Some(field), format!("missing field `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Error::new(Some(field), format!("duplicate field `{field}`"))
    }
}

fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// What a visitor expected, in the words of JSON rather than of Rust.
fn expected(exp: &dyn Expected) -> String {
    let text = exp.to_string();
    match text.as_str() {
        "a boolean" => "true or false".to_string(),
        "a sequence" => "an array".to_string(),
        "a map" => "an object".to_string(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".to_string(),
        t if t.starts_with("struct ") => "an object".to_string(),
        _ => text,
    }
}

/// The kind of a value found, never the value itself.
fn found(unexp: &Unexpected<'_>) -> &'static str {
    match unexp {
        Unexpected::Bool(true) => "true",
        Unexpected::Bool(false) => "false",
        Unexpected::Signed(i) if *i < 0 => "a negative integer",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "an integer",
        // serde_json reads a number as a float when it has a fraction or an exponent, or
        // does not fit 64 bits.
        Unexpected::Float(_) => "a number with a fraction, an exponent or too many digits",
        Unexpected::Str(_) | Unexpected::Char(_) => "a string",
        Unexpected::Unit => "null",
        Unexpected::Seq => "an array",
        Unexpected::Map => "an object",
        _ => "a value of another kind",
    }
}

/// A value of the tree, at its path, read by a wire type.
struct Node<'a> {
    value: &'a Json,
    path: &'a Path<'a>,
}

impl<'de> Deserializer<'de> for Node<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let path = self.path;
        let result = match self.value {
            Json::Null => visitor.visit_unit(),
            Json::Bool(b) => visitor.visit_bool(*b),
            Json::Number(Number::U64(n)) => visitor.visit_u64(*n),
            Json::Number(Number::I64(n)) => visitor.visit_i64(*n),
            Json::Number(Number::F64(n)) => visitor.visit_f64(*n),
            Json::String(s) => visitor.visit_str(s),
            Json::Array(items) => visitor.visit_seq(Items { items: items.iter(), path, index: 0 }),
            Json::Object(members) => visitor.visit_map(Members { members: members.iter(), path, value: None }),
        };
        result.map_err(|e| e.at(path))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // Never `visit_seq`: a struct is not read from an array (and the derived code
        // that would read one is left out of the plugin).
        match self.value {
            Json::Object(members) => {
                visitor.visit_map(Members { members: members.iter(), path: self.path, value: None })
            }
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
        .map_err(|e: Error| e.at(self.path))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Json::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

fn unexpected(v: &Json) -> Unexpected<'static> {
    match v {
        Json::Null => Unexpected::Unit,
        Json::Bool(b) => Unexpected::Bool(*b),
        Json::Number(Number::U64(n)) => Unexpected::Unsigned(*n),
        Json::Number(Number::I64(n)) => Unexpected::Signed(*n),
        Json::Number(Number::F64(n)) => Unexpected::Float(*n),
        Json::String(_) => Unexpected::Str(""),
        Json::Array(_) => Unexpected::Seq,
        Json::Object(_) => Unexpected::Map,
    }
}

struct Items<'a> {
    items: std::slice::Iter<'a, Json>,
    path: &'a Path<'a>,
    index: usize,
}

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some(value) = self.items.next() else { return Ok(None) };
        let path = Path::Index(self.path, self.index);
        self.index += 1;
        seed.deserialize(Node { value, path: &path }).map(Some).map_err(|e| e.at(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Members<'a> {
    members: std::slice::Iter<'a, (String, Json)>,
    path: &'a Path<'a>,
    /// The member whose name was just read.
    value: Option<&'a (String, Json)>,
}

impl<'de> MapAccess<'de> for Members<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some(member) = self.members.next() else { return Ok(None) };
        self.value = Some(member);
        let key: StrDeserializer<'_, Error> = StrDeserializer::new(&member.0);
        seed.deserialize(key).map(Some).map_err(|e| e.at(&Path::Field(self.path, &member.0)))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let (key, value) = self.value.take().ok_or_else(|| de::Error::custom("a value without a name"))?;
        let path = Path::Field(self.path, key);
        seed.deserialize(Node { value, path: &path }).map_err(|e| e.at(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.members.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: Option<u64>,
        flag: Option<bool>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        name: String,
        tags: Option<Vec<String>>,
        #[serde(default)]
        inner: Inner,
        list: Vec<Inner>,
    }

    fn read_outer(json: &str) -> Result<Outer, String> {
        read::<Outer>(json.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_fields_defaults_and_nulls() {
        let o = read_outer(r#"{"name":"a","tags":null,"list":[{"n":3},{"flag":true,"n":null}]}"#).unwrap();
        assert_eq!(
            o,
            Outer {
                name: "a".into(),
                tags: None,
                inner: Inner::default(),
                list: vec![Inner { n: Some(3), flag: None }, Inner { n: None, flag: Some(true) }],
            }
        );
        let o = read_outer(r#" {"list":[],"tags":["x","y"],"name":"a\u00e9"} "#).unwrap();
        assert_eq!((o.name.as_str(), o.tags), ("a\u{e9}", Some(vec!["x".into(), "y".into()])));
    }

    #[test]
    fn errors_name_the_field_and_the_kind_found() {
        let table: &[(&str, &str)] = &[
            (
                r#"{"name":"a","list":[],"colour":1}"#,
                "colour: unknown field `colour`, expected one of `name`, `tags`, `inner`, `list`",
            ),
            (r#"{"name":"a","list":[{"m":1}]}"#, "list[0].m: unknown field `m`, expected `n` or `flag`"),
            (r#"{"list":[]}"#, "name: missing field `name`"),
            (r#"{"name":"a","list":[{}],"inner":{"n":1,"n":2}}"#, "inner.n: duplicate field `n`"),
            (r#"{"name":"a","list":[{"n":"300"}]}"#, "list[0].n: expected a non-negative integer, found a string"),
            (r#"{"name":"a","list":[{"n":-1}]}"#, "list[0].n: expected a non-negative integer, found a negative integer"),
            (
                r#"{"name":"a","list":[{"n":1.5}]}"#,
                "list[0].n: expected a non-negative integer, found a number with a fraction, an exponent or too many digits",
            ),
            (
                r#"{"name":"a","list":[{"n":18446744073709551616}]}"#,
                "list[0].n: expected a non-negative integer, found a number with a fraction, an exponent or too many digits",
            ),
            (r#"{"name":"a","list":[{"flag":"yes"}]}"#, "list[0].flag: expected true or false, found a string"),
            (r#"{"name":1,"list":[]}"#, "name: expected a string, found an integer"),
            (r#"{"name":null,"list":[]}"#, "name: expected a string, found null"),
            (r#"{"name":"a","tags":["x",false],"list":[]}"#, "tags[1]: expected a string, found false"),
            (r#"{"name":"a","tags":{},"list":[]}"#, "tags: expected an array, found an object"),
            (r#"{"name":"a","inner":null,"list":[]}"#, "inner: expected an object, found null"),
            // A derived struct would read an array by position: refused.
            (r#"{"name":"a","inner":[1,true],"list":[]}"#, "inner: expected an object, found an array"),
            (r#"["a",null,{},[]]"#, "(top level): expected an object, found an array"),
            (r#"{"name":"a","list":[] } x"#, "(top level): trailing characters at line 1 column 25"),
            (r#"{"name":"a","list":["#, "(top level): EOF while parsing a list at line 1 column 20"),
            (r#"{"name":"a","list":[{"n":1e999}]}"#, "(top level): number out of range at line 1 column"),
            (r#"{"name":"\ud800","list":[]}"#, "(top level): unexpected end of hex escape at line 1 column"),
        ];
        for (json, want) in table {
            let got = read_outer(json).unwrap_err();
            assert!(got.starts_with(want), "{json}\n got {got:?}\nwant {want:?}");
        }
    }

    /// serde_json hands every member to the derived visitor, which refuses a second one
    /// of the same name, however it is spelt.
    #[test]
    fn repeated_fields_are_refused() {
        for json in [
            r#"{"name":"a","name":"a","list":[]}"#,
            r#"{"name":"a","list":[],"n\u0061me":"b"}"#,
            r#"{"name":"a","list":[],"list":[]}"#,
            r#"{"name":"a","list":[],"tags":null,"tags":["x"]}"#,
        ] {
            let got = read_outer(json).unwrap_err();
            assert!(got.contains(": duplicate field `"), "{json}: {got}");
        }
        let e = read::<Outer>(br#"{"name":"a","list":[{"flag":true,"flag":false}]}"#).unwrap_err();
        assert_eq!((e.path.as_str(), e.message.as_str()), ("list[0].flag", "duplicate field `flag`"));
    }

    /// A secret written where another kind of value belongs is never printed, whatever
    /// was expected there.
    #[test]
    fn a_misplaced_secret_is_never_quoted() {
        const SECRET: &str = "hunter2-s3cr3t";
        for json in [
            r#"{"name":"a","list":[{"n":"S"}]}"#,
            r#"{"name":"a","list":[{"flag":"S"}]}"#,
            r#"{"name":"a","list":["S"]}"#,
            r#"{"name":"a","tags":"S","list":[]}"#,
            r#"{"name":"a","inner":"S","list":[]}"#,
            r#"{"name":"a","list":{"S":1}}"#,
            r#""S""#,
        ] {
            let json = json.replace('S', SECRET);
            let got = read_outer(&json).unwrap_err();
            assert!(!got.contains("hunter2"), "{json}: {got}");
        }
    }
}
