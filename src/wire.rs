//! Reading the wire form of the configuration out of a [`Json`] tree, by hand.
//!
//! Every wire struct implements [`FromJson`] with an [`Obj`]: the object must hold only
//! the struct's fields, each at most once, and every error names the path of the field
//! (`routes[0].checks.signature.tolerance_seconds`) and says what was expected and what
//! was found. Derived deserializers did the same at several times the code size: each
//! struct's visitor was compiled for every reader and error-tracking wrapper.

use crate::error::ConfigError;
use crate::json::{self, Json};

/// A value that can be read from the configuration at `path`.
pub trait FromJson: Sized {
    fn from_json(v: &Json, path: &str) -> Result<Self, ConfigError>;
}

/// Parse one JSON document and read a `T` from it. A syntax error has no path: it says
/// where in the text it is.
pub fn from_slice<T: FromJson>(bytes: &[u8]) -> Result<T, ConfigError> {
    let doc = json::parse(bytes).map_err(|e| ConfigError::new("", e.to_string()))?;
    T::from_json(&doc, "")
}

/// Tests read wire structs from JSON text.
#[cfg(test)]
pub fn from_str<T: FromJson>(text: &str) -> Result<T, ConfigError> {
    from_slice(text.as_bytes())
}

/// The path of member `key` of the object at `path`.
fn field_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `expected <what>, found <v>`. Strings are quoted only where a number or a boolean was
/// expected (see [`Json::describe`]).
fn mismatch(v: &Json, path: &str, what: &str, quote_strings: bool) -> ConfigError {
    ConfigError::new(path, format!("expected {what}, found {}", v.describe(quote_strings)))
}

/// An object of the configuration, checked against the fields its struct knows.
pub struct Obj<'a> {
    members: &'a [(String, Json)],
    path: &'a str,
}

impl<'a> Obj<'a> {
    /// `v` must be an object whose members are among `fields`, none written twice: a
    /// misspelt field would otherwise be ignored, and a repeated one read two ways.
    pub fn new(v: &'a Json, path: &'a str, fields: &[&str]) -> Result<Self, ConfigError> {
        let Json::Object(members) = v else {
            return Err(mismatch(v, path, "an object", false));
        };
        for (i, (key, _)) in members.iter().enumerate() {
            if !fields.contains(&key.as_str()) {
                return Err(ConfigError::new(field_path(path, key), unknown_field(key, fields)));
            }
            if members.get(..i).is_some_and(|before| before.iter().any(|(k, _)| k == key)) {
                return Err(ConfigError::new(field_path(path, key), format!("duplicate field `{key}`")));
            }
        }
        Ok(Obj { members, path })
    }

    fn get(&self, key: &str) -> Option<&'a Json> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// An optional field: absent and `null` are both `None`.
    pub fn opt<T: FromJson>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        match self.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => T::from_json(v, &field_path(self.path, key)).map(Some),
        }
    }

    /// A required field.
    pub fn req<T: FromJson>(&self, key: &str) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Err(ConfigError::new(field_path(self.path, key), format!("missing field `{key}`"))),
            Some(v) => T::from_json(v, &field_path(self.path, key)),
        }
    }

    /// A field that may be left out, with a default; written as `null` it is an error.
    pub fn or_default<T: FromJson + Default>(&self, key: &str) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(T::default()),
            Some(v) => T::from_json(v, &field_path(self.path, key)),
        }
    }
}

/// The members of an object whose keys are data (a map of header names), in the order
/// written and repeated names kept; `what` describes the expected object.
pub fn entries<'a>(v: &'a Json, path: &str, what: &str) -> Result<&'a [(String, Json)], ConfigError> {
    match v {
        Json::Object(members) => Ok(members),
        _ => Err(mismatch(v, path, what, false)),
    }
}

/// Worded as serde worded it, so operators' searches for the old text still match.
fn unknown_field(key: &str, fields: &[&str]) -> String {
    let quoted: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    match quoted.as_slice() {
        [] => format!("unknown field `{key}`, there are no fields"),
        [one] => format!("unknown field `{key}`, expected {one}"),
        [a, b] => format!("unknown field `{key}`, expected {a} or {b}"),
        all => format!("unknown field `{key}`, expected one of {}", all.join(", ")),
    }
}

impl FromJson for String {
    fn from_json(v: &Json, path: &str) -> Result<Self, ConfigError> {
        match v {
            Json::String(s) => Ok(s.clone()),
            _ => Err(mismatch(v, path, "a string", true)),
        }
    }
}

impl FromJson for u64 {
    fn from_json(v: &Json, path: &str) -> Result<Self, ConfigError> {
        let n = match v {
            Json::Number(n) => n.as_u64(),
            _ => None,
        };
        n.ok_or_else(|| mismatch(v, path, "a non-negative integer", true))
    }
}

impl FromJson for bool {
    fn from_json(v: &Json, path: &str) -> Result<Self, ConfigError> {
        match v {
            Json::Bool(b) => Ok(*b),
            _ => Err(mismatch(v, path, "true or false", true)),
        }
    }
}

/// Items at `<path>[i]`.
impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(v: &Json, path: &str) -> Result<Self, ConfigError> {
        let Json::Array(items) = v else {
            return Err(mismatch(v, path, "an array", false));
        };
        items.iter().enumerate().map(|(i, item)| T::from_json(item, &format!("{path}[{i}]"))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Default)]
    struct Inner {
        n: Option<u64>,
        flag: Option<bool>,
    }

    impl FromJson for Inner {
        fn from_json(v: &Json, path: &str) -> Result<Self, ConfigError> {
            let o = Obj::new(v, path, &["n", "flag"])?;
            Ok(Inner { n: o.opt("n")?, flag: o.opt("flag")? })
        }
    }

    #[derive(Debug, PartialEq)]
    struct Outer {
        name: String,
        tags: Option<Vec<String>>,
        inner: Inner,
        list: Vec<Inner>,
    }

    impl FromJson for Outer {
        fn from_json(v: &Json, path: &str) -> Result<Self, ConfigError> {
            let o = Obj::new(v, path, &["name", "tags", "inner", "list"])?;
            Ok(Outer {
                name: o.req("name")?,
                tags: o.opt("tags")?,
                inner: o.or_default("inner")?,
                list: o.req("list")?,
            })
        }
    }

    fn read(json: &str) -> Result<Outer, String> {
        from_slice::<Outer>(json.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_fields_defaults_and_nulls() {
        let o = read(r#"{"name":"a","tags":null,"list":[{"n":3},{"flag":true,"n":null}]}"#).unwrap();
        assert_eq!(
            o,
            Outer {
                name: "a".into(),
                tags: None,
                inner: Inner::default(),
                list: vec![Inner { n: Some(3), flag: None }, Inner { n: None, flag: Some(true) }],
            }
        );
        assert_eq!(
            read(r#"{"name":"a","tags":["x","y"],"list":[]}"#).unwrap().tags,
            Some(vec!["x".into(), "y".into()])
        );
    }

    #[test]
    fn errors_name_the_field_and_what_was_found() {
        let table: &[(&str, &str)] = &[
            (
                r#"{"name":"a","list":[],"colour":1}"#,
                "colour: unknown field `colour`, expected one of `name`, `tags`, `inner`, `list`",
            ),
            (r#"{"name":"a","list":[{"m":1}]}"#, "list[0].m: unknown field `m`, expected `n` or `flag`"),
            (r#"{"list":[]}"#, "name: missing field `name`"),
            (r#"{"name":"a","name":"b","list":[]}"#, "name: duplicate field `name`"),
            (r#"{"name":"a","list":[{"n":"300"}]}"#, "list[0].n: expected a non-negative integer, found \"300\""),
            (r#"{"name":"a","list":[{"n":-1}]}"#, "list[0].n: expected a non-negative integer, found -1"),
            (r#"{"name":"a","list":[{"n":1.5}]}"#, "list[0].n: expected a non-negative integer, found 1.5"),
            (r#"{"name":"a","list":[{"flag":"yes"}]}"#, "list[0].flag: expected true or false, found \"yes\""),
            (r#"{"name":1,"list":[]}"#, "name: expected a string, found 1"),
            (r#"{"name":null,"list":[]}"#, "name: expected a string, found null"),
            (r#"{"name":"a","tags":["x",false],"list":[]}"#, "tags[1]: expected a string, found false"),
            (r#"{"name":"a","tags":"hunter2","list":[]}"#, "tags: expected an array, found a string"),
            (r#"{"name":"a","inner":null,"list":[]}"#, "inner: expected an object, found null"),
            (r#"{"name":"a","list":["hunter2"]}"#, "list[0]: expected an object, found a string"),
            (r#"[]"#, "(top level): expected an object, found an array"),
        ];
        for (json, want) in table {
            assert_eq!(read(json).unwrap_err(), *want, "{json}");
        }
    }

    #[test]
    fn syntax_errors_say_where() {
        let e = from_slice::<Outer>(br#"{"name":"a","list":["#).unwrap_err();
        assert_eq!(e.path, "");
        assert!(e.message.contains("line 1 column"), "{e}");
        assert!(from_slice::<Outer>(br#"{"name":"a","list":[]} x"#).is_err());
        assert!(from_slice::<Outer>(b"").is_err());
    }
}
