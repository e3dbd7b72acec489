//! The request as the core sees it: plain data read from the host.

use std::net::SocketAddr;

/// Request headers with lower-case names and raw byte values (a header value may be
/// any bytes; nothing here assumes UTF-8).
#[derive(Debug, Default, Clone)]
pub struct Headers(Vec<(String, Vec<u8>)>);

/// A header the check needs appears more than once: ambiguous input, refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

impl Headers {
    pub fn new(mut pairs: Vec<(String, Vec<u8>)>) -> Self {
        // Envoy hands names over in lower case already (HTTP/2 requires it, and its
        // HTTP/1 codec lowers them): look before writing, which costs a tenth.
        for (name, _) in &mut pairs {
            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                name.make_ascii_lowercase();
            }
        }
        Headers(pairs)
    }

    pub fn get_all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.0.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }

    /// The single value of `name`: `Ok(None)` when absent, `Err(Repeated)` when it
    /// appears more than once (a later parser might pick the other one).
    pub fn get_one(&self, name: &str) -> Result<Option<&[u8]>, Repeated> {
        let mut it = self.get_all(name);
        match (it.next(), it.next()) {
            (None, _) => Ok(None),
            (Some(v), None) => Ok(Some(v)),
            (Some(_), Some(_)) => Err(Repeated),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get_all(name).next().is_some()
    }
}

/// What the checks may look at before the body: taken once per request.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: String,
    /// Full `:path` including the query string (templates may sign it); [`Self::path`]
    /// is the part before the query.
    pub raw_path: String,
    pub headers: Headers,
    /// The downstream address Envoy reports (`source.address`).
    pub client: Option<SocketAddr>,
    /// Unix seconds, from the host clock.
    pub now: u64,
    /// The same instant in milliseconds (rate limiting refills in between seconds).
    pub now_ms: u64,
}

impl RequestHead {
    pub fn from_headers(headers: Headers, client: Option<SocketAddr>, now: u64) -> Self {
        let text = |name: &str| {
            headers.get_all(name).next().map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default()
        };
        let method = text(":method");
        let raw_path = text(":path");
        RequestHead { method, raw_path, headers, client, now, now_ms: now.saturating_mul(1000) }
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.raw_path.split('?').next().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&str, &[u8])]) -> RequestHead {
        let h = Headers::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect());
        RequestHead::from_headers(h, None, 0)
    }

    #[test]
    fn repeated_header_is_reported() {
        let h = head(&[("X-Sig", b"a"), ("x-sig", b"b"), ("x-one", b"\xff\x00")]);
        assert_eq!(h.headers.get_one("x-sig"), Err(Repeated));
        assert_eq!(h.headers.get_one("X-ONE"), Ok(Some(&b"\xff\x00"[..])));
        assert_eq!(h.headers.get_one("x-none"), Ok(None));
    }

    #[test]
    fn method_and_path() {
        let h =
            head(&[(":path", b"/hooks/github?x=1"), (":authority", b"Hooks.Example.com:8443"), (":method", b"POST")]);
        assert_eq!(h.path(), "/hooks/github");
        assert_eq!(h.raw_path, "/hooks/github?x=1");
        assert_eq!(h.method, "POST");
    }
}
