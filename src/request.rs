//! The request as the core sees it: the host's header map, read in place.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;

/// Request headers as the host hands them over: one buffer in proxy-wasm's serialized
/// header-map layout (a little-endian `u32` count; a `u32` name length and a `u32` value
/// length per header; then each name and each value, each followed by one NUL byte),
/// read in place: a lookup borrows from the buffer, nothing is copied per header. A
/// header sent twice is two entries, in the order received. Names compare without regard
/// to ASCII case (Envoy's are lower case); values are raw bytes (any bytes: nothing here
/// assumes UTF-8).
#[derive(Default, Clone)]
pub struct Headers {
    /// Checked by [`Headers::from_map`]: every entry the count announces is there.
    map: Vec<u8>,
}

/// A header the check needs appears more than once: ambiguous input, refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

impl Headers {
    /// From name and value pairs, in order (tests, the command line, the fuzz targets).
    pub fn new(pairs: Vec<(String, Vec<u8>)>) -> Self {
        Self::from_pairs(pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_slice())))
    }

    /// Lays `pairs` out as one header map, in order: one allocation. A host that holds
    /// its headers elsewhere (the native shell: Envoy's header map) hands them over so.
    pub fn from_pairs<'a, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
        I::IntoIter: Clone,
    {
        let pairs = pairs.into_iter();
        let (count, bytes) = pairs.clone().fold((0usize, 4usize), |(count, bytes), (n, v)| {
            (count + 1, bytes.saturating_add(8).saturating_add(n.len()).saturating_add(v.len()).saturating_add(2))
        });
        // Lengths are u32 in this layout; no header map comes near 4 GiB (Envoy limits
        // a request's headers to 96 KiB by default), and one that did reads as none.
        let Some(count32) = u32::try_from(count).ok().filter(|_| u32::try_from(bytes).is_ok()) else {
            return Headers::default();
        };
        let mut map = Vec::with_capacity(bytes);
        map.extend_from_slice(&count32.to_le_bytes());
        for (n, v) in pairs.clone() {
            map.extend_from_slice(&(n.len() as u32).to_le_bytes());
            map.extend_from_slice(&(v.len() as u32).to_le_bytes());
        }
        for (n, v) in pairs {
            map.extend_from_slice(n);
            map.push(0);
            map.extend_from_slice(v);
            map.push(0);
        }
        Headers { map }
    }

    /// A header map in the layout above, as proxy-wasm's `proxy_get_header_map_pairs`
    /// returns it; `None` when it is cut short or its lengths do not add up.
    pub fn from_map(map: Vec<u8>) -> Option<Self> {
        if map.is_empty() {
            // What proxy-wasm hands over for an empty map.
            return Some(Headers::default());
        }
        let headers = Headers { map };
        let count = headers.count()?;
        (headers.pairs()?.count() == count).then_some(headers)
    }

    /// The map's bytes, in the layout above.
    pub fn as_map(&self) -> &[u8] {
        &self.map
    }

    fn count(&self) -> Option<usize> {
        let (count, _) = self.map.split_first_chunk::<4>()?;
        usize::try_from(u32::from_le_bytes(*count)).ok()
    }

    /// Every header in order: name, value, and where the value starts in the map.
    fn pairs(&self) -> Option<Pairs<'_>> {
        let count = self.count()?;
        let sizes_end = count.checked_mul(8)?.checked_add(4)?;
        let sizes = self.map.get(4..sizes_end)?;
        let data = self.map.get(sizes_end..)?;
        Some(Pairs { sizes, data, at: sizes_end })
    }

    /// Every header, name and value, in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs().into_iter().flatten().map(|(n, v, _)| (n, v))
    }

    pub fn get_all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.pairs()
            .into_iter()
            .flatten()
            .filter(move |(n, _, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v, _)| v)
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

    /// Where the first value of `name` lies in the map.
    fn first_range(&self, name: &str) -> Option<Range<usize>> {
        let (_, v, at) = self.pairs()?.find(|(n, _, _)| n.eq_ignore_ascii_case(name.as_bytes()))?;
        Some(at..at + v.len())
    }
}

/// Names only: values may be secrets.
impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(|(n, _)| String::from_utf8_lossy(n))).finish()
    }
}

struct Pairs<'a> {
    /// The (name length, value length) pairs not yet read.
    sizes: &'a [u8],
    /// The names and values not yet read.
    data: &'a [u8],
    /// Where `data` starts in the map.
    at: usize,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8], usize);

    fn next(&mut self) -> Option<Self::Item> {
        let (name_len, rest) = self.sizes.split_first_chunk::<4>()?;
        let (value_len, rest) = rest.split_first_chunk::<4>()?;
        self.sizes = rest;
        let name_len = usize::try_from(u32::from_le_bytes(*name_len)).ok()?;
        let value_len = usize::try_from(u32::from_le_bytes(*value_len)).ok()?;
        // Each name and value is followed by a NUL, which is skipped.
        let (name, rest) = self.data.split_at_checked(name_len)?;
        let (value, rest) = rest.get(1..)?.split_at_checked(value_len)?;
        self.data = rest.get(1..)?;
        let value_at = self.at + name_len + 1;
        self.at = value_at + value_len + 1;
        Some((name, value, value_at))
    }
}

/// A pseudo-header's value as text: where it lies in the header map when it is UTF-8
/// (nearly always: no copy), else a lossy copy (bytes that are not UTF-8 as U+FFFD).
#[derive(Debug, Clone)]
enum Text {
    InMap(Range<usize>),
    Copied(String),
}

/// What the checks may look at before the body: taken once per request.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub headers: Headers,
    method: Text,
    /// Full `:path` including the query string (templates may sign it).
    raw_path: Text,
    /// The downstream address Envoy reports (`source.address`).
    pub client: Option<SocketAddr>,
    /// Unix seconds, from the host clock.
    pub now: u64,
    /// The same instant in milliseconds (rate limiting refills in between seconds).
    pub now_ms: u64,
}

impl RequestHead {
    pub fn from_headers(headers: Headers, client: Option<SocketAddr>, now: u64) -> Self {
        let text = |name: &str| match headers.first_range(name) {
            None => Text::Copied(String::new()),
            Some(r) => match headers.map.get(r.clone()).map(std::str::from_utf8) {
                Some(Ok(_)) => Text::InMap(r),
                Some(Err(_)) | None => {
                    Text::Copied(String::from_utf8_lossy(headers.map.get(r).unwrap_or_default()).into_owned())
                }
            },
        };
        let method = text(":method");
        let raw_path = text(":path");
        RequestHead { method, raw_path, headers, client, now, now_ms: now.saturating_mul(1000) }
    }

    fn text<'a>(&'a self, t: &'a Text) -> &'a str {
        match t {
            // Checked to be UTF-8 when the head was made; the map has not changed since.
            Text::InMap(r) => self.headers.map.get(r.clone()).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or(""),
            Text::Copied(s) => s,
        }
    }

    /// `:method` (empty when absent).
    pub fn method(&self) -> &str {
        self.text(&self.method)
    }

    /// `:path` with its query string (empty when absent); [`Self::path`] is the part
    /// before the query.
    pub fn raw_path(&self) -> &str {
        self.text(&self.raw_path)
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.raw_path().split('?').next().unwrap_or_default()
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
        assert_eq!(h.raw_path(), "/hooks/github?x=1");
        assert_eq!(h.method(), "POST");
    }

    /// Two headers as Envoy serializes them for `proxy_get_header_map_pairs`, written out
    /// byte by byte from the proxy-wasm ABI: count, lengths, then NUL-ended names and values.
    fn envoy_map() -> Vec<u8> {
        let mut m = vec![2, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0];
        m.extend_from_slice(b":path\0/a?b\0x-sig\0s\0");
        m
    }

    #[test]
    fn reads_envoys_serialized_map_in_place() {
        let h = Headers::from_map(envoy_map()).unwrap();
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![(&b":path"[..], &b"/a?b"[..]), (&b"x-sig"[..], &b"s"[..])]);
        let head = RequestHead::from_headers(h, None, 0);
        assert_eq!((head.raw_path(), head.path(), head.method()), ("/a?b", "/a", ""));
        // The same bytes as laid out from pairs: one layout for both shells.
        let pairs = vec![(":path".to_string(), b"/a?b".to_vec()), ("x-sig".to_string(), b"s".to_vec())];
        assert_eq!(Headers::new(pairs).as_map(), &envoy_map()[..]);
        // Envoy's answer for a request with no headers.
        assert_eq!(Headers::from_map(Vec::new()).unwrap().iter().count(), 0);
    }

    #[test]
    fn a_header_sent_twice_stays_twice_through_the_map() {
        let pairs = [(&b"x-sig"[..], &b"a"[..]), (b"content-type", b"t"), (b"X-Sig", b"b")];
        let h = Headers::from_map(Headers::from_pairs(pairs).as_map().to_vec()).unwrap();
        assert_eq!(h.get_all("x-sig").collect::<Vec<_>>(), vec![&b"a"[..], &b"b"[..]]);
        assert_eq!(h.get_one("X-SIG"), Err(Repeated));
        assert_eq!(h.get_one("content-type"), Ok(Some(&b"t"[..])));
    }

    #[test]
    fn a_map_cut_short_or_miscounted_is_refused() {
        let m = envoy_map();
        for cut in 1..m.len() {
            assert!(Headers::from_map(m[..cut].to_vec()).is_none(), "cut at {cut}");
        }
        let mut more = m.clone();
        more[0] = 3;
        assert!(Headers::from_map(more).is_none());
        let mut huge = m.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Headers::from_map(huge).is_none());
        let mut long_value = m;
        long_value[16] = 200;
        assert!(Headers::from_map(long_value).is_none());
    }

    #[test]
    fn a_path_that_is_not_utf8_reads_lossily() {
        let h = head(&[(":path", b"/hooks/\xff?q"), (":method", b"PO\xffST")]);
        assert_eq!(h.raw_path(), "/hooks/\u{fffd}?q");
        assert_eq!(h.path(), "/hooks/\u{fffd}");
        assert_eq!(h.method(), "PO\u{fffd}ST");
    }

    #[test]
    fn debug_shows_names_not_values() {
        let h = head(&[("authorization", b"Bearer s3cr3t")]);
        let shown = format!("{h:?}");
        assert!(shown.contains("authorization") && !shown.contains("s3cr3t"), "{shown}");
    }
}
