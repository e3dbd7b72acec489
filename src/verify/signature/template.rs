//! The signed bytes: a template of literal text and request parts, and the parts that
//! have to be rebuilt from the request (the URL the provider called, the query, the
//! form parameters in sorted order).

use std::borrow::Cow;

use crate::error::ConfigError;
use crate::request::RequestHead;

/// A piece of the signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(Vec<u8>),
    /// The raw body, as received.
    Body,
    Timestamp,
    Id,
    Method,
    /// `:path` as sent, query string included.
    Path,
    /// The query string without its `?` (empty when there is none).
    Query,
    /// The URL the provider called: `public_url`, or scheme, authority and `:path`.
    Url,
    /// The body read as `application/x-www-form-urlencoded`: every name followed by its
    /// value, decoded, sorted by name then value, with nothing in between (Twilio).
    Form,
    /// The shared secret itself, for a digest scheme (`Algorithm::Digest`); filled in by
    /// the key, never from the request.
    Secret,
}

/// The placeholders a template may use, for error messages.
pub const PLACEHOLDERS: &str = "body, timestamp, id, method, path, query, url, form, secret";

pub fn parse(t: &str, path: &str) -> Result<Vec<Part>, ConfigError> {
    let mut parts = Vec::new();
    let mut literal = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find(['{', '}']) {
        let (before, from) = rest.split_at(open);
        let Some(after) = from.strip_prefix('{') else {
            return Err(ConfigError::new(path, "unbalanced '}' in template"));
        };
        literal.extend_from_slice(before.as_bytes());
        let (name, tail) = after.split_once('}').ok_or_else(|| ConfigError::new(path, "unclosed '{' in template"))?;
        let part = match name {
            "body" => Part::Body,
            "timestamp" => Part::Timestamp,
            "id" => Part::Id,
            "method" => Part::Method,
            "path" => Part::Path,
            "query" => Part::Query,
            "url" => Part::Url,
            "form" => Part::Form,
            "secret" => Part::Secret,
            other => {
                return Err(ConfigError::new(
                    path,
                    format!("unknown placeholder {{{other}}} (expected {PLACEHOLDERS})"),
                ))
            }
        };
        if !literal.is_empty() {
            parts.push(Part::Literal(std::mem::take(&mut literal)));
        }
        parts.push(part);
        rest = tail;
    }
    literal.extend_from_slice(rest.as_bytes());
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Ok(parts)
}

/// A template written as text, for presets (their templates are known to parse).
pub fn literal(s: &str) -> Part {
    Part::Literal(s.as_bytes().to_vec())
}

/// The URL the provider called. Behind proxies that rewrite the host or the path, the
/// operator configures `public_url` (without query); the request's query is appended.
pub fn url<'a>(head: &'a RequestHead, public_url: Option<&str>) -> Cow<'a, [u8]> {
    let query = query(head);
    if let Some(base) = public_url {
        let mut u = base.as_bytes().to_vec();
        if !query.is_empty() && !base.contains('?') {
            u.push(b'?');
            u.extend_from_slice(query);
        }
        return Cow::Owned(u);
    }
    let first = |name: &str| head.headers.get_all(name).next();
    // Envoy sets x-forwarded-proto to the scheme the client used (and overwrites a
    // client's value at the edge, with use_remote_address); `:scheme` otherwise.
    let scheme = first("x-forwarded-proto")
        .map(|v| v.split(|&c| c == b',').next().unwrap_or_default().trim_ascii())
        .filter(|v| !v.is_empty())
        .or_else(|| first(":scheme"))
        .unwrap_or(b"https");
    let authority = first(":authority").or_else(|| first("host")).unwrap_or_default();
    let mut u = Vec::with_capacity(scheme.len() + 3 + authority.len() + head.raw_path().len());
    u.extend_from_slice(scheme);
    u.extend_from_slice(b"://");
    u.extend_from_slice(authority);
    u.extend_from_slice(head.raw_path().as_bytes());
    Cow::Owned(u)
}

/// The query string of `:path`, without `?`.
pub fn query(head: &RequestHead) -> &[u8] {
    match head.raw_path().split_once('?') {
        Some((_, q)) => q.as_bytes(),
        None => b"",
    }
}

/// `application/x-www-form-urlencoded` pairs, decoded (`+` is a space). `None` when a
/// percent escape is broken: such a body has no one reading.
pub fn form_pairs(s: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    s.split(|&c| c == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut halves = p.splitn(2, |&c| c == b'=');
            let (k, v) = (halves.next().unwrap_or_default(), halves.next().unwrap_or_default());
            Some((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

/// The value of query parameter `name` (decoded), if it appears exactly once.
pub fn query_param(head: &RequestHead, name: &str) -> Result<Option<Vec<u8>>, Repeated> {
    let pairs = form_pairs(query(head)).ok_or(Repeated)?;
    let mut found = pairs.into_iter().filter(|(k, _)| k == name.as_bytes()).map(|(_, v)| v);
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => Ok(Some(v)),
        _ => Err(Repeated),
    }
}

/// A query parameter given twice (or a query that does not decode): refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

/// The form body as Twilio signs it: names in sorted order, each name's values sorted,
/// every name and value concatenated. `None` when the body is not form-encoded.
pub fn sorted_form(body: &[u8]) -> Option<Vec<u8>> {
    let mut pairs = form_pairs(body)?;
    crate::sort::sort(&mut pairs);
    pairs.dedup();
    let mut out = Vec::with_capacity(body.len());
    for (k, v) in pairs {
        out.extend_from_slice(&k);
        out.extend_from_slice(&v);
    }
    Some(out)
}

fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex_value(*s.get(i + 1)?)?;
                let lo = hex_value(*s.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decode only the escapes in `keep` (upper-case hex digits after `%`), leaving
/// every other escape as sent: HubSpot's v3 signature is over the URI with a fixed set of
/// characters decoded.
pub fn decode_some(s: &[u8], keep: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c == b'%' {
            if let (Some(&h), Some(&l)) = (s.get(i + 1), s.get(i + 2)) {
                if let (Some(h), Some(l)) = (hex_value(h), hex_value(l)) {
                    let decoded = h << 4 | l;
                    if keep.contains(&decoded) {
                        out.push(decoded);
                        i += 3;
                        continue;
                    }
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Headers;

    fn head(pairs: &[(&str, &str)]) -> RequestHead {
        let h = Headers::new(pairs.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect());
        RequestHead::from_headers(h, None, 0)
    }

    #[test]
    fn url_from_the_request_or_public_url() {
        let h = head(&[(":scheme", "http"), (":authority", "hooks.example.com:8443"), (":path", "/t?a=1&b=2")]);
        assert_eq!(&*url(&h, None), b"http://hooks.example.com:8443/t?a=1&b=2");
        let fwd =
            head(&[(":scheme", "http"), ("x-forwarded-proto", "https"), (":authority", "e.com"), (":path", "/t")]);
        assert_eq!(&*url(&fwd, None), b"https://e.com/t");
        assert_eq!(
            &*url(&h, Some("https://public.example.com/hooks/t")),
            b"https://public.example.com/hooks/t?a=1&b=2"
        );
        assert_eq!(&*url(&h, Some("https://p.example.com/x?k=v")), b"https://p.example.com/x?k=v");
        assert_eq!(query(&h), b"a=1&b=2");
        assert_eq!(query(&fwd), b"");
    }

    #[test]
    fn form_sorted_as_twilio_signs_it() {
        assert_eq!(sorted_form(b"b=2&a=1+x&c=%2B&a=0").unwrap(), b"a0a1 xb2c+");
        assert_eq!(sorted_form(b"").unwrap(), b"");
        assert_eq!(sorted_form(b"a=%zz"), None);
        assert_eq!(sorted_form(b"a=%2"), None);
    }

    #[test]
    fn query_param_once() {
        let h = head(&[(":path", "/x?crc_token=a%2Fb&dup=1&dup=2")]);
        assert_eq!(query_param(&h, "crc_token"), Ok(Some(b"a/b".to_vec())));
        assert_eq!(query_param(&h, "none"), Ok(None));
        assert_eq!(query_param(&h, "dup"), Err(Repeated));
    }

    #[test]
    fn template_placeholders() {
        let t = parse("{method}{url}|{query}{form}{body}", "t").unwrap();
        assert_eq!(t, vec![Part::Method, Part::Url, literal("|"), Part::Query, Part::Form, Part::Body]);
        assert!(parse("{nope}", "t").unwrap_err().to_string().contains("unknown placeholder {nope}"));
    }

    #[test]
    fn decode_only_the_listed_escapes() {
        assert_eq!(decode_some(b"/a%3Ab%2fc%20d%", b":/"), b"/a:b/c%20d%");
    }
}
