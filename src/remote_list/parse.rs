//! Reading a list out of the API's answer. The Copyleaks format is not published, so the
//! reader is tolerant about the shape (an array, an array of objects, an object holding
//! such an array) and strict about the content (every entry must look like one).

use std::fmt;

use crate::json::{self, Json};

/// Larger answers are refused without parsing: no list of thumbprints or CIDRs is that big.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// More entries than this are refused: it bounds the shared-data value and each
/// worker's copy.
pub const MAX_ENTRIES: usize = 10_000;
/// A thumbprint with colons is 95 characters, an IPv6 CIDR at most 43.
const MAX_ENTRY_LEN: usize = 256;

/// What the entries of a list are and how they are read, supplied by the check that
/// uses the list.
#[derive(Debug, Clone, Copy)]
pub enum EntryKind {
    /// Values (thumbprints, CIDRs) in an answer whose shape is guessed ([`parse_list`]).
    Values {
        /// Whether a string is a valid entry: picks the member of objects that holds the
        /// value, and validates every entry.
        looks_like: fn(&str) -> bool,
        /// The form stored and compared (e.g. lower-case hex without ':'), applied to
        /// entries that passed `looks_like`.
        canonical: fn(&str) -> String,
    },
    /// A document of a published format (a JWKS), read whole by its own reader into
    /// canonical entries, or refused with the reader's reason; `pointer` and `field` do
    /// not apply.
    Document { read: fn(&[u8]) -> Result<Vec<String>, String> },
}

/// Why an answer was refused (the last good list stays). Never carries document text:
/// the answer is not ours and could hold anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    TooLarge {
        bytes: usize,
    },
    NotJson,
    /// An object with the same member twice: which one did the sender mean? Refused.
    DuplicateKey,
    PointerNotFound,
    NotAnArray,
    /// No array whose first entry looks like a value (and no empty one either).
    NoArray,
    /// The list is empty: more likely an outage than "trust nobody".
    Empty,
    TooManyEntries {
        count: usize,
    },
    /// Not a string (or an object, for arrays of objects), or not a valid value.
    InvalidEntry {
        index: usize,
    },
    /// An object without the member that holds the value.
    MissingField {
        index: usize,
    },
    /// The first object has no member whose value looks like a value.
    NoField,
    /// A document reader's refusal (never document text).
    Document(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLarge { bytes } => {
                write!(f, "answer of {bytes} bytes is over the {MAX_BODY_BYTES}-byte limit")
            }
            ParseError::NotJson => f.write_str("answer is not JSON"),
            ParseError::DuplicateKey => f.write_str("answer has an object with a repeated member"),
            ParseError::PointerNotFound => f.write_str("`pointer` does not exist in the answer"),
            ParseError::NotAnArray => f.write_str("`pointer` does not point at an array"),
            ParseError::NoArray => f.write_str("no array of entries found (set `pointer`)"),
            ParseError::Empty => f.write_str("the list is empty"),
            ParseError::TooManyEntries { count } => write!(f, "{count} entries, over the limit of {MAX_ENTRIES}"),
            ParseError::InvalidEntry { index } => {
                write!(
                    f,
                    "entry [{index}] is not a valid value (the whole answer is refused; check `pointer` and `field`)"
                )
            }
            ParseError::MissingField { index } => write!(f, "entry [{index}] lacks the member holding the value"),
            ParseError::NoField => f.write_str("no member of the first entry looks like a value (set `field`)"),
            ParseError::Document(why) => f.write_str(why),
        }
    }
}

fn member<'a>(members: &'a [(String, Json)], name: &str) -> Option<&'a Json> {
    members.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn resolve_pointer<'a>(doc: &'a Json, pointer: &str) -> Option<&'a Json> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return if pointer.is_empty() { Some(doc) } else { None };
    };
    let mut cur = doc;
    for raw in rest.split('/') {
        let token = raw.replace("~1", "/").replace("~0", "~");
        cur = match cur {
            Json::Object(m) => member(m, &token)?,
            Json::Array(items) => {
                let canonical_index = !token.is_empty()
                    && token.bytes().all(|b| b.is_ascii_digit())
                    && (token == "0" || !token.starts_with('0'));
                if !canonical_index {
                    return None;
                }
                items.get(token.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// The first member (document order) whose string value looks like a value.
fn guess_field(members: &[(String, Json)], looks_like: fn(&str) -> bool) -> Option<&str> {
    members.iter().find_map(|(k, v)| match v {
        Json::String(s) if looks_like(s.trim()) => Some(k.as_str()),
        _ => None,
    })
}

/// Whether an array's first entry yields something that looks like a value.
fn starts_with_value(items: &[Json], field: &str, looks_like: fn(&str) -> bool) -> bool {
    match items.first() {
        Some(Json::String(s)) => looks_like(s.trim()),
        Some(Json::Object(m)) if field.is_empty() => guess_field(m, looks_like).is_some(),
        Some(Json::Object(m)) => matches!(member(m, field), Some(Json::String(s)) if looks_like(s.trim())),
        _ => false,
    }
}

/// Extract the entries of a remote list answer.
///
/// Where the array is: at `pointer` when set; else the document itself when it is an
/// array; else, in a top-level object, the first member (document order) holding an
/// array whose first entry looks like a value. Entries are strings, or objects whose
/// member `field` (when set; else the first member of the first object whose value
/// looks like one) holds the string; one array holds one kind.
///
/// Every entry must pass `looks_like` (after trimming white space): one that does not
/// means the shape was misread (wrong member, format change), so the whole answer is
/// refused rather than trusted in part, and the last good list stays. The operator sees
/// `fetch_failed` and the index, and can set `pointer`/`field`. An empty list is refused
/// too: it would deny every request, and an API that answers `[]` is far more likely
/// broken than revoking everything; the last good list still ages out at
/// `max_stale_seconds`. Entries are returned trimmed, in order, not canonicalised.
pub fn parse_list(
    body: &[u8],
    pointer: &str,
    field: &str,
    looks_like: fn(&str) -> bool,
) -> Result<Vec<String>, ParseError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ParseError::TooLarge { bytes: body.len() });
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let doc = json::parse(body).map_err(|_| ParseError::NotJson)?;
    // "The first member" would be ambiguous, and so would the sender's intent.
    if doc.has_repeated_member() {
        return Err(ParseError::DuplicateKey);
    }
    let items: &[Json] = if pointer.is_empty() {
        match &doc {
            Json::Array(items) => items,
            Json::Object(members) => {
                let arrays = members.iter().filter_map(|(_, v)| match v {
                    Json::Array(items) => Some(items.as_slice()),
                    _ => None,
                });
                let mut saw_empty = false;
                let mut found = None;
                for items in arrays {
                    saw_empty |= items.is_empty();
                    if starts_with_value(items, field, looks_like) {
                        found = Some(items);
                        break;
                    }
                }
                match found {
                    Some(items) => items,
                    None if saw_empty => return Err(ParseError::Empty),
                    None => return Err(ParseError::NoArray),
                }
            }
            _ => return Err(ParseError::NoArray),
        }
    } else {
        match resolve_pointer(&doc, pointer) {
            None => return Err(ParseError::PointerNotFound),
            Some(Json::Array(items)) => items,
            Some(_) => return Err(ParseError::NotAnArray),
        }
    };
    if items.is_empty() {
        return Err(ParseError::Empty);
    }
    if items.len() > MAX_ENTRIES {
        return Err(ParseError::TooManyEntries { count: items.len() });
    }
    let objects = matches!(items.first(), Some(Json::Object(_)));
    let chosen: &str = match items.first() {
        Some(Json::Object(m)) if field.is_empty() => guess_field(m, looks_like).ok_or(ParseError::NoField)?,
        _ => field,
    };
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let raw = match item {
            Json::String(s) if !objects => s,
            Json::Object(m) if objects => match member(m, chosen) {
                Some(Json::String(s)) => s,
                Some(_) => return Err(ParseError::InvalidEntry { index }),
                None => return Err(ParseError::MissingField { index }),
            },
            _ => return Err(ParseError::InvalidEntry { index }),
        };
        let value = raw.trim();
        if value.is_empty() || value.len() > MAX_ENTRY_LEN || value.chars().any(char::is_control) || !looks_like(value)
        {
            return Err(ParseError::InvalidEntry { index });
        }
        out.push(value.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_list::testing::*;

    fn parse(body: &str) -> Result<Vec<String>, ParseError> {
        parse_list(body.as_bytes(), "", "", looks_like_thumbprint)
    }

    #[test]
    fn accepts_an_array_of_strings() {
        assert_eq!(parse(&format!(r#"["{SHA1}", " {SHA256} "]"#)), Ok(vec![SHA1.to_string(), SHA256.to_string()]));
        let spaced = "3f 2a 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 01 02";
        assert_eq!(parse(&format!(r#"["{spaced}"]"#)), Ok(vec![spaced.to_string()]));
        // A UTF-8 byte order mark is tolerated.
        let bom = [&b"\xEF\xBB\xBF"[..], format!(r#"["{SHA1}"]"#).as_bytes()].concat();
        assert_eq!(parse_list(&bom, "", "", looks_like_thumbprint), Ok(vec![SHA1.to_string()]));
    }

    #[test]
    fn accepts_arrays_of_objects_with_any_member_name() {
        for name in ["thumbprint", "sha1", "fingerprint", "value", "Thumbprint"] {
            let doc = format!(
                r#"[{{"id":7,"name":"copyleaks-2025","{name}":"{SHA1}","active":true}},{{"id":8,"name":"x","{name}":"{SHA256}"}}]"#
            );
            assert_eq!(parse(&doc), Ok(vec![SHA1.to_string(), SHA256.to_string()]), "{name}");
        }
        // The first member that looks like a value, in document order (not alphabetical).
        let both = format!(r#"[{{"sha256":"{SHA256}","sha1":"{SHA1}"}}]"#);
        assert_eq!(parse(&both), Ok(vec![SHA256.to_string()]));
        assert_eq!(parse_list(both.as_bytes(), "", "sha1", looks_like_thumbprint), Ok(vec![SHA1.to_string()]));
        // The member is chosen once, from the first object: every object must have it.
        let drift = format!(r#"[{{"sha1":"{SHA1}"}},{{"thumbprint":"{SHA1}"}}]"#);
        assert_eq!(parse(&drift), Err(ParseError::MissingField { index: 1 }));
    }

    #[test]
    fn accepts_an_object_holding_the_array() {
        let doc = format!(r#"{{"count":2,"certificates":["{SHA1}","{SHA256}"]}}"#);
        assert_eq!(parse(&doc), Ok(vec![SHA1.to_string(), SHA256.to_string()]));
        // Arrays that hold no value (or nothing) are passed over for the one that does.
        let doc = format!(r#"{{"errors":[],"warnings":["none"],"data":[{{"thumbprint":"{SHA1}"}}]}}"#);
        assert_eq!(parse(&doc), Ok(vec![SHA1.to_string()]));
        // Only top-level members are searched.
        let nested = format!(r#"{{"data":{{"certificates":["{SHA1}"]}}}}"#);
        assert_eq!(parse(&nested), Err(ParseError::NoArray));
    }

    #[test]
    fn explicit_pointer_and_field() {
        let doc = format!(
            r#"{{"data":{{"a/b":[{{"hash":"{SHA256}","sha1":"{SHA1}"}}],"list":[["{SHA1}"]]}},"other":["{SHA256}"]}}"#
        );
        let p = |pointer: &str, field: &str| parse_list(doc.as_bytes(), pointer, field, looks_like_thumbprint);
        assert_eq!(p("/data/a~1b", "sha1"), Ok(vec![SHA1.to_string()]));
        assert_eq!(p("/data/a~1b", ""), Ok(vec![SHA256.to_string()]));
        assert_eq!(p("/data/list/0", ""), Ok(vec![SHA1.to_string()]));
        assert_eq!(p("/data/list/00", ""), Err(ParseError::PointerNotFound));
        assert_eq!(p("/data/list/1", ""), Err(ParseError::PointerNotFound));
        assert_eq!(p("/data/missing", ""), Err(ParseError::PointerNotFound));
        assert_eq!(p("/data", ""), Err(ParseError::NotAnArray));
        assert_eq!(p("/data/a~1b", "name"), Err(ParseError::MissingField { index: 0 }));
        // With a pointer, the first top-level array is not what counts.
        assert_eq!(p("/other", ""), Ok(vec![SHA256.to_string()]));
    }

    #[test]
    fn refuses_garbage() {
        let cases: Vec<(String, ParseError)> = vec![
            ("".into(), ParseError::NotJson),
            ("<html>502 Bad Gateway</html>".into(), ParseError::NotJson),
            (format!(r#"["{SHA1}"] trailing"#), ParseError::NotJson),
            (format!(r#"["{SHA1}""#), ParseError::NotJson),
            ("\u{0}".into(), ParseError::NotJson),
            ("42".into(), ParseError::NoArray),
            (format!(r#""{SHA1}""#), ParseError::NoArray),
            ("null".into(), ParseError::NoArray),
            ("{}".into(), ParseError::NoArray),
            (r#"{"error":"unauthorized","codes":[401]}"#.into(), ParseError::NoArray),
            ("[]".into(), ParseError::Empty),
            (r#"{"certificates":[]}"#.into(), ParseError::Empty),
            (format!(r#"["{SHA1}","not-a-thumbprint"]"#), ParseError::InvalidEntry { index: 1 }),
            (format!(r#"["{SHA1}",42]"#), ParseError::InvalidEntry { index: 1 }),
            (format!(r#"["{SHA1}",{{"sha1":"{SHA1}"}}]"#), ParseError::InvalidEntry { index: 1 }),
            (format!(r#"[{{"sha1":"{SHA1}"}},"{SHA1}"]"#), ParseError::InvalidEntry { index: 1 }),
            (format!(r#"[{{"sha1":"{SHA1}"}},{{"sha1":5}}]"#), ParseError::InvalidEntry { index: 1 }),
            (format!(r#"["{SHA1}",""]"#), ParseError::InvalidEntry { index: 1 }),
            (r#"[{"name":"a","id":1}]"#.into(), ParseError::NoField),
            (format!(r#"[{{"sha1":"{SHA1}","sha1":"{SHA256}"}}]"#), ParseError::DuplicateKey),
            (format!(r#"{{"a":1,"a":2,"list":["{SHA1}"]}}"#), ParseError::DuplicateKey),
        ];
        for (body, want) in cases {
            assert_eq!(parse(&body), Err(want), "{body}");
        }
        // Surrounding white space is trimmed; a control character inside an entry (after
        // JSON unescaping) is refused whatever `looks_like` says.
        assert_eq!(parse(&format!(r#"["\t{SHA1}\n"]"#)), Ok(vec![SHA1.to_string()]));
        assert_eq!(parse_list(br#"["ok","a\u0007b"]"#, "", "", |_| true), Err(ParseError::InvalidEntry { index: 1 }));
        // Not UTF-8.
        assert_eq!(parse_list(b"[\"\xff\"]", "", "", looks_like_thumbprint), Err(ParseError::NotJson));
        // An overlong entry is refused before looks_like sees it.
        let long = format!(r#"["{}"]"#, "a".repeat(MAX_ENTRY_LEN + 1));
        assert_eq!(parse_list(long.as_bytes(), "", "", |_| true), Err(ParseError::InvalidEntry { index: 0 }));
    }

    #[test]
    fn hostile_input_is_bounded_and_never_panics() {
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            parse_list(&huge, "", "", looks_like_thumbprint),
            Err(ParseError::TooLarge { bytes: MAX_BODY_BYTES + 1 })
        );
        let many = format!("[{}]", vec![format!("\"{SHA1}\""); MAX_ENTRIES + 1].join(","));
        assert!(many.len() <= MAX_BODY_BYTES);
        assert_eq!(parse(&many), Err(ParseError::TooManyEntries { count: MAX_ENTRIES + 1 }));
        let enough = format!("[{}]", vec![format!("\"{SHA1}\""); MAX_ENTRIES].join(","));
        assert_eq!(parse(&enough).map(|v| v.len()), Ok(MAX_ENTRIES));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse(&deep[..MAX_BODY_BYTES.min(deep.len())]), Err(ParseError::NotJson));
        let wide = format!("{{{}}}", (0..50_000).map(|i| format!("\"k{i}\":0")).collect::<Vec<_>>().join(","));
        assert_eq!(parse(&wide), Err(ParseError::NoArray));
        for body in ["[", "{", "[\"", "{\"a\":", "[{]", "\"\\u", "[1e999999]", "[-]"] {
            assert!(parse(body).is_err(), "{body}");
        }
    }

    #[test]
    fn the_parser_is_generic_over_entry_kinds() {
        let doc = r#"{"prefixes":[{"region":"eu","cidr":"192.0.2.0/24"},{"region":"us","cidr":"2001:db8::/32"}]}"#;
        assert_eq!(
            parse_list(doc.as_bytes(), "", "", looks_like_ip),
            Ok(vec!["192.0.2.0/24".to_string(), "2001:db8::/32".to_string()])
        );
        assert_eq!(parse_list(br#"["198.51.100.7","::1"]"#, "", "", looks_like_ip).map(|v| v.len()), Ok(2));
        assert_eq!(
            parse_list(br#"["198.51.100.7","999.1.1.1"]"#, "", "", looks_like_ip),
            Err(ParseError::InvalidEntry { index: 1 })
        );
    }

    #[test]
    fn parse_errors_have_metric_safe_reasons_and_no_document_text() {
        let doc = r#"["secret-looking-garbage"]"#;
        let e = parse(doc).unwrap_err();
        assert!(!e.to_string().contains("garbage"));
        for e in [
            ParseError::TooLarge { bytes: 1 },
            ParseError::NotJson,
            ParseError::DuplicateKey,
            ParseError::PointerNotFound,
            ParseError::NotAnArray,
            ParseError::NoArray,
            ParseError::Empty,
            ParseError::TooManyEntries { count: 1 },
            ParseError::InvalidEntry { index: 1 },
            ParseError::MissingField { index: 1 },
            ParseError::NoField,
        ] {
            assert!(!e.to_string().is_empty());
        }
    }
}
